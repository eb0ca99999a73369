//! jobserver: a job server for data teams. Users upload WebAssembly job
//! components over REST, keep named contexts warm, and run jobs synchronously or
//! asynchronously; every artifact, context and job lives in Postgres.
//!
//! The layers, each a module: `api` (HTTP handlers, wire types, the one error
//! mapping to HTTP), `scheduler` (contexts, their slots and queues, job
//! lifecycles), `runtime` (wasmtime: compiling, caching and running components
//! under limits, and the host capabilities jobs import), `store` (Postgres and
//! local mode), and `config` (typed settings from file, environment and flags).

pub mod api;
pub mod cli;
pub mod config;
pub mod hocon;
pub mod runtime;
pub mod scheduler;
pub mod store;
pub mod units;
