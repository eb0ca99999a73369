//! Jobs that read and write Kafka, through the server, on every broker this
//! machine runs: the talks' examples with exact counts and time ranges,
//! consumer groups that continue, produce-then-read, and what a job sees
//! when Kafka is missing, unknown, unreachable or hangs.

use super::*;
use jobserver_connectors::kafka::{Kafka, OutgoingRecord, ReadSpec};
use jobserver_tests::ServerOptions;
use jobserver_tests::systems::{KafkaBroker, create_topic, each_broker, unique_name};
use serde_json::json;

fn client(broker: &KafkaBroker) -> Kafka {
    broker.connector()
}

/// A server whose jobs reach `broker` by default, with the Kafka examples uploaded.
async fn server_for(broker: &KafkaBroker) -> TestServer {
    let server = TestServer::start_with(
        ServerOptions::with_database(&fresh_database().await).env("JOBSERVER_KAFKA_BROKERS", &broker.bootstrap),
    )
    .await;
    let api = server.api();
    let components = components();
    for (app, bytes) in [
        ("kafka-word-count", &components.kafka_word_count),
        ("segment", &components.segment),
        ("kafka-transform", &components.kafka_transform),
        ("testjobs", &components.test_jobs),
    ] {
        let reply = api.upload(app, bytes).await;
        assert_eq!(reply.status, 201, "uploading {app}: {reply:?}");
    }
    server
}

fn text(partition: i32, value: &str, timestamp: i64) -> OutgoingRecord {
    OutgoingRecord {
        value: Some(value.as_bytes().to_vec()),
        partition: Some(partition),
        timestamp: Some(timestamp),
        ..OutgoingRecord::default()
    }
}

const T0: i64 = 1_458_004_681_000; // 2016-03-15T01:18:01Z

#[tokio::test]
async fn word_count_counts_exactly_over_partitions_and_time_ranges() {
    for broker in each_broker() {
        let server = server_for(broker).await;
        let api = server.api();
        let kafka = client(broker);
        let topic = unique_name("words");
        create_topic(broker, &topic, 3).await;
        // One record a second from T0; each says "a" and its second's parity word.
        let records: Vec<OutgoingRecord> = (0..60)
            .map(|i| {
                text(
                    i % 3,
                    if i % 2 == 0 { "a even" } else { "a odd" },
                    T0 + 1000 * i64::from(i),
                )
            })
            .collect();
        kafka.produce(&topic, &records).await.unwrap();

        let all = api
            .submit("appName=kafka-word-count&sync=true", &format!("kafka.topic = {topic}"))
            .await;
        assert_eq!(all.body["status"], "FINISHED", "{}: {all:?}", broker.kind);
        assert_eq!(
            all.body["result"],
            json!({"a": 60, "even": 30, "odd": 30}),
            "{}",
            broker.kind
        );

        // [T0+10s, T0+20s): records 10..20, with 9 and 20 just outside.
        let config = format!("kafka.topic = {topic}, from = \"2016-03-15T01:18:11\", to = \"2016-03-15T01:18:21Z\"");
        let window = api.submit("appName=kafka-word-count&sync=true", &config).await;
        assert_eq!(
            window.body["result"],
            json!({"a": 10, "even": 5, "odd": 5}),
            "{}: {window:?}",
            broker.kind
        );

        let bad = api
            .submit(
                "appName=kafka-word-count&sync=true",
                &format!("kafka.topic = {topic}, from = soon"),
            )
            .await;
        assert_eq!(bad.status, 400, "{bad:?}");
        assert!(bad.body.to_string().contains("not an ISO-8601 time"), "{bad:?}");
    }
}

#[tokio::test]
async fn segment_counts_active_sessions_and_a_group_goes_on_where_it_stopped() {
    for broker in each_broker() {
        let server = server_for(broker).await;
        let api = server.api();
        assert_eq!(api.post("/contexts/video-ctx?num-cpu-cores=2", "").await.status, 200);
        let kafka = client(broker);
        let topic = unique_name("segment");
        create_topic(broker, &topic, 2).await;
        let event = |session: &str, kind: &str| OutgoingRecord {
            key: Some(session.as_bytes().to_vec()),
            value: Some(json!({"sessionId": session, "event": kind}).to_string().into_bytes()),
            ..OutgoingRecord::default()
        };
        let first = [
            event("s1", "start"),
            event("s2", "start"),
            event("s3", "start"),
            event("s2", "ping"),
            event("s3", "stop"),
        ];
        kafka.produce(&topic, &first).await.unwrap();
        let query = "appName=segment&context=video-ctx&sync=true";
        let config = format!("kafka.topic = {topic}, group = hourly");
        let run = api.submit(query, &config).await;
        assert_eq!(run.body["status"], "FINISHED", "{}: {run:?}", broker.kind);
        assert_eq!(run.body["result"]["active-sessions"], 2, "{}: {run:?}", broker.kind);
        assert_eq!(run.body["result"]["events"], 5);

        // The next run sees only what came since: s1 stops, s4 starts.
        kafka
            .produce(&topic, &[event("s1", "stop"), event("s4", "start")])
            .await
            .unwrap();
        let next = api.submit(query, &config).await;
        assert_eq!(next.body["result"]["events"], 2, "{}: {next:?}", broker.kind);
        assert_eq!(next.body["result"]["active-sessions"], 1);
        let again = api.submit(query, &config).await;
        assert_eq!(again.body["result"]["events"], 0, "{}: {again:?}", broker.kind);
    }
}

