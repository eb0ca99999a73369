//! A job component of any contract version the server supports, behind one
//! type: the rest of the runtime calls `entries`, `validate` and `run` without
//! knowing which version of the contract the component was built against.

use super::{current, v0_1};
use crate::runtime::host::HostState;
use wasmtime::Store;
use wasmtime::component::InstancePre;

/// The worlds an upload may implement, newest first.
pub const SUPPORTED_WORLDS: &str = "jobserver:job/job-component@0.2.0, or @0.1.0 as SDKs before 0.2 built";

/// One runnable entry of a component: Spark Job Server's `classPath`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub description: String,
}

/// One thing wrong with a job's config, as `validate` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

/// Why a run failed, as the job tells it: `class` is `None` when the job did
/// not name one (components of contract 0.1.0 cannot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestError {
    pub class: Option<String>,
    pub message: String,
}

/// A compiled component linked against the host, ready to instantiate.
pub enum JobComponentPre {
    Current(current::JobComponentPre<HostState>),
    V0_1(v0_1::JobComponentPre<HostState>),
}

impl JobComponentPre {
    /// Finds which version of the job world the component exports, newest
    /// first. The error is the newest version's, which says what is missing.
    pub fn new(pre: InstancePre<HostState>) -> wasmtime::Result<JobComponentPre> {
        match current::JobComponentPre::new(pre.clone()) {
            Ok(pre) => Ok(JobComponentPre::Current(pre)),
            Err(error) => v0_1::JobComponentPre::new(pre)
                .map(JobComponentPre::V0_1)
                .map_err(|_| error),
        }
    }

    /// The version of the contract the component was built against.
    pub fn contract_version(&self) -> &'static str {
        match self {
            JobComponentPre::Current(_) => "0.2.0",
            JobComponentPre::V0_1(_) => "0.1.0",
        }
    }

    pub async fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<JobInstance> {
        Ok(match self {
            JobComponentPre::Current(pre) => JobInstance::Current(pre.instantiate_async(store).await?),
            JobComponentPre::V0_1(pre) => JobInstance::V0_1(pre.instantiate_async(store).await?),
        })
    }
}

/// The versions' generated records have the same fields: one conversion each.
macro_rules! from_generated {
    ($($from:ty => $to:ident { $($field:ident),+ }),+ $(,)?) => {
        $(impl From<$from> for $to {
            fn from(value: $from) -> Self {
                $to { $($field: value.$field),+ }
            }
        })+
    };
}

from_generated! {
    current::jobserver::job::types::Entry => Entry { name, description },
    v0_1::jobserver::job::types::Entry => Entry { name, description },
    current::jobserver::job::types::Problem => Problem { path, message },
    v0_1::jobserver::job::types::Problem => Problem { path, message },
}

fn problems<P: Into<Problem>>(problems: Vec<P>) -> Vec<Problem> {
    problems.into_iter().map(Into::into).collect()
}

fn entries<E: Into<Entry>>(entries: Vec<E>) -> Vec<Entry> {
    entries.into_iter().map(Into::into).collect()
}

/// An instance of a job component.
pub enum JobInstance {
    Current(current::JobComponent),
    V0_1(v0_1::JobComponent),
}

impl JobInstance {
    pub async fn entries(&self, store: &mut Store<HostState>) -> wasmtime::Result<Vec<Entry>> {
        Ok(match self {
            JobInstance::Current(instance) => entries(instance.jobserver_job_job().call_entries(store).await?),
            JobInstance::V0_1(instance) => entries(instance.jobserver_job_job().call_entries(store).await?),
        })
    }

    pub async fn validate(
        &self,
        store: &mut Store<HostState>,
        entry: &str,
        config: &str,
    ) -> wasmtime::Result<Result<(), Vec<Problem>>> {
        Ok(match self {
            JobInstance::Current(instance) => instance
                .jobserver_job_job()
                .call_validate(store, entry, config)
                .await?
                .map_err(problems),
            JobInstance::V0_1(instance) => instance
                .jobserver_job_job()
                .call_validate(store, entry, config)
                .await?
                .map_err(problems),
        })
    }

    pub async fn run(
        &self,
        store: &mut Store<HostState>,
        entry: &str,
        config: &str,
    ) -> wasmtime::Result<Result<String, GuestError>> {
        Ok(match self {
            JobInstance::Current(instance) => instance
                .jobserver_job_job()
                .call_run(store, entry, config)
                .await?
                .map_err(|error| GuestError {
                    class: Some(error.class).filter(|class| !class.is_empty()),
                    message: error.message,
                }),
            JobInstance::V0_1(instance) => instance
                .jobserver_job_job()
                .call_run(store, entry, config)
                .await?
                .map_err(|message| GuestError { class: None, message }),
        })
    }
}
