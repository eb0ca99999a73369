//! Jobs that read and write Cassandra through the server: the SMACK talk's
//! campaign report and KillrWeather's precipitation on their own tables, the
//! word count writing its counts, and what a job sees when a table is
//! unknown or the cluster cannot be reached.

use super::*;
use jobserver_connectors::kafka::OutgoingRecord;
use jobserver_tests::ServerOptions;
use jobserver_tests::systems::{
    CassandraNode, cassandra, cql, create_topic, fresh_keyspace, kafka_brokers, unique_name,
};
use serde_json::json;

/// A keyspace of its own and a server whose jobs reach it by default (and
/// the first Kafka broker, if any), with the examples uploaded.
async fn setup() -> Option<(&'static CassandraNode, String, TestServer)> {
    let Some(node) = cassandra() else {
        eprintln!("skipped: this machine runs no Cassandra");
        return None;
    };
    let keyspace = fresh_keyspace(node, "ks").await;
    let mut options = ServerOptions::with_database(&fresh_database().await)
        .env("JOBSERVER_CASSANDRA_NODES", &node.contact_point)
        .env("JOBSERVER_CASSANDRA_KEYSPACE", &keyspace)
        .env("JOBSERVER_CASSANDRA_USERNAME", &node.username)
        .env("JOBSERVER_CASSANDRA_PASSWORD", &node.password);
    if let Some(broker) = kafka_brokers().first() {
        options = options.env("JOBSERVER_KAFKA_BROKERS", &broker.bootstrap);
    }
    let server = TestServer::start_with(options).await;
    let api = server.api();
    let components = components();
    for (app, bytes) in [
        ("campaign-report", &components.campaign_report),
        ("weather", &components.weather),
        ("kafka-word-count", &components.kafka_word_count),
        ("testjobs", &components.test_jobs),
    ] {
        let reply = api.upload(app, bytes).await;
        assert_eq!(reply.status, 201, "uploading {app}: {reply:?}");
    }
    Some((node, keyspace, server))
}

const C1: &str = "40b08953-a9f2-4a8b-9c3b-1a7d6a1e0001";
const C2: &str = "40b08953-a9f2-4a8b-9c3b-1a7d6a1e0002";

#[tokio::test]
async fn the_campaign_report_adds_raw_events_to_daily_totals() {
    let Some((node, ks, server)) = setup().await else {
        return;
    };
    let api = server.api();
    cql(
        node,
        &format!("CREATE TABLE {ks}.event (id uuid PRIMARY KEY, ad_id uuid, campaign uuid, ts bigint, type text)"),
    )
    .await;
    cql(
        node,
        &format!(
            "CREATE TABLE {ks}.campaign (id uuid, year int, month int, day int, views bigint, clicks bigint, \
             PRIMARY KEY (id, year, month, day))"
        ),
    )
    .await;
    for (id, month, day, views, clicks) in [
        (C1, 9, 10, 1000, 42),
        (C1, 9, 11, 500, 8),
        (C1, 8, 31, 7, 7),
        (C2, 9, 1, 10, 1),
    ] {
        cql(node, &format!("INSERT INTO {ks}.campaign (id, year, month, day, views, clicks) VALUES ({id}, 2015, {month}, {day}, {views}, {clicks})")).await;
    }
    // September 2015 starts at 1441065600000 ms; one event before it, one after.
    let september = 1_441_065_600_000_i64;
    let events = [
        (C1, september + 1, "view"),
        (C1, september + 2, "view"),
        (C1, september + 3, "click"),
        (C2, september + 4, "view"),
        (C1, september - 1, "view"),
        (C2, september + 30 * 86_400_000, "click"),
    ];
    for (campaign, ts, kind) in events {
        cql(node, &format!("INSERT INTO {ks}.event (id, ad_id, campaign, ts, type) VALUES (uuid(), uuid(), {campaign}, {ts}, '{kind}')")).await;
    }
    let report = api
        .submit("appName=campaign-report&sync=true", "year = 2015, month = 9")
        .await;
    assert_eq!(report.body["status"], "FINISHED", "{report:?}");
    assert_eq!(
        report.body["result"]["campaigns"],
        json!([
            {"id": C1, "views": 1502, "clicks": 51},
            {"id": C2, "views": 11, "clicks": 1},
        ])
    );
    // And it is in campaign_report, for the reports that read it.
    let stored = api
        .submit(
            "appName=testjobs&classPath=cql&sync=true",
            &format!("statement = \"SELECT id, views, clicks FROM {ks}.campaign_report\", query = true"),
        )
        .await;
    let mut rows = stored.body["result"].as_array().cloned().unwrap_or_default();
    rows.sort_by_key(|row| row[0].as_str().unwrap_or_default().to_string());
    assert_eq!(rows, [json!([C1, 1502, 51]), json!([C2, 11, 1])], "{stored:?}");
}

