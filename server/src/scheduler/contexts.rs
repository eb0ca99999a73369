//! Persistent contexts: created with their settings and clusters, listed,
//! reported, and deleted with their jobs; loaded again at start-up.

use super::clusters::{ClusterOverrides, Connections};
use super::pool::{Pool, PoolSnapshot};
use super::{ContextSettings, JobSpec, Scheduler, SchedulerError, SchedulerResult, check_context_name, status};
use crate::store::ContextRow;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// A persistent context as the scheduler holds it.
pub(super) struct LiveContext {
    pub settings: ContextSettings,
    /// Its Kafka and Cassandra, shared by its jobs.
    pub connections: Connections,
    pub created_at: DateTime<Utc>,
    pub pool: Arc<Pool<JobSpec>>,
}

/// A persistent context as reported to clients.
#[derive(Clone)]
pub struct ContextReport {
    pub name: String,
    pub settings: ContextSettings,
    /// What its jobs are granted.
    pub connections: Connections,
    pub created_at: DateTime<Utc>,
    pub jobs: PoolSnapshot,
}

impl Scheduler {
    /// The contexts the store holds, as they were created. A context whose
    /// clusters no longer resolve (the server's defaults changed) still
    /// loads; its jobs are told why they have no Kafka or Cassandra.
    pub(super) fn load_context(&self, row: ContextRow) {
        let settings = settings_of(&row);
        let whose = format!("context '{}'", row.name);
        let connections =
            Connections::open(&settings.clusters, &self.inner.settings.clusters, &whose).unwrap_or_else(|reason| {
                tracing::error!(context = %row.name, %reason, "the clusters of a context cannot be used");
                Connections::refused(&reason)
            });
        self.contexts().insert(
            row.name.clone(),
            LiveContext {
                pool: Arc::new(Pool::new(
                    settings.num_cpu_cores as usize,
                    settings.max_queued_jobs as usize,
                )),
                settings,
                connections,
                created_at: row.created_at,
            },
        );
    }

    pub fn context_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.contexts().keys().cloned().collect();
        names.sort();
        names
    }

    pub fn context(&self, name: &str) -> Option<ContextReport> {
        self.contexts().get(name).map(|live| ContextReport {
            name: name.to_string(),
            settings: live.settings.clone(),
            connections: live.connections.clone(),
            created_at: live.created_at,
            jobs: live.pool.snapshot(),
        })
    }

    pub async fn create_context(&self, name: &str, settings: ContextSettings) -> SchedulerResult<ContextReport> {
        check_context_name(name).map_err(SchedulerError::InvalidContext)?;
        if self.inner.shutting_down.is_cancelled() {
            return Err(SchedulerError::ShuttingDown);
        }
        // Clusters a context cannot use are refused now, not at its first job.
        let connections = Connections::open(
            &settings.clusters,
            &self.inner.settings.clusters,
            &format!("context '{name}'"),
        )
        .map_err(SchedulerError::InvalidContext)?;
        let row = ContextRow {
            name: name.to_string(),
            num_cpu_cores: settings.num_cpu_cores as i32,
            memory_per_node: settings.memory_per_node.0 as i64,
            job_timeout_ms: settings.job_timeout.as_millis() as i64,
            max_queued_jobs: settings.max_queued_jobs as i32,
            clusters: sqlx::types::Json(serde_json::to_value(&settings.clusters).unwrap_or_default()),
            created_at: Utc::now(),
        };
        let row = self
            .inner
            .store
            .insert_context(&row)
            .await?
            .ok_or_else(|| SchedulerError::ContextExists(name.to_string()))?;
        let live = LiveContext {
            pool: Arc::new(Pool::new(
                settings.num_cpu_cores as usize,
                settings.max_queued_jobs as usize,
            )),
            settings,
            connections,
            created_at: row.created_at,
        };
        self.contexts().insert(name.to_string(), live);
        Ok(self.context(name).expect("the context was just inserted"))
    }

    /// Deletes a context: its waiting jobs and its running ones end KILLED,
    /// then it and its named objects are removed.
    pub async fn delete_context(&self, name: &str) -> SchedulerResult<()> {
        let pool = self
            .contexts()
            .get(name)
            .map(|live| live.pool.clone())
            .ok_or_else(|| SchedulerError::ContextNotFound(name.to_string()))?;
        // A concurrent delete (or the shutdown) closed it first and does the
        // rest; to this caller the context is already gone.
        let Some(waiting) = pool.close() else {
            return Err(if self.inner.shutting_down.is_cancelled() {
                SchedulerError::ShuttingDown
            } else {
                SchedulerError::ContextNotFound(name.to_string())
            });
        };
        let reason = format!("its context '{name}' was deleted");
        for waiting in waiting {
            self.end_unstarted(waiting.info.id, status::KILLED, &reason).await;
        }
        for id in pool.snapshot().running {
            self.kill(id, &reason).await.ok();
        }
        self.inner.store.delete_context(name).await?;
        // A context of the same name may have been created since the row went:
        // remove only the one this call closed.
        let mut contexts = self.contexts();
        if contexts.get(name).is_some_and(|live| Arc::ptr_eq(&live.pool, &pool)) {
            contexts.remove(name);
        }
        Ok(())
    }
}

fn settings_of(row: &ContextRow) -> ContextSettings {
    let clusters = serde_json::from_value::<ClusterOverrides>(row.clusters.0.clone()).unwrap_or_else(|error| {
        tracing::error!(context = %row.name, %error, "the stored cluster settings of a context cannot be read");
        ClusterOverrides::default()
    });
    ContextSettings {
        num_cpu_cores: row.num_cpu_cores.max(1) as u32,
        memory_per_node: crate::units::ByteSize(row.memory_per_node.max(0) as u64),
        job_timeout: Duration::from_millis(row.job_timeout_ms.max(1) as u64),
        max_queued_jobs: row.max_queued_jobs.max(0) as u32,
        clusters,
    }
}
