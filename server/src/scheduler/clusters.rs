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

/// Whether a setting key belongs to the clusters.
pub fn is_cluster_key(key: &str) -> bool {
    ["kafka", "cassandra"]
        .iter()
        .any(|system| key == *system || key.strip_prefix(system).is_some_and(|rest| rest.starts_with('.')))
}

fn text(key: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.trim().to_string()),
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
        return Err(format!("{key} must be at most 1h: a job's own time limit bounds a longer wait anyway"));
    }
    Ok(duration.0.as_millis() as u64)
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
                return Err("kafka.options takes options by name, such as kafka.options { \"security.protocol\" = SSL }".into());
            }
            self.kafka.options.0.extend(options);
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
            "cassandra.keyspace" => cassandra.keyspace = Some(non_empty(key, value)?),
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
            kafka: match kafka_settings(&overrides.kafka, defaults, whose) {
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

fn kafka_settings(overrides: &KafkaOverrides, defaults: &ClusterDefaults, whose: &str) -> Grant<KafkaSettings> {
    let server = &defaults.kafka;
    if overrides.enabled == Some(false) {
        return Grant::Refused(format!("Kafka is turned off for the jobs of {whose} (kafka.enabled = false)"));
    }
    let (brokers, mut options) = match (&overrides.brokers, &server.brokers) {
        (Some(brokers), _) => (brokers.clone(), BTreeMap::new()),
        (None, Some(brokers)) => (brokers.clone(), server.options.0.clone()),
        (None, None) => {
            return Grant::Refused(format!(
                "no Kafka is configured for the jobs of {whose}: set kafka.brokers on the context, \
                 or JOBSERVER_KAFKA_BROKERS on the server"
            ));
        }
    };
    options.extend(overrides.options.0.clone());
    Grant::Granted(KafkaSettings {
        brokers,
        options,
        timeout: overrides.timeout_ms.map_or(server.timeout, Duration::from_millis),
    })
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
        let kafka = kafka_settings(&KafkaOverrides::default(), &defaults(), "context 'c'");
        let Grant::Granted(kafka) = kafka else { panic!() };
        assert_eq!(kafka.brokers, "server:9092");
        assert_eq!(kafka.options["sasl.password"], "server-secret");
        let Grant::Granted(cassandra) = cassandra_settings(&CassandraOverrides::default(), &defaults(), "c").unwrap() else {
            panic!()
        };
        assert_eq!((cassandra.username.as_deref(), cassandra.password.as_deref()), (Some("server"), Some("server-password")));
    }

    #[test]
    fn a_context_with_clusters_of_its_own_gets_none_of_the_servers_credentials() {
        let own = overrides(&[
            ("kafka.brokers", json!("mine:9092")),
            ("kafka.options.security.protocol", json!("SSL")),
            ("cassandra.nodes", json!(["mine:9042"])),
        ])
        .unwrap();
        let Grant::Granted(kafka) = kafka_settings(&own.kafka, &defaults(), "c") else { panic!() };
        assert_eq!(kafka.brokers, "mine:9092");
        assert_eq!(kafka.options, BTreeMap::from([("security.protocol".into(), "SSL".into())]));
        let Grant::Granted(cassandra) = cassandra_settings(&own.cassandra, &defaults(), "c").unwrap() else {
            panic!()
        };
        assert_eq!((cassandra.username, cassandra.password), (None, None));
        assert_eq!(cassandra.keyspace.as_deref(), Some("analytics"), "a keyspace is no secret");
    }

    #[test]
    fn clusters_can_be_turned_off_or_be_missing() {
        let off = overrides(&[("kafka.enabled", json!("off")), ("cassandra.enabled", json!(false))]).unwrap();
        let Grant::Refused(reason) = kafka_settings(&off.kafka, &defaults(), "context 'c'") else { panic!() };
        assert!(reason.contains("turned off for the jobs of context 'c'"), "{reason}");
        let Grant::Refused(reason) = cassandra_settings(&off.cassandra, &defaults(), "c").unwrap() else { panic!() };
        assert!(reason.contains("cassandra.enabled = false"), "{reason}");
        let none = ClusterDefaults::default();
        let Grant::Refused(reason) = kafka_settings(&KafkaOverrides::default(), &none, "ad-hoc jobs") else {
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
        let bad_option = overrides(&[("kafka.brokers", json!("b:1")), ("kafka.options.no.such.option", json!(1))]).unwrap();
        let refused = Connections::open(&bad_option, &defaults(), "context 'c'").err().unwrap();
        assert!(refused.contains("no.such.option"), "{refused}");
    }

    #[test]
    fn overrides_survive_storage_and_hide_the_password_in_logs() {
        let own = overrides(&[("cassandra.password", json!("pw")), ("kafka.options.sasl.password", json!("k"))]).unwrap();
        let stored = serde_json::to_value(&own).unwrap();
        assert_eq!(serde_json::from_value::<ClusterOverrides>(stored).unwrap(), own);
        let logged = format!("{own:?}");
        assert!(!logged.contains("pw") && !logged.contains("\"k\""), "{logged}");
    }
}
