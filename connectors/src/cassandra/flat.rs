//! CQL values as they cross into a job, and back.
//!
//! WIT has no recursive types, so a row is a flat list of [`Flat`] values in
//! which a collection is followed by its elements (a map by key, value, key,
//! value...), depth first. Rows go out by flattening the driver's
//! `CqlValue`s; bound values come in flat, are parsed back into a tree
//! (bounded in depth, since a job could send any nesting) and converted to
//! the type each bind marker of the prepared statement has, where that loses
//! nothing.

use bigdecimal::BigDecimal;
use num_bigint::BigInt;
use scylla::frame::response::result::{CollectionType, ColumnType, NativeType};
use scylla::value::{
    Counter, CqlDate, CqlDecimal, CqlDuration, CqlTime, CqlTimestamp, CqlTimeuuid, CqlValue, CqlVarint,
};
use std::net::IpAddr;
use std::str::FromStr;
use uuid::Uuid;

/// One value of a flattened row; the cases are those of WIT's `value`.
#[derive(Debug, Clone, PartialEq)]
pub enum Flat {
    Null,
    Boolean(bool),
    TinyInt(i8),
    SmallInt(i16),
    Int(i32),
    BigInt(i64),
    Counter(i64),
    /// Decimal digits.
    Varint(String),
    Float(f32),
    Double(f64),
    /// Text such as `-12.50`.
    Decimal(String),
    Ascii(String),
    Text(String),
    Blob(Vec<u8>),
    Uuid(String),
    Timeuuid(String),
    Inet(String),
    /// Days since 1970-01-01.
    Date(i32),
    /// Nanoseconds since midnight.
    Time(i64),
    /// Milliseconds since the epoch.
    Timestamp(i64),
    Duration {
        months: i32,
        days: i32,
        nanoseconds: i64,
    },
    List(u32),
    Set(u32),
    /// Followed by this many key, value pairs.
    Map(u32),
    Tuple(u32),
    Vector(u32),
    Udt {
        keyspace: String,
        name: String,
        fields: Vec<String>,
    },
}

/// How deep a job may nest collections in a bound value; CQL itself rarely
/// goes past three.
pub const MAX_DEPTH: usize = 32;

/// CQL's `date` counts days from 2^31 days before the epoch.
const DATE_EPOCH: i64 = 1 << 31;

/// Most bytes of a varint or decimal's digits a value may have: turning
/// numbers into text takes time growing with the square of their length, and
/// a host call must stay short enough for a kill to stop it. Ten thousand
/// decimal digits is far beyond any real use.
const MAX_NUMBER_BYTES: usize = 4_200;
const MAX_NUMBER_DIGITS: usize = 10_000;

fn too_long(kind: &str) -> String {
    format!("a {kind} of more than {MAX_NUMBER_DIGITS} digits is more than a job can take or give")
}

