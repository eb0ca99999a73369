//! Jobs as recorded: reports, configs, logs and progress, listing and purging.
//! How jobs change hands (submission, claims, ends, kills) is in `engine`.

use super::status::JobStatus;
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
         timeout_ms, memory_limit, server_name"
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
    #[sqlx(try_from = "String")]
    pub status: JobStatus,
    pub submitted_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    #[sqlx(json(nullable))]
    pub result: Option<Value>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    pub progress: Option<f32>,
    pub progress_message: Option<String>,
    pub timeout_ms: i64,
    pub memory_limit: i64,
    /// The server that runs or ran it; none while it waits.
    pub server_name: Option<String>,
}

/// A job with what it needs to run: its config.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingJobRow {
    #[sqlx(flatten)]
    pub job: JobRow,
    #[sqlx(json)]
    pub config: Value,
}

#[derive(Debug, Clone, Default)]
pub struct JobListFilter {
    pub limit: i64,
    pub status: Option<JobStatus>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobLogRow {
    pub seq: i32,
    pub logged_at: DateTime<Utc>,
    pub level: String,
    pub message: String,
}

impl Store {
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

    /// A job with its config, to run it.
    pub async fn pending_job(&self, id: Uuid) -> StoreResult<Option<PendingJobRow>> {
        Ok(
            sqlx::query_as::<_, PendingJobRow>(concat!("SELECT ", job_columns!(), ", config FROM jobs WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
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
        .bind(filter.status.map(JobStatus::as_str))
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
