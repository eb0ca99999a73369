//! Context names and settings: what a client may ask for, and the checks.

use super::clusters::{ClusterOverrides, is_cluster_key};
use crate::config::Settings;
use crate::units::{ByteSize, HumanDuration};
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::time::Duration;

pub const MAX_NAME_LEN: usize = 100;
const MAX_NUM_CPU_CORES: u32 = 1024;
const MAX_QUEUED_JOBS: u32 = 100_000;
const MIN_MEMORY: ByteSize = ByteSize::mib(1);
/// The longest a context may let its jobs run; the store keeps it in milliseconds.
const MAX_JOB_TIMEOUT: Duration = Duration::from_secs(30 * 86_400);

/// The settings a context is created with, and keeps across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextSettings {
    /// How many of its jobs run at once.
    pub num_cpu_cores: u32,
    /// Memory limit of each of its jobs.
    pub memory_per_node: ByteSize,
    /// Run-time limit of each of its jobs.
    pub job_timeout: Duration,
    /// How many of its jobs may wait for a slot.
    pub max_queued_jobs: u32,
    /// Its own Kafka and Cassandra settings, over the server's.
    pub clusters: ClusterOverrides,
}

/// The keys a client may set, as query parameters or in a HOCON/JSON body.
pub const SETTING_KEYS: [&str; 4] = ["num-cpu-cores", "memory-per-node", "job-timeout", "max-queued-jobs"];

/// Spark Job Server's context options that do not apply here, accepted so
/// that its clients work.
const IGNORED_SPARK_KEYS: [&str; 3] = ["context-factory", "launcher", "passthrough"];

/// Where Spark Job Server keeps context settings, as a dotted key.
const CONTEXT_SETTINGS_PREFIX: &str = "spark.context-settings.";

/// A letter first, then letters, digits, `-` and `_`.
pub fn check_name(name: &str) -> Result<(), String> {
    // Checked first, so that a long name is not echoed back in full.
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "context names are at most {MAX_NAME_LEN} characters long; this one has {}",
            name.chars().count()
        ));
    }
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(format!(
            "'{name}' is not a valid context name: it must start with a letter and contain only letters, digits, '-' and '_'"
        ));
    }
    Ok(())
}

impl ContextSettings {
    pub fn defaults(settings: &Settings) -> ContextSettings {
        ContextSettings {
            num_cpu_cores: settings.scheduling.context_num_cpu_cores,
            memory_per_node: settings.limits.job_memory,
            job_timeout: settings.limits.job_timeout,
            max_queued_jobs: settings.scheduling.context_max_queued_jobs,
            clusters: ClusterOverrides::default(),
        }
    }

    /// Applies `key = value` pairs (strings from a query, or JSON values from
    /// a body) over the defaults; the first bad one is the error.
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (String, Value)>,
        settings: &Settings,
    ) -> Result<ContextSettings, String> {
        let mut context = ContextSettings::defaults(settings);
        let mut seen = HashSet::new();
        let mut pending: VecDeque<(String, Value)> = pairs.into_iter().collect();
        while let Some((key, value)) = pending.pop_front() {
            // Spark Job Server's own form of these settings, as in its
            // application.conf: `spark.context-settings { num-cpu-cores = 2 }`,
            // which a HOCON body nests under `spark`. Its settings are read
            // in place, as if they had been given at the top.
            if let Some(setting) = key.strip_prefix(CONTEXT_SETTINGS_PREFIX) {
                pending.push_front((setting.to_string(), value));
                continue;
            }
            // `kafka { brokers = ... }` in a HOCON body; `kafka.options`
            // keeps its object, whose keys have dots of their own.
            if key == "kafka" || key == "cassandra" {
                let Value::Object(fields) = value else {
                    return Err(format!(
                        "context setting '{key}' must be an object, such as {key} {{ enabled = false }}"
                    ));
                };
                for (field, value) in fields.into_iter().rev() {
                    pending.push_front((format!("{key}.{field}"), value));
                }
                continue;
            }
            if key == "spark" || key == "spark.context-settings" {
                let Value::Object(fields) = value else {
                    return Err(format!(
                        "context setting '{key}' must be an object, such as spark.context-settings {{ num-cpu-cores = 2 }}"
                    ));
                };
                for (field, value) in fields.into_iter().rev() {
                    pending.push_front((format!("{key}.{field}"), value));
                }
                continue;
            }
            // Spark's own settings (`spark.executor.memory`, ...) and Spark Job
            // Server's context options: they have no meaning for WebAssembly
            // jobs, whatever their value.
            if IGNORED_SPARK_KEYS.contains(&key.as_str()) || key.starts_with("spark.") {
                tracing::info!(%key, "ignoring a Spark context setting: it does not apply to WebAssembly jobs");
                continue;
            }
            // Given twice (twice in the query, or in the query and the body),
            // one value would silently win over the other.
            if !seen.insert(key.clone()) {
                return Err(format!("context setting '{key}' is given more than once"));
            }
            if is_cluster_key(&key) {
                context.clusters.apply(&key, &value)?;
                continue;
            }
            let text = match &value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                other => {
                    return Err(format!(
                        "context setting '{key}' must be a number or a string, not {other}"
                    ));
                }
            };
            match key.as_str() {
                "num-cpu-cores" => {
                    context.num_cpu_cores = parse_count(&key, &text, 1, MAX_NUM_CPU_CORES)?;
                }
                "max-queued-jobs" => {
                    context.max_queued_jobs = parse_count(&key, &text, 0, MAX_QUEUED_JOBS)?;
                }
                "memory-per-node" => {
                    let size: ByteSize = text.parse().map_err(|error| format!("memory-per-node: {error}"))?;
                    let max = settings.limits.max_job_memory;
                    if size < MIN_MEMORY || size > max {
                        return Err(format!(
                            "memory-per-node must be between {MIN_MEMORY} and {max}, not {text}"
                        ));
                    }
                    context.memory_per_node = size;
                }
                "job-timeout" => {
                    let timeout: HumanDuration = text.parse().map_err(|error| format!("job-timeout: {error}"))?;
                    if timeout.0.is_zero() {
                        return Err("job-timeout must be longer than zero".into());
                    }
                    if timeout.0 > MAX_JOB_TIMEOUT {
                        return Err(format!(
                            "job-timeout must be at most {}",
                            HumanDuration(MAX_JOB_TIMEOUT)
                        ));
                    }
                    context.job_timeout = timeout.0;
                }
                _ => {
                    return Err(format!(
                        "unknown context setting '{key}'; the settings are {}, and kafka.* and cassandra.* (see the README)",
                        SETTING_KEYS.join(", ")
                    ));
                }
            }
        }
        Ok(context)
    }
}

