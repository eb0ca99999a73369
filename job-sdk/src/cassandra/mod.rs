//! Cassandra, through the cluster of the job's context (or the server's
//! defaults). This is the WIT `cassandra` interface made to read as Rust:
//! values as a [`CqlValue`] tree instead of the flat list WIT needs, bound
//! values as tuples ([`Values`]), rows as an iterator that fetches pages as
//! it goes and reads columns by name into Rust types ([`Row::get`]), and an
//! [`Error`] that `?` turns into a [`JobError`](crate::JobError) whose class
//! keeps its kind (`CassandraNotFound`).
//!
//! Statements are prepared by the host once per context and cached, so a
//! job passes the same CQL with different values rather than values
//! formatted into the CQL (which would also invite CQL injection).
//!
//! ```no_run
//! use job_sdk::cassandra::{Batch, Session};
//! use job_sdk::{JobError, Value, json};
//!
//! fn run() -> Result<Value, JobError> {
//!     let session = Session::open()?; // the context's keyspace
//!     session.execute(
//!         "CREATE TABLE IF NOT EXISTS views (video text PRIMARY KEY, views counter)",
//!         (),
//!     )?;
//!     let mut batch = Batch::counter();
//!     for video in ["a", "b", "a"] {
//!         batch.add("UPDATE views SET views = views + 1 WHERE video = ?", (video,));
//!     }
//!     session.batch(&batch)?;
//!
//!     let mut total = 0;
//!     for row in session.query("SELECT video, views FROM views", ())? {
//!         let row = row?;
//!         let views: i64 = row.get("views")?;
//!         job_sdk::info!("{}: {views}", row.get::<String>("video")?);
//!         total += views;
//!     }
//!     Ok(json!({ "views": total }))
//! }
//! ```
//!
//! Compiled natively (`cargo test`), the same calls go to a real cluster
//! through the connectors the server uses; see [`testing`](crate::testing).

mod from_cql;
mod rows;
mod value;
mod values;

pub use crate::__private::bindings::jobserver::job::cassandra::Column;
use crate::__private::bindings::jobserver::job::cassandra::{BatchKind, Statement};
pub use from_cql::FromCql;
pub use rows::{Row, Rows};
use value::flatten;
pub use value::{CqlValue, MAX_DEPTH};
pub use values::Values;

#[cfg(target_arch = "wasm32")]
use crate::__private::bindings::jobserver::job::cassandra as host;
#[cfg(not(target_arch = "wasm32"))]
use crate::native::cassandra as host;

/// What went wrong in a Cassandra call; each case carries a message for the
/// user. The bindings use this type for the WIT `error` variant itself, so
/// it has the variant's cases and nothing else.
///
/// `?` in [`Job::run`](crate::Job::run) makes it a
/// [`JobError`](crate::JobError) of class `Cassandra` and the case:
/// `CassandraUnreachable`, `CassandraNotFound`, `CassandraInvalidRequest`,
/// `CassandraTimeout`, `CassandraPermissionDenied`, `CassandraOther`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No node could be reached; the message names the nodes tried.
    Unreachable(String),
    /// No such keyspace, table or column.
    NotFound(String),
    /// The statement is not valid CQL, or a value does not fit its column.
    InvalidRequest(String),
    /// The nodes did not answer in time.
    Timeout(String),
    /// The context grants no Cassandra, or the cluster refused this client
    /// (authentication, permissions).
    PermissionDenied(String),
    /// Anything else the cluster or the driver reported, such as too few
    /// replicas for the consistency asked.
    Other(String),
}

crate::error::cluster_error!(Error, "Cassandra");

/// A connection to the context's cluster, in one keyspace.
pub struct Session {
    session: host::Session,
}

impl Session {
    /// A session in the context's keyspace.
    pub fn open() -> Result<Session, Error> {
        host::Session::open(None).map(|session| Session { session })
    }

    /// A session in `keyspace`, for a job that reads or writes outside the
    /// context's.
    pub fn open_keyspace(keyspace: &str) -> Result<Session, Error> {
        host::Session::open(Some(keyspace)).map(|session| Session { session })
    }