#[tokio::test]
async fn a_job_writes_a_topic_that_reads_back_as_written() {
    for broker in each_broker() {
        let server = server_for(broker).await;
        let api = server.api();
        let kafka = client(broker);
        let (input, output) = (unique_name("raw"), unique_name("clean"));
        create_topic(broker, &input, 2).await;
        create_topic(broker, &output, 2).await;
        let records: Vec<OutgoingRecord> = (0..25)
            .map(|i| OutgoingRecord {
                key: Some(format!("k{i}").into_bytes()),
                headers: vec![("origin".into(), Some(b"sensor".to_vec()))],
                ..text(i % 2, &format!("reading {i}"), T0 + i64::from(i))
            })
            .collect();
        kafka.produce(&input, &records).await.unwrap();
        let config = format!("input.topic = {input}, output.topic = {output}, group = cleaner");
        let run = api.submit("appName=kafka-transform&sync=true", &config).await;
        assert_eq!(run.body["result"], json!({"records": 25}), "{}: {run:?}", broker.kind);

        let mut reader = kafka
            .read(ReadSpec {
                topic: output.clone(),
                partitions: Vec::new(),
                start: jobserver_connectors::kafka::Start::Earliest,
                end: jobserver_connectors::kafka::End::Latest,
                group: None,
            })
            .await
            .unwrap();
        let limits = jobserver_connectors::kafka::BatchLimits {
            max_records: 100,
            max_bytes: 1 << 20,
        };
        let mut written = Vec::new();
        while let Some(batch) = reader
            .next_batch(limits, |r| {
                let headers: Vec<String> = r.headers().map(|(k, _)| k.to_string()).collect();
                (
                    String::from_utf8_lossy(r.key().unwrap_or_default()).into_owned(),
                    String::from_utf8_lossy(r.value().unwrap_or_default()).into_owned(),
                    r.timestamp(),
                    headers,
                )
            })
            .await
            .unwrap()
        {
            written.extend(batch);
        }
        written.sort();
        assert_eq!(written.len(), 25, "{}", broker.kind);
        let k3 = written.iter().find(|w| w.0 == "k3").unwrap();
        assert_eq!(k3.1, "READING 3");
        assert_eq!(k3.2, Some(T0 + 3));
        assert!(
            k3.3.contains(&"origin".to_string()) && k3.3.contains(&"transformed-by".to_string()),
            "{k3:?}"
        );

        // Committed: a second run has nothing new.
        let again = api.submit("appName=kafka-transform&sync=true", &config).await;
        assert_eq!(
            again.body["result"],
            json!({"records": 0}),
            "{}: {again:?}",
            broker.kind
        );
    }
}

#[tokio::test]
async fn unknown_topics_and_missing_kafka_are_typed_errors() {
    let Some(broker) = each_broker().into_iter().next() else {
        return;
    };
    let server = server_for(broker).await;
    let api = server.api();
    let missing = unique_name("missing");
    let report = api
        .submit(
            "appName=kafka-word-count&sync=true",
            &format!("kafka.topic = {missing}"),
        )
        .await;
    assert_eq!(report.body["status"], "ERROR", "{report:?}");
    assert_eq!(report.body["result"]["errorClass"], "KafkaNotFound", "{report:?}");
    assert!(report.message().contains(&missing), "{report:?}");

    // A job may handle the error itself.
    let handled = api
        .submit(
            "appName=testjobs&classPath=kafka-check&sync=true",
            &format!("topic = {missing}, catch = true"),
        )
        .await;
    assert_eq!(handled.body["status"], "FINISHED", "{handled:?}");
    assert_eq!(handled.body["result"]["caught"], "KafkaNotFound");

    assert_eq!(api.post("/contexts/nokafka?kafka.enabled=false", "").await.status, 200);
    let denied = api
        .submit(
            "appName=kafka-word-count&context=nokafka&sync=true",
            "kafka.topic = anything",
        )
        .await;
    assert_eq!(
        denied.body["result"]["errorClass"], "KafkaPermissionDenied",
        "{denied:?}"
    );
    assert!(denied.message().contains("kafka.enabled = false"), "{denied:?}");
}

