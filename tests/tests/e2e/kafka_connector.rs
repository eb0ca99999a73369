//! The Kafka connector against each real broker this machine runs (Apache
//! Kafka, and Tansu, whose offset lookups are wrong): what jobs rely on when
//! they read and write Kafka, checked below the server.

use jobserver_connectors::ErrorKind;
use jobserver_connectors::kafka::{BatchLimits, End, Kafka, KafkaSettings, OutgoingRecord, ReadSpec, Start};
use jobserver_tests::systems::{KafkaBroker, create_topic, each_broker, unique_name};
use std::collections::BTreeMap;
use std::time::Duration;

fn kafka(broker: &KafkaBroker) -> Kafka {
    broker.connector()
}

/// A record for `partition` with value `value` written at `timestamp`.
fn record(partition: i32, value: &str, timestamp: i64) -> OutgoingRecord {
    OutgoingRecord {
        key: Some(format!("k-{value}").into_bytes()),
        value: Some(value.as_bytes().to_vec()),
        headers: vec![("source".into(), Some(b"test".to_vec())), ("empty".into(), None)],
        partition: Some(partition),
        timestamp: Some(timestamp),
    }
}

const BASE: i64 = 1_700_000_000_000;

/// A topic of 3 partitions; partition p holds 10 records `p-i` at BASE + 1000 * i.
async fn filled_topic(kafka: &Kafka, broker: &KafkaBroker) -> String {
    let topic = unique_name("reads");
    create_topic(broker, &topic, 3).await;
    let records: Vec<OutgoingRecord> = (0..10)
        .flat_map(|i| (0..3).map(move |p| record(p, &format!("{p}-{i}"), BASE + 1000 * i)))
        .collect();
    let deliveries = kafka.produce(&topic, &records).await.unwrap();
    assert_eq!(deliveries.len(), 30);
    assert!(
        deliveries
            .iter()
            .zip(&records)
            .all(|(d, r)| Some(d.partition) == r.partition)
    );
    topic
}

/// Every record of a read: (partition, offset, value, timestamp).
async fn read_all(kafka: &Kafka, spec: ReadSpec) -> Vec<(i32, i64, String, i64)> {
    let mut reader = kafka.read(spec).await.unwrap();
    let limits = BatchLimits {
        max_records: 7,
        max_bytes: 1 << 20,
    };
    let mut records = Vec::new();
    while let Some(batch) = reader
        .next_batch(limits, |r| {
            (
                r.partition(),
                r.offset(),
                String::from_utf8(r.value().unwrap().to_vec()).unwrap(),
                r.timestamp().unwrap(),
            )
        })
        .await
        .unwrap()
    {
        assert!(!batch.is_empty() && batch.len() <= 7, "batch of {}", batch.len());
        records.extend(batch);
    }
    records.sort();
    records
}

fn spec(topic: &str, start: Start, end: End) -> ReadSpec {
    ReadSpec {
        topic: topic.to_string(),
        partitions: Vec::new(),
        start,
        end,
        group: None,
    }
}

fn values(records: &[(i32, i64, String, i64)]) -> Vec<String> {
    records.iter().map(|r| r.2.clone()).collect()
}

#[tokio::test]
async fn partitions_and_whole_reads_are_exact_on_every_broker() {
    for broker in each_broker() {
        let kafka = kafka(broker);
        let topic = filled_topic(&kafka, broker).await;
        let partitions = kafka.partitions(&topic).await.unwrap();
        let offsets: Vec<(i32, i64, i64)> = partitions.iter().map(|p| (p.partition, p.low, p.high)).collect();
        assert_eq!(offsets, [(0, 0, 10), (1, 0, 10), (2, 0, 10)], "{}", broker.kind);

        let all = read_all(&kafka, spec(&topic, Start::Earliest, End::Latest)).await;
        assert_eq!(all.len(), 30, "{}", broker.kind);
        for p in 0..3 {
            let offsets: Vec<i64> = all.iter().filter(|r| r.0 == p).map(|r| r.1).collect();
            assert_eq!(offsets, (0..10).collect::<Vec<_>>(), "{}: partition {p}", broker.kind);
        }

        let some = read_all(
            &kafka,
            ReadSpec {
                partitions: vec![2],
                ..spec(&topic, Start::Offset(3), End::Offset(5))
            },
        )
        .await;
        assert_eq!(values(&some), ["2-3", "2-4"], "{}", broker.kind);
        let per_partition = read_all(
            &kafka,
            spec(&topic, Start::Offsets(vec![(0, 8)]), End::Offsets(vec![(1, 1), (2, 0)])),
        )
        .await;
        assert_eq!(values(&per_partition), ["0-8", "0-9", "1-0"], "{}", broker.kind);
    }
}

