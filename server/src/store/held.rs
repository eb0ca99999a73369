//! Slots a server holds for its sync jobs, and the ends of the jobs that ran
//! in them, written many to a commit (migration 0008 says how it is sound).

use super::engine::{LogColumns, queue_and_pool, submit_outcome};
use super::text::storable;
use super::{JobEnd, JobRow, NewJob, ServerId, Store, StoreResult, SubmitOutcome};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::QueryScalar;
use std::collections::HashMap;
use uuid::Uuid;

/// A slot a server holds: `token` stands in its `job_id` while it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub pool: String,
    /// The queue whose jobs the slot is for.
    pub queue: String,
    pub slot: i32,
    pub token: Uuid,
}

/// What `hold_slot` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Holding {
    Held(Hold),
    /// No slot is free, or jobs wait ahead: nothing was taken.
    Busy,
    /// As `submit_job` would refuse the job.
    Refused(SubmitOutcome),
}

/// What `check_held` found for a job about to run in a held slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldCheck {
    Ok,
    /// Jobs wait in its queue: the slot is theirs.
    Waiting,
    /// The hold is gone (its context was deleted, or the server reaped).
    NoHold,
    Refused(SubmitOutcome),
}

/// A job that ran in a held slot, as it ended.
#[derive(Debug, Clone)]
pub struct HeldEnd {
    /// As submitted and started (`NewJob::recorded`).
    pub job: JobRow,
    pub config: String,
    pub hold: Hold,
    pub end: JobEnd,
}

/// How `record_held` wrote a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    AsEnded,
    /// Its hold was gone, its context deleted: written KILLED, with the
    /// error `record_held` was given.
    ContextGone,
}

impl Store {
    /// Takes a free slot of the job's pool for `server` to hold, with the
    /// checks of a submission; `token` is the hold's.
    pub async fn hold_slot(&self, job: &NewJob<'_>, server: &ServerId, token: Uuid) -> StoreResult<Holding> {
        let (queue, pool) = queue_and_pool(job, server);
        let row = sqlx::query("SELECT outcome, slot FROM jobserver_hold_slot($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(job.app_name)
            .bind(job.app_version)
            .bind(job.latest)
            .bind(job.context)
            .bind(job.adhoc)
            .bind(job.context_created)
            .bind(&queue)
            .bind(&pool)
            .bind(server.id)
            .bind(token)
            .fetch_one(&self.pool)
            .await?;
        let outcome: String = row.try_get("outcome")?;
        Ok(match outcome.as_str() {
            "slot" => Holding::Held(Hold {
                pool,
                queue,
                slot: row.try_get("slot")?,
                token,
            }),
            "no-slot" => Holding::Busy,
            other => Holding::Refused(submit_outcome(other)),
        })
    }

    /// The checks of a submission, for a job about to run in `hold`, which
    /// `server` holds; and that it still does. Reads only, in one statement
    /// that the database plans once for the connection: as a PL/pgSQL
    /// function, each of its six lookups was a statement of its own, and a
    /// call cost about 0.25 ms of the database's CPU with 16 clients, more
    /// than writing the job's end (migration 0009).
    pub async fn check_held(&self, job: &NewJob<'_>, server: &ServerId, hold: &Hold) -> StoreResult<HeldCheck> {
        let outcome: String = sqlx::query_scalar(
            "SELECT CASE
                 WHEN NOT EXISTS (SELECT 1 FROM servers WHERE id = $8) THEN 'no-lease'
                 WHEN app.newest IS NULL THEN 'no-app'
                 WHEN ($3 AND app.newest <> $2)
                      OR NOT EXISTS (SELECT 1 FROM app_versions WHERE app_name = $1 AND version = $2)
                     THEN 'stale-version'
                 WHEN NOT $5 AND NOT EXISTS (SELECT 1 FROM contexts WHERE name = $4 AND created_at = $6)
                     THEN 'no-context'
                 WHEN NOT EXISTS (SELECT 1 FROM slots
                                   WHERE pool = $9 AND slot = $10 AND job_id = $11 AND held_by = $8)
                     THEN 'no-hold'
                 WHEN EXISTS (SELECT 1 FROM jobs WHERE queue = $7 AND status = 'STARTED') THEN 'waiting'
                 ELSE 'ok'
             END
             FROM (SELECT max(version) AS newest FROM app_versions WHERE app_name = $1) AS app",
        )
        .bind(job.app_name)
        .bind(job.app_version)
        .bind(job.latest)
        .bind(job.context)
        .bind(job.adhoc)
        .bind(job.context_created)
        .bind(&hold.queue)
        .bind(server.id)
        .bind(&hold.pool)
        .bind(hold.slot)
        .bind(hold.token)
        .fetch_one(&self.pool)
        .await?;
        Ok(match outcome.as_str() {
            "ok" => HeldCheck::Ok,
            "waiting" => HeldCheck::Waiting,
            "no-hold" => HeldCheck::NoHold,
            other => HeldCheck::Refused(submit_outcome(other)),
        })
    }

    /// Writes jobs that ran in slots `server` holds, as they ended, in one
    /// statement and one commit; a job whose hold is gone is written KILLED
    /// with the error `gone`. `None` when the server has no lease: nothing
    /// was written.
    pub async fn record_held(
        &self,
        server: &ServerId,
        gone: &str,
        ended: &[HeldEnd],
    ) -> StoreResult<Option<HashMap<Uuid, Recorded>>> {
        if let [one] = ended {
            return Ok(self
                .record_held_one(server, gone, one)
                .await?
                .map(|recorded| HashMap::from([(one.job.id, recorded)])));
        }
        let columns = HeldColumns::of(ended);
        let rows = sqlx::query(
            "SELECT job_id, held FROM jobserver_record_held($1, $2, $3,
                 $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                 $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)",
        )
        .bind(server.id)
        .bind(&server.name)
        .bind(gone)
        .bind(&columns.ids)
        .bind(&columns.apps)
        .bind(&columns.versions)
        .bind(&columns.blobs)
        .bind(&columns.classes)
        .bind(&columns.contexts)
        .bind(&columns.adhoc)
        .bind(&columns.configs)
        .bind(&columns.submitted)
        .bind(&columns.timeouts)
        .bind(&columns.memories)
        .bind(&columns.queues)
        .bind(&columns.pools)
        .bind(&columns.slots)
        .bind(&columns.holds)
        .bind(&columns.statuses)
        .bind(&columns.ended)
        .bind(&columns.results)
        .bind(&columns.error_classes)
        .bind(&columns.error_messages)
        .bind(&columns.progress)
        .bind(&columns.progress_messages)
        .bind(&columns.log_jobs)
        .bind(&columns.logs.seqs)
        .bind(&columns.logs.times)
        .bind(&columns.logs.levels)
        .bind(&columns.logs.messages)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() && !ended.is_empty() {
            return Ok(None);
        }
        let mut recorded = HashMap::with_capacity(rows.len());
        for row in rows {
            let held: bool = row.try_get("held")?;
            let as_written = if held { Recorded::AsEnded } else { Recorded::ContextGone };
            recorded.insert(row.try_get("job_id")?, as_written);
        }
        Ok(Some(recorded))
    }

