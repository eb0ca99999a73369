//! Cassandra through the scylla driver: statements with bound values, queries
//! read a page at a time, and batches. One `Cassandra` serves one context: it
//! connects at the first use, keeps one driver session per keyspace, and
//! caches prepared statements there, so the context's jobs share
//! connections and preparations.

mod errors;
mod flat;

pub use flat::{Flat, type_name};

use crate::{Error, Result};
use errors::{classify, connect_error};
use scylla::client::caching_session::CachingSession;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session_builder::SessionBuilder;
use scylla::frame::response::result::ColumnType;
use scylla::frame::types::Consistency;
use scylla::response::{PagingState, PagingStateResponse};
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::unprepared::Statement;
use scylla::value::{CqlValue, Row};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Where the cluster is and how to log in.
#[derive(Clone, PartialEq, Eq)]
pub struct CassandraSettings {
    /// `host:port` of one or more nodes; the driver finds the others.
    pub nodes: Vec<String>,
    /// Sessions without a keyspace of their own use this one.
    pub keyspace: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `None`: the driver's default, LOCAL_QUORUM.
    pub consistency: Option<Consistency>,
    /// How long connecting, or one request, may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for CassandraSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Debug output ends up in logs: the password never does.
        f.debug_struct("CassandraSettings")
            .field("nodes", &self.nodes)
            .field("keyspace", &self.keyspace)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "********"))
            .field("consistency", &self.consistency)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Parses a consistency level as CQL names it: `LOCAL_QUORUM`, `one`.
pub fn parse_consistency(text: &str) -> Result<Consistency, String> {
    let consistency = match text.trim().to_ascii_uppercase().replace('-', "_").as_str() {
        "ANY" => Consistency::Any,
        "ONE" => Consistency::One,
        "TWO" => Consistency::Two,
        "THREE" => Consistency::Three,
        "QUORUM" => Consistency::Quorum,
        "ALL" => Consistency::All,
        "LOCAL_QUORUM" => Consistency::LocalQuorum,
        "EACH_QUORUM" => Consistency::EachQuorum,
        "LOCAL_ONE" => Consistency::LocalOne,
        _ => {
            return Err(format!(
                "'{text}' is not a consistency level; use one of ANY, ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM, LOCAL_ONE"
            ));
        }
    };
    Ok(consistency)
}

/// Rows per page when the caller does not say.
pub const DEFAULT_PAGE_ROWS: u32 = 1_000;

/// Prepared statements kept per keyspace session.
const PREPARED_CACHE_SIZE: usize = 512;
/// Keyspaces one context may hold sessions in at once.
const MAX_KEYSPACES: usize = 16;

/// The Cassandra of one context, shared by its jobs.
#[derive(Clone)]
pub struct Cassandra {
    shared: Arc<Shared>,
}

struct Shared {
    settings: CassandraSettings,
    /// By keyspace (`None`: none chosen). Connecting holds the lock, so two
    /// jobs starting at once share one connection attempt.
    sessions: tokio::sync::Mutex<BTreeMap<Option<String>, Arc<CachingSession>>>,
}

impl Cassandra {
    /// Nothing connects yet: the first session does.
    pub fn new(settings: CassandraSettings) -> Result<Cassandra> {
        if settings.nodes.is_empty() {
            return Err(Error::invalid("Cassandra needs at least one node, as host:port"));
        }
        Ok(Cassandra {
            shared: Arc::new(Shared {
                settings,
                sessions: tokio::sync::Mutex::new(BTreeMap::new()),
            }),
        })
    }

    pub fn settings(&self) -> &CassandraSettings {
        &self.shared.settings
    }

