//! [`FromCql`]: reading a [`CqlValue`] as the Rust type a job wants, as
//! [`Row::get`](super::Row::get) does. Conversions accept every CQL kind
//! that holds the value exactly (an `int` column read as `i64`, a `bigint`
//! that fits read as `i32`, a `uuid` read as `String`) and refuse the rest
//! with a message that names both types, since "invalid type" alone sends a
//! job author to the schema to find out which.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;

use super::CqlValue;

/// A Rust type a [`CqlValue`] can be read as.
///
/// The error is a message saying why the value does not fit, such as
/// `text cannot be read as i64`; [`Row::get`](super::Row::get) adds the
/// column. Implement it for types of your own to read them from rows:
///
/// ```
/// use job_sdk::cassandra::{CqlValue, FromCql};
///
/// struct Celsius(f64);
///
/// impl FromCql for Celsius {
///     fn from_cql(value: &CqlValue) -> Result<Self, String> {
///         f64::from_cql(value).map(Celsius)
///     }
/// }
/// ```
pub trait FromCql: Sized {
    fn from_cql(value: &CqlValue) -> Result<Self, String>;
}

fn mismatch(value: &CqlValue, rust: &str) -> String {
    match value {
        CqlValue::Null => format!("null cannot be read as {rust}; read an Option<{rust}> where nulls may be"),
        other => format!("{} cannot be read as {rust}", other.kind()),
    }
}

impl FromCql for CqlValue {
    fn from_cql(value: &CqlValue) -> Result<Self, String> {
        Ok(value.clone())
    }
}

impl FromCql for bool {
    fn from_cql(value: &CqlValue) -> Result<Self, String> {
        match value {
            CqlValue::Boolean(v) => Ok(*v),
            other => Err(mismatch(other, "bool")),
        }
    }
}

/// Integers of every width, counters and varints are one kind here: what
/// matters is whether the number fits.
fn integer(value: &CqlValue, rust: &str) -> Result<i128, String> {
    match value {
        CqlValue::TinyInt(v) => Ok(i128::from(*v)),
        CqlValue::SmallInt(v) => Ok(i128::from(*v)),
        CqlValue::Int(v) => Ok(i128::from(*v)),
        CqlValue::BigInt(v) | CqlValue::Counter(v) => Ok(i128::from(*v)),
        CqlValue::Varint(text) => text
            .trim()
            .parse::<i128>()
            .map_err(|_| format!("varint {text} does not fit in {rust}")),
        other => Err(mismatch(other, rust)),
    }
}

macro_rules! from_integer {
    ($($rust:ty),*) => {
        $(impl FromCql for $rust {
            fn from_cql(value: &CqlValue) -> Result<Self, String> {
                let rust = stringify!($rust);
                let n = integer(value, rust)?;
                <$rust>::try_from(n).map_err(|_| format!("{} {n} does not fit in {rust}", value.kind()))
            }
        })*
    };
}

from_integer!(i8, i16, i32, i64);

impl FromCql for f32 {
    fn from_cql(value: &CqlValue) -> Result<Self, String> {
        match value {
            CqlValue::Float(v) => Ok(*v),
            other => Err(mismatch(other, "f32")),
        }
    }
}

impl FromCql for f64 {
    fn from_cql(value: &CqlValue) -> Result<Self, String> {
        match value {
            CqlValue::Double(v) => Ok(*v),
            CqlValue::Float(v) => Ok(f64::from(*v)),
            other => Err(mismatch(other, "f64")),
        }
    }
}

/// Text, and the kinds the SDK carries as text: a `uuid` read as `String` is
/// its usual written form.
impl FromCql for String {
    fn from_cql(value: &CqlValue) -> Result<Self, String> {
        match value {
            CqlValue::Text(v)
            | CqlValue::Ascii(v)
            | CqlValue::Uuid(v)
            | CqlValue::Timeuuid(v)
            | CqlValue::Inet(v)
            | CqlValue::Varint(v)
            | CqlValue::Decimal(v) => Ok(v.clone()),
            other => Err(mismatch(other, "String")),
        }
    }
}

