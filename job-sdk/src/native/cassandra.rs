//! The `cassandra` import for native runs: the same resource methods as the
//! generated bindings, served by `jobserver-connectors` on this thread's
//! cluster (see `clusters`). It mirrors what the server's host does between
//! the WIT types and the connector's (`server/src/runtime/host/
//! cassandra.rs`), the page-size limit included.

use std::sync::{Mutex, PoisonError};

use jobserver_connectors::cassandra::{self as connector, Cassandra, Flat};
use jobserver_connectors::limits::MAX_PAGE_ROWS;

use super::clusters::{self, Connected, HandleSlot};
use crate::__private::bindings::jobserver::job::cassandra::{
    BatchKind, Column, Duration, Page, Statement, UdtHeader, Value,
};
use crate::cassandra::Error;

const HANDLES: &str = "Cassandra sessions and pagers";

pub struct Session {
    cassandra: Connected<Cassandra>,
    session: connector::Session,
    _slot: HandleSlot,
}

impl Session {
    pub fn open(keyspace: Option<&str>) -> Result<Session, Error> {
        let cassandra = clusters::cassandra()?;
        let slot = cassandra.reserve_handle(HANDLES).map_err(Error::InvalidRequest)?;
        let session = cassandra.block_on(cassandra.client.session(keyspace))?;
        Ok(Session {
            cassandra,
            session,
            _slot: slot,
        })
    }

    pub fn execute(&self, cql: &str, values: &[Value]) -> Result<(), Error> {
        Ok(self.cassandra.block_on(self.session.execute(cql, flats(values)))?)
    }

    pub fn query(&self, cql: &str, values: &[Value], page_size: u32) -> Result<Pager, Error> {
        let slot = self.cassandra.reserve_handle(HANDLES).map_err(Error::InvalidRequest)?;
        let query = self.session.query(cql, flats(values), page_size.min(MAX_PAGE_ROWS));
        let pager = self.cassandra.block_on(query)?;
        Ok(Pager {
            cassandra: self.cassandra.clone(),
            pager: Mutex::new(pager),
            _slot: slot,
        })
    }

    pub fn batch(&self, kind: BatchKind, statements: &[Statement]) -> Result<(), Error> {
        let kind = match kind {
            BatchKind::Logged => connector::BatchKind::Logged,
            BatchKind::Unlogged => connector::BatchKind::Unlogged,
            BatchKind::Counter => connector::BatchKind::Counter,
        };
        let statements = statements
            .iter()
            .map(|statement| (statement.cql.clone(), flats(&statement.values)))
            .collect();
        Ok(self.cassandra.block_on(self.session.batch(kind, statements))?)
    }
}

pub struct Pager {
    cassandra: Connected<Cassandra>,
    /// A lock only because the generated method takes `&self`.
    pager: Mutex<connector::Pager>,
    _slot: HandleSlot,
}

impl Pager {
    pub fn next_page(&self) -> Result<Option<Page>, Error> {
        let mut pager = self.pager.lock().unwrap_or_else(PoisonError::into_inner);
        let next = self.cassandra.block_on(pager.next_page())?;
        Ok(next.map(|page| Page {
            columns: page
                .columns
                .into_iter()
                .map(|column| Column {
                    name: column.name,
                    type_: column.cql_type,
                })
                .collect(),
            rows: page
                .rows
                .into_iter()
                .map(|row| row.into_iter().map(Value::from).collect())
                .collect(),
        }))
    }
}

fn flats(values: &[Value]) -> Vec<Flat> {
    values.iter().cloned().map(Flat::from).collect()
}

jobserver_connectors::wit_flat_conversions!(Value, Duration, UdtHeader);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cross_to_the_connector_and_back_unchanged() {
        let values = vec![
            Value::Null,
            Value::Boolean(true),
            Value::Tinyint(1),
            Value::Smallint(2),
            Value::Int(3),
            Value::Bigint(4),
            Value::Counter(5),
            Value::Varint("6".into()),
            Value::Float(7.0),
            Value::Double(8.0),
            Value::Decimal("9.5".into()),
            Value::Ascii("a".into()),
            Value::Text("t".into()),
            Value::Blob(vec![1]),
            Value::Uuid("u".into()),
            Value::Timeuuid("tu".into()),
            Value::Inet("::1".into()),
            Value::Date(-1),
            Value::Time(2),
            Value::Timestamp(3),
            Value::Duration(Duration {
                months: 1,
                days: 2,
                nanoseconds: 3,
            }),
            Value::List(1),
            Value::Set(2),
            Value::Map(3),
            Value::Tuple(4),
            Value::Vector(5),
            Value::Udt(UdtHeader {
                keyspace: "ks".into(),
                name: "n".into(),
                fields: vec!["f".into()],
            }),
        ];
        let back: Vec<Value> = flats(&values).into_iter().map(Value::from).collect();
        assert_eq!(back, values);
    }
}