/// Appends `value` (`None`: null) to a flat row.
pub fn flatten(value: Option<&CqlValue>, out: &mut Vec<Flat>) -> Result<(), String> {
    let Some(value) = value else {
        out.push(Flat::Null);
        return Ok(());
    };
    let flat = match value {
        CqlValue::Ascii(v) => Flat::Ascii(v.clone()),
        CqlValue::Boolean(v) => Flat::Boolean(*v),
        CqlValue::Blob(v) => Flat::Blob(v.clone()),
        CqlValue::Counter(Counter(v)) => Flat::Counter(*v),
        CqlValue::Decimal(v) => {
            if v.as_signed_be_bytes_slice_and_exponent().0.len() > MAX_NUMBER_BYTES {
                return Err(too_long("decimal"));
            }
            Flat::Decimal(BigDecimal::from(v.clone()).to_string())
        }
        CqlValue::Date(CqlDate(days)) => Flat::Date((i64::from(*days) - DATE_EPOCH) as i32),
        CqlValue::Double(v) => Flat::Double(*v),
        CqlValue::Duration(d) => Flat::Duration {
            months: d.months,
            days: d.days,
            nanoseconds: d.nanoseconds,
        },
        CqlValue::Empty => Flat::Null,
        CqlValue::Float(v) => Flat::Float(*v),
        CqlValue::Int(v) => Flat::Int(*v),
        CqlValue::BigInt(v) => Flat::BigInt(*v),
        CqlValue::Text(v) => Flat::Text(v.clone()),
        CqlValue::Timestamp(CqlTimestamp(v)) => Flat::Timestamp(*v),
        CqlValue::Inet(v) => Flat::Inet(v.to_string()),
        CqlValue::SmallInt(v) => Flat::SmallInt(*v),
        CqlValue::TinyInt(v) => Flat::TinyInt(*v),
        CqlValue::Time(CqlTime(v)) => Flat::Time(*v),
        CqlValue::Timeuuid(v) => Flat::Timeuuid(v.to_string()),
        CqlValue::Uuid(v) => Flat::Uuid(v.to_string()),
        CqlValue::Varint(v) => {
            if v.as_signed_bytes_be_slice().len() > MAX_NUMBER_BYTES {
                return Err(too_long("varint"));
            }
            Flat::Varint(BigInt::from(v.clone()).to_string())
        }
        CqlValue::List(items) | CqlValue::Set(items) | CqlValue::Vector(items) => {
            out.push(match value {
                CqlValue::List(_) => Flat::List(items.len() as u32),
                CqlValue::Set(_) => Flat::Set(items.len() as u32),
                _ => Flat::Vector(items.len() as u32),
            });
            for item in items {
                flatten(Some(item), out)?;
            }
            return Ok(());
        }
        CqlValue::Map(pairs) => {
            out.push(Flat::Map(pairs.len() as u32));
            for (key, value) in pairs {
                flatten(Some(key), out)?;
                flatten(Some(value), out)?;
            }
            return Ok(());
        }
        CqlValue::Tuple(items) => {
            out.push(Flat::Tuple(items.len() as u32));
            for item in items {
                flatten(item.as_ref(), out)?;
            }
            return Ok(());
        }
        CqlValue::UserDefinedType { keyspace, name, fields } => {
            out.push(Flat::Udt {
                keyspace: keyspace.clone(),
                name: name.clone(),
                fields: fields.iter().map(|(field, _)| field.clone()).collect(),
            });
            for (_, value) in fields {
                flatten(value.as_ref(), out)?;
            }
            return Ok(());
        }
        // `CqlValue` is non-exhaustive: a type added to the driver shows up
        // as its text until this learns it.
        other => Flat::Text(format!("{other:?}")),
    };
    out.push(flat);
    Ok(())
}

/// A flat value parsed back into its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    pub head: Flat,
    pub children: Vec<Tree>,
}

/// Parses a flat list into the values it holds, one tree per value.
pub fn parse(flat: Vec<Flat>) -> Result<Vec<Tree>, String> {
    let mut values = flat.into_iter();
    let mut trees = Vec::new();
    while let Some(head) = values.next() {
        trees.push(parse_one(head, &mut values, 0)?);
    }
    Ok(trees)
}

fn parse_one(head: Flat, rest: &mut impl Iterator<Item = Flat>, depth: usize) -> Result<Tree, String> {
    let count = match &head {
        Flat::List(n) | Flat::Set(n) | Flat::Tuple(n) | Flat::Vector(n) => *n as usize,
        Flat::Map(n) => 2 * *n as usize,
        Flat::Udt { fields, .. } => fields.len(),
        _ => 0,
    };
    if count > 0 && depth >= MAX_DEPTH {
        return Err(format!("values are nested more than {MAX_DEPTH} collections deep"));
    }
    let mut children = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let Some(next) = rest.next() else {
            return Err(format!(
                "a collection says it has {count} values but the list ends after {}",
                children.len()
            ));
        };
        children.push(parse_one(next, rest, depth + 1)?);
    }
    Ok(Tree { head, children })
}

