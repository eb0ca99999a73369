//! The systems the harness starts answer as the tests will need them to: every broker this
//! machine runs takes a topic, records and reads back, and Cassandra logs in, creates a
//! keyspace and a table, and returns a row. When these fail, the tests built on them would
//! fail for reasons that are not jobserver's.

use crate::WAIT;
use jobserver_tests::systems::{KafkaBroker, cassandra, cql, cql_session, create_topic, kafka_brokers, unique_name};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;

#[tokio::test]
async fn every_broker_takes_records_and_gives_them_back() {
    let brokers = kafka_brokers();
    if brokers.is_empty() {
        eprintln!("skipped: this machine runs no Kafka-protocol broker");
    }
    for broker in brokers {
        round_trip(broker).await;
    }
}

async fn round_trip(broker: &KafkaBroker) {
    let topic = unique_name("smoke");
    create_topic(broker, &topic, 2).await;

    let producer: FutureProducer = broker
        .client_config()
        .create()
        .unwrap_or_else(|error| panic!("cannot create a producer for {}: {error}", broker.kind));
    for i in 0..10 {
        let (key, payload) = (format!("key-{i}"), format!("record-{i}"));
        let record = FutureRecord::to(&topic).partition(i % 2).key(&key).payload(&payload);
        producer
            .send(record, WAIT)
            .await
            .unwrap_or_else(|(error, _)| panic!("{} did not take record {i}: {error}", broker.kind));
    }

    let consumer: StreamConsumer = broker
        .client_config()
        .set("group.id", unique_name("smoke"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap_or_else(|error| panic!("cannot create a consumer for {}: {error}", broker.kind));
    let mut assignment = TopicPartitionList::new();
    for partition in 0..2 {
        assignment
            .add_partition_offset(&topic, partition, Offset::Beginning)
            .expect("a new partition list takes any offset");
    }
    consumer
        .assign(&assignment)
        .unwrap_or_else(|error| panic!("cannot assign {topic} on {}: {error}", broker.kind));

    // Partition -> payloads in the order read, until both partitions report their end.
    let mut read: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let mut ended = Vec::new();
    while ended.len() < 2 {
        let message = tokio::time::timeout(WAIT, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("{} sent nothing for {WAIT:?}; read so far: {read:?}", broker.kind));
        match message {
            Ok(message) => {
                let payload = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
                read.entry(message.partition()).or_default().push(payload);
            }
            Err(KafkaError::PartitionEOF(partition)) => {
                if !ended.contains(&partition) {
                    ended.push(partition);
                }
            }
            Err(error) => panic!("reading {topic} from {}: {error}", broker.kind),
        }
    }
    let expected = |partition: i32| -> Vec<String> {
        (0..10)
            .filter(|i| i % 2 == partition)
            .map(|i| format!("record-{i}"))
            .collect()
    };
    assert_eq!(
        read,
        BTreeMap::from([(0, expected(0)), (1, expected(1))]),
        "what {} gave back",
        broker.kind
    );
}

#[tokio::test]
async fn cassandra_stores_and_returns_a_row() {
    let Some(node) = cassandra() else {
        eprintln!("skipped: this machine cannot run Cassandra");
        return;
    };
    let keyspace = unique_name("smoke");
    cql(
        node,
        &format!(
            "CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        ),
    )
    .await;
    cql(
        node,
        &format!("CREATE TABLE {keyspace}.words (word text PRIMARY KEY, count int)"),
    )
    .await;

    let session = cql_session(node).await;
    session
        .query_unpaged(
            format!("INSERT INTO {keyspace}.words (word, count) VALUES (?, ?)"),
            ("see", 2_i32),
        )
        .await
        .expect("inserting a row");
    let rows = session
        .query_unpaged(format!("SELECT word, count FROM {keyspace}.words"), ())
        .await
        .expect("selecting the row")
        .into_rows_result()
        .expect("a SELECT returns rows");
    let row: (String, i32) = rows.single_row().expect("exactly one row of (text, int)");
    assert_eq!(row, ("see".to_string(), 2));
}
