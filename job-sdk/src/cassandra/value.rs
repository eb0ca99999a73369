//! [`CqlValue`], one CQL value as a tree, and its conversion to and from the
//! flat lists the WIT interface carries. WIT has no recursive types, so a
//! collection crosses as a head (`list(3)`) followed by its elements, depth
//! first; a job should not have to count elements, so the SDK flattens what
//! it sends and rebuilds what it reads. Rebuilding is bounded in depth, like
//! the host's (`connectors/src/cassandra/flat.rs`), since a row's nesting is
//! not the SDK's to choose; flattening is bounded the same way, so that a
//! value the host would refuse is refused before it is sent.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Error;
use crate::__private::bindings::jobserver::job::cassandra::{Duration, UdtHeader, Value as Flat};

/// One CQL value. Types without a Rust counterpart of their own are kept as
/// CQL writes them: varints and decimals as decimal text, UUIDs and inet
/// addresses as text, dates as days since 1970-01-01, times as nanoseconds
/// since midnight, timestamps as milliseconds since the Unix epoch.
///
/// Rust values convert with `From`: `CqlValue::from(5)` is an `Int`,
/// `"x"` a `Text`, `Vec<u8>` a `Blob`, `Vec<T>` a `List`, `BTreeSet<T>` a
/// `Set`, maps a `Map`, `None` a `Null`. The host converts a bound value to
/// its column's type where that loses nothing (an `Int` for a `bigint`
/// column, a `Text` for a `uuid`).
#[derive(Debug, Clone, PartialEq)]
pub enum CqlValue {
    Null,
    Boolean(bool),
    TinyInt(i8),
    SmallInt(i16),
    Int(i32),
    BigInt(i64),
    Counter(i64),
    /// An integer of any size, in decimal digits.
    Varint(String),
    Float(f32),
    Double(f64),
    /// A decimal of any precision, as text such as `-12.50`.
    Decimal(String),
    Ascii(String),
    Text(String),
    Blob(Vec<u8>),
    /// As text: `550e8400-e29b-41d4-a716-446655440000`.
    Uuid(String),
    Timeuuid(String),
    /// As text: `127.0.0.1` or `::1`.
    Inet(String),
    /// Days since 1970-01-01 (negative before).
    Date(i32),
    /// Nanoseconds since midnight.
    Time(i64),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Duration {
        months: i32,
        days: i32,
        nanoseconds: i64,
    },
    List(Vec<CqlValue>),
    Set(Vec<CqlValue>),
    Map(Vec<(CqlValue, CqlValue)>),
    /// A tuple's elements, `Null` where one is unset.
    Tuple(Vec<CqlValue>),
    Vector(Vec<CqlValue>),
    /// A value of a user-defined type, with its fields in the type's order.
    Udt {
        keyspace: String,
        name: String,
        fields: Vec<(String, CqlValue)>,
    },
}

/// How deep collections may nest in one value, in both directions; the
/// host refuses deeper values, and CQL itself rarely goes past three.
pub const MAX_DEPTH: usize = 32;

impl CqlValue {
    /// The kind of value as CQL names its type (`bigint`, `list`, ...), for
    /// messages.
    pub fn kind(&self) -> &'static str {
        match self {
            CqlValue::Null => "null",
            CqlValue::Boolean(_) => "boolean",
            CqlValue::TinyInt(_) => "tinyint",
            CqlValue::SmallInt(_) => "smallint",
            CqlValue::Int(_) => "int",
            CqlValue::BigInt(_) => "bigint",
            CqlValue::Counter(_) => "counter",
            CqlValue::Varint(_) => "varint",
            CqlValue::Float(_) => "float",
            CqlValue::Double(_) => "double",
            CqlValue::Decimal(_) => "decimal",
            CqlValue::Ascii(_) => "ascii",
            CqlValue::Text(_) => "text",
            CqlValue::Blob(_) => "blob",
            CqlValue::Uuid(_) => "uuid",
            CqlValue::Timeuuid(_) => "timeuuid",
            CqlValue::Inet(_) => "inet",
            CqlValue::Date(_) => "date",
            CqlValue::Time(_) => "time",
            CqlValue::Timestamp(_) => "timestamp",
            CqlValue::Duration { .. } => "duration",
            CqlValue::List(_) => "list",
            CqlValue::Set(_) => "set",
            CqlValue::Map(_) => "map",
            CqlValue::Tuple(_) => "tuple",
            CqlValue::Vector(_) => "vector",
            CqlValue::Udt { .. } => "user-defined type",
        }
    }
}