    /// `record_held` of one job, in a statement of plain parameters, which
    /// the database plans once (migration 0009).
    async fn record_held_one(&self, server: &ServerId, gone: &str, ended: &HeldEnd) -> StoreResult<Option<Recorded>> {
        let HeldEnd { job, config, hold, end } = ended;
        let (progress, progress_message) = match &end.progress {
            Some((fraction, message)) => (Some(*fraction), message.as_deref().map(storable)),
            None => (None, None),
        };
        let logs = LogColumns::of(end);
        let query = sqlx::query_scalar(
            "SELECT jobserver_record_held_one($1, $2, $3,
                 $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                 $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)",
        )
        .bind(server.id)
        .bind(&server.name)
        .bind(gone);
        let held: Option<bool> = bind_held(query, job, config, hold)
            .bind(end.status.as_str())
            .bind(end.ended_at)
            .bind(end.result.as_deref())
            .bind(end.error_class.as_deref())
            .bind(end.error_message.as_deref().map(storable))
            .bind(progress)
            .bind(progress_message)
            .bind(&logs.seqs)
            .bind(&logs.times)
            .bind(&logs.levels)
            .bind(&logs.messages)
            .fetch_one(&self.pool)
            .await?;
        Ok(held.map(|held| if held { Recorded::AsEnded } else { Recorded::ContextGone }))
    }

    /// Writes a job that outlived its moment RUNNING in the slot `server`
    /// held for it, which becomes the job's; false when the hold is gone.
    pub async fn record_running_held(
        &self,
        job: &JobRow,
        config: &str,
        hold: &Hold,
        server: &ServerId,
    ) -> StoreResult<bool> {
        let query = sqlx::query_scalar(
            "SELECT jobserver_record_running_held(
                 $1, $2, $3, $4, $5, $6, $7, $8::json, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        );
        Ok(bind_held(query, job, config, hold)
            .bind(server.id)
            .bind(&server.name)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Gives back holds of one pool: with `hand_over`, each slot goes to the
    /// oldest job waiting, claimed for `server` (these come back); else it is
    /// free for any server.
    pub async fn release_holds(&self, server: &ServerId, holds: &[Hold], hand_over: bool) -> StoreResult<Vec<Uuid>> {
        let Some(first) = holds.first() else {
            return Ok(Vec::new());
        };
        let tokens: Vec<Uuid> = holds.iter().map(|hold| hold.token).collect();
        Ok(
            sqlx::query_scalar("SELECT jobserver_release_holds($1, $2, $3, $4, $5, $6)")
                .bind(server.id)
                .bind(&server.name)
                .bind(&first.pool)
                .bind(&first.queue)
                .bind(&tokens)
                .bind(hand_over)
                .fetch_all(&self.pool)
                .await?,
        )
    }
}

/// Binds a job about to be written in its held slot, as the functions that
/// write one take it: the job as submitted, then its hold.
fn bind_held<'q, O>(
    query: QueryScalar<'q, Postgres, O, PgArguments>,
    job: &'q JobRow,
    config: &'q str,
    hold: &'q Hold,
) -> QueryScalar<'q, Postgres, O, PgArguments> {
    query
        .bind(job.id)
        .bind(&job.app_name)
        .bind(job.app_version)
        .bind(&job.blob_hash)
        .bind(&job.class_path)
        .bind(&job.context)
        .bind(job.adhoc)
        .bind(config)
        .bind(job.submitted_at)
        .bind(job.timeout_ms)
        .bind(job.memory_limit)
        .bind(&hold.queue)
        .bind(&hold.pool)
        .bind(hold.slot)
        .bind(hold.token)
}