fn parse_count(key: &str, text: &str, min: u32, max: u32) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(count) if (min..=max).contains(&count) => Ok(count),
        _ => Err(format!(
            "{key} must be a whole number from {min} to {max}, not '{text}'"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(list: &[(&str, Value)]) -> Vec<(String, Value)> {
        list.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn names_start_with_a_letter() {
        assert!(check_name("video-ctx_2").is_ok());
        for bad in ["", "2ctx", "-ctx", "a b", "ctx/1", "ctx.1", "é"] {
            assert!(
                check_name(bad).unwrap_err().contains("not a valid context name"),
                "{bad}"
            );
        }
        assert!(check_name(&"a".repeat(101)).unwrap_err().contains("at most 100"));
        let long_and_bad = check_name(&"a b".repeat(1000)).unwrap_err();
        assert!(
            long_and_bad.ends_with("this one has 3000"),
            "not echoed: {long_and_bad}"
        );
    }

    #[test]
    fn settings_come_from_strings_or_numbers() {
        let settings = Settings::default();
        let context = ContextSettings::from_pairs(
            pairs(&[
                ("num-cpu-cores", json!("2")),
                ("memory-per-node", json!("512m")),
                ("job-timeout", json!(30)),
                ("max-queued-jobs", json!(5)),
            ]),
            &settings,
        )
        .unwrap();
        assert_eq!(context.num_cpu_cores, 2);
        assert_eq!(context.memory_per_node, ByteSize::mib(512));
        assert_eq!(context.job_timeout, Duration::from_secs(30));
        assert_eq!(context.max_queued_jobs, 5);
        assert_eq!(
            ContextSettings::from_pairs(vec![], &settings).unwrap(),
            ContextSettings::defaults(&settings)
        );
    }

    #[test]
    fn bad_settings_say_which_and_why() {
        let settings = Settings::default();
        let error = |list: &[(&str, Value)]| ContextSettings::from_pairs(pairs(list), &settings).unwrap_err();
        assert!(error(&[("num-cpu-cores", json!("0"))]).contains("num-cpu-cores must be a whole number from 1"));
        assert!(error(&[("num-cpu-cores", json!("two"))]).contains("not 'two'"));
        assert!(error(&[("memory-per-node", json!("lots"))]).contains("memory-per-node: 'lots' is not a size"));
        assert!(error(&[("memory-per-node", json!("64g"))]).contains("between 1m and 4g"));
        assert!(error(&[("cores", json!("2"))]).contains("unknown context setting 'cores'"));
        // Spark Job Server scripts send Spark's own settings; they do not apply here.
        // A HOCON body nests dotted keys: `spark.executor.memory = 1g` is an object under `spark`.
        let spark = pairs(&[
            ("spark.executor.memory", json!("1g")),
            ("spark", json!({"executor": {"memory": "1g"}})),
            ("context-factory", json!("x")),
            ("launcher", json!({"spark.driver.memory": "1g"})),
        ]);
        assert_eq!(
            ContextSettings::from_pairs(spark, &settings).unwrap(),
            ContextSettings::defaults(&settings)
        );
        assert!(error(&[("spark", json!(5))]).contains("'spark' must be an object"));
        // Spark Job Server's own form of the settings is read, dotted or nested.
        let nested = pairs(&[
            (
                "spark",
                json!({"context-settings": {"num-cpu-cores": 3}, "executor": {"memory": "1g"}}),
            ),
            ("spark.context-settings.memory-per-node", json!("64m")),
        ]);
        let context = ContextSettings::from_pairs(nested, &settings).unwrap();
        assert_eq!(context.num_cpu_cores, 3);
        assert_eq!(context.memory_per_node, ByteSize::mib(64));
        assert!(
            error(&[
                ("num-cpu-cores", json!("2")),
                ("spark", json!({"context-settings": {"num-cpu-cores": 3}}))
            ])
            .contains("'num-cpu-cores' is given more than once")
        );
        assert!(error(&[("spark.context-settings", json!({"cores": 3}))]).contains("unknown context setting 'cores'"));
        assert!(
            error(&[("num-cpu-cores", json!("2")), ("num-cpu-cores", json!(3))])
                .contains("'num-cpu-cores' is given more than once")
        );
        assert!(error(&[("num-cpu-cores", json!([1]))]).contains("must be a number or a string"));
        assert!(error(&[("job-timeout", json!("10000000000000000000ms"))]).contains("at most 30d"));
    }
}
