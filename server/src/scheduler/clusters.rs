//! Which Kafka and Cassandra a context's jobs reach: the server's defaults,
//! overridden by the context's own settings (`kafka.brokers`,
//! `cassandra.nodes`, ...) or turned off (`kafka.enabled = false`). The
//! clients are made once per context and shared by its jobs; they connect at
//! the first use and close when the last job holding them lets go of a
//! deleted context.
//!
//! A context that names brokers or nodes of its own inherits none of the
//! server's credentials or client options: they were given for the server's
//! clusters, and must not be sent to any host a client names.

use crate::config::{ClusterDefaults, KafkaOptions, Secret, flatten_options, nodes_of};
use crate::runtime::Grant;
use crate::units::HumanDuration;
use jobserver_connectors::cassandra::{Cassandra, CassandraSettings, parse_consistency};
use jobserver_connectors::kafka::{Kafka, KafkaSettings};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The keys a context may set, besides `kafka.options.<option>`.
pub const CLUSTER_KEYS: [&str; 11] = [
    "kafka.enabled",
    "kafka.brokers",
    "kafka.timeout",
    "cassandra.enabled",
    "cassandra.nodes",
    "cassandra.keyspace",
    "cassandra.username",
    "cassandra.password",
    "cassandra.consistency",
    "cassandra.timeout",
    "kafka.options",
];

/// The longest a context may let one Kafka or Cassandra request take.
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// A context's own cluster settings, as given (and stored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct ClusterOverrides {
    pub kafka: KafkaOverrides,
    pub cassandra: CassandraOverrides,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct KafkaOverrides {
    pub enabled: Option<bool>,
    pub brokers: Option<String>,
    pub options: KafkaOptions,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct CassandraOverrides {
    pub enabled: Option<bool>,
    pub nodes: Option<Vec<String>>,
    pub keyspace: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub consistency: Option<String>,
    pub timeout_ms: Option<u64>,
}

/// The librdkafka options a context may set: how to log in, and tuning.
/// Others are for the server's own configuration only: they load code
/// (`plugin.library.paths`), read the server's files (`ssl.ca.location`
/// and the other `*.location`s), run commands (`sasl.kerberos.kinit.cmd`) or
/// point the clients elsewhere (`bootstrap.servers`, `metadata.broker.list`:
/// a context names its brokers with `kafka.brokers`).
const CONTEXT_KAFKA_OPTIONS: [&str; 56] = [
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "sasl.oauthbearer.method",
    "sasl.oauthbearer.client.id",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.scope",
    "sasl.oauthbearer.extensions",
    "sasl.oauthbearer.token.endpoint.url",
    "sasl.oauthbearer.config",
    "ssl.ca.pem",
    "ssl.certificate.pem",
    "ssl.key.pem",
    "ssl.key.password",
    "ssl.endpoint.identification.algorithm",
    "ssl.cipher.suites",
    "ssl.curves.list",
    "ssl.sigalgs.list",
    "enable.ssl.certificate.verification",
    "client.rack",
    "client.dns.lookup",
    "isolation.level",
    "check.crcs",
    "fetch.min.bytes",
    "max.partition.fetch.bytes",
    "fetch.error.backoff.ms",
    "acks",
    "request.required.acks",
    "compression.type",
    "compression.codec",
    "compression.level",
    "linger.ms",
    "queue.buffering.max.ms",
    "batch.size",
    "batch.num.messages",
    "enable.idempotence",
    "partitioner",
    "sticky.partitioning.linger.ms",
    "message.max.bytes",
    "request.timeout.ms",
    "retries",
    "message.send.max.retries",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "socket.keepalive.enable",
    "socket.nagle.disable",
    "socket.timeout.ms",
    "connections.max.idle.ms",
    "api.version.request",
    "api.version.request.timeout.ms",
    "broker.version.fallback",
    "topic.metadata.refresh.interval.ms",
];

/// Options that say how to connect and log in. A context on the server's
/// brokers inherits the server's login and may not change how it is sent.
fn is_connection_option(key: &str) -> bool {
    ["security.", "sasl.", "ssl.", "enable.ssl."]
        .iter()
        .any(|prefix| key.starts_with(prefix))
}

/// Options that size what the server holds for a context's reads and writes,
/// with the most a context may ask: librdkafka's own limits run to a GB.
const SIZE_OPTIONS: [(&str, u64); 4] = [
    ("message.max.bytes", 64 << 20),
    ("batch.size", 64 << 20),
    ("max.partition.fetch.bytes", 16 << 20),
    ("fetch.min.bytes", 16 << 20),
];

fn check_size_option(key: &str, value: &str) -> Result<(), String> {
    let Some(&(_, max)) = SIZE_OPTIONS.iter().find(|(name, _)| *name == key) else {
        return Ok(());
    };
    match value.trim().parse::<u64>() {
        Ok(size) if size <= max => Ok(()),
        _ => Err(format!("the Kafka option '{key}' takes a number of bytes up to {max}")),
    }
}

fn check_context_option(key: &str) -> Result<(), String> {
    if CONTEXT_KAFKA_OPTIONS.contains(&key) {
        return Ok(());
    }
    let hint = if key == "bootstrap.servers" || key == "metadata.broker.list" {
        ": a context names its brokers with kafka.brokers".to_string()
    } else {
        "; a context may set how to log in and tuning options, which the README lists; \
         the others are for the server's own configuration"
            .to_string()
    };
    Err(format!("the Kafka option '{key}' cannot be set by a context{hint}"))
}

/// Text settings: PostgreSQL keeps them, and it cannot hold NUL.
fn no_nul(key: &str, text: String) -> Result<String, String> {
    if text.contains('\0') {
        return Err(format!("context setting '{key}' must not contain the NUL character"));
    }
    Ok(text)
}

/// Whether a setting key belongs to the clusters.
pub fn is_cluster_key(key: &str) -> bool {
    ["kafka", "cassandra"]
        .iter()
        .any(|system| key == *system || key.strip_prefix(system).is_some_and(|rest| rest.starts_with('.')))
}

fn text(key: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => no_nul(key, text.trim().to_string()),
        Value::Number(number) => Ok(number.to_string()),
        other => Err(format!("context setting '{key}' must be text, not {other}")),
    }
}