/// Flattens `values` for the host; an `InvalidRequest` when one nests
/// deeper than [`MAX_DEPTH`] or a collection is too long to count.
pub(crate) fn flatten(values: &[CqlValue]) -> Result<Vec<Flat>, Error> {
    let mut out = Vec::with_capacity(values.len());
    for value in values {
        flatten_one(value, 0, &mut out).map_err(Error::InvalidRequest)?;
    }
    Ok(out)
}

fn flatten_one(value: &CqlValue, depth: usize, out: &mut Vec<Flat>) -> Result<(), String> {
    let count = |len: usize| {
        if len > 0 && depth >= MAX_DEPTH {
            return Err(format!("values are nested more than {MAX_DEPTH} collections deep"));
        }
        u32::try_from(len).map_err(|_| format!("a collection of {len} values is too long to send"))
    };
    let head = match value {
        CqlValue::Null => Flat::Null,
        CqlValue::Boolean(v) => Flat::Boolean(*v),
        CqlValue::TinyInt(v) => Flat::Tinyint(*v),
        CqlValue::SmallInt(v) => Flat::Smallint(*v),
        CqlValue::Int(v) => Flat::Int(*v),
        CqlValue::BigInt(v) => Flat::Bigint(*v),
        CqlValue::Counter(v) => Flat::Counter(*v),
        CqlValue::Varint(v) => Flat::Varint(v.clone()),
        CqlValue::Float(v) => Flat::Float(*v),
        CqlValue::Double(v) => Flat::Double(*v),
        CqlValue::Decimal(v) => Flat::Decimal(v.clone()),
        CqlValue::Ascii(v) => Flat::Ascii(v.clone()),
        CqlValue::Text(v) => Flat::Text(v.clone()),
        CqlValue::Blob(v) => Flat::Blob(v.clone()),
        CqlValue::Uuid(v) => Flat::Uuid(v.clone()),
        CqlValue::Timeuuid(v) => Flat::Timeuuid(v.clone()),
        CqlValue::Inet(v) => Flat::Inet(v.clone()),
        CqlValue::Date(v) => Flat::Date(*v),
        CqlValue::Time(v) => Flat::Time(*v),
        CqlValue::Timestamp(v) => Flat::Timestamp(*v),
        CqlValue::Duration {
            months,
            days,
            nanoseconds,
        } => Flat::Duration(Duration {
            months: *months,
            days: *days,
            nanoseconds: *nanoseconds,
        }),
        CqlValue::List(items) | CqlValue::Set(items) | CqlValue::Tuple(items) | CqlValue::Vector(items) => {
            let n = count(items.len())?;
            out.push(match value {
                CqlValue::List(_) => Flat::List(n),
                CqlValue::Set(_) => Flat::Set(n),
                CqlValue::Tuple(_) => Flat::Tuple(n),
                _ => Flat::Vector(n),
            });
            return items.iter().try_for_each(|item| flatten_one(item, depth + 1, out));
        }
        CqlValue::Map(pairs) => {
            out.push(Flat::Map(count(pairs.len())?));
            return pairs.iter().try_for_each(|(key, value)| {
                flatten_one(key, depth + 1, out)?;
                flatten_one(value, depth + 1, out)
            });
        }
        CqlValue::Udt { keyspace, name, fields } => {
            count(fields.len())?;
            out.push(Flat::Udt(UdtHeader {
                keyspace: keyspace.clone(),
                name: name.clone(),
                fields: fields.iter().map(|(field, _)| field.clone()).collect(),
            }));
            return fields
                .iter()
                .try_for_each(|(_, value)| flatten_one(value, depth + 1, out));
        }
    };
    out.push(head);
    Ok(())
}

/// Rebuilds the values a flat list holds, such as one row's columns.
pub(crate) fn unflatten(flat: Vec<Flat>) -> Result<Vec<CqlValue>, String> {
    let total = flat.len();
    let mut rest = flat.into_iter();
    let mut values = Vec::new();
    while rest.len() > 0 {
        values.push(unflatten_one(&mut rest, total, 0)?);
    }
    Ok(values)
}

