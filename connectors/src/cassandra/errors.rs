//! The driver's errors, sorted into the kinds a job can act on. What matters
//! is deep inside them (the database's own error and message, or the
//! connection that failed), so they are searched rather than matched at the
//! top; the database's message is the one a user understands.

use crate::{Error, ErrorKind};
use scylla::errors::{
    ConnectionError, ConnectionPoolError, ConnectionSetupRequestError, ConnectionSetupRequestErrorKind, DbError,
    ExecutionError, MetadataError, NewSessionError, PrepareError, RequestAttemptError, UseKeyspaceError,
};
use std::error::Error as StdError;

/// What a driver error comes down to.
enum Finding {
    /// The database answered with an error.
    Db(DbError, String),
    /// No connection could be made or kept.
    Connection(String),
    /// A request took longer than its timeout.
    Timeout,
    /// Refused on the client's side before the database saw it.
    Refused(ErrorKind, String),
}

fn find(error: &(dyn StdError + 'static)) -> Option<Finding> {
    if let Some(error) = error.downcast_ref::<RequestAttemptError>() {
        return match error {
            RequestAttemptError::DbError(db, message) => Some(Finding::Db(db.clone(), message.clone())),
            RequestAttemptError::BrokenConnectionError(broken) => Some(Finding::Connection(broken.to_string())),
            _ => error.source().and_then(find),
        };
    }
    if let Some(error) = error.downcast_ref::<ConnectionSetupRequestError>() {
        return match error.get_error() {
            ConnectionSetupRequestErrorKind::DbError(db, message) => Some(Finding::Db(db.clone(), message.clone())),
            ConnectionSetupRequestErrorKind::MissingAuthentication => Some(Finding::Refused(
                ErrorKind::PermissionDenied,
                "the cluster requires a user and password (cassandra.username, cassandra.password)".to_string(),
            )),
            other => Some(Finding::Connection(other.to_string())),
        };
    }
    if let Some(error) = error.downcast_ref::<ConnectionPoolError>() {
        return match error {
            ConnectionPoolError::Broken { last_connection_error } => {
                find(last_connection_error).or_else(|| Some(Finding::Connection(last_connection_error.to_string())))
            }
            other => Some(Finding::Connection(other.to_string())),
        };
    }
    if let Some(error) = error.downcast_ref::<ConnectionError>() {
        return match error {
            ConnectionError::ConnectionSetupRequestError(setup) => find(setup),
            other => Some(Finding::Connection(other.to_string())),
        };
    }
    if let Some(error) = error.downcast_ref::<PrepareError>() {
        return match error {
            PrepareError::AllAttemptsFailed { first_attempt } => find(first_attempt),
            PrepareError::ConnectionPoolError(pool) => find(pool),
            _ => None,
        };
    }
    if let Some(error) = error.downcast_ref::<ExecutionError>() {
        return match error {
            ExecutionError::RequestTimeout(_) => Some(Finding::Timeout),
            ExecutionError::LastAttemptError(attempt) => find(attempt),
            ExecutionError::PrepareError(prepare) => find(prepare),
            ExecutionError::ConnectionPoolError(pool) => find(pool),
            ExecutionError::UseKeyspaceError(use_keyspace) => find(use_keyspace),
            ExecutionError::MetadataError(metadata) => find(metadata),
            _ => error.source().and_then(find),
        };
    }
    if let Some(error) = error.downcast_ref::<UseKeyspaceError>() {
        return match error {
            UseKeyspaceError::BadKeyspaceName(bad) => {
                Some(Finding::Refused(ErrorKind::InvalidRequest, bad.to_string()))
            }
            UseKeyspaceError::RequestError(attempt) => find(attempt),
            UseKeyspaceError::RequestTimeout(_) => Some(Finding::Timeout),
            _ => None,
        };
    }
    if let Some(error) = error.downcast_ref::<MetadataError>() {
        return match error {
            MetadataError::ConnectionPoolError(pool) => find(pool),
            _ => error.source().and_then(find),
        };
    }
    if let Some(error) = error.downcast_ref::<NewSessionError>() {
        return match error {
            NewSessionError::FailedToResolveAnyHostname(hosts) => Some(Finding::Connection(format!(
                "no address found for {}",
                hosts.join(", ")
            ))),
            NewSessionError::MetadataError(metadata) => find(metadata),
            NewSessionError::UseKeyspaceError(use_keyspace) => find(use_keyspace),
            _ => None,
        };
    }
    error.source().and_then(find)
}

/// The kind of a database error. Cassandra reports a missing table or
/// keyspace as "invalid", so its message tells them apart.
fn db_kind(db: &DbError, message: &str) -> ErrorKind {
    match db {
        DbError::SyntaxError | DbError::AlreadyExists { .. } | DbError::FunctionFailure { .. } => {
            ErrorKind::InvalidRequest
        }
        DbError::Invalid => {
            let message = message.to_ascii_lowercase();
            let missing = [
                "unconfigured table",
                "does not exist",
                "undefined column",
                "unknown keyspace",
                "not found",
            ];
            if missing.iter().any(|words| message.contains(words)) {
                ErrorKind::NotFound
            } else {
                ErrorKind::InvalidRequest
            }
        }
        DbError::AuthenticationError | DbError::Unauthorized => ErrorKind::PermissionDenied,
        DbError::ReadTimeout { .. } | DbError::WriteTimeout { .. } => ErrorKind::Timeout,
        _ => ErrorKind::Other,
    }
}

/// An error met while `doing` something on the cluster at `nodes`.
pub fn classify<E: StdError + 'static>(nodes: &str, doing: &str, error: &E) -> Error {
    match find(error) {
        Some(Finding::Db(db, message)) => Error::new(db_kind(&db, &message), format!("{doing}: {message}")),
        Some(Finding::Connection(reason)) => Error::new(
            ErrorKind::Unreachable,
            format!("{doing}: could not reach the Cassandra nodes at {nodes}: {reason}"),
        ),
        Some(Finding::Timeout) => Error::new(
            ErrorKind::Timeout,
            format!("{doing}: the Cassandra nodes at {nodes} did not answer in time"),
        ),
        Some(Finding::Refused(kind, reason)) => Error::new(kind, format!("{doing}: {reason}")),
        None => Error::new(ErrorKind::Other, format!("{doing}: {error}")),
    }
}

pub fn connect_error(nodes: &str, keyspace: Option<&str>, error: &NewSessionError) -> Error {
    let doing = match keyspace {
        Some(keyspace) => format!("connecting to Cassandra keyspace '{keyspace}'"),
        None => "connecting to Cassandra".to_string(),
    };
    if matches!(error, NewSessionError::EmptyKnownNodesList) {
        return Error::invalid("Cassandra needs at least one node, as host:port");
    }
    let error = classify(nodes, &doing, error);
    match error.kind {
        // A session that cannot start names the nodes even when the cause is
        // not a connection.
        ErrorKind::Other => Error::new(ErrorKind::Unreachable, format!("{} (nodes: {nodes})", error.message)),
        _ => error,
    }
}