fn flag(key: &str, value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(flag) => Ok(*flag),
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "on" | "yes" => Ok(true),
            "false" | "off" | "no" => Ok(false),
            _ => Err(format!("context setting '{key}' must be true or false, not '{text}'")),
        },
        other => Err(format!("context setting '{key}' must be true or false, not {other}")),
    }
}

fn timeout_ms(key: &str, value: &Value) -> Result<u64, String> {
    let duration: HumanDuration = text(key, value)?.parse().map_err(|error| format!("{key}: {error}"))?;
    if duration.0.is_zero() {
        return Err(format!("{key} must be longer than zero"));
    }
    if duration.0 > MAX_TIMEOUT {
        return Err(format!(
            "{key} must be at most 1h: a job's own time limit bounds a longer wait anyway"
        ));
    }
    Ok(duration.0.as_millis() as u64)
}

/// A keyspace is an identifier: CQL cannot bind it, so it is checked here.
fn keyspace_name(name: &str) -> Result<String, String> {
    let valid = name.len() <= 48
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(name.to_string())
    } else {
        Err(format!(
            "'{}' is not a Cassandra keyspace name: up to 48 letters, digits and _, starting with a letter",
            name.chars().take(60).collect::<String>()
        ))
    }
}

fn non_empty(key: &str, value: &Value) -> Result<String, String> {
    let text = text(key, value)?;
    if text.is_empty() {
        return Err(format!("context setting '{key}' must not be empty"));
    }
    Ok(text)
}

