//! The limits every run is held to: memory through a `ResourceLimiter`, time
//! through epoch interruption (ticked by `EpochTicker`) and the caller's
//! deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::{Enabled, Engine, PoolingAllocationConfig, ResourceLimiter};

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

/// Bytes a table element is counted as: a pointer, as wasmtime stores them.
const TABLE_ELEMENT_BYTES: u64 = 8;

/// Holds a job's memories and tables together to one budget: a component is
/// made of several core modules, each with memories of its own, and the
/// limit is the job's, not each memory's.
pub struct MemoryLimiter {
    limit_bytes: u64,
    used_bytes: u64,
}

impl MemoryLimiter {
    pub fn new(limit_bytes: u64) -> MemoryLimiter {
        MemoryLimiter {
            limit_bytes,
            used_bytes: 0,
        }
    }

    fn grow(&mut self, extra_bytes: u64) -> wasmtime::Result<bool> {
        let used = self.used_bytes.saturating_add(extra_bytes);
        if used > self.limit_bytes {
            // An error (rather than `false`, which makes `memory.grow` return
            // -1) gives the job a clear message: Rust's allocator would
            // otherwise abort with a bare `unreachable`.
            return Err(MemoryLimitExceeded {
                limit_bytes: self.limit_bytes,
            }
            .into());
        }
        self.used_bytes = used;
        Ok(true)
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.grow(desired.saturating_sub(current) as u64)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.grow(desired.saturating_sub(current) as u64 * TABLE_ELEMENT_BYTES)
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

/// Guest instances alive at once, in jobs and checks; more wait for one.
pub(super) const POOLED_INSTANCES: u32 = 1_000;

/// Instances come from a pool. Allocated on demand, each job's memory, tables
/// and fiber stack were mapped and unmapped around it, and the page faults,
/// unmapping and TLB flushes that cost took about a third of the server's
/// CPU per trivial job; a pooled slot is reset in place and reused. Every
/// instance holds one of `POOLED_INSTANCES` permits, so the pool's other
/// limits are sized for components with several modules, memories and
/// tables each; the memories reserve address space only (4 GiB each, for any context's
/// limit: the limiter enforces the context's own).
pub(super) fn pooling() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(POOLED_INSTANCES)
        .total_core_instances(POOLED_INSTANCES * 16)
        .total_memories(POOLED_INSTANCES * 4)
        .total_tables(POOLED_INSTANCES * 16)
        .total_stacks(POOLED_INSTANCES)
        .max_memories_per_module(4)
        .max_tables_per_module(16)
        .max_core_instance_size(16 << 20)
        .max_component_instance_size(16 << 20)
        .table_elements(MAX_TABLE_ELEMENTS)
        .max_memory_size(1 << 32)
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(64 << 10)
        .pagemap_scan(Enabled::Auto);
    pool
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_for_all_memories_and_tables_together() {
        let mut limiter = MemoryLimiter::new(100 << 20);
        assert!(limiter.memory_growing(0, 60 << 20, None).unwrap());
        // A second memory of 60 MiB would be within the limit on its own.
        let error = limiter.memory_growing(0, 60 << 20, None).unwrap_err();
        assert!(error.downcast_ref::<MemoryLimitExceeded>().is_some());
        assert!(limiter.memory_growing(0, 35 << 20, None).unwrap());
        assert!(
            limiter.table_growing(0, 900_000, None).is_err(),
            "7 MiB of table elements is over"
        );
        assert!(!limiter.table_growing(0, MAX_TABLE_ELEMENTS + 1, None).unwrap());
    }
}
