//! Persistent contexts and their settings.

use super::{Store, StoreResult, is_unique_violation};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContextRow {
    pub name: String,
    pub num_cpu_cores: i32,
    pub memory_per_node: i64,
    pub job_timeout_ms: i64,
    pub max_queued_jobs: i32,
    /// The context's own cluster settings, as the scheduler writes them.
    pub clusters: Json<Value>,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Inserts a context; `None` when the name is taken.
    pub async fn insert_context(&self, row: &ContextRow) -> StoreResult<Option<ContextRow>> {
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
        .bind(&row.clusters)
        .bind(row.created_at)
        .fetch_one(&self.pool)
        .await;
        match inserted {
            Ok(row) => Ok(Some(row)),
            Err(error) if is_unique_violation(&error) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    pub async fn list_contexts(&self) -> StoreResult<Vec<ContextRow>> {
        Ok(sqlx::query_as::<_, ContextRow>(
            "SELECT name, num_cpu_cores, memory_per_node, job_timeout_ms, max_queued_jobs, clusters, created_at
             FROM contexts ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes a context and its named objects; false when there was none.
    pub async fn delete_context(&self, name: &str) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM contexts WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        sqlx::query("DELETE FROM named_objects WHERE context = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted)
    }
}