#[tokio::test]
async fn an_unreachable_broker_ends_the_job_with_a_message_naming_it() {
    let server = server_with_jobs().await;
    let api = server.api();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let reply = api
        .post(
            &format!("/contexts/down?kafka.brokers=127.0.0.1:{port}&kafka.timeout=2s"),
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let report = api
        .submit(
            "appName=testjobs&classPath=kafka-check&context=down&sync=true",
            "topic = t",
        )
        .await;
    assert_eq!(report.body["status"], "ERROR", "{report:?}");
    assert_eq!(report.body["result"]["errorClass"], "KafkaUnreachable", "{report:?}");
    assert!(report.message().contains(&format!("127.0.0.1:{port}")), "{report:?}");
}

/// A broker that accepts connections and never answers: a call waits.
fn silent_broker() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

#[tokio::test]
async fn a_job_waiting_in_a_kafka_call_is_killed_at_once_and_times_out_on_time() {
    let server = server_with_jobs().await;
    let api = server.api();
    let (_listener, port) = silent_broker();
    let settings = format!("kafka.brokers=127.0.0.1:{port}&kafka.timeout=1h");
    let created = api.post(&format!("/contexts/silent?{settings}"), "").await;
    assert_eq!(created.status, 200, "{created:?}");
    let id = start_job(
        &api,
        "appName=testjobs&classPath=kafka-check&context=silent",
        "topic = t",
    )
    .await;
    api.wait_for_job(&id, WAIT, |report| report["status"] == "RUNNING")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // The kill answers once the job has ended: a job that could not be
    // stopped inside the call would still be RUNNING here.
    let killed = api.delete(&format!("/jobs/{id}")).await;
    assert_eq!(killed.status, 200, "{killed:?}");
    let report = api.get(&format!("/jobs/{id}")).await.body;
    assert_eq!(report["status"], "KILLED", "{report}");

    // Time in a host call counts against the job's limit.
    let limited = format!("{settings}&job-timeout=2s");
    assert_eq!(api.post(&format!("/contexts/limited?{limited}"), "").await.status, 200);
    let report = api
        .submit(
            "appName=testjobs&classPath=kafka-check&context=limited&sync=true",
            "topic = t",
        )
        .await;
    assert_eq!(report.body["status"], "ERROR", "{report:?}");
    assert_eq!(report.body["result"]["errorClass"], "Timeout", "{report:?}");
}

#[tokio::test]
async fn records_crossing_into_a_job_count_against_its_memory_limit() {
    let Some(broker) = each_broker().into_iter().next() else {
        return;
    };
    let server = server_for(broker).await;
    let api = server.api();
    let topic = unique_name("big");
    create_topic(broker, &topic, 1).await;
    let big: Vec<OutgoingRecord> = (0..12).map(|_| text(0, &"x".repeat(900_000), T0)).collect();
    client(broker).produce(&topic, &big).await.unwrap();
    // Records cross into the job's own memory: 10 MB of them do not fit in a
    // job of 4 MiB, which ends at its limit; the server does not grow for it.
    assert_eq!(api.post("/contexts/small?memory-per-node=4m", "").await.status, 200);
    let report = api
        .submit(
            "appName=testjobs&classPath=kafka-check&context=small&sync=true",
            &format!("topic = {topic}, read = true, hold = true"),
        )
        .await;
    assert_eq!(report.body["status"], "ERROR", "{report:?}");
    assert_eq!(report.body["result"]["errorClass"], "MemoryLimitExceeded", "{report:?}");
    assert_eq!(api.get("/healthz").await.status, 200);
    // With room for its batches, the same job reads them all.
    assert_eq!(api.post("/contexts/roomy?memory-per-node=64m", "").await.status, 200);
    let report = api
        .submit(
            "appName=testjobs&classPath=kafka-check&context=roomy&sync=true",
            &format!("topic = {topic}, read = true, hold = true"),
        )
        .await;
    assert_eq!(
        report.body["result"],
        json!({"partitions": 1, "records": 12}),
        "{report:?}"
    );
}

#[tokio::test]
async fn a_job_holds_a_bounded_number_of_kafka_readers() {
    let Some(broker) = each_broker().into_iter().next() else {
        return;
    };
    let server = server_for(broker).await;
    let api = server.api();
    let topic = unique_name("readers");
    create_topic(broker, &topic, 1).await;
    client(broker).produce(&topic, &[text(0, "one", T0)]).await.unwrap();
    // Every open reader prefetches outside the job's memory: eight are
    // allowed at once (seven held, one reading), the ninth is refused.
    let eight = api
        .submit(
            "appName=testjobs&classPath=kafka-check&sync=true",
            &format!("topic = {topic}, readers = 7, read = true, catch = true"),
        )
        .await;
    assert_eq!(
        eight.body["result"],
        json!({"partitions": 1, "records": 1}),
        "{eight:?}"
    );
    let nine = api
        .submit(
            "appName=testjobs&classPath=kafka-check&sync=true",
            &format!("topic = {topic}, readers = 9, catch = true"),
        )
        .await;
    assert_eq!(nine.body["result"]["caught"], "KafkaInvalidRequest", "{nine:?}");
    assert!(
        nine.body["result"]["message"].as_str().unwrap().contains("at most 8"),
        "{nine:?}"
    );
}
