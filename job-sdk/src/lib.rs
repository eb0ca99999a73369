//! Write jobserver jobs in Rust. A job is a type implementing [`Job`]; a
//! component is a `cdylib` crate that lists its jobs once with
//! [`export_jobs!`] and is built with
//! `cargo build --release --target wasm32-wasip2`. This crate is the only
//! dependency it needs: the WIT contract's bindings are generated in here and
//! reached through the macro, so a job with a wrong signature does not
//! compile.
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use job_sdk::{Config, Job, JobError, Problem, Value};
//!
//! pub struct WordCount;
//!
//! impl Job for WordCount {
//!     const NAME: &'static str = "wordcount";
//!     const DESCRIPTION: &'static str = "Counts the words of input.string";
//!
//!     fn validate(config: &Config) -> Result<(), Vec<Problem>> {
//!         config.str("input.string")?;
//!         Ok(())
//!     }
//!
//!     fn run(config: &Config) -> Result<Value, JobError> {
//!         let mut counts = BTreeMap::<&str, u64>::new();
//!         for word in config.str("input.string")?.split_whitespace() {
//!             *counts.entry(word).or_default() += 1;
//!         }
//!         job_sdk::info!("counted {} distinct words", counts.len());
//!         Ok(job_sdk::serde_json::to_value(counts)?)
//!     }
//! }
//!
//! job_sdk::export_jobs!(WordCount);
//! # let config = Config::new(job_sdk::json!({"input": {"string": "a b a"}}));
//! # assert_eq!(WordCount::run(&config), Ok(job_sdk::json!({"a": 2, "b": 1})));
//! ```
//!
//! Besides the config and the result, a job can [`log`], report its
//! [`progress`], share values with later jobs of its context through
//! [`named_objects`], learn which job it is ([`job_info`]), and read and
//! write the context's [`kafka`] and [`cassandra`]. Its errors carry a class
//! ([`JobError::with_class`]); Kafka's and Cassandra's keep their kind in it.
//!
//! Compiled for a native target (as `cargo test` does), logs and progress
//! go to stderr and named objects to an in-memory store, so `run` can be
//! unit-tested without a server; Kafka and Cassandra calls go to real
//! clusters, through the connectors the server uses, named by the test or
//! the environment (see [`testing`]).

// The bindings name the runtime through `::job_sdk`, the path that also works
// in the crates expanding `export_jobs!`; this makes it resolve in here too.
extern crate self as job_sdk;

pub mod cassandra;
mod config;
mod error;
mod export;
pub mod kafka;
pub mod log;
pub mod named_objects;
#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod time;

/// Which job this is: its id, app and version, entry, context, and when it
/// was submitted (milliseconds since the epoch).
pub use __private::bindings::jobserver::job::job_info::Info as JobInfo;
pub use config::{Config, Problem, Problems};
pub use error::JobError;
/// Re-exported so that a job needs no serde dependency of its own:
/// `#[derive(job_sdk::serde::Deserialize)]` with
/// `#[serde(crate = "job_sdk::serde")]`.
pub use serde;
pub use serde_json::{self, Value, json};

/// One entry of a component: what a client names as `classPath` to run it.
///
/// The trait has no `self` because a job keeps no state of its own between
/// calls: what later jobs should see goes into [`named_objects`].
pub trait Job {
    /// The name clients pass as `classPath`; unique within the component.
    const NAME: &'static str;

    /// One line on what the entry does, shown by `GET /binaries/{appName}`.
    const DESCRIPTION: &'static str;

    /// Checks a config before the server accepts the job, so that a mistake
    /// is reported when the job is submitted rather than when it runs. The
    /// default accepts every config.
    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        let _ = config;
        Ok(())
    }

    /// Runs the job; the value is its result.
    fn run(config: &Config) -> Result<Value, JobError>;
}

/// Reports how far the job has come, from 0.0 to 1.0 (the server clamps
/// values outside), with an optional message such as `Some("3 of 4 files")`.
pub fn progress(fraction: f32, message: Option<&str>) {
    #[cfg(target_arch = "wasm32")]
    use __private::bindings::jobserver::job::progress as host;
    #[cfg(not(target_arch = "wasm32"))]
    use native::progress as host;

    host::report(fraction, message);
}

