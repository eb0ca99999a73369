//! Which Kafka and Cassandra a natively compiled job reaches, and the tokio
//! runtime their connectors run on.
//!
//! Each thread chooses for itself, so that parallel tests can use different
//! clusters: what [`testing`](crate::testing) set on it, or else the
//! environment, under the names the server reads (`JOBSERVER_KAFKA_BROKERS`,
//! `JOBSERVER_CASSANDRA_NODES`, ...). The connector clients are made at the
//! first call and kept for the thread, as the server keeps one per context,
//! so connections are opened once per test rather than once per call.
//!
//! The clients' connections are tasks of the runtime they were made on, so
//! the runtime and the clients live together: every client and every open
//! reader, producer, session and pager holds the runtime it needs.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jobserver_connectors::cassandra::{Cassandra, CassandraSettings, parse_consistency};
use jobserver_connectors::kafka::{Kafka, KafkaSettings};
use jobserver_connectors::limits::{MAX_OPEN_HANDLES, MAX_OPEN_READERS};
use tokio::runtime::Runtime;

use crate::testing::CassandraCluster;

/// How long one request may wait, as the server's default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a thread's calls to one system reach.
#[derive(Debug, Clone, Default)]
pub enum Choice<S> {
    /// The cluster the environment names, if any.
    #[default]
    Environment,
    Use(S),
    /// None, as in a context that grants none.
    Refuse,
}

/// A connector client with what it runs on.
#[derive(Clone)]
pub struct Connected<C> {
    pub client: C,
    runtime: Arc<Runtime>,
    open_handles: Arc<AtomicUsize>,
    open_readers: Arc<AtomicUsize>,
}

impl<C> Connected<C> {
    /// Runs a connector call to its end.
    pub fn block_on<F>(&self, call: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return self.runtime.block_on(call);
        }
        // Called from inside an async test (`#[tokio::test]`), whose thread a
        // runtime may not block: wait on a thread of our own instead.
        let runtime = &self.runtime;
        std::thread::scope(|scope| {
            scope
                .spawn(move || runtime.block_on(call))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Takes one of the open handles a job may hold; `what` names them for
    /// the message, as the server's does.
    pub fn reserve_handle(&self, what: &str) -> Result<HandleSlot, String> {
        reserve(&self.open_handles, MAX_OPEN_HANDLES)
            .ok_or_else(|| format!("a job may hold at most {MAX_OPEN_HANDLES} {what} open at once; drop some first"))
    }

    /// Takes one of the Kafka readers a job may hold, as well as a handle.
    pub fn reserve_reader(&self, what: &str) -> Result<(HandleSlot, HandleSlot), String> {
        let reader = reserve(&self.open_readers, MAX_OPEN_READERS).ok_or_else(|| {
            format!("a job may hold at most {MAX_OPEN_READERS} Kafka readers open at once; drop one first")
        })?;
        Ok((reader, self.reserve_handle(what)?))
    }
}

fn reserve(counter: &Arc<AtomicUsize>, max: usize) -> Option<HandleSlot> {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
            (open < max).then_some(open + 1)
        })
        .ok()
        .map(|_| HandleSlot(counter.clone()))
}

/// One open handle, given back when dropped with what holds it.
pub struct HandleSlot(Arc<AtomicUsize>);

impl Drop for HandleSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why no client could be made: refused, not configured, or a setting that
/// is wrong. The callers turn it into their interface's error.
#[derive(Clone)]
pub enum Unavailable {
    PermissionDenied(String),
    InvalidRequest(String),
    Other(String),
}

impl From<jobserver_connectors::Error> for Unavailable {
    fn from(error: jobserver_connectors::Error) -> Self {
        use jobserver_connectors::ErrorKind;
        match error.kind {
            ErrorKind::PermissionDenied => Unavailable::PermissionDenied(error.message),
            ErrorKind::InvalidRequest => Unavailable::InvalidRequest(error.message),
            _ => Unavailable::Other(error.message),
        }
    }
}

#[derive(Default)]
struct ThreadClusters {
    kafka_choice: Choice<String>,
    cassandra_choice: Choice<CassandraCluster>,
    runtime: Option<Arc<Runtime>>,
    /// The clients, once made; a failure to make one is kept too, since it
    /// comes from settings that do not change until a test changes them.
    kafka: Option<Result<Connected<Kafka>, Unavailable>>,
    cassandra: Option<Result<Connected<Cassandra>, Unavailable>>,
}

thread_local! {
    static CLUSTERS: RefCell<ThreadClusters> = RefCell::default();
}

/// What this thread's Kafka calls reach from now on.
pub fn choose_kafka(choice: Choice<String>) {
    CLUSTERS.with_borrow_mut(|clusters| {
        clusters.kafka_choice = choice;
        clusters.kafka = None;
    });
}

/// What this thread's Cassandra calls reach from now on.
pub fn choose_cassandra(choice: Choice<CassandraCluster>) {
    CLUSTERS.with_borrow_mut(|clusters| {
        clusters.cassandra_choice = choice;
        clusters.cassandra = None;
    });
}

/// This thread's Kafka client, made at the first call.
pub fn kafka() -> Result<Connected<Kafka>, Unavailable> {
    CLUSTERS.with_borrow_mut(|clusters| {
        let made = clusters.kafka.get_or_insert_with(|| {
            let settings = kafka_settings(&clusters.kafka_choice, &environment)?;
            connected(&mut clusters.runtime, Kafka::new(settings)?)
        });
        made.clone()
    })
}

