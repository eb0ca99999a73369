//! How jobs change hands between servers: submission into a slot or a queue,
//! claims, ends that hand a slot to the next waiting job, kills from any
//! server. Each is one call of a function of `migrations/0004`, so one round
//! trip and one commit; the locking that makes them sound is described there
//! (submission's in `0006`).

use super::status::JobStatus;
use super::text::storable;
use super::{JobRow, Store, StoreResult};
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::Row;
use uuid::Uuid;

/// Which server acts: the one whose claims and ends these are.
#[derive(Debug, Clone)]
pub struct ServerId {
    pub id: Uuid,
    pub name: String,
}

/// The queue all ad-hoc jobs share (no persistent context name has a ':').
pub const ADHOC_QUEUE: &str = ":adhoc";

/// The pool of a server's own ad-hoc slots.
pub fn adhoc_pool(server: Uuid) -> String {
    format!("adhoc:{server}")
}

pub struct NewJob<'a> {
    pub id: Uuid,
    pub app_name: &'a str,
    pub app_version: i32,
    /// Whether the newest version was asked for: then `app_version` must
    /// still be the newest when the job is recorded.
    pub latest: bool,
    pub blob_hash: &'a str,
    pub class_path: &'a str,
    pub context: &'a str,
    /// An ad-hoc job waits in the shared ad-hoc queue and runs in a server's
    /// ad-hoc slots; a persistent context's in its own.
    pub adhoc: bool,
    /// When the persistent context the submitter saw was created: a context
    /// deleted and created again meanwhile is another one.
    pub context_created: Option<DateTime<Utc>>,
    /// How many jobs may wait in its queue.
    pub max_queued: u32,
    /// JSON text, stored as given so its keys keep their order.
    pub config: &'a str,
    pub submitted_at: DateTime<Utc>,
    pub timeout_ms: i64,
    pub memory_limit: i64,
}

impl NewJob<'_> {
    /// The job's row as a submission with `outcome` (`Running` or `Queued`)
    /// records it, so that its report needs no read back: what PostgreSQL
    /// keeps of each value (microseconds of a time) and nothing more.
    pub fn recorded(&self, outcome: SubmitOutcome, server: &ServerId) -> JobRow {
        let running = outcome == SubmitOutcome::Running;
        let submitted_at = self.submitted_at.trunc_subsecs(6);
        JobRow {
            id: self.id,
            app_name: self.app_name.to_string(),
            app_version: self.app_version,
            blob_hash: self.blob_hash.to_string(),
            class_path: self.class_path.to_string(),
            context: self.context.to_string(),
            adhoc: self.adhoc,
            status: if running {
                JobStatus::Running
            } else {
                JobStatus::Started
            },
            submitted_at,
            started_at: running.then_some(submitted_at),
            ended_at: None,
            result: None,
            error_class: None,
            error_message: None,
            progress: None,
            progress_message: None,
            timeout_ms: self.timeout_ms,
            memory_limit: self.memory_limit,
            server_name: running.then(|| server.name.clone()),
        }
    }
}

impl JobEnd {
    /// `row` as `jobserver_end` leaves it when it records this end.
    pub fn recorded(&self, mut row: JobRow) -> JobRow {
        row.status = self.status;
        row.ended_at = Some(self.ended_at.trunc_subsecs(6));
        // A result that is not JSON is refused by the store before this.
        row.result = self.result.as_deref().and_then(|text| serde_json::from_str(text).ok());
        row.error_class = self.error_class.clone();
        row.error_message = self.error_message.as_deref().map(|text| storable(text).into_owned());
        if let Some((fraction, message)) = &self.progress {
            row.progress = Some(*fraction);
            row.progress_message = message.as_deref().map(|text| storable(text).into_owned());
        }
        row
    }
}

/// What became of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Recorded RUNNING on the submitting server, in a slot of its pool.
    Running,
    /// Recorded STARTED, waiting in its queue.
    Queued,
    /// Not recorded: no free slot, and the queue is full.
    Full { running: u32, queued: u32 },
    /// Not recorded: the app was deleted meanwhile.
    NoApp,
    /// Not recorded: the version is gone (its app was deleted and uploaded
    /// again), or a newer one was uploaded when the newest was asked for.
    StaleVersion,
    /// Not recorded: the context was deleted (or replaced) meanwhile.
    NoContext,
    /// Not recorded: the other servers took this one for dead; it records
    /// nothing until it joins again.
    NoLease,
}

/// A log line a job wrote.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub level: &'static str,
    pub message: String,
}