    /// A session in `keyspace`, or in the settings' keyspace.
    pub async fn session(&self, keyspace: Option<&str>) -> Result<Session> {
        let settings = &self.shared.settings;
        let keyspace = keyspace.map(str::to_string).or_else(|| settings.keyspace.clone());
        let mut sessions = self.shared.sessions.lock().await;
        if let Some(session) = sessions.get(&keyspace) {
            return Ok(Session {
                session: session.clone(),
                nodes: settings.nodes.join(","),
            });
        }
        if sessions.len() >= MAX_KEYSPACES {
            return Err(Error::invalid(format!(
                "a context may use at most {MAX_KEYSPACES} Cassandra keyspaces at once"
            )));
        }
        let mut profile = ExecutionProfile::builder().request_timeout(Some(settings.timeout));
        if let Some(consistency) = settings.consistency {
            profile = profile.consistency(consistency);
        }
        let mut builder = SessionBuilder::new()
            .known_nodes(&settings.nodes)
            .connection_timeout(settings.timeout)
            .default_execution_profile_handle(profile.build().into_handle());
        if let (Some(username), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.user(username, password);
        }
        if let Some(keyspace) = &keyspace {
            builder = builder.use_keyspace(keyspace, false);
        }
        let nodes = settings.nodes.join(",");
        // Connecting is a connection and then requests for the cluster's
        // metadata, each under the timeout: twice it lets the driver's own
        // error, which says more, come first.
        let connecting = tokio::time::timeout(settings.timeout * 2, builder.build());
        let session = match connecting.await {
            Ok(Ok(session)) => session,
            Ok(Err(error)) => return Err(connect_error(&nodes, keyspace.as_deref(), &error)),
            Err(_) => {
                return Err(Error::new(
                    crate::ErrorKind::Unreachable,
                    format!(
                        "could not connect to the Cassandra nodes at {nodes} within {} s",
                        (settings.timeout * 2).as_secs()
                    ),
                ));
            }
        };
        let session = Arc::new(CachingSession::from(session, PREPARED_CACHE_SIZE));
        sessions.insert(keyspace, session.clone());
        Ok(Session { session, nodes })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchKind {
    Logged,
    Unlogged,
    Counter,
}

/// Connections to one keyspace; cheap to clone.
#[derive(Clone)]
pub struct Session {
    session: Arc<CachingSession>,
    nodes: String,
}

/// A column of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// As CQL writes it: `bigint`, `map<text, int>`.
    pub cql_type: String,
}

/// Rows of a query, each flattened (see [`Flat`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Flat>>,
}

