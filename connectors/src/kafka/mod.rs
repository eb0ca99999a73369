//! Kafka through librdkafka: a topic's partitions and offsets, reads bounded
//! by offsets or times that are exact on Apache Kafka and on brokers whose
//! offset lookups are not, consumer groups that continue where they stopped,
//! and produce calls that return once the brokers acknowledged.
//!
//! One `Kafka` serves one context: its producer and its idle consumers are
//! kept and shared by the context's jobs, so connections are opened once, not
//! once per job. librdkafka's calls block, so each runs on tokio's blocking
//! pool; a caller that stops waiting (a killed job) is never held up.

mod commit;
mod context;
mod lookups;
mod partition;
mod produce;
mod read;
mod watermarks;

pub use partition::TimeRange;
pub use produce::{Delivery, OutgoingRecord};
pub use read::{BatchLimits, End, ReadSpec, Reader, RecordView, Start};

use crate::{Error, ErrorKind, Result};
use context::{ConnectorContext, kind_of};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureProducer;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Where the brokers are and how to talk to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// `host:port[,host:port...]`.
    pub brokers: String,
    /// librdkafka options passed through as they are, such as
    /// `security.protocol` or `sasl.password`.
    pub options: BTreeMap<String, String>,
    /// How long one request may wait for the brokers: a metadata lookup, a
    /// commit, an acknowledgement, or records that should be there.
    pub timeout: Duration,
}

/// The offsets of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    pub partition: i32,
    /// The first offset still held.
    pub low: i64,
    /// The offset the next record will get.
    pub high: i64,
}

/// The group of reads that have none of their own; they never commit.
const UNCOMMITTED_GROUP: &str = "jobserver-reads-without-a-group";

/// Idle consumers kept for the next read, per consumer group.
const MAX_IDLE_CONSUMERS: usize = 8;

/// The Kafka of one context, shared by its jobs.
#[derive(Clone)]
pub struct Kafka {
    shared: Arc<Shared>,
}

struct Shared {
    settings: KafkaSettings,
    context: ConnectorContext,
    producer: OnceLock<FutureProducer<ConnectorContext>>,
    idle: Mutex<Vec<IdleConsumer>>,
    calls: Arc<tokio::sync::Semaphore>,
}

struct IdleConsumer {
    group: Option<String>,
    consumer: BaseConsumer<ConnectorContext>,
}

type KafkaConsumer = BaseConsumer<ConnectorContext>;

