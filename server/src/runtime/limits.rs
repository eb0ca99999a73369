//! The limits every run is held to: memory through a `ResourceLimiter`, time
//! through epoch interruption (ticked by `EpochTicker`) and the caller's
//! deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::{Engine, ResourceLimiter};

/// How often the engine's epoch advances: a guest in a tight loop yields to
/// the scheduler this often, so kills and timeouts take effect within it.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Tables and instances a job may create; generous for any real component,
/// small enough that a hostile one cannot exhaust the host through them.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;
const MAX_INSTANCES: usize = 100;

/// The error a run ends with when it asks for more memory than it may have.
#[derive(Debug, thiserror::Error)]
#[error("the job exceeded its memory limit of {limit_bytes} bytes")]
pub struct MemoryLimitExceeded {
    pub limit_bytes: u64,
}

pub struct MemoryLimiter {
    limit_bytes: u64,
}

impl MemoryLimiter {
    pub fn new(limit_bytes: u64) -> MemoryLimiter {
        MemoryLimiter { limit_bytes }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Failing the trap (rather than answering `false`, which makes
        // `memory.grow` return -1) gives the job a clear error: Rust's
        // allocator would otherwise abort with a bare `unreachable`.
        if desired as u64 > self.limit_bytes {
            return Err(MemoryLimitExceeded {
                limit_bytes: self.limit_bytes,
            }
            .into());
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_INSTANCES * 10
    }

    fn memories(&self) -> usize {
        MAX_INSTANCES
    }
}

/// Advances the engine's epoch every `EPOCH_TICK` until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub fn start(engine: Engine) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("the OS refused a thread for the epoch ticker");
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