    /// Runs one statement with its bound values; rows it returns are
    /// dropped (use [`query`](Session::query) to read them).
    pub fn execute(&self, cql: &str, values: impl Values) -> Result<(), Error> {
        let values = flatten(&values.into_cql_values())?;
        self.session.execute(cql, &values)
    }

    /// Runs a query; the rows come a page of the host's default size (1,000
    /// rows) at a time as the job iterates them.
    pub fn query(&self, cql: &str, values: impl Values) -> Result<Rows, Error> {
        self.query_with_page_size(cql, values, 0)
    }

    /// Like [`query`](Session::query), `page_size` rows at a time (0 for the
    /// host's default; the host lowers more than 10,000 to that).
    pub fn query_with_page_size(&self, cql: &str, values: impl Values, page_size: u32) -> Result<Rows, Error> {
        let values = flatten(&values.into_cql_values())?;
        self.session.query(cql, &values, page_size).map(Rows::new)
    }

    /// Runs the statements of `batch` as one batch.
    pub fn batch(&self, batch: &Batch) -> Result<(), Error> {
        let statements = batch
            .statements
            .iter()
            .map(|(cql, values)| {
                Ok(Statement {
                    cql: cql.clone(),
                    values: flatten(values)?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        self.session.batch(batch.kind, &statements)
    }
}

/// Statements to run as one batch: logged (all or none are applied),
/// unlogged, or of counter updates, which Cassandra requires a batch of
/// their own for.
///
/// ```
/// use job_sdk::cassandra::Batch;
///
/// let mut batch = Batch::logged();
/// batch
///     .add("INSERT INTO users (id, name) VALUES (?, ?)", (1, "ada"))
///     .add("INSERT INTO names (name, id) VALUES (?, ?)", ("ada", 1));
/// assert_eq!(batch.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    kind: BatchKind,
    statements: Vec<(String, Vec<CqlValue>)>,
}

impl Batch {
    pub fn logged() -> Batch {
        Batch::of(BatchKind::Logged)
    }

    pub fn unlogged() -> Batch {
        Batch::of(BatchKind::Unlogged)
    }

    pub fn counter() -> Batch {
        Batch::of(BatchKind::Counter)
    }

    fn of(kind: BatchKind) -> Batch {
        Batch {
            kind,
            statements: Vec::new(),
        }
    }

    /// Adds a statement with its bound values.
    pub fn add(&mut self, cql: impl Into<String>, values: impl Values) -> &mut Batch {
        self.statements.push((cql.into(), values.into_cql_values()));
        self
    }

    pub fn len(&self) -> usize {
        self.statements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JobError;

    #[test]
    fn errors_become_job_errors_of_their_kind() {
        let cases = [
            (Error::Unreachable("a".into()), "CassandraUnreachable"),
            (Error::NotFound("b".into()), "CassandraNotFound"),
            (Error::InvalidRequest("c".into()), "CassandraInvalidRequest"),
            (Error::Timeout("d".into()), "CassandraTimeout"),
            (Error::PermissionDenied("e".into()), "CassandraPermissionDenied"),
            (Error::Other("f".into()), "CassandraOther"),
        ];
        for (error, class) in cases {
            let message = error.message().to_owned();
            assert_eq!(error.to_string(), message);
            let job_error = JobError::from(error);
            assert_eq!((job_error.class(), job_error.message()), (class, message.as_str()));
        }
    }

    #[test]
    fn batches_keep_their_kind_and_statements_in_order() {
        let mut batch = Batch::unlogged();
        assert!(batch.is_empty());
        batch.add("A", (1,)).add(String::from("B"), ());
        assert_eq!(batch.kind, BatchKind::Unlogged);
        assert_eq!(
            batch.statements,
            vec![("A".to_owned(), vec![CqlValue::Int(1)]), ("B".to_owned(), vec![])]
        );
        assert_eq!(
            (Batch::logged().kind, Batch::counter().kind),
            (BatchKind::Logged, BatchKind::Counter)
        );
    }
}
