//! Kafka and Cassandra as jobserver's jobs use them. The server's host
//! capabilities (what a WebAssembly job imports) and the job SDK's native
//! backend (what `cargo test` of a job calls) both go through this crate, so
//! a job tested natively reads and writes exactly as it will in the server.
//!
//! Everything here is bounded: reads stop at ends fixed when they begin,
//! batches and pages have limits in records and bytes, and every request has
//! a timeout. Errors say what could not be reached or what was wrong, in a
//! small set of kinds a job can act on.

pub mod cassandra;
mod error;
pub mod kafka;
pub mod limits;
mod wit;

pub use error::{Error, ErrorKind, Result};