/// A `blob`'s bytes. (A `list<tinyint>` reads as `Vec<i8>`.)
impl FromCql for Vec<u8> {
    fn from_cql(value: &CqlValue) -> Result<Self, String> {
        match value {
            CqlValue::Blob(v) => Ok(v.clone()),
            other => Err(mismatch(other, "Vec<u8>")),
        }
    }
}

/// `None` for null, which is also what Cassandra answers for a column never
/// written.
impl<T: FromCql> FromCql for Option<T> {
    fn from_cql(value: &CqlValue) -> Result<Self, String> {
        match value {
            CqlValue::Null => Ok(None),
            other => T::from_cql(other).map(Some),
        }
    }
}

/// The elements of a list, set, vector or tuple (a tuple's all read as `T`).
/// Cassandra stores an empty collection as null, so null reads as empty.
fn elements<'a>(value: &'a CqlValue, rust: &str) -> Result<&'a [CqlValue], String> {
    match value {
        CqlValue::List(items) | CqlValue::Set(items) | CqlValue::Vector(items) | CqlValue::Tuple(items) => Ok(items),
        CqlValue::Null => Ok(&[]),
        other => Err(mismatch(other, rust)),
    }
}

fn read_elements<T: FromCql>(items: &[CqlValue]) -> impl Iterator<Item = Result<T, String>> + '_ {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| T::from_cql(item).map_err(|e| format!("element {}: {e}", i + 1)))
}

impl<T: FromCql> FromCql for Vec<T> {
    fn from_cql(value: &CqlValue) -> Result<Self, String> {
        read_elements(elements(value, "a Vec")?).collect()
    }
}

impl<T: FromCql + Ord> FromCql for BTreeSet<T> {
    fn from_cql(value: &CqlValue) -> Result<Self, String> {
        read_elements(elements(value, "a BTreeSet")?).collect()
    }
}

/// A map's pairs; null (an empty map, as Cassandra stores it) reads as empty.
fn pairs<K: FromCql, V: FromCql>(value: &CqlValue, rust: &str) -> Result<Vec<(K, V)>, String> {
    let pairs = match value {
        CqlValue::Map(pairs) => pairs.as_slice(),
        CqlValue::Null => &[],
        other => return Err(mismatch(other, rust)),
    };
    pairs
        .iter()
        .enumerate()
        .map(|(i, (key, value))| {
            let key = K::from_cql(key).map_err(|e| format!("key {}: {e}", i + 1))?;
            let value = V::from_cql(value).map_err(|e| format!("value {}: {e}", i + 1))?;
            Ok((key, value))
        })
        .collect()
}

impl<K: FromCql + Ord, V: FromCql> FromCql for BTreeMap<K, V> {
    fn from_cql(value: &CqlValue) -> Result<Self, String> {
        Ok(pairs(value, "a BTreeMap")?.into_iter().collect())
    }
}

