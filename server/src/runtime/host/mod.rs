//! The capabilities a job imports, each one small struct implementing the
//! generated `Host` traits, and the per-run state that holds them.
//!
//! What a run may reach is decided once, by whoever starts it, and handed
//! over as one `Capabilities`: the scheduler grants a job its context's
//! Kafka and Cassandra, upload and config checks get none of them.

pub mod cassandra;
mod job_info;
pub mod journal;
pub mod kafka;
mod named_objects;

pub use job_info::{JobInfo, JobInfoHost};
pub use journal::{Journal, JournalBatch, LogLine, OutputSink};
pub use named_objects::{BoxFuture, NamedObjects, NoObjects, ObjectError, ObjectResult, ObjectSpace};

use super::limits::MemoryLimiter;
use jobserver_connectors::cassandra::Cassandra;
use jobserver_connectors::kafka::Kafka;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// A capability as a run holds it: granted, or refused with the reason the
/// job is told when it calls it.
#[derive(Clone)]
pub enum Grant<T> {
    Granted(T),
    Refused(String),
}

impl<T> Grant<T> {
    pub fn is_granted(&self) -> bool {
        matches!(self, Grant::Granted(_))
    }
}

/// Everything one run of a component may reach.
pub struct Capabilities {
    /// Where its logs and progress go.
    pub journal: Arc<Journal>,
    /// Its context's named objects.
    pub objects: Arc<dyn ObjectSpace>,
    /// The job it is a run of; `None` for an upload check (`entries`).
    pub job: Option<JobInfo>,
    pub kafka: Grant<Kafka>,
    pub cassandra: Grant<Cassandra>,
}

/// What `entries` and `validate` are told when they reach for a cluster.
const ONLY_WHILE_RUNNING: &str = "only a running job may use it, not entries or validate";

impl Capabilities {
    /// For checking an upload or a config: the job (when there is one) and a
    /// journal, but no named objects and no clusters.
    pub fn for_checks(journal: Arc<Journal>, job: Option<JobInfo>) -> Capabilities {
        Capabilities {
            journal,
            objects: Arc::new(NoObjects),
            job,
            kafka: Grant::Refused(format!("Kafka: {ONLY_WHILE_RUNNING}")),
            cassandra: Grant::Refused(format!("Cassandra: {ONLY_WHILE_RUNNING}")),
        }
    }
}

/// The data of one run's `Store`.
pub struct HostState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub journal: JournalHost,
    pub objects: NamedObjects,
    pub job_info: JobInfoHost,
    pub kafka: kafka::KafkaHost,
    pub cassandra: cassandra::CassandraHost,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The `log` and `progress` imports, writing into the run's journal.
pub struct JournalHost(pub Arc<Journal>);
