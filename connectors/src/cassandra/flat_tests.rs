//! The mapping between CQL values and flat job values, type by type.

use super::*;
use scylla::frame::response::result::UserDefinedType;
use std::borrow::Cow;
use std::sync::Arc;

fn native(native: NativeType) -> ColumnType<'static> {
    ColumnType::Native(native)
}

fn list_of(item: ColumnType<'static>) -> ColumnType<'static> {
    ColumnType::Collection {
        frozen: false,
        typ: CollectionType::List(Box::new(item)),
    }
}

fn flat(value: &CqlValue) -> Vec<Flat> {
    let mut out = Vec::new();
    flatten(Some(value), &mut out).unwrap();
    out
}

/// Flattens `value`, parses it back and binds it to `typ`: what a job that
/// reads a value and writes it back does.
fn round_trip(value: CqlValue, typ: ColumnType<'static>) {
    let flat = flat(&value);
    let mut trees = parse(flat.clone()).unwrap();
    assert_eq!(trees.len(), 1, "{flat:?}");
    let bound = bind(trees.remove(0), &typ).unwrap_or_else(|error| panic!("{value:?} as {}: {error}", type_name(&typ)));
    assert_eq!(bound, Some(value), "through {flat:?}");
}

#[test]
fn every_native_type_goes_out_and_comes_back() {
    use NativeType as N;
    let uuid = Uuid::parse_str("550e8400-e29b-41d4-a716-446655440000").unwrap();
    let timeuuid = Uuid::parse_str("8e14e760-7fa8-11eb-bc66-000000000001").unwrap();
    let cases = [
        (CqlValue::Ascii("abc".into()), N::Ascii),
        (CqlValue::Boolean(true), N::Boolean),
        (CqlValue::Blob(vec![0, 1, 255]), N::Blob),
        (CqlValue::Counter(Counter(-7)), N::Counter),
        (
            CqlValue::Decimal(CqlDecimal::try_from(BigDecimal::from_str("-12.50").unwrap()).unwrap()),
            N::Decimal,
        ),
        (CqlValue::Date(CqlDate((DATE_EPOCH + 19_000) as u32)), N::Date),
        (CqlValue::Date(CqlDate((DATE_EPOCH - 1) as u32)), N::Date),
        (CqlValue::Double(2.5), N::Double),
        (
            CqlValue::Duration(CqlDuration {
                months: 1,
                days: 2,
                nanoseconds: 3,
            }),
            N::Duration,
        ),
        (CqlValue::Float(1.25), N::Float),
        (CqlValue::Int(i32::MIN), N::Int),
        (CqlValue::BigInt(i64::MAX), N::BigInt),
        (CqlValue::Text("héllo".into()), N::Text),
        (CqlValue::Timestamp(CqlTimestamp(1_700_000_000_123)), N::Timestamp),
        (CqlValue::Inet("10.0.0.1".parse().unwrap()), N::Inet),
        (CqlValue::Inet("::1".parse().unwrap()), N::Inet),
        (CqlValue::SmallInt(-300), N::SmallInt),
        (CqlValue::TinyInt(-3), N::TinyInt),
        (CqlValue::Time(CqlTime(3_600_000_000_000)), N::Time),
        (CqlValue::Timeuuid(CqlTimeuuid::from(timeuuid)), N::Timeuuid),
        (CqlValue::Uuid(uuid), N::Uuid),
        (
            CqlValue::Varint(CqlVarint::from(
                BigInt::from_str("123456789012345678901234567890").unwrap(),
            )),
            N::Varint,
        ),
    ];
    for (value, typ) in cases {
        round_trip(value, native(typ));
    }
}

#[test]
fn native_values_flatten_as_jobs_expect_them() {
    assert_eq!(flat(&CqlValue::Date(CqlDate(DATE_EPOCH as u32))), [Flat::Date(0)]);
    assert_eq!(
        flat(&CqlValue::Varint(CqlVarint::from(BigInt::from(-42)))),
        [Flat::Varint("-42".into())]
    );
    assert_eq!(
        flat(&CqlValue::Decimal(
            CqlDecimal::try_from(BigDecimal::from_str("3.140").unwrap()).unwrap()
        )),
        [Flat::Decimal("3.140".into())]
    );
    assert_eq!(
        flat(&CqlValue::Uuid(Uuid::nil())),
        [Flat::Uuid("00000000-0000-0000-0000-000000000000".into())]
    );
    assert_eq!(flat(&CqlValue::Empty), [Flat::Null]);
    let mut out = Vec::new();
    flatten(None, &mut out).unwrap();
    assert_eq!(out, [Flat::Null]);
}

#[test]
fn collections_flatten_depth_first_and_come_back() {
    let nested = CqlValue::Map(vec![(
        CqlValue::Text("a".into()),
        CqlValue::List(vec![CqlValue::Int(1), CqlValue::Int(2)]),
    )]);
    assert_eq!(
        flat(&nested),
        [
            Flat::Map(1),
            Flat::Text("a".into()),
            Flat::List(2),
            Flat::Int(1),
            Flat::Int(2)
        ]
    );
    let map_type = ColumnType::Collection {
        frozen: false,
        typ: CollectionType::Map(
            Box::new(native(NativeType::Text)),
            Box::new(ColumnType::Collection {
                frozen: true,
                typ: CollectionType::List(Box::new(native(NativeType::Int))),
            }),
        ),
    };
    assert_eq!(type_name(&map_type), "map<text, frozen<list<int>>>");
    round_trip(nested, map_type);
    let set_type = ColumnType::Collection {
        frozen: false,
        typ: CollectionType::Set(Box::new(native(NativeType::Text))),
    };
    round_trip(CqlValue::Set(vec![CqlValue::Text("x".into())]), set_type);
    round_trip(CqlValue::List(vec![]), list_of(native(NativeType::BigInt)));
}

#[test]
fn tuples_vectors_and_user_defined_types() {
    let tuple_type = ColumnType::Tuple(vec![native(NativeType::Int), native(NativeType::Text)]);
    assert_eq!(type_name(&tuple_type), "tuple<int, text>");
    round_trip(CqlValue::Tuple(vec![Some(CqlValue::Int(1)), None]), tuple_type.clone());
    let one = parse(vec![Flat::Tuple(1), Flat::Int(1)]).unwrap().remove(0);
    assert!(
        bind(one, &tuple_type)
            .unwrap_err()
            .contains("tuple<int, text> needs 2 values, not 1")
    );

    let vector_type = ColumnType::Vector {
        typ: Box::new(native(NativeType::Float)),
        dimensions: 3,
    };
    assert_eq!(type_name(&vector_type), "vector<float, 3>");
    round_trip(
        CqlValue::Vector(vec![CqlValue::Float(1.0), CqlValue::Float(2.0), CqlValue::Float(3.0)]),
        vector_type.clone(),
    );
    let short = parse(vec![Flat::Vector(1), Flat::Float(1.0)]).unwrap().remove(0);
    assert!(bind(short, &vector_type).unwrap_err().contains("needs 3 values, not 1"));

    let address = ColumnType::UserDefinedType {
        frozen: true,
        definition: Arc::new(UserDefinedType {
            name: Cow::Borrowed("address"),
            keyspace: Cow::Borrowed("ks"),
            field_types: vec![
                (Cow::Borrowed("street"), native(NativeType::Text)),
                (Cow::Borrowed("zip"), native(NativeType::Int)),
            ],
        }),
    };
    assert_eq!(type_name(&address), "frozen<address>");
    round_trip(
        CqlValue::UserDefinedType {
            keyspace: "ks".into(),
            name: "address".into(),
            fields: vec![
                ("street".into(), Some(CqlValue::Text("Main".into()))),
                ("zip".into(), None),
            ],
        },
        address.clone(),
    );
    // A job may name fields in any order, and leave some out.
    let given = parse(vec![
        Flat::Udt {
            keyspace: String::new(),
            name: "address".into(),
            fields: vec!["zip".into()],
        },
        Flat::BigInt(12345),
    ])
    .unwrap()
    .remove(0);
    assert_eq!(
        bind(given, &address).unwrap(),
        Some(CqlValue::UserDefinedType {
            keyspace: "ks".into(),
            name: "address".into(),
            fields: vec![("street".into(), None), ("zip".into(), Some(CqlValue::Int(12345)))],
        })
    );
    let unknown = parse(vec![
        Flat::Udt {
            keyspace: String::new(),
            name: "address".into(),
            fields: vec!["city".into()],
        },
        Flat::Text("x".into()),
    ])
    .unwrap()
    .remove(0);
    assert_eq!(bind(unknown, &address).unwrap_err(), "type address has no field 'city'");
}

fn bind_one(value: Flat, typ: NativeType) -> Result<Option<CqlValue>, String> {
    bind(parse(vec![value]).unwrap().remove(0), &native(typ))
}

#[test]
fn values_are_converted_to_the_column_type_where_nothing_is_lost() {
    use NativeType as N;
    assert_eq!(bind_one(Flat::Int(5), N::BigInt), Ok(Some(CqlValue::BigInt(5))));
    assert_eq!(bind_one(Flat::BigInt(5), N::Int), Ok(Some(CqlValue::Int(5))));
    assert_eq!(
        bind_one(Flat::BigInt(5), N::Counter),
        Ok(Some(CqlValue::Counter(Counter(5))))
    );
    assert_eq!(bind_one(Flat::BigInt(3), N::Double), Ok(Some(CqlValue::Double(3.0))));
    assert_eq!(bind_one(Flat::Double(0.5), N::Float), Ok(Some(CqlValue::Float(0.5))));
    assert_eq!(bind_one(Flat::Float(0.5), N::Double), Ok(Some(CqlValue::Double(0.5))));
    assert_eq!(
        bind_one(Flat::Text("550e8400-e29b-41d4-a716-446655440000".into()), N::Uuid),
        Ok(Some(CqlValue::Uuid(
            Uuid::parse_str("550e8400-e29b-41d4-a716-446655440000").unwrap()
        )))
    );
    assert_eq!(
        bind_one(Flat::Text("10.1.2.3".into()), N::Inet),
        Ok(Some(CqlValue::Inet("10.1.2.3".parse().unwrap())))
    );
    assert_eq!(bind_one(Flat::Varint("77".into()), N::Int), Ok(Some(CqlValue::Int(77))));
    assert_eq!(
        bind_one(Flat::BigInt(9), N::Varint),
        Ok(Some(CqlValue::Varint(CqlVarint::from(BigInt::from(9)))))
    );
    assert_eq!(
        bind_one(Flat::BigInt(1000), N::Timestamp),
        Ok(Some(CqlValue::Timestamp(CqlTimestamp(1000))))
    );
    assert_eq!(
        bind_one(Flat::Ascii("a".into()), N::Text),
        Ok(Some(CqlValue::Text("a".into())))
    );
    assert_eq!(bind_one(Flat::Null, N::Int), Ok(None));
}

#[test]
fn values_that_would_lose_something_are_refused_with_a_reason() {
    use NativeType as N;
    assert_eq!(
        bind_one(Flat::BigInt(300), N::TinyInt).unwrap_err(),
        "300 is out of range for a tinyint"
    );
    assert_eq!(
        bind_one(Flat::Double(0.1), N::Float).unwrap_err(),
        "0.1 cannot be stored exactly in a float"
    );
    assert_eq!(
        bind_one(Flat::BigInt(i64::MAX), N::Double).unwrap_err(),
        "9223372036854775807 cannot be stored exactly in a double"
    );
    assert_eq!(
        bind_one(Flat::Text("x".into()), N::Int).unwrap_err(),
        "text cannot be stored in a column of type int"
    );
    assert_eq!(
        bind_one(Flat::Text("nope".into()), N::Uuid).unwrap_err(),
        "'nope' is not a UUID"
    );
    assert!(
        bind_one(Flat::Text("550e8400-e29b-41d4-a716-446655440000".into()), N::Timeuuid)
            .unwrap_err()
            .contains("not a time-based")
    );
    assert_eq!(
        bind_one(Flat::Text("é".into()), N::Ascii).unwrap_err(),
        "'é' is not ASCII text"
    );
    assert_eq!(
        bind_one(Flat::Time(-1), N::Time).unwrap_err(),
        "-1 ns is not a time of day"
    );
    assert_eq!(
        bind_one(Flat::Double(1.0), N::BigInt).unwrap_err(),
        "a floating-point number cannot be stored in a column of type bigint"
    );
    let nulls = parse(vec![Flat::List(1), Flat::Null]).unwrap().remove(0);
    assert_eq!(
        bind(nulls, &list_of(native(N::Int))).unwrap_err(),
        "a collection cannot hold null"
    );
}

#[test]
fn flat_lists_are_checked_while_parsing() {
    assert_eq!(
        parse(vec![Flat::List(2), Flat::Int(1)]).unwrap_err(),
        "a collection says it has 2 values but the list ends after 1"
    );
    let deep: Vec<Flat> = std::iter::repeat_n(Flat::List(1), MAX_DEPTH + 1)
        .chain([Flat::Int(1)])
        .collect();
    assert!(parse(deep).unwrap_err().contains("nested more than 32"));
    let three = parse(vec![
        Flat::Int(1),
        Flat::Map(1),
        Flat::Text("k".into()),
        Flat::Null,
        Flat::Null,
    ])
    .unwrap();
    assert_eq!(three.len(), 3);
    assert_eq!(three[1].children.len(), 2);
}

#[test]
fn numbers_too_long_to_convert_quickly_are_refused() {
    let digits = "9".repeat(MAX_NUMBER_DIGITS + 10);
    assert!(
        bind_one(Flat::Varint(digits.clone()), NativeType::Varint)
            .unwrap_err()
            .contains("more than 10000 digits")
    );
    assert!(
        bind_one(Flat::Decimal(digits.clone()), NativeType::Decimal)
            .unwrap_err()
            .contains("more than 10000 digits")
    );
    let huge = CqlValue::Varint(CqlVarint::from_signed_bytes_be(vec![1; MAX_NUMBER_BYTES + 1]));
    assert!(flatten(Some(&huge), &mut Vec::new()).unwrap_err().contains("varint"));
    let fine = "9".repeat(1000);
    assert!(bind_one(Flat::Varint(fine), NativeType::Varint).is_ok());
}

#[test]
fn decimals_with_huge_exponents_stay_short() {
    let tiny = CqlValue::Decimal(CqlDecimal::from_signed_be_bytes_and_exponent(vec![1], 100_000_000));
    let flat = flat(&tiny);
    assert!(
        matches!(&flat[..], [Flat::Decimal(text)] if text.len() < 40),
        "{flat:?}"
    );
    assert!(bind_one(Flat::Decimal("1e-100000000".into()), NativeType::Decimal).is_ok());
}