#[tokio::test]
async fn weather_gives_a_stations_annual_precipitation_and_wettest_days() {
    let Some((node, ks, server)) = setup().await else {
        return;
    };
    let api = server.api();
    cql(
        node,
        &format!(
            "CREATE TABLE {ks}.daily_aggregate_precip (wsid text, year int, month int, day int, \
             precipitation counter, PRIMARY KEY ((wsid), year, month, day))"
        ),
    )
    .await;
    let add = |wsid: &str, year: i32, month: i32, day: i32, amount: i64| {
        format!(
            "UPDATE {ks}.daily_aggregate_precip SET precipitation = precipitation + {amount} \
             WHERE wsid = '{wsid}' AND year = {year} AND month = {month} AND day = {day}"
        )
    };
    for (month, day, amount) in [(1, 1, 5), (1, 2, 30), (3, 9, 12), (7, 4, 30), (12, 31, 1)] {
        cql(node, &add("725030:14732", 2008, month, day, amount)).await;
    }
    cql(node, &add("725030:14732", 2008, 1, 1, 2)).await; // counters add up
    cql(node, &add("725030:14732", 2009, 1, 1, 99)).await; // another year
    cql(node, &add("other", 2008, 1, 1, 99)).await; // another station
    let report = api
        .submit(
            "appName=weather&sync=true",
            "wsid = \"725030:14732\", year = 2008, k = 3",
        )
        .await;
    assert_eq!(report.body["status"], "FINISHED", "{report:?}");
    assert_eq!(report.body["result"]["annual-precipitation"], 80, "{report:?}");
    assert_eq!(
        report.body["result"]["top-k"],
        json!([
            {"month": 1, "day": 2, "precipitation": 30},
            {"month": 7, "day": 4, "precipitation": 30},
            {"month": 3, "day": 9, "precipitation": 12},
        ])
    );
    let bad = api
        .submit("appName=weather&sync=true", "wsid = x, year = 2008, k = 0")
        .await;
    assert_eq!(bad.status, 400, "{bad:?}");
}

#[tokio::test]
async fn word_counts_from_kafka_are_written_to_a_cassandra_table() {
    let Some((_, ks, server)) = setup().await else { return };
    let Some(broker) = kafka_brokers().into_iter().next() else {
        eprintln!("skipped: this machine runs no Kafka-protocol broker");
        return;
    };
    let api = server.api();
    let topic = unique_name("words");
    create_topic(broker, &topic, 2).await;
    let kafka = broker.connector();
    let records: Vec<OutgoingRecord> = ["to be or", "not to be"]
        .iter()
        .map(|text| OutgoingRecord {
            value: Some(text.as_bytes().to_vec()),
            ..OutgoingRecord::default()
        })
        .collect();
    kafka.produce(&topic, &records).await.unwrap();
    let run = api
        .submit(
            "appName=kafka-word-count&sync=true",
            &format!("kafka.topic = {topic}, cassandra.table = {ks}.word_counts"),
        )
        .await;
    assert_eq!(
        run.body["result"],
        json!({"be": 2, "not": 1, "or": 1, "to": 2}),
        "{run:?}"
    );
    let stored = api
        .submit(
            "appName=testjobs&classPath=cql&sync=true",
            &format!("statement = \"SELECT word, count FROM {ks}.word_counts\", query = true"),
        )
        .await;
    let mut rows = stored.body["result"].as_array().cloned().unwrap_or_default();
    rows.sort_by_key(|row| row[0].as_str().unwrap_or_default().to_string());
    assert_eq!(
        rows,
        [json!(["be", 2]), json!(["not", 1]), json!(["or", 1]), json!(["to", 2])],
        "{stored:?}"
    );
}

#[tokio::test]
async fn cql_errors_are_typed_and_an_unreachable_node_is_named() {
    let Some((_, ks, server)) = setup().await else { return };
    let api = server.api();
    let unknown = api.submit("appName=weather&sync=true", "wsid = x, year = 2008").await;
    assert_eq!(unknown.body["status"], "ERROR", "{unknown:?}");
    assert_eq!(unknown.body["result"]["errorClass"], "CassandraNotFound", "{unknown:?}");
    assert!(unknown.message().contains("daily_aggregate_precip"), "{unknown:?}");

    let syntax = api
        .submit(
            "appName=testjobs&classPath=cql&sync=true",
            "statement = \"SELEKT 1\", catch = true",
        )
        .await;
    assert_eq!(syntax.body["result"]["caught"], "CassandraInvalidRequest", "{syntax:?}");
    let missing = api
        .submit(
            "appName=testjobs&classPath=cql&sync=true",
            &format!("statement = \"SELECT * FROM {ks}.nope\", query = true"),
        )
        .await;
    assert_eq!(missing.body["result"]["errorClass"], "CassandraNotFound", "{missing:?}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let created = api
        .post(
            &format!("/contexts/nowhere?cassandra.nodes=127.0.0.1:{port}&cassandra.timeout=2s"),
            "",
        )
        .await;
    assert_eq!(created.status, 200, "{created:?}");
    let down = api
        .submit(
            "appName=testjobs&classPath=cql&context=nowhere&sync=true",
            "statement = \"SELECT 1\"",
        )
        .await;
    assert_eq!(down.body["result"]["errorClass"], "CassandraUnreachable", "{down:?}");
    assert!(down.message().contains(&format!("127.0.0.1:{port}")), "{down:?}");

    assert_eq!(
        api.post("/contexts/nocass?cassandra.enabled=false", "").await.status,
        200
    );
    let denied = api
        .submit(
            "appName=testjobs&classPath=cql&context=nocass&sync=true",
            "statement = \"SELECT 1\"",
        )
        .await;
    assert_eq!(
        denied.body["result"]["errorClass"], "CassandraPermissionDenied",
        "{denied:?}"
    );
}