/// How a job ended, with what it logged since the last flush.
#[derive(Debug, Clone)]
pub struct JobEnd {
    pub status: JobStatus,
    pub ended_at: DateTime<Utc>,
    /// JSON text of the result, for a finished job.
    pub result: Option<String>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    /// The last progress, when it changed since the last flush.
    pub progress: Option<(f32, Option<String>)>,
    /// Log lines not written yet, numbered from `first_seq`.
    pub first_seq: i32,
    pub logs: Vec<LogLine>,
}

/// What recording an end did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndOutcome {
    /// False when the job was not this server's to end any more: another
    /// server took this one for dead and ended it.
    pub ended: bool,
    /// The waiting job that its slot was handed to, now this server's to run.
    pub next: Option<Uuid>,
}

/// What a kill found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillOutcome {
    /// It was waiting; it is KILLED now.
    Killed,
    /// It runs on this server; that server has been told.
    Running {
        server: Uuid,
    },
    /// It had ended.
    Ended(JobStatus),
    Missing,
}

impl Store {
    /// Records a job as RUNNING on `server` when its pool has a free slot and
    /// nobody waits ahead of it, as waiting when its queue has room.
    pub async fn submit_job(&self, job: &NewJob<'_>, server: &ServerId) -> StoreResult<SubmitOutcome> {
        submit_in(&self.pool, job, server).await
    }

    /// Records the end of a job `server` runs, with its last logs and
    /// progress, and frees its slot: handed to the next waiting job when
    /// `hand_over`, else left for any server.
    pub async fn end_job(&self, id: Uuid, server: &ServerId, end: &JobEnd, hand_over: bool) -> StoreResult<EndOutcome> {
        end_in(&self.pool, id, server, end, hand_over).await
    }
}

