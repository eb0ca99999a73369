//! Jobs: their lifecycle from submission to end, results, progress and logs.

use super::text::storable;
use super::{Store, StoreResult};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

/// The columns of `JobRow`, spliced into queries with `concat!` so that every
/// query stays a static string.
macro_rules! job_columns {
    () => {
        "id, app_name, app_version, blob_hash, class_path, context, adhoc, status, submitted_at, \
         started_at, ended_at, result, error_class, error_message, progress, progress_message, \
         timeout_ms, memory_limit"
    };
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: Uuid,
    pub app_name: String,
    pub app_version: i32,
    pub blob_hash: String,
    pub class_path: String,
    pub context: String,
    pub adhoc: bool,
    pub status: String,
    pub submitted_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub result: Option<Json<Value>>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    pub progress: Option<f32>,
    pub progress_message: Option<String>,
    pub timeout_ms: i64,
    pub memory_limit: i64,
}

/// A job that had not started when the server stopped, with what it needs to run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingJobRow {
    #[sqlx(flatten)]
    pub job: JobRow,
    pub config: Json<Value>,
}

pub struct NewJob<'a> {
    pub id: Uuid,
    pub app_name: &'a str,
    pub app_version: i32,
    pub blob_hash: &'a str,
    pub class_path: &'a str,
    pub context: &'a str,
    pub adhoc: bool,
    /// JSON text, stored as given so its keys keep their order.
    pub config: &'a str,
    /// `STARTED` when queued, `RUNNING` when it starts at once.
    pub status: &'a str,
    pub submitted_at: DateTime<Utc>,
    pub timeout_ms: i64,
    pub memory_limit: i64,
}

