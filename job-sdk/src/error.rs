//! Why a job failed.

use std::fmt;

use crate::Problem;

/// Why a job failed: a message for the user, and a class that names the kind
/// of failure (the job report's `errorClass`). The `From` impls let `run` use
/// `?` on config lookups, named objects, Kafka, Cassandra and JSON
/// conversions; errors of Kafka and Cassandra keep their kind in the class,
/// such as `KafkaNotFound`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    class: String,
    message: String,
}

/// The class of a [`JobError`] made with [`JobError::new`].
pub const DEFAULT_CLASS: &str = "JobError";

impl JobError {
    pub fn new(message: impl Into<String>) -> Self {
        Self::with_class(DEFAULT_CLASS, message)
    }

    /// A failure of a kind the job names itself, such as `BadInput`: short,
    /// stable, and meant for clients to act on.
    pub fn with_class(class: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            class: class.into(),
            message: message.into(),
        }
    }

    pub fn class(&self) -> &str {
        &self.class
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JobError {}

impl From<Problem> for JobError {
    fn from(problem: Problem) -> Self {
        Self::new(problem.to_string())
    }
}

impl From<Vec<Problem>> for JobError {
    fn from(problems: Vec<Problem>) -> Self {
        let messages: Vec<String> = problems.iter().map(Problem::to_string).collect();
        Self::new(messages.join("; "))
    }
}

impl From<String> for JobError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for JobError {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

impl From<serde_json::Error> for JobError {
    fn from(error: serde_json::Error) -> Self {
        Self::new(error.to_string())
    }
}

/// Kafka's and Cassandra's errors have the same cases, as their WIT variants
/// do; each gets its message, its `Display` (the message alone: it already
/// says which system and what was asked) and its [`JobError`] class, the
/// system's name then the case (`KafkaNotFound`), from here.
macro_rules! cluster_error {
    ($error:ident, $system:literal) => {
        impl $error {
            /// What went wrong, in words for the user.
            pub fn message(&self) -> &str {
                match self {
                    Self::Unreachable(message)
                    | Self::NotFound(message)
                    | Self::InvalidRequest(message)
                    | Self::Timeout(message)
                    | Self::PermissionDenied(message)
                    | Self::Other(message) => message,
                }
            }

            /// The job report's `errorClass` when this ends a job.
            pub fn class(&self) -> &'static str {
                match self {
                    Self::Unreachable(_) => concat!($system, "Unreachable"),
                    Self::NotFound(_) => concat!($system, "NotFound"),
                    Self::InvalidRequest(_) => concat!($system, "InvalidRequest"),
                    Self::Timeout(_) => concat!($system, "Timeout"),
                    Self::PermissionDenied(_) => concat!($system, "PermissionDenied"),
                    Self::Other(_) => concat!($system, "Other"),
                }
            }
        }

        impl ::std::fmt::Display for $error {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.message())
            }
        }

        impl ::std::error::Error for $error {}

        impl From<$error> for $crate::JobError {
            fn from(error: $error) -> Self {
                $crate::JobError::with_class(error.class(), error.message())
            }
        }
    };
}
pub(crate) use cluster_error;

/// Returns early with a [`JobError`] whose message is formatted like
/// [`format!`]: `bail!("no line {} in {}", n, name)`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)+) => {
        return ::core::result::Result::Err(::core::convert::From::from(
            $crate::JobError::new(::std::format!($($arg)+)),
        ))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_keep_the_message() {
        assert_eq!(JobError::from("x").message(), "x");
        assert_eq!(JobError::from(String::from("y")).to_string(), "y");
        assert_eq!(
            JobError::from(Problem::new("a", "is required")).message(),
            "a: is required"
        );
        assert_eq!(
            JobError::from(vec![Problem::new("a", "is required"), Problem::whole("bad")]).message(),
            "a: is required; bad"
        );
    }

    #[test]
    fn classes_default_to_job_error() {
        assert_eq!(JobError::new("x").class(), "JobError");
        let bad = JobError::with_class("BadInput", "no rows");
        assert_eq!((bad.class(), bad.message()), ("BadInput", "no rows"));
        assert_eq!(JobError::from(Problem::whole("p")).class(), "JobError");
    }

    #[test]
    fn bail_formats_and_returns() {
        fn fails(n: u32) -> Result<(), JobError> {
            if n > 1 {
                bail!("{n} is more than {}", 1);
            }
            Ok(())
        }
        assert_eq!(fails(1), Ok(()));
        assert_eq!(fails(2), Err(JobError::new("2 is more than 1")));
    }
}