impl Session {
    /// Prepares `cql` (once per keyspace session: the cache remembers it) and
    /// converts the values to the types of its bind markers.
    async fn prepare(
        &self,
        cql: &str,
        values: Vec<Flat>,
        page_size: Option<u32>,
    ) -> Result<(PreparedStatement, Vec<Option<CqlValue>>)> {
        let mut statement = Statement::new(cql);
        if let Some(page_size) = page_size {
            statement = statement.with_page_size(page_size as i32);
        }
        let prepared = self
            .session
            .add_prepared_statement(&statement)
            .await
            .map_err(|error| classify(&self.nodes, &format!("preparing `{}`", shorten(cql)), &error))?;
        let markers: Vec<ColumnType<'static>> = prepared
            .get_variable_col_specs()
            .iter()
            .map(|spec| spec.typ().clone().into_owned())
            .collect();
        let trees = flat::parse(values)
            .map_err(|error| Error::invalid(format!("the values for `{}`: {error}", shorten(cql))))?;
        if trees.len() != markers.len() {
            return Err(Error::invalid(format!(
                "`{}` has {} bind markers (?) but {} values were given",
                shorten(cql),
                markers.len(),
                trees.len()
            )));
        }
        let names: Vec<String> = prepared
            .get_variable_col_specs()
            .iter()
            .map(|spec| spec.name().to_string())
            .collect();
        let bound = trees
            .into_iter()
            .zip(&markers)
            .zip(&names)
            .enumerate()
            .map(|(i, ((tree, typ), name))| {
                flat::bind(tree, typ).map_err(|error| {
                    Error::invalid(format!("value {} (for {name}) of `{}`: {error}", i + 1, shorten(cql)))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((prepared, bound))
    }

    /// Runs one statement; rows it returns are dropped.
    pub async fn execute(&self, cql: &str, values: Vec<Flat>) -> Result<()> {
        let (prepared, bound) = self.prepare(cql, values, None).await?;
        self.session
            .get_session()
            .execute_unpaged(&prepared, bound)
            .await
            .map_err(|error| classify(&self.nodes, &format!("running `{}`", shorten(cql)), &error))?;
        Ok(())
    }

    /// Prepares a query whose rows `Pager::next_page` reads, `page_size` rows
    /// at a time (0: [`DEFAULT_PAGE_ROWS`]).
    pub async fn query(&self, cql: &str, values: Vec<Flat>, page_size: u32) -> Result<Pager> {
        let page_size = if page_size == 0 { DEFAULT_PAGE_ROWS } else { page_size };
        let (prepared, bound) = self.prepare(cql, values, Some(page_size)).await?;
        Ok(Pager {
            session: self.clone(),
            cql: shorten(cql),
            prepared,
            bound,
            paging: Some(PagingState::start()),
        })
    }

    pub async fn batch(&self, kind: BatchKind, statements: Vec<(String, Vec<Flat>)>) -> Result<()> {
        let mut batch = Batch::new(match kind {
            BatchKind::Logged => BatchType::Logged,
            BatchKind::Unlogged => BatchType::Unlogged,
            BatchKind::Counter => BatchType::Counter,
        });
        let mut values = Vec::with_capacity(statements.len());
        for (cql, flat) in &statements {
            let (prepared, bound) = self.prepare(cql, flat.clone(), None).await?;
            batch.append_statement(prepared);
            values.push(bound);
        }
        self.session
            .get_session()
            .batch(&batch, values)
            .await
            .map_err(|error| {
                classify(
                    &self.nodes,
                    &format!("running a batch of {} statements", statements.len()),
                    &error,
                )
            })?;
        Ok(())
    }
}

/// The rows of one query, page by page.
pub struct Pager {
    session: Session,
    cql: String,
    prepared: PreparedStatement,
    bound: Vec<Option<CqlValue>>,
    /// `None` once the last page was read.
    paging: Option<PagingState>,
}

impl Pager {
    pub async fn next_page(&mut self) -> Result<Option<Page>> {
        let Some(paging) = self.paging.take() else {
            return Ok(None);
        };
        let doing = format!("reading the rows of `{}`", self.cql);
        let (result, next) = self
            .session
            .session
            .get_session()
            .execute_single_page(&self.prepared, &self.bound, paging)
            .await
            .map_err(|error| classify(&self.session.nodes, &doing, &error))?;
        if let PagingStateResponse::HasMorePages { state } = next {
            self.paging = Some(state);
        }
        let rows = match result.into_rows_result() {
            Ok(rows) => rows,
            // Not a query that returns rows: one empty page.
            Err(_) => {
                return Ok(Some(Page {
                    columns: Vec::new(),
                    rows: Vec::new(),
                }));
            }
        };
        let columns = rows
            .column_specs()
            .iter()
            .map(|spec| Column {
                name: spec.name().to_string(),
                cql_type: type_name(spec.typ()),
            })
            .collect();
        let mut page_rows = Vec::with_capacity(rows.rows_num());
        for row in rows
            .rows::<Row>()
            .map_err(|error| Error::other(format!("{doing}: {error}")))?
        {
            let row = row.map_err(|error| Error::other(format!("{doing}: {error}")))?;
            let mut flat = Vec::with_capacity(row.columns.len());
            for value in &row.columns {
                flat::flatten(value.as_ref(), &mut flat)
                    .map_err(|error| Error::invalid(format!("{doing}: {error}")))?;
            }
            page_rows.push(flat);
        }
        Ok(Some(Page {
            columns,
            rows: page_rows,
        }))
    }
}

/// Statements in messages are cut short: they can be long, and a message
/// should say which statement, not repeat it.
fn shorten(cql: &str) -> String {
    const MAX: usize = 200;
    let cql = cql.trim();
    match cql.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &cql[..end]),
        None => cql.to_string(),
    }
}
