//! Flattening and rebuilding values, case by case, and the bounds on both.

use super::*;

fn every_scalar() -> Vec<CqlValue> {
    vec![
        CqlValue::Null,
        CqlValue::Boolean(true),
        CqlValue::TinyInt(-8),
        CqlValue::SmallInt(-16),
        CqlValue::Int(-32),
        CqlValue::BigInt(i64::MIN),
        CqlValue::Counter(7),
        CqlValue::Varint("-123456789012345678901234567890".into()),
        CqlValue::Float(1.5),
        CqlValue::Double(-2.25),
        CqlValue::Decimal("-12.50".into()),
        CqlValue::Ascii("ascii".into()),
        CqlValue::Text("tëxt".into()),
        CqlValue::Blob(vec![0, 1, 255]),
        CqlValue::Uuid("550e8400-e29b-41d4-a716-446655440000".into()),
        CqlValue::Timeuuid("e7a6b1a0-0f5b-11ef-8000-000000000000".into()),
        CqlValue::Inet("::1".into()),
        CqlValue::Date(-1),
        CqlValue::Time(86_399_999_999_999),
        CqlValue::Timestamp(1_767_225_600_000),
        CqlValue::Duration {
            months: 1,
            days: 2,
            nanoseconds: 3,
        },
    ]
}

fn round_trip(values: &[CqlValue]) -> Vec<CqlValue> {
    unflatten(flatten(values).unwrap()).unwrap()
}

#[test]
fn every_scalar_goes_there_and_back() {
    let scalars = every_scalar();
    let flat = flatten(&scalars).unwrap();
    assert_eq!(flat.len(), scalars.len(), "a scalar is one flat value");
    assert_eq!(unflatten(flat).unwrap(), scalars);
}

#[test]
fn every_collection_goes_there_and_back() {
    let values = vec![
        CqlValue::List(every_scalar()),
        CqlValue::Set(vec![CqlValue::Int(1), CqlValue::Int(2)]),
        CqlValue::Map(vec![
            (CqlValue::Text("a".into()), CqlValue::List(vec![CqlValue::Int(1)])),
            (CqlValue::Text("b".into()), CqlValue::Null),
        ]),
        CqlValue::Tuple(vec![CqlValue::Int(1), CqlValue::Null, CqlValue::Text("x".into())]),
        CqlValue::Vector(vec![CqlValue::Float(0.5), CqlValue::Float(1.0)]),
        CqlValue::Udt {
            keyspace: "ks".into(),
            name: "address".into(),
            fields: vec![
                ("street".into(), CqlValue::Text("Main".into())),
                ("zip".into(), CqlValue::Null),
                ("tags".into(), CqlValue::Set(vec![CqlValue::Text("home".into())])),
            ],
        },
        CqlValue::List(vec![]),
        CqlValue::Map(vec![]),
        CqlValue::Int(9),
    ];
    assert_eq!(round_trip(&values), values);
}

#[test]
fn collections_flatten_as_the_wit_says() {
    let map = CqlValue::Map(vec![
        (
            CqlValue::Text("a".into()),
            CqlValue::List(vec![CqlValue::Int(1), CqlValue::Int(2)]),
        ),
        (CqlValue::Text("b".into()), CqlValue::List(vec![])),
    ]);
    assert_eq!(
        flatten(&[map, CqlValue::Int(3)]).unwrap(),
        vec![
            Flat::Map(2),
            Flat::Text("a".into()),
            Flat::List(2),
            Flat::Int(1),
            Flat::Int(2),
            Flat::Text("b".into()),
            Flat::List(0),
            Flat::Int(3),
        ]
    );
    let udt = CqlValue::Udt {
        keyspace: "ks".into(),
        name: "t".into(),
        fields: vec![("f".into(), CqlValue::Boolean(false))],
    };
    assert_eq!(
        flatten(&[udt]).unwrap(),
        vec![
            Flat::Udt(UdtHeader {
                keyspace: "ks".into(),
                name: "t".into(),
                fields: vec!["f".into()],
            }),
            Flat::Boolean(false),
        ]
    );
}

fn nested(depth: usize) -> CqlValue {
    (0..depth).fold(CqlValue::Int(1), |inner, _| CqlValue::List(vec![inner]))
}

