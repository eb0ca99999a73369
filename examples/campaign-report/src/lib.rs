//! The SMACK talk's campaign report: for one month, each campaign's views and
//! clicks (the daily totals of table `campaign` plus the raw `event`s of that
//! month), written to `campaign_report`.
//!
//! ```cql
//! CREATE TABLE event (id uuid PRIMARY KEY, ad_id uuid, campaign uuid, ts bigint, type text);
//! CREATE TABLE campaign (id uuid, year int, month int, day int, views bigint, clicks bigint,
//!                        PRIMARY KEY (id, year, month, day));
//! ```
//!
//! `campaign_report (id text PRIMARY KEY, views bigint, clicks bigint)` is
//! created when it is missing. Config: `year`, `month`, and optionally
//! `keyspace` (else the context's).

use std::collections::BTreeMap;

use job_sdk::cassandra::{Batch, Session};
use job_sdk::{Config, Job, JobError, Problem, Problems, Value, json, time};

pub struct CampaignReport;

#[derive(Default)]
struct Totals {
    views: i64,
    clicks: i64,
}

fn month(config: &Config) -> Result<(i32, i32), Problem> {
    let year: i32 = config.get("year")?;
    let month: i32 = config.get("month")?;
    if !(1..=12).contains(&month) {
        return Err(Problem::new("month", "must be from 1 to 12"));
    }
    if !(1970..=9999).contains(&year) {
        return Err(Problem::new("year", "must be from 1970 to 9999"));
    }
    Ok((year, month))
}

impl Job for CampaignReport {
    const NAME: &'static str = "campaign-report";
    const DESCRIPTION: &'static str = "Counts each campaign's views and clicks for `year` and `month` from tables \
        campaign and event, and writes them to campaign_report";

    fn validate(config: &Config) -> Result<(), Vec<Problem>> {
        let mut problems = Problems::new();
        problems.check(month(config));
        problems.check(config.get_opt::<String>("keyspace"));
        problems.into_result()
    }

    fn run(config: &Config) -> Result<Value, JobError> {
        let (year, month) = month(config)?;
        let session = match config.get_opt::<String>("keyspace")? {
            Some(keyspace) => Session::open_keyspace(&keyspace)?,
            None => Session::open()?,
        };
        let (start, end) = time::month_millis(year, month as u32);
        let mut report: BTreeMap<String, Totals> = BTreeMap::new();

        // The daily totals already aggregated, for the month asked.
        let days = session.query("SELECT id, year, month, views, clicks FROM campaign", ())?;
        for row in days {
            let row = row?;
            if row.get::<i32>("year")? != year || row.get::<i32>("month")? != month {
                continue;
            }
            let totals = report.entry(row.get::<String>("id")?).or_default();
            totals.views += row.get::<Option<i64>>("views")?.unwrap_or(0);
            totals.clicks += row.get::<Option<i64>>("clicks")?.unwrap_or(0);
        }
        // Raw events of the month not yet aggregated, page by page.
        let mut events = 0u64;
        for row in session.query("SELECT campaign, ts, type FROM event", ())? {
            let row = row?;
            let ts: Option<i64> = row.get("ts")?;
            let Some(campaign) = row.get::<Option<String>>("campaign")? else {
                continue;
            };
            if !ts.is_some_and(|ts| (start..end).contains(&ts)) {
                continue;
            }
            events += 1;
            let totals = report.entry(campaign).or_default();
            match row.get::<Option<String>>("type")?.as_deref() {
                Some("view") => totals.views += 1,
                Some("click") => totals.clicks += 1,
                _ => {}
            }
        }

        session.execute(
            "CREATE TABLE IF NOT EXISTS campaign_report (id text PRIMARY KEY, views bigint, clicks bigint)",
            (),
        )?;
        let insert = "INSERT INTO campaign_report (id, views, clicks) VALUES (?, ?, ?)";
        let rows: Vec<(&String, &Totals)> = report.iter().collect();
        for chunk in rows.chunks(100) {
            let mut batch = Batch::unlogged();
            for (id, totals) in chunk {
                batch.add(insert, (id.as_str(), totals.views, totals.clicks));
            }
            session.batch(&batch)?;
        }
        job_sdk::info!("{} campaigns, {events} raw events in {year}-{month:02}", report.len());
        let campaigns: Vec<Value> = report
            .iter()
            .map(|(id, totals)| json!({"id": id, "views": totals.views, "clicks": totals.clicks}))
            .collect();
        Ok(json!({"year": year, "month": month, "campaigns": campaigns}))
    }
}

job_sdk::export_jobs!(CampaignReport);