#[tokio::test]
async fn time_ranges_take_exactly_the_records_inside_on_every_broker() {
    for broker in each_broker() {
        let kafka = kafka(broker);
        let topic = filled_topic(&kafka, broker).await;
        // [BASE+3000, BASE+6000): records 3, 4 and 5 of each partition; the
        // ones at 2999 and 6000 would be just outside.
        let inside = read_all(
            &kafka,
            spec(&topic, Start::Timestamp(BASE + 3000), End::Timestamp(BASE + 6000)),
        )
        .await;
        let mut expected: Vec<String> = (0..3).flat_map(|p| (3..6).map(move |i| format!("{p}-{i}"))).collect();
        expected.sort();
        assert_eq!(values(&inside), expected, "{}", broker.kind);
        assert!(inside.iter().all(|r| (BASE + 3000..BASE + 6000).contains(&r.3)));

        // Between two records: from 2500 starts at 3; to 5500 ends after 5.
        let between = read_all(
            &kafka,
            ReadSpec {
                partitions: vec![0],
                ..spec(&topic, Start::Timestamp(BASE + 2500), End::Timestamp(BASE + 5500))
            },
        )
        .await;
        assert_eq!(values(&between), ["0-3", "0-4", "0-5"], "{}", broker.kind);

        let after = read_all(&kafka, spec(&topic, Start::Timestamp(BASE + 100_000), End::Latest)).await;
        assert!(after.is_empty(), "{}: {after:?}", broker.kind);

        let times = kafka.offsets_for_time(&topic, BASE + 4500).await.unwrap();
        assert_eq!(times, [(0, 5), (1, 5), (2, 5)], "{}", broker.kind);
        let beyond = kafka.offsets_for_time(&topic, BASE + 100_000).await.unwrap();
        assert_eq!(beyond, [(0, 10), (1, 10), (2, 10)], "{}", broker.kind);
        let before = kafka.offsets_for_time(&topic, 0).await.unwrap();
        assert_eq!(before, [(0, 0), (1, 0), (2, 0)], "{}", broker.kind);
    }
}

#[tokio::test]
async fn out_of_order_timestamps_give_the_same_records_on_every_broker() {
    for broker in each_broker() {
        let kafka = kafka(broker);
        let topic = unique_name("disorder");
        create_topic(broker, &topic, 1).await;
        // Producers may stamp records as they like: offsets 0..5.
        let stamped = [("a", 1000), ("early", 500), ("b", 2000), ("past", 5000), ("late", 2500)];
        let records: Vec<OutgoingRecord> = stamped.iter().map(|(v, t)| record(0, v, BASE + t)).collect();
        kafka.produce(&topic, &records).await.unwrap();
        // [1000, 3000): from the first record stamped at or after 1000 (0) to
        // the first at or after 3000 (3, where Apache Kafka's offset for 3000
        // is), leaving out the one stamped before the start.
        let (start, end) = (Start::Timestamp(BASE + 1000), End::Timestamp(BASE + 3000));
        let read = read_all(&kafka, spec(&topic, start.clone(), end.clone())).await;
        assert_eq!(values(&read), ["a", "b"], "{}", broker.kind);
        let mut reader = kafka.read(spec(&topic, start, end)).await.unwrap();
        let limits = BatchLimits {
            max_records: 100,
            max_bytes: 1 << 20,
        };
        while reader.next_batch(limits, |_| ()).await.unwrap().is_some() {}
        assert_eq!(
            reader.positions(),
            [(0, 3)],
            "{}: a group would go on from there",
            broker.kind
        );
        let times = kafka.offsets_for_time(&topic, BASE + 3000).await.unwrap();
        assert_eq!(times, [(0, 3)], "{}", broker.kind);
    }
}

