//! Jobs that misbehave on purpose, for the server's end-to-end tests and
//! benchmark: each exercises one limit or one host function. Not a model of
//! how to write jobs, except for `validate-strict` and `objects`.

use std::thread;
use std::time::Duration;

use job_sdk::cassandra::{CqlValue, Session};
use job_sdk::{Config, Job, JobError, Problem, Problems, Value, json, kafka, named_objects};
use serde::Deserialize;

pub struct Noop;

impl Job for Noop {
    const NAME: &'static str = "noop";
    const DESCRIPTION: &'static str = "Returns {\"ok\": true} and nothing else, to measure the server's cost per job";

    fn run(_: &Config) -> Result<Value, JobError> {
        Ok(json!({"ok": true}))
    }
}

pub struct Spin;

impl Job for Spin {
    const NAME: &'static str = "spin";
    const DESCRIPTION: &'static str = "Loops forever without calling the host, so only a deadline can stop it";

    fn run(_: &Config) -> Result<Value, JobError> {
        let mut n: u64 = 0;
        loop {
            // black_box keeps the optimiser from proving the loop useless.
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

pub struct Alloc;

impl Job for Alloc {
    const NAME: &'static str = "alloc";
    const DESCRIPTION: &'static str = "Allocates and fills 1 MiB blocks until memory runs out \
        (or, with `mib`, until that many are held; then returns {\"allocated_mib\": mib})";

    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        config.get_opt::<u64>("mib")?;
        Ok(())
    }

    fn run(config: &Config) -> Result<Value, JobError> {
        let limit = config.get_opt::<u64>("mib")?.unwrap_or(u64::MAX);
        let mut blocks = Vec::new();
        // vec![1; n] writes every byte, so the pages are really used.
        while (blocks.len() as u64) < limit {
            blocks.push(std::hint::black_box(vec![1u8; 1 << 20]));
        }
        Ok(json!({"allocated_mib": blocks.len()}))
    }
}

pub struct Panic;

impl Job for Panic {
    const NAME: &'static str = "panic";
    const DESCRIPTION: &'static str = "Panics with `message` (default \"boom\")";

    fn run(config: &Config) -> Result<Value, JobError> {
        let message: String = config.get_or("message", "boom".to_owned())?;
        panic!("{message}");
    }
}

pub struct Fail;

impl Job for Fail {
    const NAME: &'static str = "fail";
    const DESCRIPTION: &'static str =
        "Returns an error with `message` (default \"failed on purpose\") and `class` (default JobError)";

    fn run(config: &Config) -> Result<Value, JobError> {
        let message: String = config.get_or("message", "failed on purpose".to_owned())?;
        let class: String = config.get_or("class", "JobError".to_owned())?;
        Err(JobError::with_class(class, message))
    }
}

pub struct WhoAmI;

impl Job for WhoAmI {
    const NAME: &'static str = "whoami";
    const DESCRIPTION: &'static str = "Returns what job-info says about the job, in validate and in run";

    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        // A job can refuse a config by what it is running as.
        let expected: Option<String> = config.get_opt("expect-app")?;
        match (expected, job_sdk::job_info()) {
            (Some(app), Some(info)) if info.app != app => {
                Err(vec![Problem::new("expect-app", format!("this is app {}", info.app))])
            }
            (_, None) => Err(vec![Problem::whole("validate got no job info")]),
            _ => Ok(()),
        }
    }

    fn run(_: &Config) -> Result<Value, JobError> {
        let info = job_sdk::job_info().ok_or("run got no job info")?;
        Ok(json!({
            "id": info.id,
            "app": info.app,
            "version": info.version,
            "entry": info.entry,
            "context": info.context,
            "adhoc": info.adhoc,
            "submittedAt": info.submitted_at,
        }))
    }
}

pub struct BigResult;

impl Job for BigResult {
    const NAME: &'static str = "big-result";
    const DESCRIPTION: &'static str = "Returns a JSON string of `size` 'x' characters \
        (the result's JSON text is size + 2 bytes, with the quotes)";

    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        config.get::<usize>("size")?;
        Ok(())
    }

    fn run(config: &Config) -> Result<Value, JobError> {
        Ok(Value::String("x".repeat(config.get("size")?)))
    }
}

pub struct Sleep;

impl Job for Sleep {
    const NAME: &'static str = "sleep";
    const DESCRIPTION: &'static str = "Sleeps `ms` milliseconds (default 1000), waiting on the \
        host rather than spinning, then returns {\"slept_ms\": ms}; with `validate_ms`, its \
        validate prints a line and sleeps that long first";

    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        if let Some(ms) = config.get_opt::<u64>("validate_ms")? {
            println!("validating for {ms} ms");
            thread::sleep(Duration::from_millis(ms));
        }
        config.get_opt::<u64>("ms")?;
        Ok(())
    }

    fn run(config: &Config) -> Result<Value, JobError> {
        let ms = config.get_or("ms", 1000)?;
        thread::sleep(Duration::from_millis(ms));
        Ok(json!({"slept_ms": ms}))
    }
}

