//! The Cassandra connector against a real Cassandra node: statements with
//! bound values converted to their columns' types, every CQL type there and
//! back, paging, batches, and the errors jobs are told.

use jobserver_connectors::ErrorKind;
use jobserver_connectors::cassandra::{BatchKind, Cassandra, CassandraSettings, Flat, Page};
use jobserver_tests::systems::{CassandraNode, cassandra, fresh_keyspace};
use std::time::Duration;

fn settings(node: &CassandraNode, keyspace: Option<&str>) -> CassandraSettings {
    CassandraSettings {
        nodes: node.contact_points().iter().map(|p| p.to_string()).collect(),
        keyspace: keyspace.map(str::to_string),
        username: Some(node.username.clone()),
        password: Some(node.password.clone()),
        consistency: None,
        timeout: Duration::from_secs(20),
    }
}

/// A keyspace of its own on the test node, or `None` (and a note) without one.
async fn keyspace() -> Option<(&'static CassandraNode, String)> {
    let Some(node) = cassandra() else {
        eprintln!("skipped: this machine runs no Cassandra");
        return None;
    };
    Some((node, fresh_keyspace(node, "ks").await))
}

async fn all_pages(
    session: &jobserver_connectors::cassandra::Session,
    cql: &str,
    values: Vec<Flat>,
    size: u32,
) -> Vec<Page> {
    let mut pager = session.query(cql, values, size).await.unwrap();
    let mut pages = Vec::new();
    while let Some(page) = pager.next_page().await.unwrap() {
        pages.push(page);
    }
    pages
}

#[tokio::test]
async fn rows_are_written_with_bound_values_and_read_page_by_page() {
    let Some((node, keyspace)) = keyspace().await else {
        return;
    };
    let cassandra = Cassandra::new(settings(node, Some(&keyspace))).unwrap();
    let session = cassandra.session(None).await.unwrap();
    session
        .execute("CREATE TABLE words (word text PRIMARY KEY, count bigint)", vec![])
        .await
        .unwrap();
    for i in 0..10 {
        // An int for a bigint column: converted, nothing lost.
        session
            .execute(
                "INSERT INTO words (word, count) VALUES (?, ?)",
                vec![Flat::Text(format!("w{i}")), Flat::Int(i)],
            )
            .await
            .unwrap();
    }
    let pages = all_pages(&session, "SELECT word, count FROM words", vec![], 3).await;
    let rows: usize = pages.iter().map(|page| page.rows.len()).sum();
    assert_eq!(rows, 10);
    assert!(pages.len() >= 4, "10 rows 3 at a time: {} pages", pages.len());
    assert!(pages.iter().all(|page| page.rows.len() <= 3));
    assert_eq!(
        pages[0]
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.cql_type.as_str()))
            .collect::<Vec<_>>(),
        [("word", "text"), ("count", "bigint")]
    );
    let one = all_pages(
        &session,
        "SELECT count FROM words WHERE word = ?",
        vec![Flat::Text("w7".into())],
        0,
    )
    .await;
    assert_eq!(one[0].rows, [vec![Flat::BigInt(7)]]);

    // The same statement again is served from the context's cache of prepared statements.
    session
        .execute(
            "INSERT INTO words (word, count) VALUES (?, ?)",
            vec![Flat::Text("w7".into()), Flat::BigInt(70)],
        )
        .await
        .unwrap();
    // Sessions in another keyspace come from the same Cassandra.
    let other = cassandra.session(Some(&keyspace)).await.unwrap();
    let again = all_pages(&other, "SELECT count FROM words WHERE word = 'w7'", vec![], 0).await;
    assert_eq!(again[0].rows, [vec![Flat::BigInt(70)]]);
}

#[tokio::test]
async fn every_cql_type_goes_in_and_comes_back() {
    let Some((node, keyspace)) = keyspace().await else {
        return;
    };
    let cassandra = Cassandra::new(settings(node, Some(&keyspace))).unwrap();
    let session = cassandra.session(None).await.unwrap();
    session
        .execute("CREATE TYPE address (street text, zip int)", vec![])
        .await
        .unwrap();
    session
        .execute(
            "CREATE TABLE every (id int PRIMARY KEY, a ascii, b boolean, bl blob, d date, de decimal, \
             do double, du duration, f float, i inet, bi bigint, si smallint, ti tinyint, t text, \
             tm time, ts timestamp, tu timeuuid, u uuid, v varint, l list<int>, s set<text>, \
             m map<text, frozen<list<int>>>, tp tuple<int, text>, ad frozen<address>, ve vector<float, 3>)",
            vec![],
        )
        .await
        .unwrap();
    let row = vec![
        Flat::Int(1),
        Flat::Ascii("abc".into()),
        Flat::Boolean(true),
        Flat::Blob(vec![0, 1, 255]),
        Flat::Date(-1),
        Flat::Decimal("-12.50".into()),
        Flat::Double(2.5),
        Flat::Duration {
            months: 1,
            days: 2,
            nanoseconds: 3_000,
        },
        Flat::Float(1.25),
        Flat::Inet("::1".into()),
        Flat::BigInt(i64::MIN),
        Flat::SmallInt(-300),
        Flat::TinyInt(-3),
        Flat::Text("héllo".into()),
        Flat::Time(3_600_000_000_000),
        Flat::Timestamp(1_700_000_000_123),
        Flat::Timeuuid("8e14e760-7fa8-11eb-bc66-000000000001".into()),
        Flat::Uuid("550e8400-e29b-41d4-a716-446655440000".into()),
        Flat::Varint("123456789012345678901234567890".into()),
        Flat::List(2),
        Flat::Int(1),
        Flat::Int(2),
        Flat::Set(1),
        Flat::Text("x".into()),
        Flat::Map(1),
        Flat::Text("k".into()),
        Flat::List(1),
        Flat::Int(9),
        Flat::Tuple(2),
        Flat::Int(4),
        Flat::Null,
        Flat::Udt {
            keyspace: keyspace.clone(),
            name: "address".into(),
            fields: vec!["street".into(), "zip".into()],
        },
        Flat::Text("Main".into()),
        Flat::Int(12345),
        Flat::Vector(3),
        Flat::Float(1.0),
        Flat::Float(2.0),
        Flat::Float(3.0),
    ];
    let columns = "id, a, b, bl, d, de, do, du, f, i, bi, si, ti, t, tm, ts, tu, u, v, l, s, m, tp, ad, ve";
    let markers = vec!["?"; 25].join(", ");
    session
        .execute(
            &format!("INSERT INTO every ({columns}) VALUES ({markers})"),
            row.clone(),
        )
        .await
        .unwrap();
    let pages = all_pages(
        &session,
        &format!("SELECT {columns} FROM every WHERE id = 1"),
        vec![],
        0,
    )
    .await;
    assert_eq!(pages[0].rows.len(), 1);
    assert_eq!(pages[0].rows[0], row);
    let types: Vec<&str> = pages[0].columns.iter().map(|c| c.cql_type.as_str()).collect();
    // The protocol's type metadata does not say what is frozen.
    assert_eq!(types[21], "map<text, list<int>>");
    assert_eq!(types[23], "address");
}

