//! The `job-info` import: which job this is, for jobs that name their output
//! after themselves or record where a result came from.

use super::super::bindings::current::jobserver::job::job_info;
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    pub id: Uuid,
    pub app: String,
    pub version: u32,
    pub entry: String,
    pub context: String,
    pub adhoc: bool,
    pub submitted_at: DateTime<Utc>,
}

pub struct JobInfoHost(pub Option<JobInfo>);

impl job_info::Host for JobInfoHost {
    fn get(&mut self) -> Option<job_info::Info> {
        self.0.as_ref().map(|job| job_info::Info {
            id: job.id.to_string(),
            app: job.app.clone(),
            version: job.version,
            entry: job.entry.clone(),
            context: job.context.clone(),
            adhoc: job.adhoc,
            submitted_at: job.submitted_at.timestamp_millis(),
        })
    }
}