#[test]
fn nesting_is_bounded_both_ways() {
    let deepest = nested(MAX_DEPTH);
    assert_eq!(round_trip(std::slice::from_ref(&deepest)), vec![deepest]);

    let too_deep = nested(MAX_DEPTH + 1);
    let expected = format!("values are nested more than {MAX_DEPTH} collections deep");
    assert_eq!(flatten(&[too_deep]), Err(Error::InvalidRequest(expected.clone())));

    let mut flat = vec![Flat::List(1); MAX_DEPTH + 1];
    flat.push(Flat::Int(1));
    assert_eq!(unflatten(flat), Err(expected));
}

#[test]
fn empty_collections_may_sit_at_the_deepest_level() {
    let value = (0..MAX_DEPTH).fold(CqlValue::Map(vec![]), |inner, _| CqlValue::List(vec![inner]));
    assert_eq!(round_trip(std::slice::from_ref(&value)), vec![value]);
}

#[test]
fn malformed_flat_lists_are_refused_without_allocating_their_claims() {
    let error = unflatten(vec![Flat::List(u32::MAX), Flat::Int(1)]).unwrap_err();
    assert_eq!(error, "a collection claims 4294967295 values but only 1 follow");
    let error = unflatten(vec![Flat::Map(u32::MAX)]).unwrap_err();
    assert_eq!(error, "a collection claims 8589934590 values but only 0 follow");
    let error = unflatten(vec![Flat::Map(1), Flat::Int(1)]).unwrap_err();
    assert_eq!(error, "a collection claims 2 values but only 1 follow");
    let udt = Flat::Udt(UdtHeader {
        keyspace: "ks".into(),
        name: "t".into(),
        fields: vec!["a".into(), "b".into()],
    });
    assert!(unflatten(vec![udt, Flat::Null]).is_err());
    assert_eq!(unflatten(vec![]), Ok(vec![]));
}

#[test]
fn rust_values_convert() {
    use std::collections::{BTreeMap, BTreeSet, HashMap};

    assert_eq!(CqlValue::from(true), CqlValue::Boolean(true));
    assert_eq!(CqlValue::from(1i8), CqlValue::TinyInt(1));
    assert_eq!(CqlValue::from(1i16), CqlValue::SmallInt(1));
    assert_eq!(CqlValue::from(1), CqlValue::Int(1));
    assert_eq!(CqlValue::from(1i64), CqlValue::BigInt(1));
    assert_eq!(CqlValue::from(1.5f32), CqlValue::Float(1.5));
    assert_eq!(CqlValue::from(1.5), CqlValue::Double(1.5));
    assert_eq!(CqlValue::from("a"), CqlValue::Text("a".into()));
    assert_eq!(CqlValue::from(String::from("a")), CqlValue::Text("a".into()));
    assert_eq!(CqlValue::from(&String::from("a")), CqlValue::Text("a".into()));
    assert_eq!(CqlValue::from(vec![1u8, 2]), CqlValue::Blob(vec![1, 2]));
    assert_eq!(CqlValue::from(&[1u8][..]), CqlValue::Blob(vec![1]));
    assert_eq!(CqlValue::from(None::<i32>), CqlValue::Null);
    assert_eq!(CqlValue::from(Some("a")), CqlValue::Text("a".into()));
    assert_eq!(
        CqlValue::from(vec![1i64, 2]),
        CqlValue::List(vec![CqlValue::BigInt(1), CqlValue::BigInt(2)])
    );
    assert_eq!(
        CqlValue::from(BTreeSet::from(["b", "a"])),
        CqlValue::Set(vec![CqlValue::Text("a".into()), CqlValue::Text("b".into())])
    );
    assert_eq!(
        CqlValue::from(BTreeMap::from([("a", vec![Some(1)]), ("b", vec![None])])),
        CqlValue::Map(vec![
            (CqlValue::Text("a".into()), CqlValue::List(vec![CqlValue::Int(1)])),
            (CqlValue::Text("b".into()), CqlValue::List(vec![CqlValue::Null])),
        ])
    );
    assert_eq!(
        CqlValue::from(HashMap::from([(1, 2.0)])),
        CqlValue::Map(vec![(CqlValue::Int(1), CqlValue::Double(2.0))])
    );
}

#[test]
fn kinds_are_named_as_cql_names_them() {
    assert_eq!(CqlValue::BigInt(1).kind(), "bigint");
    assert_eq!(CqlValue::Map(vec![]).kind(), "map");
    assert_eq!(CqlValue::Null.kind(), "null");
}
