//! A context's Kafka and Cassandra as `GET /contexts/{name}` shows them: what
//! its jobs are granted, with every credential masked.

use crate::config::{MASK, is_secret_option};
use crate::runtime::Grant;
use crate::scheduler::Connections;
use crate::units::HumanDuration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The Kafka a context's jobs reach.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KafkaBody {
    /// Whether its jobs may use Kafka.
    pub enabled: bool,
    /// Why not, when they may not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brokers: Option<String>,
    /// librdkafka options; secret ones (passwords, keys, tokens) show as `********`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub options: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// The Cassandra a context's jobs reach.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CassandraBody {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub nodes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyspace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `********` when a password is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// As CQL names it, such as `LOCAL_QUORUM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// `LocalQuorum` (the driver's name) as CQL writes it: `LOCAL_QUORUM`.
fn cql_name(debug: &str) -> String {
    let mut name = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

impl From<&Connections> for KafkaBody {
    fn from(connections: &Connections) -> Self {
        match &connections.kafka {
            Grant::Granted(kafka) => {
                let settings = kafka.settings();
                KafkaBody {
                    enabled: true,
                    reason: None,
                    brokers: Some(settings.brokers.clone()),
                    options: settings
                        .options
                        .iter()
                        .map(|(key, value)| {
                            let shown = if is_secret_option(key) {
                                MASK.to_string()
                            } else {
                                value.clone()
                            };
                            (key.clone(), shown)
                        })
                        .collect(),
                    timeout: Some(HumanDuration(settings.timeout).to_string()),
                }
            }
            Grant::Refused(reason) => KafkaBody {
                enabled: false,
                reason: Some(reason.clone()),
                brokers: None,
                options: BTreeMap::new(),
                timeout: None,
            },
        }
    }
}

impl From<&Connections> for CassandraBody {
    fn from(connections: &Connections) -> Self {
        match &connections.cassandra {
            Grant::Granted(cassandra) => {
                let settings = cassandra.settings();
                CassandraBody {
                    enabled: true,
                    reason: None,
                    nodes: settings.nodes.clone(),
                    keyspace: settings.keyspace.clone(),
                    username: settings.username.clone(),
                    password: settings.password.as_ref().map(|_| MASK.to_string()),
                    consistency: settings.consistency.map(|level| cql_name(&format!("{level:?}"))),
                    timeout: Some(HumanDuration(settings.timeout).to_string()),
                }
            }
            Grant::Refused(reason) => CassandraBody {
                enabled: false,
                reason: Some(reason.clone()),
                nodes: Vec::new(),
                keyspace: None,
                username: None,
                password: None,
                consistency: None,
                timeout: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn consistency_levels_are_shown_as_cql_names_them() {
        assert_eq!(super::cql_name("LocalQuorum"), "LOCAL_QUORUM");
        assert_eq!(super::cql_name("One"), "ONE");
    }
}
