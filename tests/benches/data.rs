//! Figures for jobs that move data, each beside a native baseline measured
//! in the same run on the same systems, because on these machines only ratios
//! hold: records per second read by a job (kafka-word-count) against a plain
//! rdkafka consumer, produced by a job against a plain rdkafka producer, and
//! Cassandra rows read by a job against the scylla driver alone. A program
//! that prints figures: `cargo bench -p jobserver-tests --bench data`.
//! `BENCH_RECORDS` and `BENCH_ROWS` change the sizes.

use jobserver_tests::systems::{self, CassandraNode, KafkaBroker, cql, cql_session, create_topic, unique_name};
use jobserver_tests::{Api, ServerOptions, TestServer, components, fresh_database};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use scylla::statement::prepared::PreparedStatement;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 4;
/// Each run alternates native and job this many times; the best of each counts.
const ROUNDS: usize = 3;
const VOCABULARY: [&str; 8] = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog"];

fn size(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let records = size("BENCH_RECORDS", 1_000_000);
    let rows = size("BENCH_ROWS", 200_000);
    let broker = systems::apache_kafka().expect("the benchmark needs Apache Kafka (Java and Maven)");
    let node = systems::cassandra();
    let mut options =
        ServerOptions::with_database(&fresh_database().await).env("JOBSERVER_KAFKA_BROKERS", &broker.bootstrap);
    if let Some(node) = node {
        options = options
            .env("JOBSERVER_CASSANDRA_NODES", &node.contact_point)
            .env("JOBSERVER_CASSANDRA_USERNAME", &node.username)
            .env("JOBSERVER_CASSANDRA_PASSWORD", &node.password);
    }
    let server = TestServer::start_with(options).await;
    let api = server.api();
    for (app, bytes) in [("wc", &components().kafka_word_count), ("tj", &components().test_jobs)] {
        assert_eq!(api.upload(app, bytes).await.status, 201);
    }
    assert_eq!(
        api.post("/contexts/bench?memory-per-node=1g&job-timeout=30m", "")
            .await
            .status,
        200
    );

    println!(
        "jobserver data benchmark, Apache Kafka on {}, {records} records",
        broker.bootstrap
    );
    let topic = unique_name("bench");
    create_topic(broker, &topic, PARTITIONS).await;
    let native_produce = produce_natively(broker, &topic, records).await;
    let bytes_per_record = topic_bytes(broker, &topic) as f64 / records as f64;

    let (mut native_best, mut job_best) = (0.0f64, 0.0f64);
    for round in 1..=ROUNDS {
        let (native, words) = consume_natively(broker, &topic);
        assert_eq!(native.0, records, "the native consumer read every record");
        let job = read_with_job(&api, &topic, records).await;
        let plain = read_only_with_job(&api, &topic, records).await;
        let connector = read_with_connector(broker, &topic, records).await;
        println!("  (the connector alone, in this process: {connector:.0} records/s)");
        println!(
            "  read, round {round}: native {:.0} records/s, job {:.0} records/s ({} distinct words), \
             a job that only reads {:.0} records/s",
            native.1, job, words, plain
        );
        native_best = native_best.max(native.1);
        job_best = job_best.max(job);
    }
    print_ratio("Kafka read (word count)", job_best, native_best, "records/s");
    println!("    (records of {bytes_per_record:.0} bytes, {PARTITIONS} partitions)");

    let (mut native_best, mut job_best) = (native_produce, 0.0f64);
    for round in 1..=ROUNDS {
        let target = unique_name("bench_out");
        create_topic(broker, &target, PARTITIONS).await;
        let job = produce_with_job(&api, &target, records).await;
        let again = unique_name("bench_native");
        create_topic(broker, &again, PARTITIONS).await;
        let native = produce_natively(broker, &again, records).await;
        println!("  produce, round {round}: native {native:.0} records/s, job {job:.0} records/s");
        native_best = native_best.max(native);
        job_best = job_best.max(job);
    }
    print_ratio("Kafka produce (acknowledged)", job_best, native_best, "records/s");

    match node {
        Some(node) => cassandra_reads(&api, node, rows).await,
        None => println!("  Cassandra: SKIPPED, this machine runs no Cassandra"),
    }
}