pub struct Chatty;

impl Job for Chatty {
    const NAME: &'static str = "chatty";
    const DESCRIPTION: &'static str = "Logs `lines` info lines (default 3) and a warning, \
        prints a line to stdout and one to stderr, reports progress 0.25, 0.5 and 1.0 with \
        `ms` milliseconds (default 0) between them, and returns {\"lines\": lines}; with \
        `note`, logs it and reports it as the last progress message";

    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        let mut problems = Problems::new();
        problems.check(config.get_opt::<u32>("lines"));
        problems.check(config.get_opt::<u64>("ms"));
        problems.check(config.get_opt::<String>("note"));
        problems.into_result()
    }

    fn run(config: &Config) -> Result<Value, JobError> {
        let lines: u32 = config.get_or("lines", 3)?;
        let note: Option<String> = config.get_opt("note")?;
        let pause = Duration::from_millis(config.get_or("ms", 0)?);
        for line in 1..=lines {
            job_sdk::info!("line {line} of {lines}");
        }
        job_sdk::log::warn("a warning");
        println!("a line on stdout");
        eprintln!("a line on stderr");
        job_sdk::progress(0.25, Some("a quarter"));
        thread::sleep(pause);
        job_sdk::progress(0.5, Some("half"));
        thread::sleep(pause);
        if let Some(note) = &note {
            job_sdk::info!("{note}");
        }
        job_sdk::progress(1.0, Some(note.as_deref().unwrap_or("done")));
        Ok(json!({"lines": lines}))
    }
}

pub struct ValidateStrict;

impl Job for ValidateStrict {
    const NAME: &'static str = "validate-strict";
    const DESCRIPTION: &'static str = "Accepts only a config with `name` (a string) and `count` \
        (a whole number of at least 1), reporting both problems at once; returns them";

    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        let mut problems = Problems::new();
        problems.check(config.str("name"));
        if let Some(count) = problems.check(config.get::<u64>("count"))
            && count < 1
        {
            problems.push(Problem::new("count", "must be at least 1"));
        }
        problems.into_result()
    }

    fn run(config: &Config) -> Result<Value, JobError> {
        let name = config.str("name")?;
        let count: u64 = config.get("count")?;
        Ok(json!({"name": name, "count": count}))
    }
}

pub struct Echo;

impl Job for Echo {
    const NAME: &'static str = "echo";
    const DESCRIPTION: &'static str = "Returns its config unchanged, to check how request bodies reach jobs";

    fn run(config: &Config) -> Result<Value, JobError> {
        Ok(config.raw().clone())
    }
}

pub struct Objects;

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Op {
    Put,
    Get,
    Delete,
    List,
}

impl Objects {
    fn op(config: &Config) -> Result<Op, Problem> {
        config.get("op")
    }
}

impl Job for Objects {
    const NAME: &'static str = "objects";
    const DESCRIPTION: &'static str = "Runs one named-object operation: `op` = put (`name`, \
        `value`: any JSON) → {\"stored\": true}, get (`name`) → {\"found\": bool, \"value\": \
        value or null}, delete (`name`) → {\"deleted\": bool}, or list → {\"names\": [..]}";

    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        let mut problems = Problems::new();
        let op = problems.check(Self::op(config));
        if matches!(op, Some(Op::Put | Op::Get | Op::Delete)) {
            problems.check(config.str("name"));
        }
        // `value` may be any JSON, null included, so only its absence counts.
        if matches!(op, Some(Op::Put)) && config.value("value").is_none() {
            problems.push(Problem::new("value", "is required"));
        }
        problems.into_result()
    }

    fn run(config: &Config) -> Result<Value, JobError> {
        Ok(match Self::op(config)? {
            Op::Put => {
                let value = config.value("value").unwrap_or(&Value::Null);
                named_objects::put(config.str("name")?, value)?;
                json!({"stored": true})
            }
            Op::Get => {
                let value = named_objects::get::<Value>(config.str("name")?)?;
                json!({"found": value.is_some(), "value": value})
            }
            Op::Delete => json!({"deleted": named_objects::delete(config.str("name")?)?}),
            Op::List => json!({"names": named_objects::list()?}),
        })
    }
}

/// A job that handles a typed error instead of failing: `{"caught": class, "message": ...}`.
fn caught(class: &str, message: &str) -> Value {
    json!({"caught": class, "message": message})
}

pub struct KafkaCheck;

