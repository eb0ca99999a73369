//! Spark Job Server's word count example as a jobserver component: the
//! smallest useful job, and a model for writing one.

use std::collections::BTreeMap;

use job_sdk::{Config, Job, JobError, Problem, Value, serde_json};

pub struct WordCount;

impl Job for WordCount {
    const NAME: &'static str = "wordcount";
    const DESCRIPTION: &'static str = "Counts the words of input.string";

    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        config.str("input.string")?;
        Ok(())
    }

    fn run(config: &Config) -> Result<Value, JobError> {
        let words: Vec<&str> = config.str("input.string")?.split_whitespace().collect();
        job_sdk::progress(0.5, Some("split into words"));

        // A BTreeMap so that the result lists the words in order.
        let mut counts = BTreeMap::<&str, u64>::new();
        for word in &words {
            *counts.entry(word).or_default() += 1;
        }
        job_sdk::info!("counted {} words", words.len());
        job_sdk::progress(1.0, Some("counted"));
        Ok(serde_json::to_value(counts)?)
    }
}

job_sdk::export_jobs!(WordCount);

#[cfg(test)]
mod tests {
    use job_sdk::json;

    use super::*;

    #[test]
    fn counts_words() {
        let config = Config::new(json!({"input": {"string": "a b c a b see"}}));
        assert_eq!(WordCount::run(&config), Ok(json!({"a": 2, "b": 2, "c": 1, "see": 1})));
    }

    #[test]
    fn requires_a_string() {
        let config = Config::new(json!({"input": {"string": 3}}));
        assert_eq!(
            WordCount::validate(&config),
            Err(vec![Problem::new("input.string", "must be a string")])
        );
    }
}
