//! A job's status, as Spark Job Server names them; stored as that text.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Accepted and waiting for a slot (Spark Job Server's name for it).
    Started,
    Running,
    Finished,
    Error,
    Killed,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Started,
        JobStatus::Running,
        JobStatus::Finished,
        JobStatus::Error,
        JobStatus::Killed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Started => "STARTED",
            JobStatus::Running => "RUNNING",
            JobStatus::Finished => "FINISHED",
            JobStatus::Error => "ERROR",
            JobStatus::Killed => "KILLED",
        }
    }

    /// FINISHED, ERROR or KILLED: the job will not change any more.
    pub fn has_ended(self) -> bool {
        matches!(self, JobStatus::Finished | JobStatus::Error | JobStatus::Killed)
    }

    /// Any letter case, as Spark Job Server's clients send it.
    pub fn parse(text: &str) -> Option<JobStatus> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the store reads the column; the table's check allows nothing else.
impl TryFrom<String> for JobStatus {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        JobStatus::parse(&text).ok_or_else(|| format!("'{text}' is not a job status"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_as_written_in_any_case() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
            assert_eq!(JobStatus::parse(&status.as_str().to_lowercase()), Some(status));
        }
        assert_eq!(JobStatus::parse("DONE"), None);
        assert!(JobStatus::Killed.has_ended() && !JobStatus::Started.has_ended());
    }
}