impl Job for KafkaCheck {
    const NAME: &'static str = "kafka-check";
    const DESCRIPTION: &'static str = "Returns the partitions of `topic`; with `catch`, a Kafka error as \
        {\"caught\": class} rather than a failure; with `read`, reads the whole topic and counts it (with `hold`, keeping every record); with \
        `readers`, first opens that many readers at once";

    fn run(config: &Config) -> Result<Value, JobError> {
        let topic = config.str("topic")?;
        let catch: bool = config.get_or("catch", false)?;
        let partitions = match kafka::partitions(topic) {
            Ok(partitions) => partitions,
            Err(error) if catch => return Ok(caught(error.class(), error.message())),
            Err(error) => return Err(error.into()),
        };
        let mut result = json!({"partitions": partitions.len()});
        // `readers` opens that many readers at once and holds them.
        let mut open = Vec::new();
        for _ in 0..config.get_or("readers", 0)? {
            match kafka::Read::topic(topic).open() {
                Ok(reader) => open.push(reader),
                Err(error) if catch => return Ok(caught(error.class(), error.message())),
                Err(error) => return Err(error.into()),
            }
        }
        if config.get_or("read", false)? {
            let reader = kafka::Read::topic(topic).open()?;
            // `hold` keeps every record: what crossed into the job stays in its memory.
            let hold: bool = config.get_or("hold", false)?;
            let (mut records, mut held) = (0, Vec::new());
            for batch in reader.batches() {
                let batch = batch?;
                records += batch.len();
                if hold {
                    held.push(batch);
                }
            }
            result["records"] = json!(records);
        }
        Ok(result)
    }
}

pub struct Cql;

