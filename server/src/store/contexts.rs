//! Persistent contexts and their settings.

use super::{Store, StoreResult, is_unique_violation};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContextRow {
    pub name: String,
    pub num_cpu_cores: i32,
    pub memory_per_node: i64,
    pub job_timeout_ms: i64,
    pub max_queued_jobs: i32,
    /// The context's own cluster settings, as the scheduler writes them.
    #[sqlx(json)]
    pub clusters: Value,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Inserts a context with its slots, one per core; `None` when the name
    /// is taken.
    pub async fn insert_context(&self, row: &ContextRow) -> StoreResult<Option<ContextRow>> {
        let mut tx = self.begin().await?;
        let inserted = sqlx::query_as::<_, ContextRow>(
            "INSERT INTO contexts (name, num_cpu_cores, memory_per_node, job_timeout_ms, max_queued_jobs, clusters, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING name, num_cpu_cores, memory_per_node, job_timeout_ms, max_queued_jobs, clusters, created_at",
        )
        .bind(&row.name)
        .bind(row.num_cpu_cores)
        .bind(row.memory_per_node)
        .bind(row.job_timeout_ms)
        .bind(row.max_queued_jobs)
        .bind(Json(&row.clusters))
        .bind(row.created_at)
        .fetch_one(&mut *tx)
        .await;
        let inserted = match inserted {
            Ok(row) => row,
            Err(error) if is_unique_violation(&error) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        sqlx::query("INSERT INTO slots (pool, slot) SELECT $1, n FROM generate_series(0, $2 - 1) AS n")
            .bind(&inserted.name)
            .bind(inserted.num_cpu_cores)
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_notify('jobserver_contexts', $1)")
            .bind(&inserted.name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(inserted))
    }

    pub async fn get_context(&self, name: &str) -> StoreResult<Option<ContextRow>> {
        Ok(sqlx::query_as::<_, ContextRow>(
            "SELECT name, num_cpu_cores, memory_per_node, job_timeout_ms, max_queued_jobs, clusters, created_at
             FROM contexts WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn list_contexts(&self) -> StoreResult<Vec<ContextRow>> {
        Ok(sqlx::query_as::<_, ContextRow>(
            "SELECT name, num_cpu_cores, memory_per_node, job_timeout_ms, max_queued_jobs, clusters, created_at
             FROM contexts ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes a context, its slots and its named objects: its waiting jobs
    /// end KILLED with `reason`, its running ones are marked to be killed by
    /// the servers running them (who are told). `None` when there was none.
    pub async fn delete_context(&self, name: &str, reason: &str) -> StoreResult<Option<DeletedContext>> {
        let mut tx = self.begin().await?;
        // Waits for submissions in flight (they hold the context's advisory
        // lock shared), so that the statements after it see the jobs they
        // recorded; those that come after wait for this and find no context.
        sqlx::query("SELECT pg_advisory_xact_lock(2, hashtext($1))")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM contexts WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if !deleted {
            return Ok(None);
        }
        let killed: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE jobs SET status = 'KILLED', ended_at = now(), error_class = 'Killed', error_message = $2,
                    kill_reason = $2
             WHERE queue = $1 AND status = 'STARTED' RETURNING id",
        )
        .bind(name)
        .bind(reason)
        .fetch_all(&mut *tx)
        .await?;
        let running: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE jobs SET kill_reason = coalesce(kill_reason, $2)
             WHERE queue = $1 AND status = 'RUNNING' RETURNING id",
        )
        .bind(name)
        .bind(reason)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM slots WHERE pool = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM named_objects WHERE context = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "SELECT pg_notify('jobserver_kill', server_id::text)
             FROM (SELECT DISTINCT server_id FROM jobs WHERE id = ANY($1)) AS s",
        )
        .bind(&running)
        .execute(&mut *tx)
        .await?;
        sqlx::query("SELECT pg_notify('jobserver_ended', id::text) FROM UNNEST($1::uuid[]) AS id")
            .bind(&killed)
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_notify('jobserver_contexts', $1)")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(DeletedContext { killed, running }))
    }

    /// Named objects that jobs of a deleted context wrote while they were
    /// being stopped; kept when a context of that name exists again.
    pub async fn delete_orphaned_objects(&self, context: &str) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM named_objects WHERE context = $1
             AND NOT EXISTS (SELECT 1 FROM contexts WHERE name = $1)",
        )
        .bind(context)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// What deleting a context did to its jobs.
#[derive(Debug, Clone, Default)]
pub struct DeletedContext {
    /// Waiting jobs, now KILLED.
    pub killed: Vec<Uuid>,
    /// Running jobs, which their servers are stopping.
    pub running: Vec<Uuid>,
}