impl Kafka {
    /// Nothing connects yet: the first call does. Options librdkafka does
    /// not know are an error now, though, not at the first job.
    pub fn new(settings: KafkaSettings) -> Result<Kafka> {
        let kafka = Kafka {
            shared: Arc::new(Shared {
                context: ConnectorContext::new(&settings.brokers),
                settings,
                producer: OnceLock::new(),
                idle: Mutex::new(Vec::new()),
                calls: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_CALLS)),
            }),
        };
        kafka
            .consumer_config(None)
            .create::<BaseConsumer>()
            .map_err(|error| kafka.settings_error(&error))?;
        Ok(kafka)
    }

    /// Why librdkafka refused the settings, naming the option but never
    /// repeating a value: option values may be passwords.
    fn settings_error(&self, error: &rdkafka::error::KafkaError) -> Error {
        let text = match error {
            rdkafka::error::KafkaError::ClientConfig(_, description, key, _) => {
                format!("the Kafka option '{key}' is refused: {description}")
            }
            other => format!("the Kafka settings are not valid: {other}"),
        };
        let redacted = self
            .shared
            .settings
            .options
            .values()
            .filter(|value| value.len() >= 3)
            .fold(text, |text, value| text.replace(value.as_str(), "********"));
        Error::invalid(redacted)
    }

    pub fn settings(&self) -> &KafkaSettings {
        &self.shared.settings
    }

    /// The topic's partitions with their offsets now.
    pub async fn partitions(&self, topic: &str) -> Result<Vec<PartitionOffsets>> {
        let consumer = self.take_consumer(None)?;
        let (kafka, topic) = (self.clone(), topic.to_string());
        self.blocking(move || {
            let offsets = topic_partitions(&kafka, &consumer, &topic)
                .and_then(|partitions| lookups::snapshot(&kafka, &consumer, &topic, &partitions));
            kafka.return_consumer(None, consumer);
            offsets
        })
        .await?
    }

    /// For each partition, the earliest offset whose record's timestamp is at
    /// or after `timestamp`, or the partition's high offset when all are
    /// older; exact even where the broker's own lookup is not, because the
    /// records are read to confirm it.
    pub async fn offsets_for_time(&self, topic: &str, timestamp: i64) -> Result<Vec<(i32, i64)>> {
        let mut reader = self
            .read(ReadSpec {
                topic: topic.to_string(),
                partitions: Vec::new(),
                start: Start::Timestamp(timestamp),
                end: End::Latest,
                group: None,
            })
            .await?;
        let limits = BatchLimits {
            max_records: 64,
            max_bytes: 1 << 20,
        };
        let mut found: BTreeMap<i32, i64> = BTreeMap::new();
        while let Some(batch) = reader
            .next_batch(limits, |record| (record.partition(), record.offset()))
            .await?
        {
            for (partition, offset) in batch {
                if let std::collections::btree_map::Entry::Vacant(first) = found.entry(partition) {
                    first.insert(offset);
                    reader.finish_partition(partition);
                }
            }
        }
        Ok(reader
            .offsets()
            .into_iter()
            .map(|offsets| {
                let offset = found.get(&offsets.partition).copied().unwrap_or(offsets.high);
                (offsets.partition, offset)
            })
            .collect())
    }

    /// Opens a read; see [`ReadSpec`].
    pub async fn read(&self, spec: ReadSpec) -> Result<Reader> {
        if let Some(group) = &spec.group
            && (group.trim().is_empty() || group.len() > MAX_GROUP_BYTES)
        {
            return Err(Error::invalid(format!(
                "a consumer group name must not be blank nor longer than {MAX_GROUP_BYTES} bytes"
            )));
        }
        let consumer = self.take_consumer(spec.group.as_deref())?;
        let kafka = self.clone();
        self.blocking(move || Reader::open(kafka, consumer, spec)).await?
    }

    fn consumer_config(&self, group: Option<&str>) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // Reaching a partition's end must be seen, and an offset that is
            // not there must be an error, not a silent jump elsewhere.
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "error")
            // A fetch at a partition's end waits this long before answering;
            // reads stop at ends, so waiting longer only delays them.
            .set("fetch.wait.max.ms", "25")
            // What librdkafka prefetches per consumer, in KiB, and the most
            // one fetch answer may carry: bounded, since every open read holds
            // one, outside the job's memory.
            .set("queued.max.messages.kbytes", "32768")
            .set("fetch.max.bytes", "16777216")
            // Once that much is queued librdkafka waits before fetching more
            // (1 s by default): far longer than a job takes to drain a batch.
            .set("fetch.queue.backoff.ms", "10");
        // librdkafka assigns partitions only to a consumer with a group. A
        // read without one never commits, so the name is never seen.
        config.set("group.id", group.unwrap_or(UNCOMMITTED_GROUP));
        config
    }

    fn client_config(&self) -> ClientConfig {
        let settings = &self.shared.settings;
        let mut config = ClientConfig::new();
        for (key, value) in &settings.options {
            config.set(key, value);
        }
        config
            .set("bootstrap.servers", &settings.brokers)
            .set("client.id", "jobserver")
            .set("socket.connection.setup.timeout.ms", millis(settings.timeout))
            .set("log.connection.close", "false");
        config
    }

    fn take_consumer(&self, group: Option<&str>) -> Result<KafkaConsumer> {
        let idle = {
            let mut idle = self.shared.idle.lock().unwrap_or_else(PoisonError::into_inner);
            idle.iter()
                .position(|consumer| consumer.group.as_deref() == group)
                .map(|index| idle.swap_remove(index).consumer)
        };
        match idle {
            Some(consumer) => Ok(consumer),
            None => self
                .consumer_config(group)
                .create_with_context(self.shared.context.clone())
                .map_err(|error| self.shared.context.error("creating a Kafka consumer", &error)),
        }
    }

    /// Keeps a consumer whose read is over for the next one.
    fn return_consumer(&self, group: Option<String>, consumer: KafkaConsumer) {
        // A read pauses the partitions it is done with, and librdkafka keeps
        // a partition paused across assignments: the next read would wait
        // on it for ever.
        let resumed = consumer.assignment().and_then(|assigned| consumer.resume(&assigned));
        if resumed.is_err() || consumer.unassign().is_err() {
            return;
        }
        let mut idle = self.shared.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_CONSUMERS {
            idle.push(IdleConsumer { group, consumer });
        }
    }

    fn producer(&self) -> Result<&FutureProducer<ConnectorContext>> {
        if let Some(producer) = self.shared.producer.get() {
            return Ok(producer);
        }
        let mut config = self.client_config();
        config
            .set("message.timeout.ms", millis(self.shared.settings.timeout))
            .set("linger.ms", "5");
        let producer = config
            .create_with_context(self.shared.context.clone())
            .map_err(|error| self.shared.context.error("creating a Kafka producer", &error))?;
        // Two jobs may race to create it; one wins and the other's is dropped.
        Ok(self.shared.producer.get_or_init(|| producer))
    }

    fn context(&self) -> &ConnectorContext {
        &self.shared.context
    }

    fn timeout(&self) -> Duration {
        self.shared.settings.timeout
    }
}