fn to_json(value: &CqlValue) -> Value {
    match value {
        CqlValue::Null => Value::Null,
        CqlValue::Boolean(b) => json!(b),
        CqlValue::TinyInt(n) => json!(n),
        CqlValue::SmallInt(n) => json!(n),
        CqlValue::Int(n) => json!(n),
        CqlValue::BigInt(n) | CqlValue::Counter(n) | CqlValue::Time(n) | CqlValue::Timestamp(n) => json!(n),
        CqlValue::Date(n) => json!(n),
        CqlValue::Float(x) => json!(x),
        CqlValue::Double(x) => json!(x),
        CqlValue::List(items) | CqlValue::Set(items) | CqlValue::Tuple(items) | CqlValue::Vector(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        CqlValue::Text(text)
        | CqlValue::Ascii(text)
        | CqlValue::Varint(text)
        | CqlValue::Decimal(text)
        | CqlValue::Uuid(text)
        | CqlValue::Timeuuid(text)
        | CqlValue::Inet(text) => json!(text),
        other => json!(format!("{other:?}")),
    }
}

impl Job for Cql {
    const NAME: &'static str = "cql";
    const DESCRIPTION: &'static str = "Runs CQL `statement` (with `query`, returns its rows as arrays); with \
        `catch`, a Cassandra error as {\"caught\": class} rather than a failure";

    fn run(config: &Config) -> Result<Value, JobError> {
        let statement = config.str("statement")?;
        let catch: bool = config.get_or("catch", false)?;
        let outcome = Session::open().and_then(|session| {
            if config.get_or("query", false).unwrap_or(false) {
                let mut rows = Vec::new();
                for row in session.query(statement, ())? {
                    rows.push(Value::Array(row?.values().iter().map(to_json).collect()));
                }
                Ok(Value::Array(rows))
            } else {
                session.execute(statement, ()).map(|()| json!({"ok": true}))
            }
        });
        match outcome {
            Ok(result) => Ok(result),
            Err(error) if catch => Ok(caught(error.class(), error.message())),
            Err(error) => Err(error.into()),
        }
    }
}

pub struct KafkaProduce;

impl Job for KafkaProduce {
    const NAME: &'static str = "kafka-produce";
    const DESCRIPTION: &'static str = "Sends `count` records of `size` bytes to `topic`, `batch` (default 5000) \
        per call, for the benchmark; returns {\"records\": count}";

    fn run(config: &Config) -> Result<Value, JobError> {
        let topic = config.str("topic")?;
        let count: usize = config.get("count")?;
        let size: usize = config.get_or("size", 32)?;
        let batch: usize = config.get_or("batch", 5_000)?;
        let producer = kafka::Producer::open(topic)?;
        let value = vec![b'x'; size];
        let mut sent = 0;
        while sent < count {
            let n = batch.max(1).min(count - sent);
            let records: Vec<kafka::Outgoing> = (0..n).map(|_| kafka::Outgoing::value(value.clone())).collect();
            producer.send(&records)?;
            sent += n;
        }
        Ok(json!({"records": sent}))
    }
}

pub struct CassandraScan;

impl Job for CassandraScan {
    const NAME: &'static str = "cassandra-scan";
    const DESCRIPTION: &'static str = "Reads every row of `table`, `page-size` (default 1000) at a time, and sums \
        bigint column `column`, for the benchmark; returns {\"rows\": n, \"sum\": s}";

    fn run(config: &Config) -> Result<Value, JobError> {
        let table = config.str("table")?;
        let column = config.str("column")?;
        let ok = |name: &str| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !ok(table) || !ok(column) {
            return Err(JobError::with_class(
                "BadInput",
                "table and column are names: letters, digits, _ and .",
            ));
        }
        let page_size: u32 = config.get_or("page-size", 1_000)?;
        let session = Session::open()?;
        let (mut rows, mut sum) = (0u64, 0i64);
        for row in session.query_with_page_size(&format!("SELECT {column} FROM {table}"), (), page_size)? {
            sum += row?.get_index::<i64>(0)?;
            rows += 1;
        }
        Ok(json!({"rows": rows, "sum": sum}))
    }
}

job_sdk::export_jobs!(
    Noop,
    Spin,
    Alloc,
    Panic,
    Fail,
    BigResult,
    Sleep,
    Chatty,
    ValidateStrict,
    Echo,
    Objects,
    WhoAmI,
    KafkaCheck,
    Cql,
    KafkaProduce,
    CassandraScan,
);

#[cfg(test)]
mod tests {
    use super::*;

    fn config(value: Value) -> Config {
        Config::new(value)
    }

    #[test]
    fn strict_validation_reports_both_problems() {
        assert_eq!(
            ValidateStrict::validate(&config(json!({}))),
            Err(vec![
                Problem::new("name", "is required"),
                Problem::new("count", "is required"),
            ])
        );
        assert_eq!(
            ValidateStrict::validate(&config(json!({"name": 1, "count": 0}))),
            Err(vec![
                Problem::new("name", "must be a string"),
                Problem::new("count", "must be at least 1"),
            ])
        );
        let good = config(json!({"name": "x", "count": 2}));
        assert_eq!(ValidateStrict::validate(&good), Ok(()));
        assert_eq!(ValidateStrict::run(&good), Ok(json!({"name": "x", "count": 2})));
    }

    #[test]
    fn small_jobs() {
        assert_eq!(Noop::run(&config(json!({}))), Ok(json!({"ok": true})));
        assert_eq!(Fail::run(&config(json!({}))), Err(JobError::new("failed on purpose")));
        assert_eq!(BigResult::run(&config(json!({"size": 3}))), Ok(json!("xxx")));
        assert_eq!(Alloc::run(&config(json!({"mib": 2}))), Ok(json!({"allocated_mib": 2})));
        assert_eq!(Sleep::run(&config(json!({"ms": 1}))), Ok(json!({"slept_ms": 1})));
        assert_eq!(Chatty::run(&config(json!({"lines": 1}))), Ok(json!({"lines": 1})));
        let echoed = json!({"b": 1, "a": {"c": [null, "x"]}});
        assert_eq!(Echo::run(&config(echoed.clone())), Ok(echoed));
    }

    #[test]
    #[should_panic(expected = "kaboom")]
    fn panic_uses_the_message() {
        let _ = Panic::run(&config(json!({"message": "kaboom"})));
    }

    #[test]
    fn objects_operations() {
        let run = |value: Value| Objects::run(&config(value));
        assert_eq!(
            run(json!({"op": "put", "name": "n", "value": [1, "x"]})),
            Ok(json!({"stored": true}))
        );
        assert_eq!(
            run(json!({"op": "get", "name": "n"})),
            Ok(json!({"found": true, "value": [1, "x"]}))
        );
        assert_eq!(run(json!({"op": "list"})), Ok(json!({"names": ["n"]})));
        assert_eq!(run(json!({"op": "delete", "name": "n"})), Ok(json!({"deleted": true})));
        assert_eq!(
            run(json!({"op": "get", "name": "n"})),
            Ok(json!({"found": false, "value": null}))
        );
    }

    #[test]
    fn objects_validation() {
        let validate = |value: Value| Objects::validate(&config(value));
        assert_eq!(validate(json!({"op": "list"})), Ok(()));
        assert_eq!(validate(json!({"op": "put", "name": "n", "value": null})), Ok(()));
        assert_eq!(
            validate(json!({"op": "put"})),
            Err(vec![
                Problem::new("name", "is required"),
                Problem::new("value", "is required"),
            ])
        );
        let unknown = validate(json!({"op": "frob"})).unwrap_err();
        assert_eq!(unknown[0].path, "op");
        assert!(unknown[0].message.contains("expected one of"), "{unknown:?}");
    }
}