fn print_ratio(what: &str, job: f64, native: f64, unit: &str) {
    println!(
        "  {what}: job {job:.0} {unit}, native {native:.0} {unit}: {:.2} of native",
        job / native
    );
}

fn value(i: usize) -> String {
    let word = |n: usize| VOCABULARY[n % VOCABULARY.len()];
    format!(
        "{} {} {} {} {}",
        word(i),
        word(i / 3),
        word(i / 7),
        word(i / 11),
        word(i / 13)
    )
}

/// Sends `records` values with a plain FutureProducer, as a native client
/// would, and returns the acknowledged rate.
async fn produce_natively(broker: &KafkaBroker, topic: &str, records: usize) -> f64 {
    let producer: FutureProducer = broker
        .client_config()
        .set("linger.ms", "5")
        .create()
        .expect("a producer");
    let started = Instant::now();
    let mut pending = Vec::with_capacity(10_000);
    for i in 0..records {
        let payload = value(i);
        loop {
            match producer.send_result(FutureRecord::<(), _>::to(topic).payload(&payload)) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), _)) => {
                    for delivery in pending.drain(..) {
                        delivery.await.expect("delivered").expect("acknowledged");
                    }
                }
                Err((error, _)) => panic!("producing: {error}"),
            }
        }
        if pending.len() == 10_000 {
            for delivery in pending.drain(..) {
                delivery.await.expect("delivered").expect("acknowledged");
            }
        }
    }
    for delivery in pending {
        delivery.await.expect("delivered").expect("acknowledged");
    }
    records as f64 / started.elapsed().as_secs_f64()
}

fn assigned_consumer(broker: &KafkaBroker, topic: &str) -> BaseConsumer {
    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", unique_name("bench"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        // The settings the server's connector uses, so that only the path differs.
        .set("fetch.wait.max.ms", "25")
        .set("queued.max.messages.kbytes", "32768")
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .expect("a consumer");
    let mut list = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        list.add_partition_offset(topic, partition, Offset::Beginning).unwrap();
    }
    consumer.assign(&list).unwrap();
    consumer
}

/// Reads the whole topic with a plain BaseConsumer poll loop, touching each
/// value; returns (records, records/s) and the distinct words, counted apart.
fn consume_natively(broker: &KafkaBroker, topic: &str) -> ((usize, f64), usize) {
    let consumer = assigned_consumer(broker, topic);
    let started = Instant::now();
    let (mut count, mut ended, mut bytes) = (0usize, 0, 0usize);
    while ended < PARTITIONS {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(message)) => {
                count += 1;
                bytes += message.payload().map_or(0, <[u8]>::len);
            }
            Some(Err(KafkaError::PartitionEOF(_))) => ended += 1,
            Some(Err(error)) => panic!("consuming: {error}"),
            None => panic!("the native consumer waited 10 s for records"),
        }
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    std::hint::black_box(bytes);
    let words: HashMap<&str, ()> = VOCABULARY.iter().map(|w| (*w, ())).collect();
    ((count, rate), words.len())
}

fn topic_bytes(broker: &KafkaBroker, topic: &str) -> usize {
    let consumer = assigned_consumer(broker, topic);
    let (mut bytes, mut ended) = (0, 0);
    while ended < PARTITIONS {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(message)) => bytes += message.payload().map_or(0, <[u8]>::len),
            Some(Err(KafkaError::PartitionEOF(_))) => ended += 1,
            _ => break,
        }
    }
    bytes
}

async fn sync_job(api: &Api, query: &str, config: &str) -> (serde_json::Value, Duration) {
    let started = Instant::now();
    let reply = api
        .submit(&format!("{query}&context=bench&sync=true&timeout=30m"), config)
        .await;
    let elapsed = started.elapsed();
    assert_eq!(reply.body["status"], "FINISHED", "{reply:?}");
    (reply.body["result"].clone(), elapsed)
}

async fn read_with_job(api: &Api, topic: &str, records: usize) -> f64 {
    let (result, elapsed) = sync_job(api, "appName=wc", &format!("kafka.topic = {topic}")).await;
    let counted: u64 = result.as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(counted, 5 * records as u64, "the job counted every word");
    records as f64 / elapsed.as_secs_f64()
}

