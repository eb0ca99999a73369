//! What one job may hold open and ask for in one call. The server's host
//! capabilities and the SDK's native backend both enforce these, so a job
//! tested natively meets the limits it will meet in the server.

use crate::kafka::BatchLimits;

/// Handles (readers and producers, or sessions and pagers) one job may hold
/// open at once: each holds connections or buffers on the host.
pub const MAX_OPEN_HANDLES: usize = 64;

/// Of those, the Kafka readers, bounded apart because each holds a consumer
/// whose prefetch (see the connector's consumer settings) lives outside the
/// job's memory.
pub const MAX_OPEN_READERS: usize = 8;

/// The most rows a job may ask for in one Cassandra page.
pub const MAX_PAGE_ROWS: u32 = 10_000;

/// Kafka batch sizes when a job leaves them to the host, and the most it may ask.
pub const DEFAULT_BATCH_RECORDS: usize = 5_000;
pub const MAX_BATCH_RECORDS: usize = 100_000;
pub const DEFAULT_BATCH_BYTES: usize = 4 << 20;
pub const MAX_BATCH_BYTES: usize = 64 << 20;

/// The batch limits a job asked for, where 0 means the default and more than
/// the most is the most.
pub fn batch_limits(max_records: u32, max_bytes: u32) -> BatchLimits {
    let limit = |asked: u32, default: usize, max: usize| match asked {
        0 => default,
        asked => (asked as usize).min(max),
    };
    BatchLimits {
        max_records: limit(max_records, DEFAULT_BATCH_RECORDS, MAX_BATCH_RECORDS),
        max_bytes: limit(max_bytes, DEFAULT_BATCH_BYTES, MAX_BATCH_BYTES),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_limits_default_and_cap_what_is_asked() {
        assert_eq!(
            batch_limits(0, 0),
            BatchLimits {
                max_records: 5_000,
                max_bytes: 4 << 20
            }
        );
        assert_eq!(
            batch_limits(7, 100),
            BatchLimits {
                max_records: 7,
                max_bytes: 100
            }
        );
        assert_eq!(
            batch_limits(u32::MAX, u32::MAX),
            BatchLimits {
                max_records: 100_000,
                max_bytes: 64 << 20
            }
        );
    }
}
