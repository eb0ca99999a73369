//! Conversions between this crate's types and the job contract's.
//!
//! The contract's Kafka and Cassandra types are generated twice from the one
//! WIT definition: in the server (by wasmtime's `bindgen!`) and in the job
//! SDK (by wit-bindgen). Their cases and fields have the same names, so each
//! conversion is written once, here, as a macro that each side expands over
//! its own generated types.

/// `From<jobserver_connectors::Error>` for a WIT error variant whose cases
/// are the error kinds (`unreachable`, `not-found`, ...).
#[macro_export]
macro_rules! wit_error_from_connector {
    ($wit:ty) => {
        impl From<$crate::Error> for $wit {
            fn from(error: $crate::Error) -> Self {
                use $crate::ErrorKind as Kind;
                match error.kind {
                    Kind::Unreachable => Self::Unreachable(error.message),
                    Kind::NotFound => Self::NotFound(error.message),
                    Kind::InvalidRequest => Self::InvalidRequest(error.message),
                    Kind::Timeout => Self::Timeout(error.message),
                    Kind::PermissionDenied => Self::PermissionDenied(error.message),
                    Kind::Other => Self::Other(error.message),
                }
            }
        }
    };
}

/// A function `$name(&RecordView) -> $record` making the contract's Kafka
/// `record` (with its `header`s): the one copy out of the consumer's buffer.
#[macro_export]
macro_rules! wit_record_from_view {
    ($name:ident, $record:ident, $header:ident) => {
        fn $name(view: &$crate::kafka::RecordView<'_>) -> $record {
            $record {
                partition: view.partition(),
                offset: view.offset(),
                timestamp: view.timestamp(),
                key: view.key().map(<[u8]>::to_vec),
                value: view.value().map(<[u8]>::to_vec),
                headers: view
                    .headers()
                    .map(|(key, value)| $header {
                        key: key.to_string(),
                        value: value.map(<[u8]>::to_vec),
                    })
                    .collect(),
            }
        }
    };
}

/// `From` both ways between [`Flat`](crate::cassandra::Flat) and the
/// contract's Cassandra `value` (with its `duration` and `udt-header`).
#[macro_export]
macro_rules! wit_flat_conversions {
    ($value:ident, $duration:ident, $udt:ident) => {
        impl From<$value> for $crate::cassandra::Flat {
            fn from(value: $value) -> Self {
                use $crate::cassandra::Flat;
                use $value as V;
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
        }

        impl From<$crate::cassandra::Flat> for $value {
            fn from(value: $crate::cassandra::Flat) -> Self {
                use $crate::cassandra::Flat;
                use $value as V;
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
                    } => V::Duration($duration {
                        months,
                        days,
                        nanoseconds,
                    }),
                    Flat::List(n) => V::List(n),
                    Flat::Set(n) => V::Set(n),
                    Flat::Map(n) => V::Map(n),
                    Flat::Tuple(n) => V::Tuple(n),
                    Flat::Vector(n) => V::Vector(n),
                    Flat::Udt {
                        keyspace,
                        name,
                        fields,
                    } => V::Udt($udt {
                        keyspace,
                        name,
                        fields,
                    }),
                }
            }
        }
    };
}
