//! A job that produces: reads one topic, transforms each record and writes it
//! to another, keeping its key, partition-by-key and timestamp. The transform
//! here upper-cases text values and marks each record with a header; a real
//! one would clean, enrich or re-key. With `group`, reruns go on from where
//! the last one committed, and a record is committed only once the brokers
//! have acknowledged what was written from it.
//!
//! ```text
//! curl -d 'input.topic = raw, output.topic = clean, group = cleaner' \
//!   'localhost:8090/jobs?appName=kafka-transform&context=etl&sync=true'
//! ```

use job_sdk::kafka::{Outgoing, Producer, Read, Record};
use job_sdk::{Config, Job, JobError, Problem, Problems, Value, json};

pub struct Transform;

fn transform(record: &Record) -> Outgoing {
    let value = record
        .value
        .as_deref()
        .map(|value| String::from_utf8_lossy(value).to_uppercase().into_bytes())
        .unwrap_or_default();
    let mut out = Outgoing::value(value).header("transformed-by", "jobserver kafka-transform");
    if let Some(key) = &record.key {
        out = out.key(key.clone());
    }
    if let Some(timestamp) = record.timestamp {
        out = out.timestamp(timestamp);
    }
    for header in &record.headers {
        if let Some(value) = &header.value {
            out = out.header(header.key.clone(), value.clone());
        }
    }
    out
}

impl Job for Transform {
    const NAME: &'static str = "kafka-transform";
    const DESCRIPTION: &'static str = "Reads topic input.topic, upper-cases each value and writes it to \
        output.topic; optional group to continue where the last run committed";

    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        let mut problems = Problems::new();
        problems.check(config.str("input.topic"));
        problems.check(config.str("output.topic"));
        if let (Ok(input), Ok(output)) = (config.str("input.topic"), config.str("output.topic"))
            && input == output
        {
            problems.push(Problem::new("output.topic", "must differ from input.topic"));
        }
        problems.check(config.get_opt::<String>("group"));
        problems.into_result()
    }

    fn run(config: &Config) -> Result<Value, JobError> {
        let group: Option<String> = config.get_opt("group")?;
        let mut read = Read::topic(config.str("input.topic")?);
        if let Some(group) = &group {
            read = read.group(group);
        }
        let reader = read.open()?;
        let producer = Producer::open(config.str("output.topic")?)?;
        let mut count = 0usize;
        for batch in reader.batches() {
            let batch = batch?;
            let out: Vec<Outgoing> = batch.iter().map(transform).collect();
            producer.send(&out)?;
            count += out.len();
            if group.is_some() {
                // Acknowledged first, committed second: a failure between the
                // two writes records again, it never loses one.
                reader.commit()?;
            }
        }
        Ok(json!({"records": count}))
    }
}

job_sdk::export_jobs!(Transform);