#[tokio::test]
async fn a_read_ends_where_the_partition_ended_when_it_began() {
    for broker in each_broker() {
        let kafka = kafka(broker);
        let topic = filled_topic(&kafka, broker).await;
        let mut reader = kafka.read(spec(&topic, Start::Earliest, End::Latest)).await.unwrap();
        // Written after the read began: left for the next read.
        let later: Vec<OutgoingRecord> = (0..3)
            .map(|p| record(p, &format!("{p}-later"), BASE + 99_000))
            .collect();
        kafka.produce(&topic, &later).await.unwrap();
        let limits = BatchLimits {
            max_records: 1000,
            max_bytes: 1 << 20,
        };
        let mut count = 0;
        while let Some(batch) = reader.next_batch(limits, |r| r.offset()).await.unwrap() {
            count += batch.len();
        }
        assert_eq!(count, 30, "{}", broker.kind);
        assert_eq!(reader.positions(), [(0, 10), (1, 10), (2, 10)], "{}", broker.kind);
    }
}

#[tokio::test]
async fn a_consumer_group_goes_on_where_it_committed() {
    for broker in each_broker() {
        let kafka = kafka(broker);
        let topic = filled_topic(&kafka, broker).await;
        let group = unique_name("hourly");
        let grouped = |start| ReadSpec {
            group: Some(group.clone()),
            ..spec(&topic, start, End::Latest)
        };
        let limits = BatchLimits {
            max_records: 1000,
            max_bytes: 1 << 20,
        };

        let mut first = kafka.read(grouped(Start::Earliest)).await.unwrap();
        let mut count = 0;
        while let Some(batch) = first.next_batch(limits, |r| r.offset()).await.unwrap() {
            count += batch.len();
        }
        assert_eq!(count, 30);
        first.commit().await.unwrap();
        drop(first);

        let more: Vec<OutgoingRecord> = (0..3).map(|p| record(p, &format!("{p}-new"), BASE + 50_000)).collect();
        kafka.produce(&topic, &more).await.unwrap();
        let second = read_all(&kafka, grouped(Start::Earliest)).await;
        assert_eq!(values(&second), ["0-new", "1-new", "2-new"], "{}", broker.kind);

        // Without a group, commit says what is missing.
        let mut plain = kafka.read(spec(&topic, Start::Earliest, End::Latest)).await.unwrap();
        let error = plain.commit().await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidRequest);
        assert!(error.message.contains("no consumer group"), "{error}");
    }
}

#[tokio::test]
async fn produced_records_come_back_with_keys_headers_and_timestamps() {
    for broker in each_broker() {
        let kafka = kafka(broker);
        let topic = unique_name("produce");
        create_topic(broker, &topic, 2).await;
        let sent = [record(1, "one", BASE + 1), OutgoingRecord::default()];
        let deliveries = kafka.produce(&topic, &sent).await.unwrap();
        assert_eq!((deliveries[0].partition, deliveries[0].offset), (1, 0));
        let mut reader = kafka.read(spec(&topic, Start::Earliest, End::Latest)).await.unwrap();
        let limits = BatchLimits {
            max_records: 10,
            max_bytes: 1 << 20,
        };
        let mut got = Vec::new();
        while let Some(batch) = reader
            .next_batch(limits, |r| {
                let headers: Vec<(String, Option<Vec<u8>>)> = r
                    .headers()
                    .map(|(k, v)| (k.to_string(), v.map(<[u8]>::to_vec)))
                    .collect();
                (
                    r.partition(),
                    r.key().map(<[u8]>::to_vec),
                    r.value().map(<[u8]>::to_vec),
                    headers,
                    r.timestamp(),
                )
            })
            .await
            .unwrap()
        {
            got.extend(batch);
        }
        got.sort_by_key(|r| r.0);
        let one = got
            .iter()
            .find(|r| r.0 == 1 && r.2.as_deref() == Some(b"one".as_slice()))
            .unwrap();
        assert_eq!(one.1.as_deref(), Some(b"k-one".as_slice()), "{}", broker.kind);
        assert_eq!(
            one.3,
            [
                ("source".to_string(), Some(b"test".to_vec())),
                ("empty".to_string(), None)
            ]
        );
        assert_eq!(one.4, Some(BASE + 1));
        assert!(
            got.iter().any(|r| r.1.is_none() && r.2.is_none()),
            "{}: {got:?}",
            broker.kind
        );
    }
}

