//! The `cassandra` import: the context's cluster, through
//! `jobserver-connectors`. This file only translates between the WIT types
//! and the connector's, and keeps the job's sessions and pagers in a table of
//! their own.

use super::super::bindings::current::jobserver::job::cassandra as wit;
use super::Grant;
use jobserver_connectors::cassandra::{BatchKind, Cassandra, Flat, Page, Pager, Session};
use jobserver_connectors::limits::{MAX_OPEN_HANDLES, MAX_PAGE_ROWS};
use wasmtime::component::{Resource, ResourceTable};

pub struct SessionHandle(Session);

pub struct PagerHandle(Pager);

pub struct CassandraHost {
    cassandra: Grant<Cassandra>,
    table: ResourceTable,
    open_handles: usize,
}

type WitResult<T> = wasmtime::Result<Result<T, wit::Error>>;

impl CassandraHost {
    pub fn new(cassandra: Grant<Cassandra>) -> CassandraHost {
        CassandraHost {
            cassandra,
            table: ResourceTable::new(),
            open_handles: 0,
        }
    }

    fn reserve_handle(&mut self) -> Result<(), wit::Error> {
        if self.open_handles >= MAX_OPEN_HANDLES {
            return Err(wit::Error::InvalidRequest(format!(
                "a job may hold at most {MAX_OPEN_HANDLES} Cassandra sessions and pagers open at once; drop some first"
            )));
        }
        self.open_handles += 1;
        Ok(())
    }
}

jobserver_connectors::wit_error_from_connector!(wit::Error);

use wit::{Duration, UdtHeader, Value};
jobserver_connectors::wit_flat_conversions!(Value, Duration, UdtHeader);

fn values(values: Vec<wit::Value>) -> Vec<Flat> {
    values.into_iter().map(Flat::from).collect()
}

fn page(page: Page) -> wit::Page {
    wit::Page {
        columns: page
            .columns
            .into_iter()
            .map(|column| wit::Column {
                name: column.name,
                type_: column.cql_type,
            })
            .collect(),
        rows: page
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(wit::Value::from).collect())
            .collect(),
    }
}

impl wit::Host for CassandraHost {}

impl wit::HostSession for CassandraHost {
    async fn open(&mut self, keyspace: Option<String>) -> WitResult<Resource<SessionHandle>> {
        let cassandra = match &self.cassandra {
            Grant::Granted(cassandra) => cassandra.clone(),
            Grant::Refused(reason) => return Ok(Err(wit::Error::PermissionDenied(reason.clone()))),
        };
        if let Err(error) = self.reserve_handle() {
            return Ok(Err(error));
        }
        match cassandra.session(keyspace.as_deref()).await {
            Ok(session) => Ok(Ok(self.table.push(SessionHandle(session))?)),
            Err(error) => {
                self.open_handles -= 1;
                Ok(Err(error.into()))
            }
        }
    }

    async fn execute(
        &mut self,
        session: Resource<SessionHandle>,
        cql: String,
        bound: Vec<wit::Value>,
    ) -> WitResult<()> {
        let session = &self.table.get(&session)?.0;
        Ok(session.execute(&cql, values(bound)).await.map_err(Into::into))
    }

    async fn query(
        &mut self,
        session: Resource<SessionHandle>,
        cql: String,
        bound: Vec<wit::Value>,
        page_size: u32,
    ) -> WitResult<Resource<PagerHandle>> {
        let page_size = page_size.min(MAX_PAGE_ROWS);
        let session = self.table.get(&session)?.0.clone();
        if let Err(error) = self.reserve_handle() {
            return Ok(Err(error));
        }
        match session.query(&cql, values(bound), page_size).await {
            Ok(pager) => Ok(Ok(self.table.push(PagerHandle(pager))?)),
            Err(error) => {
                self.open_handles -= 1;
                Ok(Err(error.into()))
            }
        }
    }

    async fn batch(
        &mut self,
        session: Resource<SessionHandle>,
        kind: wit::BatchKind,
        statements: Vec<wit::Statement>,
    ) -> WitResult<()> {
        let session = &self.table.get(&session)?.0;
        let kind = match kind {
            wit::BatchKind::Logged => BatchKind::Logged,
            wit::BatchKind::Unlogged => BatchKind::Unlogged,
            wit::BatchKind::Counter => BatchKind::Counter,
        };
        let statements = statements
            .into_iter()
            .map(|statement| (statement.cql, values(statement.values)))
            .collect();
        Ok(session.batch(kind, statements).await.map_err(Into::into))
    }

    async fn drop(&mut self, session: Resource<SessionHandle>) -> wasmtime::Result<()> {
        self.table.delete(session)?;
        self.open_handles -= 1;
        Ok(())
    }
}

impl wit::HostPager for CassandraHost {
    async fn next_page(&mut self, pager: Resource<PagerHandle>) -> WitResult<Option<wit::Page>> {
        let pager = &mut self.table.get_mut(&pager)?.0;
        Ok(pager.next_page().await.map(|next| next.map(page)).map_err(Into::into))
    }

    async fn drop(&mut self, pager: Resource<PagerHandle>) -> wasmtime::Result<()> {
        self.table.delete(pager)?;
        self.open_handles -= 1;
        Ok(())
    }
}