/// The job being validated or run; `None` only in `entries`, which the
/// server calls at upload. Natively (`cargo test`), whatever
/// [`testing::set_job_info`] set on this thread.
pub fn job_info() -> Option<JobInfo> {
    #[cfg(target_arch = "wasm32")]
    use __private::bindings::jobserver::job::job_info as host;
    #[cfg(not(target_arch = "wasm32"))]
    use native::job_info as host;

    host::get()
}

/// Makes the listed [`Job`] types the entries of this component, in that
/// order. Use it once per component crate.
///
/// The config is parsed once per call; a config that is not a JSON object, or
/// an entry name that is not listed, is reported to the server before any job
/// code runs. Listing two jobs with the same [`Job::NAME`] fails the build:
///
/// ```compile_fail
/// # use job_sdk::{Config, Job, JobError, Value, json};
/// struct A;
/// impl Job for A {
///     const NAME: &'static str = "same";
///     const DESCRIPTION: &'static str = "";
///     fn run(_: &Config) -> Result<Value, JobError> { Ok(json!(1)) }
/// }
/// struct B;
/// impl Job for B {
///     const NAME: &'static str = "same";
///     const DESCRIPTION: &'static str = "";
///     fn run(_: &Config) -> Result<Value, JobError> { Ok(json!(2)) }
/// }
/// job_sdk::export_jobs!(A, B);
/// ```
#[macro_export]
macro_rules! export_jobs {
    ($($job:ty),+ $(,)?) => {
        const _: () = {
            const JOBS: &[$crate::__private::JobEntry] =
                &[$($crate::__private::JobEntry::of::<$job>()),+];
            const _: () = $crate::__private::assert_unique_names(JOBS);

            // Only exported on wasm32: on a native target (unit tests) the
            // exports' symbol names, such as `jobserver:job/job@0.1.0#run`,
            // are not valid linker symbols, and nothing would call them.
            #[allow(dead_code)]
            struct Component;

            impl $crate::__private::Guest for Component {
                fn entries() -> ::std::vec::Vec<$crate::__private::WitEntry> {
                    $crate::__private::entries(JOBS)
                }

                fn validate(
                    entry: ::std::string::String,
                    config: ::std::string::String,
                ) -> ::core::result::Result<(), ::std::vec::Vec<$crate::__private::WitProblem>> {
                    $crate::__private::validate(JOBS, &entry, &config)
                }

                fn run(
                    entry: ::std::string::String,
                    config: ::std::string::String,
                ) -> ::core::result::Result<::std::string::String, $crate::__private::WitJobError> {
                    $crate::__private::run(JOBS, &entry, &config)
                }
            }

            #[cfg(target_arch = "wasm32")]
            $crate::__private::bindings::export!(Component with_types_in $crate::__private::bindings);
        };
    };
}

/// What `export_jobs!` expands to refers to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    pub use crate::export::{JobEntry, assert_unique_names, entries, run, validate};
    pub use bindings::exports::jobserver::job::job::Guest;
    pub use bindings::jobserver::job::types::{Entry as WitEntry, JobError as WitJobError, Problem as WitProblem};

    // The generated glue between the component ABI and Rust is necessarily
    // unsafe (raw pointers into linear memory, `extern "C"` exports); it is
    // wit-bindgen's code, not ours, so the workspace's ban is lifted for this
    // module only.
    #[allow(unsafe_code)]
    pub mod bindings {
        wit_bindgen::generate!({
            world: "job-component",
            path: "wit",
            runtime_path: "::job_sdk::__private::wit_bindgen::rt",
            pub_export_macro: true,
            export_macro_name: "export",
            default_bindings_module: "::job_sdk::__private::bindings",
            // Records a job gets (Kafka records, Cassandra values) compare.
            additional_derives: [PartialEq],
            // wit-bindgen gives an error variant a `Display` that prints its
            // `Debug` form (`Error::NotFound("...")`); these are the same
            // variants with a `Display` of the message alone, used by the
            // bindings directly so that no call needs converting.
            with: {
                "jobserver:job/kafka@0.2.0/error": crate::kafka::Error,
                "jobserver:job/cassandra@0.2.0/error": crate::cassandra::Error,
            },
        });
    }
}
