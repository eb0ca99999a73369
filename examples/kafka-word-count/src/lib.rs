//! The streaming word count of the talks, as a bounded job: counts the words
//! in the values of a Kafka topic, optionally between two times, and writes
//! the counts to a Cassandra table when asked to.
//!
//! ```text
//! curl -d 'kafka.topic = words, from = "2016-03-15T01:00:00", to = "2016-03-15T02:00:00"' \
//!   'localhost:8090/jobs?appName=kafka-word-count&context=analytics&sync=true'
//! ```

use std::collections::BTreeMap;

use hashbrown::HashMap;

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
        let mut counts = Counts::default();
        let mut records = 0u64;
        for batch in reader.batches() {
            for record in batch? {
                records += 1;
                if let Some(value) = &record.value {
                    counts.add(value);
                }
            }
            let done = (total(reader.positions()) - start) as f32 / (end - start).max(1) as f32;
            job_sdk::progress(done.min(1.0), Some(&format!("{records} records read")));
        }
        job_sdk::progress(1.0, Some(&format!("{records} records read")));
        job_sdk::info!("counted {} words in {records} records of {topic}", counts.words);
        let counts = counts.into_sorted();
        if let Some(table) = table(config)? {
            write_counts(&table, &counts)?;
            job_sdk::info!("wrote {} counts to {table}", counts.len());
        }
        Ok(json!(counts))
    }
}

/// Word counts, the hot loop of the job: a word is copied once, when first
/// seen, and hashed with foldhash rather than the standard library's SipHash.
/// Words are kept as the bytes of valid UTF-8, so that ASCII text is split
/// without decoding characters.
#[derive(Default)]
struct Counts {
    by_word: HashMap<Vec<u8>, u64>,
    words: u64,
}

impl Counts {
    /// Counts the whitespace-separated words of a value (invalid UTF-8 is
    /// replaced, as `String::from_utf8_lossy` does).
    fn add(&mut self, value: &[u8]) {
        if value.is_ascii() {
            // In ASCII, Unicode's white space is exactly these bytes.
            for word in value.split(|b| matches!(b, b' ' | b'\t'..=b'\r')) {
                if !word.is_empty() {
                    self.count(word);
                }
            }
        } else {
            for word in String::from_utf8_lossy(value).split_whitespace() {
                self.count(word.as_bytes());
            }
        }
    }

    fn count(&mut self, word: &[u8]) {
        self.words += 1;
        *self.by_word.entry_ref(word).or_insert(0) += 1;
    }

    /// The counts by word, in order.
    fn into_sorted(self) -> BTreeMap<String, u64> {
        self.by_word
            .into_iter()
            .map(|(word, count)| (String::from_utf8_lossy(&word).into_owned(), count))
            .collect()
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

    #[test]
    fn words_are_split_on_unicode_white_space_with_or_without_ascii() {
        let values: [&[u8]; 6] = [
            b"the  quick\tbrown\nfox\x0bjumps\x0c\rover ",
            b"",
            b"   ",
            "caf\u{e9} the\u{a0}fox\u{2003}caf\u{e9}".as_bytes(),
            b"bad \xff bytes the",
            b"x\x1fy",
        ];
        let mut counts = Counts::default();
        let mut expected: BTreeMap<String, u64> = BTreeMap::new();
        for value in values {
            counts.add(value);
            for word in String::from_utf8_lossy(value).split_whitespace() {
                *expected.entry(word.to_owned()).or_default() += 1;
            }
        }
        assert_eq!(counts.words, expected.values().sum::<u64>());
        assert_eq!(counts.into_sorted(), expected);
        assert_eq!(expected["the"], 3);
        assert_eq!(expected["x\u{1f}y"], 1, "a control character that is not white space");
    }
}
