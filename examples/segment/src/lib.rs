//! The Hydra talk's `SegmentJob`: reads a topic of video-session events and
//! says how many sessions are active.
//!
//! Each record's value is a JSON event such as
//! `{"sessionId": "s1", "event": "start"}`; `event` is `start`, `ping`
//! (a heartbeat) or `stop` (also `end`). A session is active when its last
//! event in the records read is not a stop. `from` and `to` (ISO-8601) bound
//! the records by their timestamps; `group` reads as a consumer group and
//! commits, so that a job run every hour continues where the last stopped;
//! each run then counts the sessions of the records it read, its window.
//!
//! ```text
//! curl -d "kafka.topic=segment" 'localhost:8090/jobs?appName=segment&context=video-ctx&sync=true'
//! {"result": {"active-sessions": 24476221}, ...}
//! ```

use std::collections::HashMap;

use job_sdk::kafka::Read;
use job_sdk::{Config, Job, JobError, Problem, Problems, Value, json, time};
use serde::Deserialize;

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "sessionId", alias = "session_id", alias = "session")]
    session_id: String,
    #[serde(alias = "type")]
    event: String,
}

pub struct Segment;

fn times(config: &Config) -> Result<(Option<i64>, Option<i64>), Problem> {
    let parse = |path: &str| -> Result<Option<i64>, Problem> {
        config
            .get_opt::<String>(path)?
            .map(|text| time::parse_millis(&text).map_err(|error| Problem::new(path, error)))
            .transpose()
    };
    Ok((parse("from")?, parse("to")?))
}

impl Job for Segment {
    const NAME: &'static str = "segment";
    const DESCRIPTION: &'static str = "Counts the active sessions in topic kafka.topic of JSON video-session \
        events ({sessionId, event: start|ping|stop}); optional from/to (ISO-8601) and group";

    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        let mut problems = Problems::new();
        problems.check(config.str("kafka.topic"));
        problems.check(times(config));
        problems.check(config.get_opt::<String>("group"));
        problems.into_result()
    }

    fn run(config: &Config) -> Result<Value, JobError> {
        let topic = config.str("kafka.topic")?;
        let (from, to) = times(config)?;
        let group: Option<String> = config.get_opt("group")?;
        let mut read = Read::topic(topic);
        if let Some(from) = from {
            read = read.from_time(from);
        }
        if let Some(to) = to {
            read = read.until_time(to);
        }
        if let Some(group) = &group {
            read = read.group(group);
        }
        let reader = read.open()?;
        // Session -> whether it is still open after the events read so far.
        let mut open: HashMap<String, bool> = HashMap::new();
        let (mut events, mut skipped) = (0u64, 0u64);
        for record in reader.records() {
            let record = record?;
            let Ok(event) = record.json::<Event>() else {
                skipped += 1;
                continue;
            };
            events += 1;
            let active = !matches!(event.event.as_str(), "stop" | "end");
            open.insert(event.session_id, active);
        }
        if group.is_some() {
            reader.commit()?;
        }
        if skipped > 0 {
            job_sdk::warn!("skipped {skipped} records that are not session events");
        }
        let active = open.values().filter(|active| **active).count();
        job_sdk::info!("{events} events of {} sessions", open.len());
        Ok(json!({"active-sessions": active, "sessions": open.len(), "events": events}))
    }
}

job_sdk::export_jobs!(Segment);