impl<K: FromCql + Eq + Hash, V: FromCql> FromCql for HashMap<K, V> {
    fn from_cql(value: &CqlValue) -> Result<Self, String> {
        Ok(pairs(value, "a HashMap")?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T: FromCql>(value: CqlValue) -> Result<T, String> {
        T::from_cql(&value)
    }

    #[test]
    fn integers_from_every_kind_that_fits() {
        assert_eq!(read::<i64>(CqlValue::Int(5)), Ok(5));
        assert_eq!(read::<i64>(CqlValue::Counter(-5)), Ok(-5));
        assert_eq!(read::<i64>(CqlValue::TinyInt(1)), Ok(1));
        assert_eq!(read::<i8>(CqlValue::BigInt(127)), Ok(127));
        assert_eq!(read::<i16>(CqlValue::SmallInt(-3)), Ok(-3));
        assert_eq!(read::<i32>(CqlValue::Varint(" 42".into())), Ok(42));
        assert_eq!(
            read::<i32>(CqlValue::BigInt(3_000_000_000)),
            Err("bigint 3000000000 does not fit in i32".into())
        );
        assert_eq!(
            read::<i8>(CqlValue::Counter(128)),
            Err("counter 128 does not fit in i8".into())
        );
        assert_eq!(
            read::<i64>(CqlValue::Varint("123456789012345678901234567890".into())),
            Err("varint 123456789012345678901234567890 does not fit in i64".into())
        );
        assert_eq!(
            read::<i64>(CqlValue::Text("5".into())),
            Err("text cannot be read as i64".into())
        );
        assert_eq!(
            read::<i64>(CqlValue::Double(5.0)),
            Err("double cannot be read as i64".into())
        );
    }

    #[test]
    fn null_points_at_option() {
        assert_eq!(
            read::<i64>(CqlValue::Null),
            Err("null cannot be read as i64; read an Option<i64> where nulls may be".into())
        );
        assert_eq!(read::<Option<i64>>(CqlValue::Null), Ok(None));
        assert_eq!(read::<Option<i64>>(CqlValue::Int(1)), Ok(Some(1)));
        assert_eq!(
            read::<Option<i64>>(CqlValue::Text("x".into())),
            Err("text cannot be read as i64".into())
        );
    }

    #[test]
    fn floats_bools_and_bytes() {
        assert_eq!(read::<f32>(CqlValue::Float(1.5)), Ok(1.5));
        assert_eq!(
            read::<f32>(CqlValue::Double(1.5)),
            Err("double cannot be read as f32".into())
        );
        assert_eq!(read::<f64>(CqlValue::Float(1.5)), Ok(1.5));
        assert_eq!(read::<f64>(CqlValue::Double(-2.0)), Ok(-2.0));
        assert_eq!(read::<bool>(CqlValue::Boolean(true)), Ok(true));
        assert_eq!(read::<bool>(CqlValue::Int(1)), Err("int cannot be read as bool".into()));
        assert_eq!(read::<Vec<u8>>(CqlValue::Blob(vec![1])), Ok(vec![1]));
        assert_eq!(
            read::<Vec<u8>>(CqlValue::Text("x".into())),
            Err("text cannot be read as Vec<u8>".into())
        );
    }

    #[test]
    fn strings_from_the_kinds_carried_as_text() {
        for value in [
            CqlValue::Text("a".into()),
            CqlValue::Ascii("a".into()),
            CqlValue::Uuid("a".into()),
            CqlValue::Timeuuid("a".into()),
            CqlValue::Inet("a".into()),
            CqlValue::Varint("a".into()),
            CqlValue::Decimal("a".into()),
        ] {
            assert_eq!(read::<String>(value), Ok("a".to_owned()));
        }
        assert_eq!(
            read::<String>(CqlValue::Blob(vec![])),
            Err("blob cannot be read as String".into())
        );
    }

    #[test]
    fn collections() {
        let list = CqlValue::List(vec![CqlValue::Int(1), CqlValue::Int(2)]);
        assert_eq!(read::<Vec<i64>>(list.clone()), Ok(vec![1, 2]));
        assert_eq!(read::<BTreeSet<i32>>(list), Ok(BTreeSet::from([1, 2])));
        assert_eq!(read::<Vec<i64>>(CqlValue::Null), Ok(vec![]));
        assert_eq!(
            read::<Vec<i32>>(CqlValue::Set(vec![CqlValue::Int(1), CqlValue::Null])),
            Err("element 2: null cannot be read as i32; read an Option<i32> where nulls may be".into())
        );
        assert_eq!(
            read::<Vec<i32>>(CqlValue::Int(1)),
            Err("int cannot be read as a Vec".into())
        );

        let map = CqlValue::Map(vec![(CqlValue::Text("a".into()), CqlValue::BigInt(1))]);
        assert_eq!(
            read::<BTreeMap<String, i64>>(map.clone()),
            Ok(BTreeMap::from([("a".to_owned(), 1)]))
        );
        assert_eq!(
            read::<HashMap<String, i64>>(map.clone()),
            Ok(HashMap::from([("a".to_owned(), 1)]))
        );
        assert_eq!(
            read::<BTreeMap<i32, i64>>(map.clone()),
            Err("key 1: text cannot be read as i32".into())
        );
        assert_eq!(
            read::<BTreeMap<String, bool>>(map),
            Err("value 1: bigint cannot be read as bool".into())
        );
        assert_eq!(read::<BTreeMap<String, i64>>(CqlValue::Null), Ok(BTreeMap::new()));
    }

    #[test]
    fn cql_values_read_as_themselves() {
        let udt = CqlValue::Udt {
            keyspace: "ks".into(),
            name: "t".into(),
            fields: vec![],
        };
        assert_eq!(read::<CqlValue>(udt.clone()), Ok(udt));
    }
}