/// How a job ended.
#[derive(Debug, Clone)]
pub struct JobEnd {
    pub status: &'static str,
    pub ended_at: DateTime<Utc>,
    /// JSON text of the result, for a finished job.
    pub result: Option<String>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct JobListFilter {
    pub limit: i64,
    pub status: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobLogRow {
    pub seq: i32,
    pub logged_at: DateTime<Utc>,
    pub level: String,
    pub message: String,
}

/// What start-up found of jobs that a stop left behind.
#[derive(Debug, Default)]
pub struct ReconcileReport {
    /// Jobs that were running when the server went away; now ERROR.
    pub interrupted: Vec<Uuid>,
    /// Jobs that were queued and still are: the scheduler queues them again.
    pub pending: Vec<PendingJobRow>,
}

impl Store {
    /// Records a new job; false when its app was deleted meanwhile. The app row
    /// is share-locked for the statement, which is what makes `delete_app`'s
    /// check for active jobs sound.
    pub async fn insert_job(&self, job: &NewJob<'_>) -> StoreResult<bool> {
        let started_at = (job.status == "RUNNING").then_some(job.submitted_at);
        let inserted = sqlx::query(
            "WITH app AS (SELECT name FROM apps WHERE name = $2 FOR SHARE)
             INSERT INTO jobs (id, app_name, app_version, blob_hash, class_path, context, adhoc, config,
                               status, submitted_at, started_at, timeout_ms, memory_limit)
             SELECT $1, app.name, $3, $4, $5, $6, $7, $8::json, $9, $10, $11, $12, $13 FROM app",
        )
        .bind(job.id)
        .bind(job.app_name)
        .bind(job.app_version)
        .bind(job.blob_hash)
        .bind(job.class_path)
        .bind(job.context)
        .bind(job.adhoc)
        .bind(job.config)
        .bind(job.status)
        .bind(job.submitted_at)
        .bind(started_at)
        .bind(job.timeout_ms)
        .bind(job.memory_limit)
        .execute(&self.pool)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// A queued job starts running.
    pub async fn mark_running(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE jobs SET status = 'RUNNING', started_at = $2 WHERE id = $1 AND status = 'STARTED'")
            .bind(id)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a job that has not ended yet; false when it had (the first end wins).
    pub async fn finish_job(&self, id: Uuid, end: &JobEnd) -> StoreResult<bool> {
        let updated = sqlx::query(
            "UPDATE jobs SET status = $2, ended_at = $3, result = $4::json, error_class = $5, error_message = $6
             WHERE id = $1 AND status IN ('STARTED', 'RUNNING')",
        )
        .bind(id)
        .bind(end.status)
        .bind(end.ended_at)
        .bind(end.result.as_deref())
        .bind(end.error_class.as_deref())
        .bind(end.error_message.as_deref().map(storable))
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    pub async fn update_progress(&self, id: Uuid, fraction: f32, message: Option<&str>) -> StoreResult<()> {
        sqlx::query("UPDATE jobs SET progress = $2, progress_message = $3 WHERE id = $1")
            .bind(id)
            .bind(fraction)
            .bind(message.map(storable))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Appends log lines numbered from `first_seq` on.
    pub async fn append_logs(
        &self,
        id: Uuid,
        first_seq: i32,
        lines: &[(DateTime<Utc>, &str, &str)],
    ) -> StoreResult<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let seqs: Vec<i32> = (first_seq..).take(lines.len()).collect();
        let times: Vec<DateTime<Utc>> = lines.iter().map(|line| line.0).collect();
        let levels: Vec<&str> = lines.iter().map(|line| line.1).collect();
        let storable_messages: Vec<_> = lines.iter().map(|line| storable(line.2)).collect();
        let messages: Vec<&str> = storable_messages.iter().map(AsRef::as_ref).collect();
        sqlx::query(
            "INSERT INTO job_logs (job_id, seq, logged_at, level, message)
             SELECT $1, * FROM UNNEST($2::INT[], $3::TIMESTAMPTZ[], $4::TEXT[], $5::TEXT[])",
        )
        .bind(id)
        .bind(&seqs)
        .bind(&times)
        .bind(&levels)
        .bind(&messages)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_job(&self, id: Uuid) -> StoreResult<Option<JobRow>> {
        Ok(
            sqlx::query_as::<_, JobRow>(concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Newest first.
    pub async fn list_jobs(&self, filter: &JobListFilter) -> StoreResult<Vec<JobRow>> {
        Ok(sqlx::query_as::<_, JobRow>(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE ($1::TEXT IS NULL OR status = $1) ORDER BY submitted_at DESC, id LIMIT $2"
        ))
        .bind(filter.status.as_deref())
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn job_config(&self, id: Uuid) -> StoreResult<Option<Value>> {
        let config: Option<Json<Value>> = sqlx::query_scalar("SELECT config FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(config.map(|Json(value)| value))
    }

    /// The job's log lines in order; `None` when there is no such job.
    pub async fn job_logs(&self, id: Uuid) -> StoreResult<Option<Vec<JobLogRow>>> {
        let exists: Option<Uuid> = sqlx::query_scalar("SELECT id FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        Ok(Some(
            sqlx::query_as::<_, JobLogRow>(
                "SELECT seq, logged_at, level, message FROM job_logs WHERE job_id = $1 ORDER BY seq",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?,
        ))
    }

    /// At start-up: a job still RUNNING was cut off by a crash (or a kill -9) and
    /// ends ERROR; a job still STARTED never ran and is handed back to be queued.
    pub async fn reconcile_after_stop(&self, now: DateTime<Utc>) -> StoreResult<ReconcileReport> {
        let interrupted = sqlx::query_scalar(
            "UPDATE jobs SET status = 'ERROR', ended_at = $1, error_class = 'ServerStopped',
                    error_message = 'the server stopped while the job was running'
             WHERE status = 'RUNNING' RETURNING id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let pending = sqlx::query_as::<_, PendingJobRow>(concat!(
            "SELECT ",
            job_columns!(),
            ", config FROM jobs WHERE status = 'STARTED' ORDER BY submitted_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(ReconcileReport { interrupted, pending })
    }

    /// Deletes ended jobs (and their logs) that ended before `before`.
    pub async fn purge_ended_jobs(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(
            sqlx::query("DELETE FROM jobs WHERE ended_at < $1 AND status IN ('FINISHED', 'ERROR', 'KILLED')")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}
