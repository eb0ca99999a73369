//! For testing jobs natively, with `cargo test`: what the server would give
//! a job, set by the test. Only compiled for native targets.

use crate::JobInfo;

/// What [`job_info`](crate::job_info) returns on this thread from now on.
pub fn set_job_info(info: Option<JobInfo>) {
    crate::native::job_info::set(info);
}
