//! The Kafka and Cassandra that jobs reach unless their context says
//! otherwise: from the config file (`jobserver { kafka { ... }, cassandra {
//! ... } }`), the environment (`JOBSERVER_KAFKA_BROKERS`, ...) and flags, like
//! every other setting. Credentials are held as [`Secret`]s and librdkafka
//! options as [`KafkaOptions`], whose `Debug` masks them, so that settings
//! written to a log never carry a password.

use super::ConfigError;
use crate::units::HumanDuration;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How a masked value is shown.
pub const MASK: &str = "********";

/// A password or a token: passed on to the client that needs it, never shown.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Secret, Self::Err> {
        Ok(Secret::new(value))
    }
}

/// Whether a librdkafka option holds something secret (`sasl.password`,
/// `ssl.key.password`, `sasl.oauthbearer.client.secret`, `ssl.key.pem`...).
pub fn is_secret_option(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "credential",
        "jaas",
        ".key.pem",
        "private",
        "oauthbearer.config",
        "keystore",
    ]
    .iter()
    .any(|word| key.contains(word))
        || key.ends_with(".key")
}

/// librdkafka options passed through as they are.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KafkaOptions(pub BTreeMap<String, String>);

impl KafkaOptions {
    /// The options with secret values replaced by [`MASK`], for showing.
    pub fn masked(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(key, value)| {
                let shown = if is_secret_option(key) {
                    MASK.to_string()
                } else {
                    value.clone()
                };
                (key.clone(), shown)
            })
            .collect()
    }
}

impl fmt::Debug for KafkaOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.masked()).finish()
    }
}

/// The server's Kafka: what ad-hoc jobs use, and contexts that set no brokers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaDefaults {
    /// `host:port[,host:port]`; `None`: no Kafka unless a context names one.
    pub brokers: Option<String>,
    pub options: KafkaOptions,
    /// How long one request to the brokers may take.
    pub timeout: Duration,
}

/// The server's Cassandra.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CassandraDefaults {
    /// `host:port` of one or more nodes; empty: no Cassandra unless a context names one.
    pub nodes: Vec<String>,
    pub keyspace: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// A CQL consistency level such as `LOCAL_QUORUM`; `None`: the driver's.
    pub consistency: Option<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDefaults {
    pub kafka: KafkaDefaults,
    pub cassandra: CassandraDefaults,
}

impl Default for ClusterDefaults {
    fn default() -> Self {
        ClusterDefaults {
            kafka: KafkaDefaults {
                brokers: None,
                options: KafkaOptions::default(),
                timeout: Duration::from_secs(30),
            },
            cassandra: CassandraDefaults {
                nodes: Vec::new(),
                keyspace: None,
                username: None,
                password: None,
                consistency: None,
                timeout: Duration::from_secs(30),
            },
        }
    }
}

/// The clusters' flags and environment variables.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Kafka brokers jobs use by default, `host:port[,host:port]`; contexts may
    /// set their own (`kafka.brokers`) [default: none].
    #[arg(long, env = "JOBSERVER_KAFKA_BROKERS", value_name = "BROKERS")]
    pub kafka_brokers: Option<String>,
    /// How long one Kafka request may take before the job is told [default: 30s].
    #[arg(long, env = "JOBSERVER_KAFKA_TIMEOUT", value_name = "DURATION")]
    pub kafka_timeout: Option<HumanDuration>,
    /// Cassandra nodes jobs use by default, `host:port[,host:port]` [default: none].
    #[arg(long, env = "JOBSERVER_CASSANDRA_NODES", value_name = "NODES")]
    pub cassandra_nodes: Option<String>,
    /// Keyspace of Cassandra sessions that name none [default: none].
    #[arg(long, env = "JOBSERVER_CASSANDRA_KEYSPACE", value_name = "KEYSPACE")]
    pub cassandra_keyspace: Option<String>,
    /// Cassandra user name [default: none].
    #[arg(long, env = "JOBSERVER_CASSANDRA_USERNAME", value_name = "NAME")]
    pub cassandra_username: Option<String>,
    /// Cassandra password [default: none].
    #[arg(
        long,
        env = "JOBSERVER_CASSANDRA_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub cassandra_password: Option<Secret>,
    /// Consistency level of Cassandra statements, such as LOCAL_QUORUM [default: the driver's, LOCAL_QUORUM].
    #[arg(long, env = "JOBSERVER_CASSANDRA_CONSISTENCY", value_name = "LEVEL")]
    pub cassandra_consistency: Option<String>,
    /// How long connecting to Cassandra, or one statement, may take [default: 30s].
    #[arg(long, env = "JOBSERVER_CASSANDRA_TIMEOUT", value_name = "DURATION")]
    pub cassandra_timeout: Option<HumanDuration>,
}

