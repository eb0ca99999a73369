//! Which settings a thread's choice and the environment come to; the
//! environment is a map here, so these tests do not depend on the machine's.

use std::collections::HashMap;

use super::*;

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| vars.get(name).cloned()
}

fn message(unavailable: Unavailable) -> (&'static str, String) {
    match unavailable {
        Unavailable::PermissionDenied(m) => ("permission-denied", m),
        Unavailable::InvalidRequest(m) => ("invalid-request", m),
        Unavailable::Other(m) => ("other", m),
    }
}

#[test]
fn without_a_cluster_calls_are_denied_with_directions() {
    let (kind, text) = message(kafka_settings(&Choice::Environment, &env(&[])).unwrap_err());
    assert_eq!(kind, "permission-denied");
    assert!(
        text.contains("testing::use_kafka") && text.contains("JOBSERVER_KAFKA_BROKERS"),
        "{text}"
    );

    let (kind, text) = message(cassandra_settings(&Choice::Environment, &env(&[])).unwrap_err());
    assert_eq!(kind, "permission-denied");
    assert!(
        text.contains("testing::use_cassandra") && text.contains("JOBSERVER_CASSANDRA_NODES"),
        "{text}"
    );
}

#[test]
fn the_environment_names_the_clusters() {
    let vars = env(&[
        ("JOBSERVER_KAFKA_BROKERS", "k1:9092,k2:9092"),
        ("JOBSERVER_KAFKA_TIMEOUT", "500ms"),
        ("JOBSERVER_CASSANDRA_NODES", " c1:9042, c2:9042 "),
        ("JOBSERVER_CASSANDRA_KEYSPACE", "ks"),
        ("JOBSERVER_CASSANDRA_USERNAME", "user"),
        ("JOBSERVER_CASSANDRA_PASSWORD", "pw"),
        ("JOBSERVER_CASSANDRA_CONSISTENCY", "one"),
        ("JOBSERVER_CASSANDRA_TIMEOUT", "2m"),
    ]);
    let kafka = kafka_settings(&Choice::Environment, &vars).ok().unwrap();
    assert_eq!(
        (kafka.brokers.as_str(), kafka.timeout),
        ("k1:9092,k2:9092", Duration::from_millis(500))
    );
    let cassandra = cassandra_settings(&Choice::Environment, &vars).ok().unwrap();
    assert_eq!(cassandra.nodes, ["c1:9042", "c2:9042"]);
    assert_eq!(cassandra.keyspace.as_deref(), Some("ks"));
    assert_eq!(
        (cassandra.username.as_deref(), cassandra.password.as_deref()),
        (Some("user"), Some("pw"))
    );
    assert_eq!(
        cassandra.consistency,
        Some(jobserver_connectors::cassandra::parse_consistency("ONE").unwrap())
    );
    assert_eq!(cassandra.timeout, Duration::from_secs(120));
}

#[test]
fn a_test_choice_beats_the_environment() {
    let vars = env(&[
        ("JOBSERVER_KAFKA_BROKERS", "env:1"),
        ("JOBSERVER_CASSANDRA_NODES", "env:2"),
    ]);
    let kafka = kafka_settings(&Choice::Use("test:1".into()), &vars).ok().unwrap();
    assert_eq!((kafka.brokers.as_str(), kafka.timeout), ("test:1", DEFAULT_TIMEOUT));
    let cluster = CassandraCluster {
        keyspace: Some("mine".into()),
        ..CassandraCluster::new("test:2")
    };
    let cassandra = cassandra_settings(&Choice::Use(cluster), &vars).ok().unwrap();
    assert_eq!(
        (cassandra.nodes, cassandra.keyspace),
        (vec!["test:2".to_owned()], Some("mine".to_owned()))
    );

    let (kind, text) = message(kafka_settings(&Choice::Refuse, &vars).unwrap_err());
    assert_eq!(kind, "permission-denied");
    assert!(text.contains("refuse_kafka"), "{text}");
    let (kind, _) = message(cassandra_settings(&Choice::Refuse, &vars).unwrap_err());
    assert_eq!(kind, "permission-denied");
}

#[test]
fn bad_settings_are_invalid_requests_naming_the_variable() {
    let vars = env(&[
        ("JOBSERVER_KAFKA_BROKERS", "k:1"),
        ("JOBSERVER_KAFKA_TIMEOUT", "soon"),
        ("JOBSERVER_CASSANDRA_NODES", "c:1"),
        ("JOBSERVER_CASSANDRA_CONSISTENCY", "most"),
    ]);
    let (kind, text) = message(kafka_settings(&Choice::Environment, &vars).unwrap_err());
    assert_eq!(kind, "invalid-request");
    assert!(
        text.starts_with("JOBSERVER_KAFKA_TIMEOUT: 'soon' is not a duration"),
        "{text}"
    );
    let (kind, text) = message(cassandra_settings(&Choice::Environment, &vars).unwrap_err());
    assert_eq!(kind, "invalid-request");
    assert!(text.starts_with("JOBSERVER_CASSANDRA_CONSISTENCY: 'most'"), "{text}");
}

#[test]
fn durations_as_the_server_writes_them() {
    assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
    assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
    assert_eq!(parse_duration(" 250 ms "), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
    assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
    assert_eq!(parse_duration("1.5s"), None);
    assert_eq!(parse_duration("s"), None);
    assert_eq!(parse_duration("99999999999999999999"), None);
    assert_eq!(parse_duration("18446744073709551615h"), None);
}

#[test]
fn open_handles_are_bounded_as_in_the_server() {
    let runtime = &mut None;
    let connected = connected(runtime, ()).ok().unwrap();
    let slots: Vec<HandleSlot> = (0..MAX_OPEN_HANDLES)
        .map(|_| connected.reserve_handle("things").ok().unwrap())
        .collect();
    let refused = connected.reserve_handle("things").err().unwrap();
    assert_eq!(
        refused,
        "a job may hold at most 64 things open at once; drop some first"
    );
    drop(slots);
    assert!(
        connected.reserve_handle("things").is_ok(),
        "dropped handles are given back"
    );
}

#[test]
fn calls_block_on_the_runtime_even_inside_another() {
    let connected = connected(&mut None, ()).ok().unwrap();
    assert_eq!(connected.block_on(async { 1 }), 1);
    let outer = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(outer.block_on(async { connected.block_on(async { 2 }) }), 2);
}
