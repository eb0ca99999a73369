//! KillrWeather's precipitation queries: for one weather station and year,
//! the annual cumulative precipitation and the K wettest days, from the daily
//! aggregates table the streaming side keeps with counters.
//!
//! ```cql
//! CREATE TABLE daily_aggregate_precip (wsid text, year int, month int, day int,
//!     precipitation counter, PRIMARY KEY ((wsid), year, month, day));
//! ```
//!
//! Config: `wsid`, `year`, `k` (default 10), optionally `keyspace`. Counters
//! hold whole numbers: KillrWeather keeps tenths of millimetres.

use job_sdk::cassandra::Session;
use job_sdk::{Config, Job, JobError, Problem, Problems, Value, json};

pub struct Precipitation;

const MAX_K: usize = 366;

fn k(config: &Config) -> Result<usize, Problem> {
    let k: usize = config.get_or("k", 10)?;
    if !(1..=MAX_K).contains(&k) {
        return Err(Problem::new("k", format!("must be from 1 to {MAX_K}")));
    }
    Ok(k)
}

impl Job for Precipitation {
    const NAME: &'static str = "precipitation";
    const DESCRIPTION: &'static str = "For station `wsid` and `year`: the annual cumulative precipitation and the \
        `k` (default 10) wettest days, from table daily_aggregate_precip";

    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        let mut problems = Problems::new();
        problems.check(config.str("wsid"));
        problems.check(config.get::<i32>("year"));
        problems.check(k(config));
        problems.check(config.get_opt::<String>("keyspace"));
        problems.into_result()
    }

    fn run(config: &Config) -> Result<Value, JobError> {
        let wsid = config.str("wsid")?;
        let year: i32 = config.get("year")?;
        let k = k(config)?;
        let session = match config.get_opt::<String>("keyspace")? {
            Some(keyspace) => Session::open_keyspace(&keyspace)?,
            None => Session::open()?,
        };
        let rows = session.query(
            "SELECT month, day, precipitation FROM daily_aggregate_precip WHERE wsid = ? AND year = ?",
            (wsid, year),
        )?;
        let mut days: Vec<(i32, i32, i64)> = Vec::new();
        for row in rows {
            let row = row?;
            days.push((row.get("month")?, row.get("day")?, row.get("precipitation")?));
        }
        let annual: i64 = days.iter().map(|day| day.2).sum();
        // Wettest first; ties by date, so that the answer does not depend on row order.
        days.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        let top: Vec<Value> = days
            .iter()
            .take(k)
            .map(|(month, day, precipitation)| json!({"month": month, "day": day, "precipitation": precipitation}))
            .collect();
        Ok(json!({
            "wsid": wsid,
            "year": year,
            "days": days.len(),
            "annual-precipitation": annual,
            "top-k": top,
        }))
    }
}

job_sdk::export_jobs!(Precipitation);