/// The value for a bind marker of type `typ`, or why it cannot be one.
pub fn bind(value: Tree, typ: &ColumnType<'_>) -> Result<Option<CqlValue>, String> {
    let Tree { head, children } = value;
    if head == Flat::Null {
        return Ok(None);
    }
    let mismatch = |head: &Flat| {
        format!(
            "{} cannot be stored in a column of type {}",
            describe(head),
            type_name(typ)
        )
    };
    let value = match typ {
        ColumnType::Native(native) => bind_native(&head, native).ok_or_else(|| mismatch(&head))??,
        ColumnType::Collection { typ: collection, .. } => match (collection, &head) {
            (CollectionType::List(item), Flat::List(_) | Flat::Set(_) | Flat::Vector(_)) => {
                CqlValue::List(bind_all(children, item)?)
            }
            (CollectionType::Set(item), Flat::List(_) | Flat::Set(_) | Flat::Vector(_)) => {
                CqlValue::Set(bind_all(children, item)?)
            }
            (CollectionType::Map(key, value), Flat::Map(_)) => {
                let mut pairs = Vec::with_capacity(children.len() / 2);
                let mut children = children.into_iter();
                while let (Some(k), Some(v)) = (children.next(), children.next()) {
                    let k = bind(k, key)?.ok_or("a map key cannot be null")?;
                    let v = bind(v, value)?.ok_or("a map value cannot be null")?;
                    pairs.push((k, v));
                }
                CqlValue::Map(pairs)
            }
            _ => return Err(mismatch(&head)),
        },
        ColumnType::Vector { typ: item, dimensions } => match head {
            Flat::List(n) | Flat::Vector(n) if n == u32::from(*dimensions) => {
                CqlValue::Vector(bind_all(children, item)?)
            }
            Flat::List(n) | Flat::Vector(n) => {
                return Err(format!("a {} needs {dimensions} values, not {n}", type_name(typ)));
            }
            _ => return Err(mismatch(&head)),
        },
        ColumnType::Tuple(types) => match head {
            Flat::Tuple(n) | Flat::List(n) if n as usize == types.len() => CqlValue::Tuple(
                children
                    .into_iter()
                    .zip(types)
                    .map(|(child, typ)| bind(child, typ))
                    .collect::<Result<_, _>>()?,
            ),
            Flat::Tuple(n) | Flat::List(n) => {
                return Err(format!("a {} needs {} values, not {n}", type_name(typ), types.len()));
            }
            _ => return Err(mismatch(&head)),
        },
        ColumnType::UserDefinedType { definition, .. } => {
            let Flat::Udt { fields, .. } = &head else {
                return Err(mismatch(&head));
            };
            let mut given: Vec<(String, Tree)> = fields.iter().cloned().zip(children).collect();
            if let Some((unknown, _)) = given
                .iter()
                .find(|(name, _)| !definition.field_types.iter().any(|(field, _)| field == name))
            {
                return Err(format!("type {} has no field '{unknown}'", definition.name));
            }
            let mut bound = Vec::with_capacity(definition.field_types.len());
            for (field, field_type) in &definition.field_types {
                let value = match given.iter().position(|(name, _)| name == field) {
                    Some(i) => bind(given.swap_remove(i).1, field_type)?,
                    None => None,
                };
                bound.push((field.to_string(), value));
            }
            CqlValue::UserDefinedType {
                keyspace: definition.keyspace.to_string(),
                name: definition.name.to_string(),
                fields: bound,
            }
        }
        _ => return Err(format!("columns of type {} cannot be bound yet", type_name(typ))),
    };
    Ok(Some(value))
}

fn bind_all(children: Vec<Tree>, item: &ColumnType<'_>) -> Result<Vec<CqlValue>, String> {
    children
        .into_iter()
        .map(|child| bind(child, item)?.ok_or_else(|| "a collection cannot hold null".to_string()))
        .collect()
}