async fn submit_in<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    job: &NewJob<'_>,
    server: &ServerId,
) -> StoreResult<SubmitOutcome> {
    let (queue, pool) = queue_and_pool(job, server);
    let row = sqlx::query(
        "SELECT outcome, running, queued FROM jobserver_submit(
                 $1, $2, $3, $4, $5, $6, $7, $8::json, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(job.id)
    .bind(job.app_name)
    .bind(job.app_version)
    .bind(job.blob_hash)
    .bind(job.class_path)
    .bind(job.context)
    .bind(job.adhoc)
    .bind(job.config)
    .bind(job.submitted_at)
    .bind(job.timeout_ms)
    .bind(job.memory_limit)
    .bind(&queue)
    .bind(&pool)
    .bind(job.context_created)
    .bind(i32::try_from(job.max_queued).unwrap_or(i32::MAX))
    .bind(server.id)
    .bind(&server.name)
    .bind(job.latest)
    .fetch_one(executor)
    .await?;
    let outcome: String = row.try_get("outcome")?;
    Ok(match outcome.as_str() {
        "running" => SubmitOutcome::Running,
        "queued" => SubmitOutcome::Queued,
        "full" => SubmitOutcome::Full {
            running: row.try_get::<i32, _>("running")?.max(0) as u32,
            queued: row.try_get::<i32, _>("queued")?.max(0) as u32,
        },
        other => submit_outcome(other),
    })
}

/// A refusal, as the engine's functions name it.
pub(super) fn submit_outcome(outcome: &str) -> SubmitOutcome {
    match outcome {
        "no-app" => SubmitOutcome::NoApp,
        "stale-version" => SubmitOutcome::StaleVersion,
        "no-lease" => SubmitOutcome::NoLease,
        _ => SubmitOutcome::NoContext,
    }
}

/// The queue a job waits in and the pool of slots it runs in.
pub fn queue_and_pool(job: &NewJob<'_>, server: &ServerId) -> (String, String) {
    if job.adhoc {
        (ADHOC_QUEUE.to_string(), adhoc_pool(server.id))
    } else {
        (job.context.to_string(), job.context.to_string())
    }
}

/// The lines of a journal as three arrays, for UNNEST.
/// A job's unwritten log lines as the arrays the functions take.
#[derive(Default)]
pub(super) struct LogColumns {
    pub(super) seqs: Vec<i32>,
    pub(super) times: Vec<DateTime<Utc>>,
    pub(super) levels: Vec<&'static str>,
    pub(super) messages: Vec<String>,
}

impl LogColumns {
    pub(super) fn of(end: &JobEnd) -> LogColumns {
        let mut columns = LogColumns::default();
        columns.push(end);
        columns
    }

    pub(super) fn push(&mut self, end: &JobEnd) {
        for (n, line) in end.logs.iter().enumerate() {
            self.seqs.push(end.first_seq + n as i32);
            self.times.push(line.at);
            self.levels.push(line.level);
            self.messages.push(storable(&line.message).into_owned());
        }
    }
}

async fn end_in<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    id: Uuid,
    server: &ServerId,
    end: &JobEnd,
    hand_over: bool,
) -> StoreResult<EndOutcome> {
    let (set_progress, progress, progress_message) = match &end.progress {
        Some((fraction, message)) => (true, Some(*fraction), message.as_deref().map(storable)),
        None => (false, None, None),
    };
    let logs = LogColumns::of(end);
    let row = sqlx::query(
        "SELECT ended, next_job FROM jobserver_end(
                 $1, $2, $3, $4, $5, $6::json, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(id)
    .bind(server.id)
    .bind(&server.name)
    .bind(end.status.as_str())
    .bind(end.ended_at)
    .bind(end.result.as_deref())
    .bind(end.error_class.as_deref())
    .bind(end.error_message.as_deref().map(storable))
    .bind(set_progress)
    .bind(progress)
    .bind(progress_message)
    .bind(end.first_seq)
    .bind(&logs.times)
    .bind(&logs.levels)
    .bind(&logs.messages)
    .bind(hand_over)
    .fetch_one(executor)
    .await?;
    Ok(EndOutcome {
        ended: row.try_get("ended")?,
        next: row.try_get("next_job")?,
    })
}

impl Store {
    /// Claims for `server` up to `max` waiting jobs whose pools have a free
    /// slot, oldest first in each queue.
    pub async fn claim_jobs(&self, server: &ServerId, max: u32) -> StoreResult<Vec<Uuid>> {
        Ok(sqlx::query_scalar("SELECT jobserver_claim($1, $2, $3)")
            .bind(server.id)
            .bind(&server.name)
            .bind(i32::try_from(max).unwrap_or(i32::MAX))
            .fetch_all(&self.pool)
            .await?)
    }

    /// Kills a job wherever it is: a waiting one here, a running one by
    /// telling its server.
    pub async fn kill_job(&self, id: Uuid, reason: &str) -> StoreResult<KillOutcome> {
        let row = sqlx::query("SELECT outcome, detail FROM jobserver_kill($1, $2)")
            .bind(id)
            .bind(storable(reason))
            .fetch_one(&self.pool)
            .await?;
        let outcome: String = row.try_get("outcome")?;
        let detail: Option<String> = row.try_get("detail")?;
        let detail = detail.unwrap_or_default();
        Ok(match outcome.as_str() {
            "killed" => KillOutcome::Killed,
            "running" => match Uuid::parse_str(&detail) {
                Ok(server) => KillOutcome::Running { server },
                Err(_) => KillOutcome::Missing,
            },
            "ended" => KillOutcome::Ended(JobStatus::parse(&detail).unwrap_or(JobStatus::Error)),
            _ => KillOutcome::Missing,
        })
    }

    /// The jobs `server` runs that someone asked to kill, with the reason.
    pub async fn kill_requests(&self, server: Uuid) -> StoreResult<Vec<(Uuid, String)>> {
        let rows = sqlx::query(
            "SELECT id, kill_reason FROM jobs
             WHERE server_id = $1 AND status = 'RUNNING' AND kill_reason IS NOT NULL",
        )
        .bind(server)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("kill_reason")?)))
            .collect()
    }

    /// The jobs the store says `server` runs.
    pub async fn running_on(&self, server: Uuid) -> StoreResult<Vec<Uuid>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM jobs WHERE server_id = $1 AND status = 'RUNNING'")
                .bind(server)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The status of a job, cheaply: what waiting for its end polls.
    pub async fn job_status(&self, id: Uuid) -> StoreResult<Option<JobStatus>> {
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(status.and_then(|status| JobStatus::parse(&status)))
    }

    /// The waiting and running jobs of a persistent context, each in order
    /// (the waiting ones in the order they will run).
    pub async fn context_jobs(&self, context: &str) -> StoreResult<(Vec<Uuid>, Vec<Uuid>)> {
        let rows = sqlx::query(
            "SELECT id, status FROM jobs
             WHERE context = $1 AND NOT adhoc AND status IN ('STARTED', 'RUNNING')
             ORDER BY seq",
        )
        .bind(context)
        .fetch_all(&self.pool)
        .await?;
        let (mut running, mut queued) = (Vec::new(), Vec::new());
        for row in rows {
            let status: String = row.try_get("status")?;
            let id: Uuid = row.try_get("id")?;
            if status == "RUNNING" {
                running.push(id);
            } else {
                queued.push(id);
            }
        }
        Ok((running, queued))
    }
}