#[tokio::test]
async fn batches_and_counters() {
    let Some((node, keyspace)) = keyspace().await else {
        return;
    };
    let cassandra = Cassandra::new(settings(node, Some(&keyspace))).unwrap();
    let session = cassandra.session(None).await.unwrap();
    session
        .execute(
            "CREATE TABLE precip (wsid text, day int, total counter, PRIMARY KEY (wsid, day))",
            vec![],
        )
        .await
        .unwrap();
    let add = "UPDATE precip SET total = total + ? WHERE wsid = ? AND day = ?";
    let statements = (0..5)
        .map(|i| {
            (
                add.to_string(),
                vec![Flat::BigInt(i + 1), Flat::Text("s1".into()), Flat::Int(i as i32 % 2)],
            )
        })
        .collect();
    session.batch(BatchKind::Counter, statements).await.unwrap();
    let pages = all_pages(&session, "SELECT day, total FROM precip WHERE wsid = 's1'", vec![], 0).await;
    assert_eq!(
        pages[0].rows,
        [
            vec![Flat::Int(0), Flat::Counter(9)],
            vec![Flat::Int(1), Flat::Counter(6)]
        ]
    );
}

#[tokio::test]
async fn errors_say_what_is_wrong_and_of_which_kind() {
    let Some((node, keyspace)) = keyspace().await else {
        return;
    };
    let cassandra = Cassandra::new(settings(node, Some(&keyspace))).unwrap();
    let session = cassandra.session(None).await.unwrap();
    let kind_and_message = |result: Result<(), jobserver_connectors::Error>| {
        let error = result.unwrap_err();
        (error.kind, error.message)
    };
    let (kind, message) = kind_and_message(session.execute("SELEC nonsense", vec![]).await);
    assert_eq!(kind, ErrorKind::InvalidRequest, "{message}");
    let (kind, message) = kind_and_message(session.execute("SELECT * FROM nope", vec![]).await);
    assert_eq!(kind, ErrorKind::NotFound, "{message}");
    assert!(message.contains("nope"), "{message}");
    session
        .execute("CREATE TABLE t (k int PRIMARY KEY, v text)", vec![])
        .await
        .unwrap();
    let (kind, message) = kind_and_message(
        session
            .execute("INSERT INTO t (k, v) VALUES (?, ?)", vec![Flat::Int(1)])
            .await,
    );
    assert_eq!(kind, ErrorKind::InvalidRequest);
    assert!(
        message.contains("has 2 bind markers (?) but 1 values were given"),
        "{message}"
    );
    let (kind, message) = kind_and_message(
        session
            .execute(
                "INSERT INTO t (k, v) VALUES (?, ?)",
                vec![Flat::Text("one".into()), Flat::Text("x".into())],
            )
            .await,
    );
    assert_eq!(kind, ErrorKind::InvalidRequest);
    assert!(
        message.contains("value 1 (for k)") && message.contains("text cannot be stored in a column of type int"),
        "{message}"
    );

    let error = cassandra.session(Some("no_such_keyspace")).await.err().unwrap();
    assert_eq!(error.kind, ErrorKind::NotFound, "{error}");

    let wrong = Cassandra::new(CassandraSettings {
        password: Some("wrong".into()),
        ..settings(node, None)
    })
    .unwrap();
    let error = wrong.session(None).await.err().unwrap();
    assert_eq!(error.kind, ErrorKind::PermissionDenied, "{error}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = Cassandra::new(CassandraSettings {
        nodes: vec![format!("127.0.0.1:{port}")],
        timeout: Duration::from_secs(2),
        ..settings(node, None)
    })
    .unwrap();
    let error = nowhere.session(None).await.err().unwrap();
    assert_eq!(error.kind, ErrorKind::Unreachable, "{error}");
    assert!(error.message.contains(&format!("127.0.0.1:{port}")), "{error}");
}