/// `None`: the kinds do not fit at all; `Some(Err)`: they do, but not this value.
fn bind_native(head: &Flat, native: &NativeType) -> Option<Result<CqlValue, String>> {
    use NativeType as N;
    let integer = integer_of(head);
    let out_of_range = |value: &dyn std::fmt::Display| format!("{value} is out of range for a {}", native_name(native));
    Some(match (native, head) {
        (N::Boolean, Flat::Boolean(v)) => Ok(CqlValue::Boolean(*v)),
        (N::TinyInt | N::SmallInt | N::Int | N::BigInt | N::Counter, _) if integer.is_some() => {
            let n = integer?;
            match native {
                N::TinyInt => i8::try_from(n).map(CqlValue::TinyInt).map_err(|_| out_of_range(&n)),
                N::SmallInt => i16::try_from(n).map(CqlValue::SmallInt).map_err(|_| out_of_range(&n)),
                N::Int => i32::try_from(n).map(CqlValue::Int).map_err(|_| out_of_range(&n)),
                N::BigInt => i64::try_from(n).map(CqlValue::BigInt).map_err(|_| out_of_range(&n)),
                _ => i64::try_from(n)
                    .map(|n| CqlValue::Counter(Counter(n)))
                    .map_err(|_| out_of_range(&n)),
            }
        }
        (N::TinyInt | N::SmallInt | N::Int | N::BigInt | N::Counter, Flat::Varint(text)) => {
            match i64::from_str(text.trim()) {
                Ok(n) => return bind_native(&Flat::BigInt(n), native),
                Err(_) => Err(format!(
                    "'{text}' is not a whole number within the range of a {}",
                    native_name(native)
                )),
            }
        }
        (N::Varint | N::Decimal, Flat::Varint(text) | Flat::Decimal(text) | Flat::Text(text) | Flat::Ascii(text))
            if text.len() > MAX_NUMBER_DIGITS + 2 =>
        {
            Err(too_long(native_name(native)))
        }
        (N::Varint, Flat::Varint(text) | Flat::Text(text) | Flat::Ascii(text)) => BigInt::from_str(text.trim())
            .map(|n| CqlValue::Varint(CqlVarint::from(n)))
            .map_err(|_| format!("'{text}' is not a whole number")),
        (N::Varint, _) if integer.is_some() => Ok(CqlValue::Varint(CqlVarint::from(BigInt::from(integer?)))),
        (N::Decimal, Flat::Decimal(text) | Flat::Varint(text) | Flat::Text(text) | Flat::Ascii(text)) => {
            BigDecimal::from_str(text.trim())
                .map_err(|_| format!("'{text}' is not a decimal number"))
                .and_then(|d| CqlDecimal::try_from(d).map_err(|_| out_of_range(text)))
                .map(CqlValue::Decimal)
        }
        (N::Decimal, _) if integer.is_some() => {
            let n = integer?;
            CqlDecimal::try_from(BigDecimal::from(BigInt::from(n)))
                .map(CqlValue::Decimal)
                .map_err(|_| out_of_range(&n))
        }
        (N::Double, Flat::Double(v)) => Ok(CqlValue::Double(*v)),
        (N::Double, Flat::Float(v)) => Ok(CqlValue::Double(f64::from(*v))),
        (N::Double, _) if integer.is_some() => {
            let n = integer?;
            // Whole numbers up to 2^53 are exact in a double.
            if n.unsigned_abs() <= 1 << 53 {
                Ok(CqlValue::Double(n as f64))
            } else {
                Err(format!("{n} cannot be stored exactly in a double"))
            }
        }
        (N::Float, Flat::Float(v)) => Ok(CqlValue::Float(*v)),
        (N::Float, Flat::Double(v)) => {
            let narrowed = *v as f32;
            if f64::from(narrowed) == *v || v.is_nan() {
                Ok(CqlValue::Float(narrowed))
            } else {
                Err(format!("{v} cannot be stored exactly in a float"))
            }
        }
        (N::Float, _) if integer.is_some() => {
            let n = integer?;
            if n.unsigned_abs() <= 1 << 24 {
                Ok(CqlValue::Float(n as f32))
            } else {
                Err(format!("{n} cannot be stored exactly in a float"))
            }
        }
        (N::Text, Flat::Text(v) | Flat::Ascii(v)) => Ok(CqlValue::Text(v.clone())),
        (N::Ascii, Flat::Text(v) | Flat::Ascii(v)) => {
            if v.is_ascii() {
                Ok(CqlValue::Ascii(v.clone()))
            } else {
                Err(format!("'{v}' is not ASCII text"))
            }
        }
        (N::Blob, Flat::Blob(v)) => Ok(CqlValue::Blob(v.clone())),
        (N::Uuid, Flat::Uuid(v) | Flat::Timeuuid(v) | Flat::Text(v) | Flat::Ascii(v)) => Uuid::parse_str(v.trim())
            .map(CqlValue::Uuid)
            .map_err(|_| format!("'{v}' is not a UUID")),
        (N::Timeuuid, Flat::Uuid(v) | Flat::Timeuuid(v) | Flat::Text(v) | Flat::Ascii(v)) => {
            match Uuid::parse_str(v.trim()) {
                Ok(uuid) if uuid.get_version_num() == 1 => Ok(CqlValue::Timeuuid(CqlTimeuuid::from(uuid))),
                Ok(_) => Err(format!("'{v}' is a UUID but not a time-based (version 1) one")),
                Err(_) => Err(format!("'{v}' is not a UUID")),
            }
        }
        (N::Inet, Flat::Inet(v) | Flat::Text(v) | Flat::Ascii(v)) => IpAddr::from_str(v.trim())
            .map(CqlValue::Inet)
            .map_err(|_| format!("'{v}' is not an IP address")),
        (N::Date, Flat::Date(days)) => Ok(CqlValue::Date(CqlDate((i64::from(*days) + DATE_EPOCH) as u32))),
        (N::Time, Flat::Time(nanos)) => {
            if (0..86_400_000_000_000).contains(nanos) {
                Ok(CqlValue::Time(CqlTime(*nanos)))
            } else {
                Err(format!("{nanos} ns is not a time of day"))
            }
        }
        (N::Time, _) if integer.is_some() => return bind_native(&Flat::Time(i64::try_from(integer?).ok()?), native),
        (N::Timestamp, Flat::Timestamp(ms)) => Ok(CqlValue::Timestamp(CqlTimestamp(*ms))),
        (N::Timestamp, _) if integer.is_some() => i64::try_from(integer?)
            .map(|ms| CqlValue::Timestamp(CqlTimestamp(ms)))
            .map_err(|_| out_of_range(&integer.unwrap_or_default())),
        (
            N::Duration,
            Flat::Duration {
                months,
                days,
                nanoseconds,
            },
        ) => Ok(CqlValue::Duration(CqlDuration {
            months: *months,
            days: *days,
            nanoseconds: *nanoseconds,
        })),
        _ => return None,
    })
}

