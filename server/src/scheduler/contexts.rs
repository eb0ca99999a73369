//! Persistent contexts: created with their settings and clusters, listed,
//! reported, and deleted with their jobs on every server. The store holds
//! them; each server opens a context's connections when it first needs them
//! and forgets them when told the context changed.

use super::clusters::{ClusterOverrides, Connections};
use super::{ContextSettings, KILL_WAIT, Scheduler, SchedulerError, SchedulerResult, check_context_name};
use crate::store::ContextRow;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// A persistent context as this server has opened it.
pub(super) struct LiveContext {
    pub settings: ContextSettings,
    /// Its Kafka and Cassandra, shared by its jobs on this server.
    pub connections: Connections,
    /// Which context of the name this is: one deleted and made again is another.
    pub created_at: DateTime<Utc>,
}

/// A persistent context as reported to clients.
#[derive(Clone)]
pub struct ContextReport {
    pub name: String,
    pub settings: ContextSettings,
    /// What its jobs are granted.
    pub connections: Connections,
    pub created_at: DateTime<Utc>,
    /// Its jobs running on any server, and those waiting, in the order they will run.
    pub running: Vec<Uuid>,
    pub queued: Vec<Uuid>,
}

impl Scheduler {
    /// The context as this server has it open, opening it from the store
    /// the first time. A context whose clusters no longer resolve (the
    /// server's defaults changed) still opens; its jobs are told why they
    /// have no Kafka or Cassandra.
    pub(super) async fn live_context(&self, name: &str) -> SchedulerResult<Arc<LiveContext>> {
        if let Some(live) = self.contexts().get(name) {
            return Ok(live.clone());
        }
        let row = self
            .inner
            .store
            .get_context(name)
            .await?
            .ok_or_else(|| SchedulerError::ContextNotFound(name.to_string()))?;
        let settings = settings_of(&row);
        let whose = format!("context '{}'", row.name);
        let connections =
            Connections::open(&settings.clusters, &self.inner.settings.clusters, &whose).unwrap_or_else(|reason| {
                tracing::error!(context = %row.name, %reason, "the clusters of a context cannot be used");
                Connections::refused(&reason)
            });
        let live = Arc::new(LiveContext {
            settings,
            connections,
            created_at: row.created_at,
        });
        self.contexts().insert(name.to_string(), live.clone());
        Ok(live)
    }

    /// Forgets what this server opened of a context (it changed elsewhere);
    /// its connections close when its last job lets go of them.
    pub(super) fn forget_context(&self, name: &str) {
        self.contexts().remove(name);
    }

    /// Forgets every context (notifications may have been missed).
    pub(super) fn forget_contexts(&self) {
        self.contexts().clear();
    }

    pub async fn context_names(&self) -> SchedulerResult<Vec<String>> {
        Ok(self
            .inner
            .store
            .list_contexts()
            .await?
            .into_iter()
            .map(|row| row.name)
            .collect())
    }

    pub async fn context(&self, name: &str) -> SchedulerResult<ContextReport> {
        let live = self.live_context(name).await?;
        let (running, queued) = self.inner.store.context_jobs(name).await?;
        Ok(ContextReport {
            name: name.to_string(),
            settings: live.settings.clone(),
            connections: live.connections.clone(),
            created_at: live.created_at,
            running,
            queued,
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
            clusters: serde_json::to_value(&settings.clusters).unwrap_or_default(),
            created_at: Utc::now(),
        };
        let row = self
            .inner
            .store
            .insert_context(&row)
            .await?
            .ok_or_else(|| SchedulerError::ContextExists(name.to_string()))?;
        let live = Arc::new(LiveContext {
            settings,
            connections,
            created_at: row.created_at,
        });
        self.contexts().insert(name.to_string(), live.clone());
        Ok(ContextReport {
            name: name.to_string(),
            settings: live.settings.clone(),
            connections: live.connections.clone(),
            created_at: live.created_at,
            running: Vec::new(),
            queued: Vec::new(),
        })
    }

    /// Deletes a context: its waiting jobs end KILLED, its running ones are
    /// killed on whichever server runs them, and its named objects go.
    /// Returns once its jobs ended (or after `KILL_WAIT`).
    pub async fn delete_context(&self, name: &str) -> SchedulerResult<()> {
        let reason = format!("its context '{name}' was deleted");
        self.forget_context(name);
        let deleted = self
            .inner
            .store
            .delete_context(name, &reason)
            .await?
            .ok_or_else(|| SchedulerError::ContextNotFound(name.to_string()))?;
        for id in &deleted.killed {
            self.inner.waiters.ended(*id);
        }
        for id in &deleted.running {
            self.stop_local(*id, &reason);
        }
        let deadline = tokio::time::Instant::now() + KILL_WAIT;
        for id in deleted.running {
            self.wait(id, deadline.saturating_duration_since(tokio::time::Instant::now()))
                .await;
        }
        // What its jobs stored while they were being stopped.
        self.inner.store.delete_orphaned_objects(name).await?;
        Ok(())
    }

    fn contexts(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Arc<LiveContext>>> {
        self.inner
            .contexts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn settings_of(row: &ContextRow) -> ContextSettings {
    let clusters = serde_json::from_value::<ClusterOverrides>(row.clusters.clone()).unwrap_or_else(|error| {
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