#[tokio::test]
async fn unknown_topics_and_partitions_are_not_found() {
    for broker in each_broker() {
        let kafka = kafka(broker);
        let missing = unique_name("missing");
        let error = kafka.partitions(&missing).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::NotFound, "{}: {error}", broker.kind);
        assert!(error.message.contains(&missing), "{error}");
        let error = kafka.check_topic(&missing).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::NotFound, "{error}");

        let topic = unique_name("two");
        create_topic(broker, &topic, 2).await;
        let error = kafka
            .read(ReadSpec {
                partitions: vec![5],
                ..spec(&topic, Start::Earliest, End::Latest)
            })
            .await
            .err()
            .unwrap();
        assert_eq!(error.kind, ErrorKind::NotFound);
        assert_eq!(
            error.message,
            format!("Kafka topic '{topic}' has no partition 5; its partitions are 0 to 1")
        );
        let error = kafka
            .read(spec(&topic, Start::Offsets(vec![(3, 0)]), End::Latest))
            .await
            .err()
            .unwrap();
        assert_eq!(error.kind, ErrorKind::InvalidRequest, "{error}");
    }
}

#[tokio::test]
async fn an_unreachable_broker_is_named_in_the_error() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kafka = Kafka::new(KafkaSettings {
        brokers: format!("127.0.0.1:{port}"),
        options: BTreeMap::new(),
        timeout: Duration::from_secs(2),
    })
    .unwrap();
    let error = kafka.partitions("anything").await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unreachable, "{error}");
    assert!(error.message.contains(&format!("127.0.0.1:{port}")), "{error}");
    let error = kafka
        .produce("anything", &[OutgoingRecord::default()])
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind, ErrorKind::Unreachable | ErrorKind::Timeout),
        "{error}"
    );

    let bad = Kafka::new(KafkaSettings {
        brokers: "127.0.0.1:1".into(),
        options: BTreeMap::from([("no.such.option".to_string(), "1".to_string())]),
        timeout: Duration::from_secs(2),
    });
    let error = bad.err().unwrap();
    assert_eq!(error.kind, ErrorKind::InvalidRequest);
    assert!(error.message.contains("no.such.option"), "{error}");
}

#[tokio::test]
async fn a_login_the_brokers_refuse_is_permission_denied_and_says_why() {
    for broker in each_broker() {
        // Neither harness broker takes SASL on its listener: the login fails
        // at the handshake, as a wrong mechanism would on a real cluster.
        let options = [
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "jobs"),
            ("sasl.password", "p4ssw0rd-never-shown"),
        ];
        let kafka = Kafka::new(KafkaSettings {
            brokers: broker.bootstrap.clone(),
            options: options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            timeout: Duration::from_secs(60),
        })
        .unwrap();
        let error = kafka.partitions("anything").await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::PermissionDenied, "{}: {error}", broker.kind);
        assert!(error.message.contains("refused the login"), "{error}");
        assert!(error.message.contains("SASL"), "{error}");
        assert!(!error.message.contains("p4ssw0rd"), "{error}");
        // Bad input in a read is refused before any broker is asked.
        let error = kafka
            .read(ReadSpec {
                group: Some("  ".into()),
                ..spec("t", Start::Earliest, End::Latest)
            })
            .await
            .err()
            .unwrap();
        assert_eq!(error.kind, ErrorKind::InvalidRequest, "{error}");
    }
}

#[tokio::test]
async fn negative_offsets_are_refused() {
    for broker in each_broker() {
        let kafka = kafka(broker);
        let topic = unique_name("negative");
        create_topic(broker, &topic, 1).await;
        for (start, end) in [(Start::Offset(-1), End::Latest), (Start::Earliest, End::Offset(-5))] {
            let error = kafka.read(spec(&topic, start, end)).await.err().unwrap();
            assert_eq!(error.kind, ErrorKind::InvalidRequest, "{error}");
            assert!(error.message.contains("is negative"), "{error}");
        }
    }
}
