//! Kafka-protocol brokers, as the tests see them: which kinds this machine runs, and the
//! client calls every broker test needs (a client configuration, a topic whose partitions
//! all have leaders). jobserver must work against Apache Kafka and against Tansu alike, so
//! a test of that takes `kafka_brokers()` and runs once per broker.

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::fmt;
use std::time::{Duration, Instant};

/// How long a new topic may take to get leaders for all its partitions.
const TOPIC_READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    ApacheKafka,
    Tansu,
}

impl fmt::Display for BrokerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BrokerKind::ApacheKafka => "Apache Kafka",
            BrokerKind::Tansu => "Tansu",
        })
    }
}

/// A broker the tests may use. Shared by every test of the process: give topics names of
/// their own (`unique_name`).
#[derive(Debug, Clone)]
pub struct KafkaBroker {
    pub kind: BrokerKind,
    /// `127.0.0.1:<port>`, or what `JOBSERVER_TEST_KAFKA` names.
    pub bootstrap: String,
}

impl KafkaBroker {
    /// A client configuration with `bootstrap.servers` set; add to it what the client needs.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        config
    }
}

/// What a test that needs a broker runs on: every broker this machine runs,
/// or none, with a note that the test is skipped.
pub fn each_broker() -> Vec<&'static KafkaBroker> {
    let brokers = kafka_brokers();
    if brokers.is_empty() {
        eprintln!("skipped: this machine runs no Kafka-protocol broker");
    }
    brokers
}

impl KafkaBroker {
    /// The server's own Kafka client for this broker, to write and read test data.
    pub fn connector(&self) -> jobserver_connectors::kafka::Kafka {
        jobserver_connectors::kafka::Kafka::new(jobserver_connectors::kafka::KafkaSettings {
            brokers: self.bootstrap.clone(),
            options: Default::default(),
            timeout: std::time::Duration::from_secs(60),
        })
        .expect("a client for a broker the harness started")
    }
}

/// Every broker this machine can run: the tests that must hold on both run on each.
pub fn kafka_brokers() -> Vec<&'static KafkaBroker> {
    [super::apache_kafka(), super::tansu()].into_iter().flatten().collect()
}

/// Creates `name` with `partitions` partitions (one replica each), and waits until the
/// broker's metadata shows every partition with a leader, so that a producer that starts
/// right after does not race the topic's creation. Panics when the broker refuses.
pub async fn create_topic(broker: &KafkaBroker, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = broker
        .client_config()
        .create()
        .unwrap_or_else(|error| panic!("cannot create an admin client for {}: {error}", broker.kind));
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics([&topic], &options)
        .await
        .unwrap_or_else(|error| panic!("creating topic {name} on {}: {error}", broker.kind));
    for result in results {
        if let Err((topic, code)) = result {
            panic!("{} did not create topic {topic}: {code}", broker.kind);
        }
    }
    let (kind, bootstrap, topic) = (broker.kind, broker.bootstrap.clone(), name.to_string());
    // librdkafka's metadata call blocks.
    let waited = tokio::task::spawn_blocking(move || wait_for_leaders(kind, &bootstrap, &topic, partitions)).await;
    if let Err(error) = waited {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("waiting for topic {name} on {kind}: {error}"),
        }
    }
}

fn wait_for_leaders(kind: BrokerKind, bootstrap: &str, name: &str, partitions: i32) {
    let consumer = metadata_client(bootstrap).unwrap_or_else(|error| panic!("{error}"));
    let started = Instant::now();
    loop {
        let state = match consumer.fetch_metadata(Some(name), Duration::from_secs(5)) {
            Ok(metadata) => match metadata.topics().iter().find(|topic| topic.name() == name) {
                None => "not in the metadata".to_string(),
                Some(topic) if topic.error().is_some() => format!("{:?}", topic.error()),
                Some(topic) => {
                    let led = topic
                        .partitions()
                        .iter()
                        .filter(|partition| partition.leader() >= 0)
                        .count();
                    if led == topic.partitions().len() && led == partitions as usize {
                        return;
                    }
                    format!("{led} of {partitions} partitions have a leader")
                }
            },
            Err(error) => error.to_string(),
        };
        assert!(
            started.elapsed() < TOPIC_READY_TIMEOUT,
            "topic {name} on {kind} was not ready within {TOPIC_READY_TIMEOUT:?}: {state}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a broker at `bootstrap` answers a metadata request naming at least one broker:
/// the readiness check of a broker the tests start, and of one they are pointed at.
pub(super) fn answers_metadata(bootstrap: &str) -> Result<(), String> {
    let metadata = metadata_client(bootstrap)?
        .fetch_metadata(None, Duration::from_secs(2))
        .map_err(|error| format!("metadata request to {bootstrap}: {error}"))?;
    if metadata.brokers().is_empty() {
        return Err(format!("{bootstrap} answered metadata listing no brokers"));
    }
    Ok(())
}

/// A client for metadata only. A consumer, because a consumer's metadata requests never
/// create the topic they ask about (producers' may, where the broker allows it).
fn metadata_client(bootstrap: &str) -> Result<BaseConsumer, String> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|error| format!("cannot create a Kafka client for {bootstrap}: {error}"))
}