/// Ended jobs as the arrays of `jobserver_record_held`, one element per job
/// (per log line for the `log_` ones).
#[derive(Default)]
struct HeldColumns {
    ids: Vec<Uuid>,
    apps: Vec<String>,
    versions: Vec<i32>,
    blobs: Vec<String>,
    classes: Vec<String>,
    contexts: Vec<String>,
    adhoc: Vec<bool>,
    configs: Vec<String>,
    submitted: Vec<DateTime<Utc>>,
    timeouts: Vec<i64>,
    memories: Vec<i64>,
    queues: Vec<String>,
    pools: Vec<String>,
    slots: Vec<i32>,
    holds: Vec<Uuid>,
    statuses: Vec<&'static str>,
    ended: Vec<DateTime<Utc>>,
    results: Vec<Option<String>>,
    error_classes: Vec<Option<String>>,
    error_messages: Vec<Option<String>>,
    progress: Vec<Option<f32>>,
    progress_messages: Vec<Option<String>>,
    log_jobs: Vec<Uuid>,
    logs: LogColumns,
}

impl HeldColumns {
    fn of(ended: &[HeldEnd]) -> HeldColumns {
        let mut columns = HeldColumns::default();
        for HeldEnd { job, config, hold, end } in ended {
            columns.ids.push(job.id);
            columns.apps.push(job.app_name.clone());
            columns.versions.push(job.app_version);
            columns.blobs.push(job.blob_hash.clone());
            columns.classes.push(job.class_path.clone());
            columns.contexts.push(job.context.clone());
            columns.adhoc.push(job.adhoc);
            columns.configs.push(config.clone());
            columns.submitted.push(job.submitted_at);
            columns.timeouts.push(job.timeout_ms);
            columns.memories.push(job.memory_limit);
            columns.queues.push(hold.queue.clone());
            columns.pools.push(hold.pool.clone());
            columns.slots.push(hold.slot);
            columns.holds.push(hold.token);
            columns.statuses.push(end.status.as_str());
            columns.ended.push(end.ended_at);
            columns.results.push(end.result.clone());
            columns.error_classes.push(end.error_class.clone());
            columns
                .error_messages
                .push(end.error_message.as_deref().map(|text| storable(text).into_owned()));
            let (progress, message) = match &end.progress {
                Some((fraction, message)) => (
                    Some(*fraction),
                    message.as_deref().map(|text| storable(text).into_owned()),
                ),
                None => (None, None),
            };
            columns.progress.push(progress);
            columns.progress_messages.push(message);
            columns.log_jobs.extend(std::iter::repeat_n(job.id, end.logs.len()));
            columns.logs.push(end);
        }
        columns
    }
}