/// `kafka { ... }` of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileKafka {
    brokers: Option<String>,
    timeout: Option<HumanDuration>,
    /// Any scalar; nested keys (`security.protocol = SSL` unquoted) are joined with dots.
    options: BTreeMap<String, Value>,
}

/// `cassandra { ... }` of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileCassandra {
    /// A list, or one string of comma-separated nodes.
    nodes: Option<Value>,
    keyspace: Option<String>,
    username: Option<String>,
    password: Option<String>,
    consistency: Option<String>,
    timeout: Option<HumanDuration>,
}

/// Splits `a:1, b:2` into nodes.
pub fn split_nodes(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|node| !node.is_empty())
        .map(str::to_string)
        .collect()
}

/// Nodes given as a list or as one comma-separated string.
pub fn nodes_of(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::String(text) => Ok(split_nodes(text)),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(node) => Ok(node.trim().to_string()),
                other => Err(format!("a Cassandra node is host:port text, not {other}")),
            })
            .collect(),
        other => Err(format!(
            "Cassandra nodes are a list or comma-separated host:port text, not {other}"
        )),
    }
}

/// Options from HOCON or JSON: scalars as text, objects flattened with dots
/// (HOCON reads an unquoted `security.protocol` as nested keys).
pub fn flatten_options(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) -> Result<(), String> {
    match value {
        Value::Object(fields) => {
            for (key, value) in fields {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten_options(&key, value, out)?;
            }
            Ok(())
        }
        Value::String(text) => {
            out.insert(prefix.to_string(), text.clone());
            Ok(())
        }
        Value::Number(_) | Value::Bool(_) => {
            out.insert(prefix.to_string(), value.to_string());
            Ok(())
        }
        other => Err(format!(
            "Kafka option '{prefix}' must be text, a number or true/false, not {other}"
        )),
    }
}

