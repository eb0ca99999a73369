//! Jobs that share data through a named object: `store` adds word counts to
//! it and `lookup`, run later in the same persistent context, reads them.

use std::collections::BTreeMap;

use job_sdk::{Config, Job, JobError, Problem, Problems, Value, json, named_objects, serde_json};

/// What the named object holds: how often each word was seen.
type Counts = BTreeMap<String, u64>;

/// The named object's name, so that several caches can share a context.
fn cache_name(config: &Config) -> Result<String, Problem> {
    let name = config.get_or("cache", "words".to_owned())?;
    if name.is_empty() {
        return Err(Problem::new("cache", "must not be empty"));
    }
    Ok(name)
}

pub struct Store;

impl Job for Store {
    const NAME: &'static str = "store";
    const DESCRIPTION: &'static str = "Adds the word counts of input.string to the named object \
        `cache` (default \"words\") and returns the totals";

    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        let mut problems = Problems::new();
        problems.check(config.str("input.string"));
        problems.check(cache_name(config));
        problems.into_result()
    }

    fn run(config: &Config) -> Result<Value, JobError> {
        let text = config.str("input.string")?;
        let name = cache_name(config)?;
        // `update`, not `get` then `put`: `store` jobs that run at once in
        // one context each add their counts, none overwrites another's.
        let counts = named_objects::update(&name, |counts: Option<Counts>| {
            let mut counts = counts.unwrap_or_default();
            for word in text.split_whitespace() {
                *counts.entry(word.to_owned()).or_default() += 1;
            }
            Ok(counts)
        })?;
        Ok(serde_json::to_value(counts)?)
    }
}

pub struct Lookup;

impl Job for Lookup {
    const NAME: &'static str = "lookup";
    const DESCRIPTION: &'static str = "Returns {\"word\": word, \"count\": n}: how often `word` \
        was counted by the store entry into the named object `cache` (default \"words\")";

    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        let mut problems = Problems::new();
        problems.check(config.str("word"));
        problems.check(cache_name(config));
        problems.into_result()
    }

    fn run(config: &Config) -> Result<Value, JobError> {
        let word = config.str("word")?;
        let name = cache_name(config)?;
        let Some(counts) = named_objects::get::<Counts>(&name)? else {
            job_sdk::bail!("nothing stored under '{name}' yet; run the store entry first");
        };
        let count = counts.get(word).copied().unwrap_or(0);
        Ok(json!({"word": word, "count": count}))
    }
}

pub struct Clear;

impl Job for Clear {
    const NAME: &'static str = "clear";
    const DESCRIPTION: &'static str =
        "Deletes the named object `cache` (default \"words\"); returns {\"deleted\": true|false}";

    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        cache_name(config)?;
        Ok(())
    }

    fn run(config: &Config) -> Result<Value, JobError> {
        let deleted = named_objects::delete(&cache_name(config)?)?;
        Ok(json!({"deleted": deleted}))
    }
}

job_sdk::export_jobs!(Store, Lookup, Clear);

#[cfg(test)]
mod tests {
    use super::*;

    fn config(value: Value) -> Config {
        Config::new(value)
    }

    #[test]
    fn store_adds_up_and_lookup_reads() {
        let text = |s: &str| config(json!({"input": {"string": s}}));
        assert_eq!(Store::run(&text("a b a")), Ok(json!({"a": 2, "b": 1})));
        assert_eq!(Store::run(&text("b c")), Ok(json!({"a": 2, "b": 2, "c": 1})));
        assert_eq!(
            Lookup::run(&config(json!({"word": "b"}))),
            Ok(json!({"word": "b", "count": 2}))
        );
        assert_eq!(
            Lookup::run(&config(json!({"word": "zzz"}))),
            Ok(json!({"word": "zzz", "count": 0}))
        );
        assert_eq!(Clear::run(&config(json!({}))), Ok(json!({"deleted": true})));
        assert_eq!(Clear::run(&config(json!({}))), Ok(json!({"deleted": false})));
    }

    #[test]
    fn caches_are_separate() {
        let other = config(json!({"input": {"string": "x"}, "cache": "other"}));
        Store::run(&other).unwrap();
        assert_eq!(
            Lookup::run(&config(json!({"word": "x", "cache": "other"}))),
            Ok(json!({"word": "x", "count": 1}))
        );
        assert_eq!(
            Lookup::run(&config(json!({"word": "x"}))),
            Err(JobError::new(
                "nothing stored under 'words' yet; run the store entry first"
            ))
        );
    }

    #[test]
    fn validation_reports_every_problem() {
        assert_eq!(
            Store::validate(&config(json!({"cache": ""}))),
            Err(vec![
                Problem::new("input.string", "is required"),
                Problem::new("cache", "must not be empty"),
            ])
        );
    }
}