/// Integers of every width (and counters) are one kind for binding.
fn integer_of(flat: &Flat) -> Option<i128> {
    match flat {
        Flat::TinyInt(v) => Some(i128::from(*v)),
        Flat::SmallInt(v) => Some(i128::from(*v)),
        Flat::Int(v) => Some(i128::from(*v)),
        Flat::BigInt(v) | Flat::Counter(v) => Some(i128::from(*v)),
        _ => None,
    }
}

fn describe(flat: &Flat) -> String {
    let kind = match flat {
        Flat::Null => "null",
        Flat::Boolean(_) => "a boolean",
        Flat::TinyInt(_) | Flat::SmallInt(_) | Flat::Int(_) | Flat::BigInt(_) | Flat::Counter(_) => "an integer",
        Flat::Varint(_) => "a varint",
        Flat::Float(_) | Flat::Double(_) => "a floating-point number",
        Flat::Decimal(_) => "a decimal",
        Flat::Ascii(_) | Flat::Text(_) => "text",
        Flat::Blob(_) => "a blob",
        Flat::Uuid(_) | Flat::Timeuuid(_) => "a uuid",
        Flat::Inet(_) => "an inet address",
        Flat::Date(_) => "a date",
        Flat::Time(_) => "a time",
        Flat::Timestamp(_) => "a timestamp",
        Flat::Duration { .. } => "a duration",
        Flat::List(_) => "a list",
        Flat::Set(_) => "a set",
        Flat::Map(_) => "a map",
        Flat::Tuple(_) => "a tuple",
        Flat::Vector(_) => "a vector",
        Flat::Udt { .. } => "a user-defined type",
    };
    kind.to_string()
}

fn native_name(native: &NativeType) -> &'static str {
    use NativeType as N;
    match native {
        N::Ascii => "ascii",
        N::Boolean => "boolean",
        N::Blob => "blob",
        N::Counter => "counter",
        N::Date => "date",
        N::Decimal => "decimal",
        N::Double => "double",
        N::Duration => "duration",
        N::Float => "float",
        N::Int => "int",
        N::BigInt => "bigint",
        N::Text => "text",
        N::Timestamp => "timestamp",
        N::Inet => "inet",
        N::SmallInt => "smallint",
        N::TinyInt => "tinyint",
        N::Time => "time",
        N::Timeuuid => "timeuuid",
        N::Uuid => "uuid",
        N::Varint => "varint",
        _ => "an unknown type",
    }
}

/// A column type as CQL writes it: `bigint`, `frozen<map<text, int>>`.
pub fn type_name(typ: &ColumnType<'_>) -> String {
    let frozen = |frozen: bool, name: String| if frozen { format!("frozen<{name}>") } else { name };
    match typ {
        ColumnType::Native(native) => native_name(native).to_string(),
        ColumnType::Collection { frozen: f, typ } => frozen(
            *f,
            match typ {
                CollectionType::List(item) => format!("list<{}>", type_name(item)),
                CollectionType::Set(item) => format!("set<{}>", type_name(item)),
                CollectionType::Map(key, value) => format!("map<{}, {}>", type_name(key), type_name(value)),
                _ => "an unknown collection".to_string(),
            },
        ),
        ColumnType::Vector { typ, dimensions } => format!("vector<{}, {dimensions}>", type_name(typ)),
        ColumnType::UserDefinedType { frozen: f, definition } => frozen(*f, definition.name.to_string()),
        ColumnType::Tuple(types) => {
            let types: Vec<String> = types.iter().map(type_name).collect();
            format!("tuple<{}>", types.join(", "))
        }
        _ => "an unknown type".to_string(),
    }
}

#[cfg(test)]
#[path = "flat_tests.rs"]
mod tests;
