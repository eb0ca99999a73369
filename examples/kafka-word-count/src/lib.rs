//! The streaming word count of the talks, as a bounded job: counts the words
//! in the values of a Kafka topic, optionally between two times, and writes
//! the counts to a Cassandra table when asked to.
//!
//! ```text
//! curl -d 'kafka.topic = words, from = "2016-03-15T01:00:00", to = "2016-03-15T02:00:00"' \
//!   'localhost:8090/jobs?appName=kafka-word-count&context=analytics&sync=true'
//! ```

use std::collections::{BTreeMap, HashMap};

use job_sdk::cassandra::{Batch, Session};
use job_sdk::kafka::Read;
use job_sdk::{Config, Job, JobError, Problem, Problems, Value, json, time};

/// Inserts sent to Cassandra in one unlogged batch.
const INSERTS_PER_BATCH: usize = 100;

pub struct KafkaWordCount;

/// The table to write to, `table` or `keyspace.table`: checked strictly,
/// since a CQL identifier cannot be a bound value.
fn table(config: &Config) -> Result<Option<String>, Problem> {
    let Some(table) = config.get_opt::<String>("cassandra.table")? else {
        return Ok(None);
    };
    let identifier = |part: &str| {
        part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && part.len() <= 48
    };
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() > 2 || !parts.iter().all(|part| identifier(part)) {
        return Err(Problem::new(
            "cassandra.table",
            "must be a table name such as word_counts or analytics.word_counts: letters, digits and _",
        ));
    }
    Ok(Some(table))
}

/// `from` and `to` as milliseconds since the epoch.
fn range(config: &Config) -> Result<(Option<i64>, Option<i64>), Problem> {
    let from = config
        .get_opt::<String>("from")?
        .map(|t| time::parse_millis(&t).map_err(|e| Problem::new("from", e)))
        .transpose()?;
    let to = config
        .get_opt::<String>("to")?
        .map(|t| time::parse_millis(&t).map_err(|e| Problem::new("to", e)))
        .transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(Problem::new("to", "must be later than from"));
    }
    Ok((from, to))
}

impl Job for KafkaWordCount {
    const NAME: &'static str = "kafka-word-count";
    const DESCRIPTION: &'static str = "Counts the words in the values of topic kafka.topic (records from `from` \
        to `to`, ISO-8601 times, by record timestamp); returns {word: count} and writes the counts to \
        cassandra.table when given";

    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        let mut problems = Problems::new();
        problems.check(config.str("kafka.topic"));
        problems.check(range(config));
        problems.check(table(config));
        problems.into_result()
    }

    fn run(config: &Config) -> Result<Value, JobError> {
        let topic = config.str("kafka.topic")?;
        let (from, to) = range(config)?;
        let mut read = Read::topic(topic);
        if let Some(from) = from {
            read = read.from_time(from);
        }
        if let Some(to) = to {
            read = read.until_time(to);
        }
        let reader = read.open()?;
        let total = |offsets: Vec<job_sdk::kafka::PartitionOffset>| offsets.iter().map(|o| o.offset).sum::<i64>();
        let (start, end) = (total(reader.positions()), total(reader.ends()));
        // Counting into a hash map borrows nothing from the batch; words are
        // copied once, when first seen.
        let mut counts: HashMap<String, u64> = HashMap::new();
        let (mut records, mut words) = (0u64, 0u64);
        for batch in reader.batches() {
            for record in batch? {
                records += 1;
                let Some(value) = &record.value else { continue };
                for word in String::from_utf8_lossy(value).split_whitespace() {
                    words += 1;
                    match counts.get_mut(word) {
                        Some(count) => *count += 1,
                        None => {
                            counts.insert(word.to_owned(), 1);
                        }
                    }
                }
            }
            let done = (total(reader.positions()) - start) as f32 / (end - start).max(1) as f32;
            job_sdk::progress(done.min(1.0), Some(&format!("{records} records read")));
        }
        job_sdk::progress(1.0, Some(&format!("{records} records read")));
        job_sdk::info!("counted {words} words in {records} records of {topic}");
        let counts: BTreeMap<String, u64> = counts.into_iter().collect();
        if let Some(table) = table(config)? {
            write_counts(&table, &counts)?;
            job_sdk::info!("wrote {} counts to {table}", counts.len());
        }
        Ok(json!(counts))
    }
}

fn write_counts(table: &str, counts: &BTreeMap<String, u64>) -> Result<(), JobError> {
    let session = Session::open()?;
    session.execute(
        &format!("CREATE TABLE IF NOT EXISTS {table} (word text PRIMARY KEY, count bigint)"),
        (),
    )?;
    let insert = format!("INSERT INTO {table} (word, count) VALUES (?, ?)");
    let words: Vec<(&String, &u64)> = counts.iter().collect();
    for chunk in words.chunks(INSERTS_PER_BATCH) {
        let mut batch = Batch::unlogged();
        for (word, count) in chunk {
            batch.add(insert.as_str(), (word.as_str(), **count as i64));
        }
        session.batch(&batch)?;
    }
    Ok(())
}

job_sdk::export_jobs!(KafkaWordCount);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_and_times_are_checked_before_running() {
        let problems = KafkaWordCount::validate(&Config::new(json!({
            "kafka": {"topic": "t"},
            "from": "2016-03-15T02:00:00", "to": "2016-03-15T01:00:00",
            "cassandra": {"table": "x; DROP TABLE y"}
        })))
        .unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["to", "cassandra.table"]);
        assert!(
            KafkaWordCount::validate(&Config::new(
                json!({"kafka.topic": "t", "cassandra.table": "ks.counts"})
            ))
            .is_ok()
        );
    }
}
