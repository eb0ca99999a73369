//! The `cassandra` import: the context's cluster, through
//! `jobserver-connectors`. This file only translates between the WIT types
//! and the connector's, and keeps the job's sessions and pagers in a table of
//! their own.

use super::super::bindings::current::jobserver::job::cassandra as wit;
use super::{Grant, MAX_OPEN_HANDLES};
use jobserver_connectors::cassandra::{BatchKind, Cassandra, Flat, Page, Pager, Session};
use wasmtime::component::{Resource, ResourceTable};

/// The most rows a job may ask for in one page.
const MAX_PAGE_ROWS: u32 = 10_000;

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

wit_error_from_connector!(wit::Error);

fn from_wit(value: wit::Value) -> Flat {
    use wit::Value as V;
    match value {
        V::Null => Flat::Null,
        V::Boolean(v) => Flat::Boolean(v),
        V::Tinyint(v) => Flat::TinyInt(v),
        V::Smallint(v) => Flat::SmallInt(v),
        V::Int(v) => Flat::Int(v),
        V::Bigint(v) => Flat::BigInt(v),
        V::Counter(v) => Flat::Counter(v),
        V::Varint(v) => Flat::Varint(v),
        V::Float(v) => Flat::Float(v),
        V::Double(v) => Flat::Double(v),
        V::Decimal(v) => Flat::Decimal(v),
        V::Ascii(v) => Flat::Ascii(v),
        V::Text(v) => Flat::Text(v),
        V::Blob(v) => Flat::Blob(v),
        V::Uuid(v) => Flat::Uuid(v),
        V::Timeuuid(v) => Flat::Timeuuid(v),
        V::Inet(v) => Flat::Inet(v),
        V::Date(v) => Flat::Date(v),
        V::Time(v) => Flat::Time(v),
        V::Timestamp(v) => Flat::Timestamp(v),
        V::Duration(d) => Flat::Duration {
            months: d.months,
            days: d.days,
            nanoseconds: d.nanoseconds,
        },
        V::List(n) => Flat::List(n),
        V::Set(n) => Flat::Set(n),
        V::Map(n) => Flat::Map(n),
        V::Tuple(n) => Flat::Tuple(n),
        V::Vector(n) => Flat::Vector(n),
        V::Udt(header) => Flat::Udt {
            keyspace: header.keyspace,
            name: header.name,
            fields: header.fields,
        },
    }
}

fn to_wit_value(value: Flat) -> wit::Value {
    use wit::Value as V;
    match value {
        Flat::Null => V::Null,
        Flat::Boolean(v) => V::Boolean(v),
        Flat::TinyInt(v) => V::Tinyint(v),
        Flat::SmallInt(v) => V::Smallint(v),
        Flat::Int(v) => V::Int(v),
        Flat::BigInt(v) => V::Bigint(v),
        Flat::Counter(v) => V::Counter(v),
        Flat::Varint(v) => V::Varint(v),
        Flat::Float(v) => V::Float(v),
        Flat::Double(v) => V::Double(v),
        Flat::Decimal(v) => V::Decimal(v),
        Flat::Ascii(v) => V::Ascii(v),
        Flat::Text(v) => V::Text(v),
        Flat::Blob(v) => V::Blob(v),
        Flat::Uuid(v) => V::Uuid(v),
        Flat::Timeuuid(v) => V::Timeuuid(v),
        Flat::Inet(v) => V::Inet(v),
        Flat::Date(v) => V::Date(v),
        Flat::Time(v) => V::Time(v),
        Flat::Timestamp(v) => V::Timestamp(v),
        Flat::Duration {
            months,
            days,
            nanoseconds,
        } => V::Duration(wit::Duration {
            months,
            days,
            nanoseconds,
        }),
        Flat::List(n) => V::List(n),
        Flat::Set(n) => V::Set(n),
        Flat::Map(n) => V::Map(n),
        Flat::Tuple(n) => V::Tuple(n),
        Flat::Vector(n) => V::Vector(n),
        Flat::Udt { keyspace, name, fields } => V::Udt(wit::UdtHeader { keyspace, name, fields }),
    }
}

fn values(values: Vec<wit::Value>) -> Vec<Flat> {
    values.into_iter().map(from_wit).collect()
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
            .map(|row| row.into_iter().map(to_wit_value).collect())
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