impl Kafka {
    /// Runs blocking librdkafka calls on tokio's blocking pool, at most
    /// `MAX_CONCURRENT_CALLS` at once for this context.
    async fn blocking<T: Send + 'static>(&self, call: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let permit = self
            .shared
            .calls
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::other("the Kafka client is closed"))?;
        let gone = Arc::new(AtomicBool::new(false));
        let flag = GoneOnDrop(gone.clone());
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            CALLER_GONE.with_borrow_mut(|slot| *slot = Some(gone));
            let result = call();
            CALLER_GONE.with_borrow_mut(|slot| *slot = None);
            result
        })
        .await
        .map_err(|error| Error::new(ErrorKind::Other, format!("a Kafka call failed: {error}")));
        drop(flag);
        result
    }

    /// Makes a request that blocks (a metadata or offset lookup) in steps of
    /// at most `STEP`, asking again after each step that timed out or found
    /// no broker, until the Kafka timeout passes, the brokers refuse the
    /// login or the caller is gone: a broker that restarts is waited for, and
    /// a thread is never held long for a job that was killed.
    fn stepped<T>(
        &self,
        consumer: &KafkaConsumer,
        mut request: impl FnMut(Duration) -> rdkafka::error::KafkaResult<T>,
    ) -> rdkafka::error::KafkaResult<T> {
        let deadline = Instant::now() + self.timeout();
        loop {
            let step = STEP
                .min(deadline.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(1));
            let outcome = request(step);
            // librdkafka tells why brokers cannot be used (a refused login)
            // only through events, which a waiting request does not serve.
            // The consumer reads nothing yet (it is assigned no partition),
            // so serving them takes no record.
            for _ in 0..MAX_EVENTS_SERVED {
                if consumer.poll(Duration::ZERO).is_none() {
                    break;
                }
            }
            match outcome {
                Err(error)
                    if error
                        .rdkafka_error_code()
                        .is_some_and(|code| matches!(kind_of(code), ErrorKind::Timeout | ErrorKind::Unreachable))
                        && Instant::now() < deadline
                        && !caller_gone()
                        && !self.context().login_refused() => {}
                outcome => return outcome,
            }
        }
    }

    /// Whether the caller of the blocking call this thread runs is gone.
    fn caller_gone(&self) -> bool {
        caller_gone()
    }
}

fn millis(duration: Duration) -> String {
    duration.as_millis().max(1).to_string()
}

/// At most how many queued events one step serves.
const MAX_EVENTS_SERVED: usize = 100;
/// The longest consumer group name a read may use.
const MAX_GROUP_BYTES: usize = 255;
/// How many librdkafka calls of one context may hold a thread at once: a
/// thread that waits on an unreachable broker cannot be interrupted, and
/// every context shares the one blocking pool.
const MAX_CONCURRENT_CALLS: usize = 16;
/// The longest one blocking request waits before it looks whether its caller
/// is still there.
pub(crate) const STEP: Duration = Duration::from_millis(500);

thread_local! {
    /// Set while a thread runs a call for a caller, and flagged once that
    /// caller stops waiting (a killed job): see `Kafka::stepped`.
    static CALLER_GONE: std::cell::RefCell<Option<Arc<AtomicBool>>> = const { std::cell::RefCell::new(None) };
}

fn caller_gone() -> bool {
    CALLER_GONE.with_borrow(|gone| gone.as_ref().is_some_and(|gone| gone.load(Ordering::Relaxed)))
}

/// Flags the call's caller as gone when the waiting future is dropped.
struct GoneOnDrop(Arc<AtomicBool>);

impl Drop for GoneOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The partitions of `topic`, checked to exist.
fn topic_partitions(kafka: &Kafka, consumer: &KafkaConsumer, topic: &str) -> Result<Vec<i32>> {
    let doing = format!("looking up Kafka topic '{topic}'");
    if topic.is_empty() {
        return Err(Error::invalid("a Kafka topic name must not be empty"));
    }
    let metadata = kafka
        .stepped(consumer, |step| consumer.fetch_metadata(Some(topic), step))
        .map_err(|error| kafka.context().error(&doing, &error))?;
    kafka.context().reached();
    let Some(found) = metadata.topics().iter().find(|found| found.name() == topic) else {
        return Err(Error::not_found(format!("{doing}: the brokers do not know it")));
    };
    if let Some(error) = found.error() {
        let error = rdkafka::error::KafkaError::MetadataFetch(error.into());
        return Err(match kafka.context().error(&doing, &error) {
            Error {
                kind: ErrorKind::NotFound,
                ..
            } => Error::not_found(format!("there is no Kafka topic '{topic}'")),
            other => other,
        });
    }
    let mut partitions: Vec<i32> = found.partitions().iter().map(|partition| partition.id()).collect();
    partitions.sort_unstable();
    if partitions.is_empty() {
        return Err(Error::not_found(format!("there is no Kafka topic '{topic}'")));
    }
    Ok(partitions)
}