/// This thread's Cassandra client, made at the first call.
pub fn cassandra() -> Result<Connected<Cassandra>, Unavailable> {
    CLUSTERS.with_borrow_mut(|clusters| {
        let made = clusters.cassandra.get_or_insert_with(|| {
            let settings = cassandra_settings(&clusters.cassandra_choice, &environment)?;
            connected(&mut clusters.runtime, Cassandra::new(settings)?)
        });
        made.clone()
    })
}

fn connected<C>(runtime: &mut Option<Arc<Runtime>>, client: C) -> Result<Connected<C>, Unavailable> {
    let runtime = match runtime {
        Some(runtime) => runtime.clone(),
        None => {
            // Multi-threaded, so that the drivers' connection tasks (keep-
            // alives, replies) go on between the job's calls.
            let made = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("job-sdk-native")
                .enable_all()
                .build()
                .map_err(|e| Unavailable::Other(format!("starting a tokio runtime for the connectors failed: {e}")))?;
            runtime.insert(Arc::new(made)).clone()
        }
    };
    Ok(Connected {
        client,
        runtime,
        open_handles: Arc::new(AtomicUsize::new(0)),
        open_readers: Arc::new(AtomicUsize::new(0)),
    })
}

fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

/// The Kafka settings a choice comes to, reading variables with `env`.
fn kafka_settings(choice: &Choice<String>, env: &dyn Fn(&str) -> Option<String>) -> Result<KafkaSettings, Unavailable> {
    let brokers = match choice {
        Choice::Use(brokers) => brokers.clone(),
        Choice::Refuse => return Err(Unavailable::PermissionDenied(REFUSED_KAFKA.to_owned())),
        Choice::Environment => {
            env("JOBSERVER_KAFKA_BROKERS").ok_or_else(|| Unavailable::PermissionDenied(NO_KAFKA.to_owned()))?
        }
    };
    Ok(KafkaSettings {
        brokers,
        options: Default::default(),
        timeout: timeout(env, "JOBSERVER_KAFKA_TIMEOUT")?,
    })
}

/// The Cassandra settings a choice comes to, reading variables with `env`.
fn cassandra_settings(
    choice: &Choice<CassandraCluster>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CassandraSettings, Unavailable> {
    let cluster = match choice {
        Choice::Use(cluster) => cluster.clone(),
        Choice::Refuse => return Err(Unavailable::PermissionDenied(REFUSED_CASSANDRA.to_owned())),
        Choice::Environment => {
            let nodes = env("JOBSERVER_CASSANDRA_NODES")
                .ok_or_else(|| Unavailable::PermissionDenied(NO_CASSANDRA.to_owned()))?;
            CassandraCluster {
                nodes: nodes
                    .split(',')
                    .map(str::trim)
                    .filter(|node| !node.is_empty())
                    .map(str::to_owned)
                    .collect(),
                keyspace: env("JOBSERVER_CASSANDRA_KEYSPACE"),
                username: env("JOBSERVER_CASSANDRA_USERNAME"),
                password: env("JOBSERVER_CASSANDRA_PASSWORD"),
            }
        }
    };
    let consistency = env("JOBSERVER_CASSANDRA_CONSISTENCY")
        .map(|level| parse_consistency(&level))
        .transpose()
        .map_err(|e| Unavailable::InvalidRequest(format!("JOBSERVER_CASSANDRA_CONSISTENCY: {e}")))?;
    Ok(CassandraSettings {
        nodes: cluster.nodes,
        keyspace: cluster.keyspace,
        username: cluster.username,
        password: cluster.password,
        consistency,
        timeout: timeout(env, "JOBSERVER_CASSANDRA_TIMEOUT")?,
    })
}

const NO_KAFKA: &str = "no Kafka cluster is configured for this native run: call \
    job_sdk::testing::use_kafka(\"host:port\") in the test, or set JOBSERVER_KAFKA_BROKERS";
const NO_CASSANDRA: &str = "no Cassandra cluster is configured for this native run: call \
    job_sdk::testing::use_cassandra(..) in the test, or set JOBSERVER_CASSANDRA_NODES \
    (and JOBSERVER_CASSANDRA_KEYSPACE, _USERNAME, _PASSWORD as needed)";
const REFUSED_KAFKA: &str = "Kafka is refused on this thread by job_sdk::testing::refuse_kafka(), \
    as in a context that grants none";
const REFUSED_CASSANDRA: &str = "Cassandra is refused on this thread by job_sdk::testing::refuse_cassandra(), \
    as in a context that grants none";

/// A timeout variable, written as the server reads durations (`30s`,
/// `500ms`, `2m`; a bare number is seconds); [`DEFAULT_TIMEOUT`] when unset.
fn timeout(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<Duration, Unavailable> {
    let Some(text) = env(name) else {
        return Ok(DEFAULT_TIMEOUT);
    };
    parse_duration(&text).ok_or_else(|| {
        Unavailable::InvalidRequest(format!(
            "{name}: '{text}' is not a duration; write a whole number with an optional unit, like 30s or 500ms"
        ))
    })
}

fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let number: u64 = text[..digits].parse().ok()?;
    let millis_per_unit = match text[digits..].trim() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    Some(Duration::from_millis(number.checked_mul(millis_per_unit)?))
}

#[cfg(test)]
#[path = "clusters_tests.rs"]
mod tests;