fn unflatten_one(rest: &mut std::vec::IntoIter<Flat>, total: usize, depth: usize) -> Result<CqlValue, String> {
    let Some(head) = rest.next() else {
        return Err(format!("the {total} flat values end inside a collection"));
    };
    // Counts are checked against what is left before anything is allocated
    // for them: a head may claim up to 2^33 elements.
    let mut children = |claimed: usize| -> Result<Vec<CqlValue>, String> {
        if claimed == 0 {
            return Ok(Vec::new());
        }
        if depth >= MAX_DEPTH {
            return Err(format!("values are nested more than {MAX_DEPTH} collections deep"));
        }
        if claimed > rest.len() {
            return Err(format!(
                "a collection claims {claimed} values but only {} follow",
                rest.len()
            ));
        }
        (0..claimed).map(|_| unflatten_one(rest, total, depth + 1)).collect()
    };
    Ok(match head {
        Flat::Null => CqlValue::Null,
        Flat::Boolean(v) => CqlValue::Boolean(v),
        Flat::Tinyint(v) => CqlValue::TinyInt(v),
        Flat::Smallint(v) => CqlValue::SmallInt(v),
        Flat::Int(v) => CqlValue::Int(v),
        Flat::Bigint(v) => CqlValue::BigInt(v),
        Flat::Counter(v) => CqlValue::Counter(v),
        Flat::Varint(v) => CqlValue::Varint(v),
        Flat::Float(v) => CqlValue::Float(v),
        Flat::Double(v) => CqlValue::Double(v),
        Flat::Decimal(v) => CqlValue::Decimal(v),
        Flat::Ascii(v) => CqlValue::Ascii(v),
        Flat::Text(v) => CqlValue::Text(v),
        Flat::Blob(v) => CqlValue::Blob(v),
        Flat::Uuid(v) => CqlValue::Uuid(v),
        Flat::Timeuuid(v) => CqlValue::Timeuuid(v),
        Flat::Inet(v) => CqlValue::Inet(v),
        Flat::Date(v) => CqlValue::Date(v),
        Flat::Time(v) => CqlValue::Time(v),
        Flat::Timestamp(v) => CqlValue::Timestamp(v),
        Flat::Duration(d) => CqlValue::Duration {
            months: d.months,
            days: d.days,
            nanoseconds: d.nanoseconds,
        },
        Flat::List(n) => CqlValue::List(children(n as usize)?),
        Flat::Set(n) => CqlValue::Set(children(n as usize)?),
        Flat::Tuple(n) => CqlValue::Tuple(children(n as usize)?),
        Flat::Vector(n) => CqlValue::Vector(children(n as usize)?),
        Flat::Map(n) => {
            let mut items = children((n as usize).saturating_mul(2))?.into_iter();
            let mut pairs = Vec::with_capacity(n as usize);
            while let (Some(key), Some(value)) = (items.next(), items.next()) {
                pairs.push((key, value));
            }
            CqlValue::Map(pairs)
        }
        Flat::Udt(UdtHeader { keyspace, name, fields }) => {
            let values = children(fields.len())?;
            CqlValue::Udt {
                keyspace,
                name,
                fields: fields.into_iter().zip(values).collect(),
            }
        }
    })
}

macro_rules! from_scalar {
    ($($rust:ty => $case:ident),* $(,)?) => {
        $(impl From<$rust> for CqlValue {
            fn from(value: $rust) -> Self {
                CqlValue::$case(value.into())
            }
        })*
    };
}

from_scalar! {
    bool => Boolean,
    i8 => TinyInt,
    i16 => SmallInt,
    i32 => Int,
    i64 => BigInt,
    f32 => Float,
    f64 => Double,
    &str => Text,
    String => Text,
    &String => Text,
    Vec<u8> => Blob,
    &[u8] => Blob,
}

/// `None` is CQL's null, which also deletes the column it is written to.
impl<T: Into<CqlValue>> From<Option<T>> for CqlValue {
    fn from(value: Option<T>) -> Self {
        value.map_or(CqlValue::Null, Into::into)
    }
}

/// A `list`; `Vec<u8>` is a `blob` instead.
impl<T: Into<CqlValue>> From<Vec<T>> for CqlValue {
    fn from(items: Vec<T>) -> Self {
        CqlValue::List(items.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<CqlValue>> From<BTreeSet<T>> for CqlValue {
    fn from(items: BTreeSet<T>) -> Self {
        CqlValue::Set(items.into_iter().map(Into::into).collect())
    }
}

impl<K: Into<CqlValue>, V: Into<CqlValue>> From<BTreeMap<K, V>> for CqlValue {
    fn from(map: BTreeMap<K, V>) -> Self {
        CqlValue::Map(map.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl<K: Into<CqlValue>, V: Into<CqlValue>, S> From<HashMap<K, V, S>> for CqlValue {
    fn from(map: HashMap<K, V, S>) -> Self {
        CqlValue::Map(map.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

#[cfg(test)]
#[path = "value_tests.rs"]
mod tests;