async fn read_only_with_job(api: &Api, topic: &str, records: usize) -> f64 {
    let config = format!("topic = {topic}, read = true");
    let (result, elapsed) = sync_job(api, "appName=tj&classPath=kafka-check", &config).await;
    assert_eq!(result["records"], records);
    records as f64 / elapsed.as_secs_f64()
}

async fn read_with_connector(broker: &KafkaBroker, topic: &str, records: usize) -> f64 {
    use jobserver_connectors::kafka::{BatchLimits, End, Kafka, KafkaSettings, ReadSpec, Start};
    let kafka = Kafka::new(KafkaSettings {
        brokers: broker.bootstrap.clone(),
        options: Default::default(),
        timeout: Duration::from_secs(30),
    })
    .unwrap();
    let started = Instant::now();
    let mut reader = kafka
        .read(ReadSpec {
            topic: topic.to_string(),
            partitions: Vec::new(),
            start: Start::Earliest,
            end: End::Latest,
            group: None,
        })
        .await
        .unwrap();
    let limits = BatchLimits {
        max_records: 5_000,
        max_bytes: 4 << 20,
    };
    let mut count = 0;
    while let Some(batch) = reader
        .next_batch(limits, |r| r.value().map(<[u8]>::to_vec))
        .await
        .unwrap()
    {
        count += batch.len();
    }
    assert_eq!(count, records);
    records as f64 / started.elapsed().as_secs_f64()
}

async fn produce_with_job(api: &Api, topic: &str, records: usize) -> f64 {
    let config = format!("topic = {topic}, count = {records}, size = 30, batch = 10000");
    let (result, elapsed) = sync_job(api, "appName=tj&classPath=kafka-produce", &config).await;
    assert_eq!(result["records"], records);
    records as f64 / elapsed.as_secs_f64()
}

async fn cassandra_reads(api: &Api, node: &CassandraNode, rows: usize) {
    let keyspace = systems::fresh_keyspace(node, "bench").await;
    let table = format!("{keyspace}.rows");
    cql(
        node,
        &format!("CREATE TABLE {table} (id int PRIMARY KEY, v bigint, payload text)"),
    )
    .await;
    let session = cql_session(node).await;
    let insert: PreparedStatement = session
        .prepare(format!("INSERT INTO {table} (id, v, payload) VALUES (?, ?, ?)"))
        .await
        .unwrap();
    let payload = "x".repeat(30);
    for chunk in (0..rows as i32).collect::<Vec<_>>().chunks(500) {
        let writes = chunk
            .iter()
            .map(|&id| session.execute_unpaged(&insert, (id, i64::from(id), payload.as_str())));
        for result in futures_join(writes).await {
            result.unwrap();
        }
    }
    let expected_sum: i64 = (0..rows as i64).sum();
    let (mut native_best, mut job_best) = (0.0f64, 0.0f64);
    for round in 1..=ROUNDS {
        let started = Instant::now();
        let mut pager = session
            .query_iter(format!("SELECT v FROM {table}"), ())
            .await
            .unwrap()
            .rows_stream::<(i64,)>()
            .unwrap();
        let (mut count, mut sum) = (0usize, 0i64);
        use futures_util::StreamExt;
        while let Some(row) = pager.next().await {
            sum += row.unwrap().0;
            count += 1;
        }
        let native = count as f64 / started.elapsed().as_secs_f64();
        assert_eq!((count, sum), (rows, expected_sum));
        let (result, elapsed) = sync_job(
            api,
            "appName=tj&classPath=cassandra-scan",
            &format!("table = {table}, column = v, page-size = 5000"),
        )
        .await;
        assert_eq!(result["sum"], expected_sum);
        let job = rows as f64 / elapsed.as_secs_f64();
        println!("  Cassandra read, round {round}: native {native:.0} rows/s, job {job:.0} rows/s");
        native_best = native_best.max(native);
        job_best = job_best.max(job);
    }
    print_ratio(
        &format!("Cassandra read ({rows} rows)"),
        job_best,
        native_best,
        "rows/s",
    );
}

async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    futures_util::future::join_all(futures).await
}
