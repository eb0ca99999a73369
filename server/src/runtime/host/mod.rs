//! The capabilities a job imports, each one small struct implementing the
//! generated `Host` trait, and the per-run state that holds them.

pub mod journal;
mod named_objects;

pub use journal::{Journal, JournalBatch, LogLine, OutputSink};
pub use named_objects::{BoxFuture, NamedObjects, NoObjects, ObjectSpace};

use super::limits::MemoryLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Everything one run of a component can reach: the data of its `Store`.
pub struct HostState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub journal: JournalHost,
    pub objects: NamedObjects,
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
pub struct JournalHost(pub std::sync::Arc<Journal>);
