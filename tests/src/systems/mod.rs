//! The outside systems the end-to-end tests talk to, real and never mocked: Apache Kafka
//! and Tansu (two Kafka-protocol brokers, so that what must hold on both is tested on both)
//! and Apache Cassandra. Each is started on first use, once per test process, on free
//! ports on 127.0.0.1, with its data and log in this process's scratch directory, and the
//! kernel kills it when the test process dies. Tests share them, so each test names its
//! own topics and keyspaces (`unique_name`).
//!
//! A system this machine cannot run (no Java, neither Maven nor cached jars, Maven Central
//! out of reach, tansu not installed) is `None`, with one `SKIPPED:` line on stderr saying
//! why. One that can run but does not start is a panic with the tail of its log: that is a
//! bug to look at, not a machine to excuse. `JOBSERVER_TEST_KAFKA=host:port` and
//! `JOBSERVER_TEST_CASSANDRA=host:port[,host:port]` (with `JOBSERVER_TEST_CASSANDRA_USERNAME`
//! and `_PASSWORD`) name running ones to use instead.
//!
//! ```no_run
//! # async fn example() {
//! use jobserver_tests::systems::{cassandra, cql, create_topic, kafka_brokers, unique_name};
//! for broker in kafka_brokers() {
//!     create_topic(broker, &unique_name("events"), 2).await;
//! }
//! if let Some(node) = cassandra() {
//!     let keyspace = unique_name("ks");
//!     cql(node, &format!("CREATE KEYSPACE {keyspace} WITH replication = \
//!         {{'class': 'SimpleStrategy', 'replication_factor': 1}}")).await;
//! }
//! # }
//! ```

mod apache_kafka;
mod brokers;
mod cassandra;
mod jars;
mod process;
mod tansu;

pub use apache_kafka::apache_kafka;
pub use brokers::{BrokerKind, KafkaBroker, create_topic, each_broker, kafka_brokers};
pub use cassandra::{CassandraNode, cassandra, cql, cql_session, fresh_keyspace};
pub use jars::{JarSet, java};
pub use tansu::{tansu, tansu_executable};

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

/// A fresh name for a topic, keyspace or table: `<prefix>_<8 hex digits>`, lower case and
/// valid in Kafka and CQL alike. Random rather than counted, so that test runs against a
/// long-lived cluster (`JOBSERVER_TEST_KAFKA`) do not meet the names of earlier runs.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// A system, and the process the tests started for it (none when the environment named a
/// running one), which runs as long as the test process.
struct Running<T> {
    system: T,
    _process: Option<process::Service>,
}

impl<T> Running<T> {
    fn external(system: T) -> Running<T> {
        Running { system, _process: None }
    }
}

/// What became of the one attempt per process to start a system.
enum Outcome<T> {
    Running(Running<T>),
    /// The machine cannot run it; the reason was printed.
    Unavailable,
    /// It could run but did not start: every later test fails with the same message
    /// rather than starting it again.
    Failed(String),
}

/// Starts a system once per process. `start` says why the machine cannot run it with
/// `Err(reason)`, and panics when it can but the system does not start. It runs on a
/// thread of its own, outside any tokio runtime, so that it may block on one of its own to
/// use an async client (tests call this from within `#[tokio::test]`).
fn start_once<T: Send + Sync>(
    cell: &'static OnceLock<Outcome<T>>,
    system: &str,
    start: impl FnOnce() -> Result<Running<T>, String> + Send,
) -> Option<&'static T> {
    let outcome = cell.get_or_init(|| {
        let started = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name(format!("starting {system}"))
                .spawn_scoped(scope, start)
                .unwrap_or_else(|error| panic!("cannot start a thread to start {system}: {error}"))
                .join()
        });
        match started {
            Ok(Ok(running)) => Outcome::Running(running),
            Ok(Err(reason)) => {
                skip(system, &reason);
                Outcome::Unavailable
            }
            Err(panic) => Outcome::Failed(panic_message(panic.as_ref())),
        }
    });
    match outcome {
        Outcome::Running(running) => Some(&running.system),
        Outcome::Unavailable => None,
        Outcome::Failed(message) => panic!("{system} did not start in this test process: {message}"),
    }
}

fn skip(system: &str, reason: &str) {
    tell(&format!("SKIPPED: {system} tests: {reason}"));
}

/// One line on the real stderr. Not `eprintln!`: the test harness captures that, and a
/// skip should show in every run, not only with `--nocapture` or when a test fails.
fn tell(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<String>(), panic.downcast_ref::<&str>()) {
        (Some(message), _) => message.clone(),
        (None, Some(message)) => (*message).to_string(),
        (None, None) => "(a panic without a message)".to_string(),
    }
}

/// Where this process keeps the data and log of one system: `<scratch>/systems-<pid>/<name>`.
fn scratch_dir(name: &str) -> PathBuf {
    crate::process_scratch_dir("systems").join(name)
}
