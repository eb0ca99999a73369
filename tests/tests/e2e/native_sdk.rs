//! A job tested without a server: compiled natively, as `cargo test` of a
//! job crate compiles it, the SDK reaches the real broker and node the test
//! names, and the job gives what it gives in the server.

use job_sdk::testing::{self, CassandraCluster};
use job_sdk::{Config, Job, json};
use jobserver_connectors::kafka::OutgoingRecord;
use jobserver_tests::systems::{cassandra, create_topic, fresh_keyspace, kafka_brokers, unique_name};
use kafka_word_count::KafkaWordCount;

#[tokio::test]
async fn the_word_count_runs_natively_against_real_kafka_and_cassandra() {
    let (Some(broker), Some(node)) = (kafka_brokers().into_iter().next(), cassandra()) else {
        eprintln!("skipped: this machine runs no Kafka-protocol broker or no Cassandra");
        return;
    };
    let topic = unique_name("native");
    create_topic(broker, &topic, 2).await;
    let kafka = broker.connector();
    let records = ["one two", "two"].map(|text| OutgoingRecord {
        value: Some(text.as_bytes().to_vec()),
        ..OutgoingRecord::default()
    });
    kafka.produce(&topic, &records).await.unwrap();
    let keyspace = fresh_keyspace(node, "native").await;

    let (bootstrap, contact) = (broker.bootstrap.clone(), node.clone());
    // The job is plain blocking code, as in the component: run it off the test's runtime.
    let (result, stored) = tokio::task::spawn_blocking(move || {
        testing::use_kafka(&bootstrap);
        testing::use_cassandra(CassandraCluster {
            keyspace: Some(keyspace.clone()),
            username: Some(contact.username.clone()),
            password: Some(contact.password.clone()),
            ..CassandraCluster::new(&contact.contact_point)
        });
        let config = Config::new(json!({"kafka": {"topic": topic}, "cassandra": {"table": "counts"}}));
        let result = KafkaWordCount::run(&config);
        let session = job_sdk::cassandra::Session::open().unwrap();
        let mut stored: Vec<(String, i64)> = session
            .query("SELECT word, count FROM counts", ())
            .unwrap()
            .map(|row| {
                let row = row.unwrap();
                (row.get("word").unwrap(), row.get("count").unwrap())
            })
            .collect();
        stored.sort();
        (result, stored)
    })
    .await
    .unwrap();
    assert_eq!(result, Ok(json!({"one": 1, "two": 2})));
    assert_eq!(stored, [("one".to_string(), 1), ("two".to_string(), 2)]);

    // Without a cluster named, the job is told how to name one.
    let refused = tokio::task::spawn_blocking(|| {
        testing::refuse_kafka();
        KafkaWordCount::run(&Config::new(json!({"kafka.topic": "t"})))
    })
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(refused.class(), "KafkaPermissionDenied", "{refused}");
}