impl ClusterOverrides {
    /// Applies one `key = value` whose key [`is_cluster_key`]; objects under
    /// `kafka` and `cassandra` are expected flattened into dotted keys
    /// already, except `kafka.options`, whose keys contain dots themselves.
    pub fn apply(&mut self, key: &str, value: &Value) -> Result<(), String> {
        if let Some(option) = key
            .strip_prefix("kafka.options")
            .filter(|rest| rest.is_empty() || rest.starts_with('.'))
        {
            let mut options = BTreeMap::new();
            flatten_options(option.trim_start_matches('.'), value, &mut options)?;
            if options.contains_key("") {
                return Err(
                    "kafka.options takes options by name, such as kafka.options { \"security.protocol\" = SSL }".into(),
                );
            }
            for (key, value) in options {
                check_context_option(&key)?;
                let value = no_nul(&format!("kafka.options.{key}"), value)?;
                check_size_option(&key, &value)?;
                if self.kafka.options.0.insert(key.clone(), value).is_some() {
                    return Err(format!("context setting 'kafka.options.{key}' is given more than once"));
                }
            }
            return Ok(());
        }
        let (kafka, cassandra) = (&mut self.kafka, &mut self.cassandra);
        match key {
            "kafka.enabled" => kafka.enabled = Some(flag(key, value)?),
            "kafka.brokers" => kafka.brokers = Some(non_empty(key, value)?),
            "kafka.timeout" => kafka.timeout_ms = Some(timeout_ms(key, value)?),
            "cassandra.enabled" => cassandra.enabled = Some(flag(key, value)?),
            "cassandra.nodes" => {
                let nodes = nodes_of(value)?;
                if nodes.is_empty() {
                    return Err("cassandra.nodes names no node; give host:port".into());
                }
                cassandra.nodes = Some(nodes);
            }
            "cassandra.keyspace" => cassandra.keyspace = Some(keyspace_name(&non_empty(key, value)?)?),
            "cassandra.username" => cassandra.username = Some(non_empty(key, value)?),
            "cassandra.password" => cassandra.password = Some(Secret::new(text(key, value)?)),
            "cassandra.consistency" => {
                let level = non_empty(key, value)?;
                parse_consistency(&level)?;
                cassandra.consistency = Some(level);
            }
            "cassandra.timeout" => cassandra.timeout_ms = Some(timeout_ms(key, value)?),
            _ => {
                return Err(format!(
                    "unknown context setting '{key}'; the cluster settings are {} and kafka.options.<option>",
                    CLUSTER_KEYS[..10].join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// The clients a context's jobs are granted.
#[derive(Clone)]
pub struct Connections {
    pub kafka: Grant<Kafka>,
    pub cassandra: Grant<Cassandra>,
}

impl Connections {
    /// Neither cluster, for the reason given.
    pub fn refused(reason: &str) -> Connections {
        Connections {
            kafka: Grant::Refused(reason.to_string()),
            cassandra: Grant::Refused(reason.to_string()),
        }
    }

    /// Resolves `overrides` over `defaults` and makes the clients (nothing
    /// connects yet). `whose` names the jobs for messages: "context 'x'".
    /// Settings the clients refuse (an unknown librdkafka option) are the error.
    pub fn open(overrides: &ClusterOverrides, defaults: &ClusterDefaults, whose: &str) -> Result<Connections, String> {
        Ok(Connections {
            kafka: match kafka_settings(&overrides.kafka, defaults, whose)? {
                Grant::Granted(settings) => {
                    Grant::Granted(Kafka::new(settings).map_err(|error| format!("{whose}: {error}"))?)
                }
                Grant::Refused(reason) => Grant::Refused(reason),
            },
            cassandra: match cassandra_settings(&overrides.cassandra, defaults, whose)? {
                Grant::Granted(settings) => {
                    Grant::Granted(Cassandra::new(settings).map_err(|error| format!("{whose}: {error}"))?)
                }
                Grant::Refused(reason) => Grant::Refused(reason),
            },
        })
    }
}

fn kafka_settings(
    overrides: &KafkaOverrides,
    defaults: &ClusterDefaults,
    whose: &str,
) -> Result<Grant<KafkaSettings>, String> {
    let server = &defaults.kafka;
    if overrides.enabled == Some(false) {
        return Ok(Grant::Refused(format!(
            "Kafka is turned off for the jobs of {whose} (kafka.enabled = false)"
        )));
    }
    let (brokers, mut options) = match (&overrides.brokers, &server.brokers) {
        (Some(brokers), _) => (brokers.clone(), BTreeMap::new()),
        (None, Some(brokers)) => {
            if let Some(key) = overrides.options.0.keys().find(|key| is_connection_option(key)) {
                return Err(format!(
                    "the Kafka option '{key}' says how to connect and log in, which a context may set \
                     only for brokers of its own (kafka.brokers): {whose} uses the server's"
                ));
            }
            (brokers.clone(), server.options.0.clone())
        }
        (None, None) => {
            return Ok(Grant::Refused(format!(
                "no Kafka is configured for the jobs of {whose}: set kafka.brokers on the context, \
                 or JOBSERVER_KAFKA_BROKERS on the server"
            )));
        }
    };
    options.extend(overrides.options.0.clone());
    Ok(Grant::Granted(KafkaSettings {
        brokers,
        options,
        timeout: overrides.timeout_ms.map_or(server.timeout, Duration::from_millis),
    }))
}

fn cassandra_settings(
    overrides: &CassandraOverrides,
    defaults: &ClusterDefaults,
    whose: &str,
) -> Result<Grant<CassandraSettings>, String> {
    let server = &defaults.cassandra;
    if overrides.enabled == Some(false) {
        return Ok(Grant::Refused(format!(
            "Cassandra is turned off for the jobs of {whose} (cassandra.enabled = false)"
        )));
    }
    let (nodes, username, password) = match &overrides.nodes {
        Some(nodes) => (nodes.clone(), overrides.username.clone(), overrides.password.clone()),
        None if !server.nodes.is_empty() => (
            server.nodes.clone(),
            overrides.username.clone().or_else(|| server.username.clone()),
            overrides.password.clone().or_else(|| server.password.clone()),
        ),
        None => {
            return Ok(Grant::Refused(format!(
                "no Cassandra is configured for the jobs of {whose}: set cassandra.nodes on the context, \
                 or JOBSERVER_CASSANDRA_NODES on the server"
            )));
        }
    };
    let consistency = overrides
        .consistency
        .as_ref()
        .or(server.consistency.as_ref())
        .map(|level| parse_consistency(level))
        .transpose()?;
    Ok(Grant::Granted(CassandraSettings {
        nodes,
        keyspace: overrides.keyspace.clone().or_else(|| server.keyspace.clone()),
        username,
        password: password.map(|secret| secret.expose().to_string()),
        consistency,
        timeout: overrides.timeout_ms.map_or(server.timeout, Duration::from_millis),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaults() -> ClusterDefaults {
        let mut defaults = ClusterDefaults::default();
        defaults.kafka.brokers = Some("server:9092".into());
        defaults.kafka.options = KafkaOptions(BTreeMap::from([("sasl.password".into(), "server-secret".into())]));
        defaults.cassandra.nodes = vec!["server:9042".into()];
        defaults.cassandra.username = Some("server".into());
        defaults.cassandra.password = Some(Secret::new("server-password"));
        defaults.cassandra.keyspace = Some("analytics".into());
        defaults
    }

    fn overrides(pairs: &[(&str, Value)]) -> Result<ClusterOverrides, String> {
        let mut overrides = ClusterOverrides::default();
        for (key, value) in pairs {
            overrides.apply(key, value)?;
        }
        Ok(overrides)
    }

    #[test]
    fn contexts_inherit_the_servers_clusters_with_their_credentials() {
        let kafka = kafka_settings(&KafkaOverrides::default(), &defaults(), "context 'c'").unwrap();
        let Grant::Granted(kafka) = kafka else { panic!() };
        assert_eq!(kafka.brokers, "server:9092");
        assert_eq!(kafka.options["sasl.password"], "server-secret");
        let Grant::Granted(cassandra) = cassandra_settings(&CassandraOverrides::default(), &defaults(), "c").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (cassandra.username.as_deref(), cassandra.password.as_deref()),
            (Some("server"), Some("server-password"))
        );
    }

    #[test]
    fn a_context_with_clusters_of_its_own_gets_none_of_the_servers_credentials() {
        let own = overrides(&[
            ("kafka.brokers", json!("mine:9092")),
            ("kafka.options.security.protocol", json!("SSL")),
            ("cassandra.nodes", json!(["mine:9042"])),
        ])
        .unwrap();
        let Grant::Granted(kafka) = kafka_settings(&own.kafka, &defaults(), "c").unwrap() else {
            panic!()
        };
        assert_eq!(kafka.brokers, "mine:9092");
        assert_eq!(
            kafka.options,
            BTreeMap::from([("security.protocol".into(), "SSL".into())])
        );
        let Grant::Granted(cassandra) = cassandra_settings(&own.cassandra, &defaults(), "c").unwrap() else {
            panic!()
        };
        assert_eq!((cassandra.username, cassandra.password), (None, None));
        assert_eq!(
            cassandra.keyspace.as_deref(),
            Some("analytics"),
            "a keyspace is no secret"
        );
    }

    #[test]
    fn clusters_can_be_turned_off_or_be_missing() {
        let off = overrides(&[("kafka.enabled", json!("off")), ("cassandra.enabled", json!(false))]).unwrap();
        let Grant::Refused(reason) = kafka_settings(&off.kafka, &defaults(), "context 'c'").unwrap() else {
            panic!()
        };
        assert!(reason.contains("turned off for the jobs of context 'c'"), "{reason}");
        let Grant::Refused(reason) = cassandra_settings(&off.cassandra, &defaults(), "c").unwrap() else {
            panic!()
        };
        assert!(reason.contains("cassandra.enabled = false"), "{reason}");
        let none = ClusterDefaults::default();
        let Grant::Refused(reason) = kafka_settings(&KafkaOverrides::default(), &none, "ad-hoc contexts").unwrap()
        else {
            panic!()
        };
        assert!(reason.contains("JOBSERVER_KAFKA_BROKERS"), "{reason}");
    }

    #[test]
    fn bad_cluster_settings_say_which_and_why() {
        let error = |pairs: &[(&str, Value)]| overrides(pairs).unwrap_err();
        assert!(error(&[("kafka.enabled", json!("maybe"))]).contains("must be true or false"));
        assert!(error(&[("kafka.brokers", json!(""))]).contains("must not be empty"));
        assert!(error(&[("kafka.timeout", json!("soon"))]).starts_with("kafka.timeout:"));
        assert!(error(&[("cassandra.consistency", json!("most"))]).contains("not a consistency level"));
        assert!(error(&[("cassandra.nodes", json!(""))]).contains("names no node"));
        assert!(error(&[("cassandra.replicas", json!(3))]).contains("unknown context setting 'cassandra.replicas'"));
        assert!(error(&[("kafka.options", json!("x"))]).contains("by name"));
        assert!(
            error(&[("kafka.options.no.such.option", json!(1))])
                .contains("'no.such.option' cannot be set by a context")
        );
        // Options that load code, read the server's files or point elsewhere are the server's alone.
        for option in [
            "plugin.library.paths",
            "ssl.ca.location",
            "sasl.kerberos.kinit.cmd",
            "metadata.broker.list",
        ] {
            let refused = error(&[(&format!("kafka.options.{option}"), json!("x"))]);
            assert!(refused.contains("cannot be set by a context"), "{option}: {refused}");
        }
        assert!(error(&[("kafka.options.bootstrap.servers", json!("x"))]).contains("kafka.brokers"));
        // What the server holds for a context's reads and writes stays bounded.
        assert!(error(&[("kafka.options.message.max.bytes", json!(1_000_000_000))]).contains("up to 67108864"));
        assert!(overrides(&[("kafka.options.max.partition.fetch.bytes", json!(1_048_576))]).is_ok());
        assert!(error(&[("cassandra.keyspace", json!("ks; DROP"))]).contains("not a Cassandra keyspace name"));
        assert!(error(&[("cassandra.username", json!("a\u{0}b"))]).contains("NUL"));
        assert!(
            error(&[
                ("kafka.options.client.rack", json!("a")),
                ("kafka.options", json!({"client.rack": "b"}))
            ])
            .contains("'kafka.options.client.rack' is given more than once")
        );
        // On the server's brokers, a context may tune but not change the login it inherits.
        let redirected = overrides(&[("kafka.options.security.protocol", json!("PLAINTEXT"))]).unwrap();
        let refused = Connections::open(&redirected, &defaults(), "context 'c'")
            .err()
            .unwrap();
        assert!(refused.contains("only for brokers of its own"), "{refused}");
        let tuned = overrides(&[("kafka.options.client.rack", json!("eu-1"))]).unwrap();
        assert!(Connections::open(&tuned, &defaults(), "context 'c'").is_ok());
        // A value librdkafka refuses is not repeated: it may be a password.
        let bad_value = overrides(&[
            ("kafka.brokers", json!("b:1")),
            ("kafka.options.acks", json!("s3cret-ish")),
        ])
        .unwrap();
        let refused = Connections::open(&bad_value, &defaults(), "context 'c'").err().unwrap();
        assert!(
            refused.contains("'acks'") && !refused.contains("s3cret-ish"),
            "{refused}"
        );
    }

    #[test]
    fn overrides_survive_storage_and_hide_the_password_in_logs() {
        let own = overrides(&[
            ("cassandra.password", json!("pw")),
            ("kafka.options.sasl.password", json!("k")),
        ])
        .unwrap();
        let stored = serde_json::to_value(&own).unwrap();
        assert_eq!(serde_json::from_value::<ClusterOverrides>(stored).unwrap(), own);
        let logged = format!("{own:?}");
        assert!(!logged.contains("pw") && !logged.contains("\"k\""), "{logged}");
    }
}