impl ClusterArgs {
    /// Defaults, then the file's `kafka` and `cassandra` blocks, then flags
    /// and the environment.
    pub fn resolve(&self, kafka: FileKafka, cassandra: FileCassandra) -> Result<ClusterDefaults, ConfigError> {
        let mut clusters = ClusterDefaults::default();
        let invalid = |message: String| ConfigError::Invalid(message);
        let k = &mut clusters.kafka;
        k.brokers = self
            .kafka_brokers
            .clone()
            .or(kafka.brokers)
            .filter(|b| !b.trim().is_empty());
        if let Some(timeout) = self.kafka_timeout.or(kafka.timeout) {
            k.timeout = timeout.0;
        }
        let mut options = BTreeMap::new();
        for (key, value) in &kafka.options {
            flatten_options(key, value, &mut options).map_err(invalid)?;
        }
        k.options = KafkaOptions(options);

        let c = &mut clusters.cassandra;
        c.nodes = match (&self.cassandra_nodes, &cassandra.nodes) {
            (Some(nodes), _) => split_nodes(nodes),
            (None, Some(nodes)) => nodes_of(nodes).map_err(invalid)?,
            (None, None) => Vec::new(),
        };
        c.keyspace = self.cassandra_keyspace.clone().or(cassandra.keyspace);
        c.username = self.cassandra_username.clone().or(cassandra.username);
        c.password = self.cassandra_password.clone().or(cassandra.password.map(Secret::new));
        c.consistency = self.cassandra_consistency.clone().or(cassandra.consistency);
        if let Some(consistency) = &c.consistency {
            jobserver_connectors::cassandra::parse_consistency(consistency).map_err(invalid)?;
        }
        if let Some(timeout) = self.cassandra_timeout.or(cassandra.timeout) {
            c.timeout = timeout.0;
        }
        for timeout in [clusters.kafka.timeout, clusters.cassandra.timeout] {
            if timeout.is_zero() {
                return Err(invalid(
                    "the Kafka and Cassandra timeouts must be longer than zero".into(),
                ));
            }
        }
        Ok(clusters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_never_show_in_debug_output() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), MASK);
        let options = KafkaOptions(BTreeMap::from([
            ("sasl.password".to_string(), "hunter2".to_string()),
            ("ssl.key.pem".to_string(), "-----BEGIN".to_string()),
            ("sasl.oauthbearer.client.secret".to_string(), "s".to_string()),
            ("security.protocol".to_string(), "SASL_SSL".to_string()),
        ]));
        let shown = format!("{options:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("BEGIN"), "{shown}");
        assert!(shown.contains("SASL_SSL"), "{shown}");
    }

    #[test]
    fn options_are_flattened_from_nested_hocon() {
        let mut out = BTreeMap::new();
        flatten_options(
            "",
            &json!({"security": {"protocol": "SSL"}, "fetch.max.bytes": 1024, "x": true}),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out,
            BTreeMap::from([
                ("fetch.max.bytes".to_string(), "1024".to_string()),
                ("security.protocol".to_string(), "SSL".to_string()),
                ("x".to_string(), "true".to_string()),
            ])
        );
        assert!(
            flatten_options("a", &json!([1]), &mut out)
                .unwrap_err()
                .contains("'a' must be text")
        );
    }

    #[test]
    fn nodes_come_as_a_list_or_as_text() {
        assert_eq!(nodes_of(&json!("a:1, b:2")).unwrap(), ["a:1", "b:2"]);
        assert_eq!(nodes_of(&json!(["a:1", "b:2"])).unwrap(), ["a:1", "b:2"]);
        assert!(nodes_of(&json!(5)).is_err());
    }

    #[test]
    fn flags_beat_the_file_and_bad_levels_are_refused() {
        let args = ClusterArgs {
            kafka_brokers: Some("k:9092".into()),
            cassandra_consistency: Some("one".into()),
            ..ClusterArgs::default()
        };
        let file_kafka: FileKafka =
            serde_json::from_value(json!({"brokers": "file:9092", "options": {"acks": "all"}})).unwrap();
        let file_cassandra: FileCassandra =
            serde_json::from_value(json!({"nodes": ["c:9042"], "password": "p", "timeout": "5s"})).unwrap();
        let clusters = args.resolve(file_kafka, file_cassandra).unwrap();
        assert_eq!(clusters.kafka.brokers.as_deref(), Some("k:9092"));
        assert_eq!(clusters.kafka.options.0["acks"], "all");
        assert_eq!(clusters.cassandra.nodes, ["c:9042"]);
        assert_eq!(clusters.cassandra.password.as_ref().map(Secret::expose), Some("p"));
        assert_eq!(clusters.cassandra.timeout, Duration::from_secs(5));
        let bad = ClusterArgs {
            cassandra_consistency: Some("most".into()),
            ..ClusterArgs::default()
        };
        let error = bad.resolve(FileKafka::default(), FileCassandra::default()).unwrap_err();
        assert!(
            error.to_string().contains("'most' is not a consistency level"),
            "{error}"
        );
    }
}
