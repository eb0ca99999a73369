//! Kafka, through the brokers of the job's context (or the server's
//! defaults). This is the WIT `kafka` interface made to read as Rust: a
//! [`Read`] builder instead of a record of options, iterators over a
//! [`Reader`]'s batches and records, [`Outgoing`] records built in one
//! expression, and an [`Error`] that `?` turns into a
//! [`JobError`](crate::JobError) whose class keeps its kind
//! (`KafkaNotFound`), so clients can tell a missing topic from a broker that
//! is down.
//!
//! Reads are bounded: each partition is read from its start to an end fixed
//! when the read is opened (by default, where the partition ended then), so
//! a job always finishes, however busy the topic. Records cross from the
//! host in batches, never one call per record.
//!
//! ```no_run
//! use job_sdk::kafka::{self, Outgoing, Producer};
//! use job_sdk::{JobError, Value, json};
//!
//! #[derive(job_sdk::serde::Deserialize)]
//! #[serde(crate = "job_sdk::serde")]
//! struct View {
//!     video: String,
//! }
//!
//! fn run() -> Result<Value, JobError> {
//!     // Everything written to `views` since the group `hourly` last committed.
//!     let reader = kafka::Read::topic("views").group("hourly").open()?;
//!     let producer = Producer::open("views-per-video")?;
//!     let mut views = 0;
//!     for batch in reader.batches() {
//!         let mut out = Vec::new();
//!         for record in batch? {
//!             let view: View = record.json()?;
//!             out.push(Outgoing::value(view.video.as_str()).key(view.video.as_str()));
//!             views += 1;
//!         }
//!         producer.send(&out)?;
//!         // Only now is the batch's work done: the next run goes on from here.
//!         reader.commit()?;
//!     }
//!     Ok(json!({ "views": views }))
//! }
//! ```
//!
//! Compiled natively (`cargo test`), the same calls go to a real cluster
//! through the connectors the server uses; see [`testing`](crate::testing).

mod produce;
mod read;
mod record;

pub use crate::__private::bindings::jobserver::job::kafka::{
    Header, Outgoing, PartitionOffset, PartitionOffsets, Record,
};
pub use produce::Producer;
pub use read::{Read, Reader};

#[cfg(target_arch = "wasm32")]
use crate::__private::bindings::jobserver::job::kafka as host;
#[cfg(not(target_arch = "wasm32"))]
use crate::native::kafka as host;

/// What went wrong in a Kafka call; each case carries a message for the
/// user. The bindings use this type for the WIT `error` variant itself, so
/// it has the variant's cases and nothing else.
///
/// `?` in [`Job::run`](crate::Job::run) makes it a [`JobError`] of class
/// `Kafka` and the case: `KafkaUnreachable`, `KafkaNotFound`,
/// `KafkaInvalidRequest`, `KafkaTimeout`, `KafkaPermissionDenied`,
/// `KafkaOther`.
///
/// [`JobError`]: crate::JobError
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No broker could be reached; the message names the brokers tried.
    Unreachable(String),
    /// No such topic or partition.
    NotFound(String),
    /// The request cannot be served as asked: an offset that is no longer
    /// held, a commit without a group, a bad option.
    InvalidRequest(String),
    /// The brokers did not answer in time.
    Timeout(String),
    /// The context grants no Kafka, or the brokers refused this client
    /// (authentication, ACLs).
    PermissionDenied(String),
    /// Anything else the brokers or the client reported.
    Other(String),
}

crate::error::cluster_error!(Error, "Kafka");

/// The topic's partitions, in order, with their offsets now.
pub fn partitions(topic: &str) -> Result<Vec<PartitionOffsets>, Error> {
    host::partitions(topic)
}

/// For each partition, the offset of the earliest record whose timestamp is
/// at or after `timestamp_millis` (milliseconds since the Unix epoch), or the
/// partition's high offset when every record is older.
pub fn offsets_for_time(topic: &str, timestamp_millis: i64) -> Result<Vec<PartitionOffset>, Error> {
    host::offsets_for_time(topic, timestamp_millis)
}

/// `(partition, offset)`, so that offsets can be written as pairs:
/// `Read::topic("t").from_offsets([(0, 120), (1, 98)])`.
impl From<(i32, i64)> for PartitionOffset {
    fn from((partition, offset): (i32, i64)) -> Self {
        Self { partition, offset }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JobError;

    #[test]
    fn errors_become_job_errors_of_their_kind() {
        let cases = [
            (Error::Unreachable("a".into()), "KafkaUnreachable"),
            (Error::NotFound("b".into()), "KafkaNotFound"),
            (Error::InvalidRequest("c".into()), "KafkaInvalidRequest"),
            (Error::Timeout("d".into()), "KafkaTimeout"),
            (Error::PermissionDenied("e".into()), "KafkaPermissionDenied"),
            (Error::Other("f".into()), "KafkaOther"),
        ];
        for (error, class) in cases {
            let message = error.message().to_owned();
            assert_eq!(error.to_string(), message, "Display is the message alone");
            let job_error = JobError::from(error);
            assert_eq!((job_error.class(), job_error.message()), (class, message.as_str()));
        }
    }

    #[test]
    fn question_mark_converts_in_run() {
        fn run() -> Result<(), JobError> {
            Err(Error::NotFound("there is no Kafka topic 'x'".into()))?
        }
        assert_eq!(
            run(),
            Err(JobError::with_class("KafkaNotFound", "there is no Kafka topic 'x'"))
        );
    }
}
