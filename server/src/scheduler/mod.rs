//! Contexts and the lives of jobs: admission into a context's slots or queue,
//! running on the runtime, recording every step in the store, kills, sync
//! waits, deletion of contexts, and what happens at start-up and shutdown.

mod clusters;
mod context;
mod contexts;
mod entries;
mod objects;
mod pool;
mod run;

pub use clusters::{CLUSTER_KEYS, Connections};
pub use context::{ContextSettings, SETTING_KEYS, check_name as check_context_name};
pub use contexts::ContextReport;
pub use pool::PoolSnapshot;

use crate::config::Settings;
use crate::runtime::{CompiledJob, JobFailure, JobInfo, Problem, RunLimits, Runtime, RuntimeError};
use crate::store::{JobEnd, JobRow, NewJob, PendingJobRow, Store, StoreError};
use chrono::{DateTime, Utc};
use contexts::LiveContext;
use entries::{adhoc_context_name, choose_entry};
use pool::{Admission, Pool, Queued, Refusal};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// How long a kill or a context deletion waits for running jobs to stop.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// Job statuses, as Spark Job Server names them.
pub mod status {
    pub const STARTED: &str = "STARTED";
    pub const RUNNING: &str = "RUNNING";
    pub const FINISHED: &str = "FINISHED";
    pub const ERROR: &str = "ERROR";
    pub const KILLED: &str = "KILLED";
    pub const ALL: [&str; 5] = [STARTED, RUNNING, FINISHED, ERROR, KILLED];
}

/// Why a submission, kill or context change was refused.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("no app named '{0}'")]
    AppNotFound(String),
    #[error("app '{app}' has no version {version}")]
    VersionNotFound { app: String, version: i32 },
    /// The version is the one asked for, or else the newest: the one that would run.
    #[error("app '{app}' (version {version}) has no entry '{entry}'; its entries are: {}", available.join(", "))]
    EntryNotFound {
        app: String,
        version: i32,
        entry: String,
        available: Vec<String>,
    },
    #[error("app '{app}' (version {version}) has several entries, so classPath is required; its entries are: {}", available.join(", "))]
    EntryRequired {
        app: String,
        version: i32,
        available: Vec<String>,
    },
    #[error("no context named '{0}'")]
    ContextNotFound(String),
    #[error("a context named '{0}' already exists")]
    ContextExists(String),
    #[error("{0}")]
    InvalidContext(String),
    #[error("the job's config is invalid")]
    ValidationFailed(Vec<Problem>),
    #[error("the job's validate failed: {}", .0.message)]
    ValidateCrashed(JobFailure),
    #[error("context '{context}' has no free slot: {running} jobs running and {queued} waiting, its queue is full")]
    NoSlots {
        context: String,
        running: usize,
        queued: usize,
    },
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("no job with id {0}")]
    JobNotFound(Uuid),
    #[error("job {id} has already ended: {status}")]
    JobEnded { id: Uuid, status: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

pub type SchedulerResult<T> = Result<T, SchedulerError>;

/// A job to run, as admitted: everything its run needs.
struct JobSpec {
    /// Which job it is: its id, app, entry and context.
    info: JobInfo,
    /// The Kafka and Cassandra its context grants.
    connections: Connections,
    config: String,
    limits: RunLimits,
    compiled: Arc<CompiledJob>,
}

impl JobSpec {
    /// Whose named objects the job sees. An ad-hoc context's are keyed by the
    /// job, in a form no persistent context name can take (it has a ':').
    fn objects_scope(&self) -> String {
        if self.info.adhoc {
            format!("adhoc:{}", self.info.id)
        } else {
            self.info.context.clone()
        }
    }
}

impl Queued for JobSpec {
    fn id(&self) -> Uuid {
        self.info.id
    }
}

/// A job that is queued or running.
struct LiveJob {
    pool: Arc<Pool<JobSpec>>,
    kill: KillSwitch,
    /// Set once the scheduler lets go of the job: its final status, or
    /// STARTED for a waiting job left queued for the next start.
    ended: watch::Receiver<Option<&'static str>>,
    ended_sender: Arc<watch::Sender<Option<&'static str>>>,
}

/// Stops a job's run; the first reason given is the one its report shows.
#[derive(Clone, Default)]
struct KillSwitch {
    cancel: CancellationToken,
    reason: Arc<Mutex<Option<String>>>,
}

impl KillSwitch {
    fn pull(&self, reason: &str) {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(|| reason.to_string());
        self.cancel.cancel();
    }

    fn reason(&self) -> Option<String> {
        self.reason.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// What a client asks to run.
#[derive(Debug, Clone)]
pub struct Submission {
    pub app_name: String,
    pub app_version: Option<i32>,
    pub class_path: Option<String>,
    pub context: Option<String>,
    /// The job config as JSON text.
    pub config: String,
}

/// A job that was accepted.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub id: Uuid,
    pub context: String,
    pub class_path: String,
}

#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    runtime: Runtime,
    settings: Arc<Settings>,
    contexts: Mutex<HashMap<String, LiveContext>>,
    adhoc: Arc<Pool<JobSpec>>,
    /// The server's Kafka and Cassandra, which ad-hoc jobs use.
    adhoc_connections: Connections,
    jobs: Mutex<HashMap<Uuid, LiveJob>>,
    tasks: TaskTracker,
    shutting_down: CancellationToken,
}

impl Scheduler {
    /// Loads the persistent contexts and takes up the jobs an earlier stop
    /// left behind: those that were running end ERROR, queued ones queue again.
    pub async fn start(store: Store, runtime: Runtime, settings: Arc<Settings>) -> SchedulerResult<Scheduler> {
        let adhoc = Arc::new(Pool::new(
            settings.scheduling.adhoc_max_running,
            settings.scheduling.adhoc_max_queued,
        ));
        // The server's own cluster settings must be usable: a mistake there
        // stops the start, with the reason.
        let adhoc_connections = Connections::open(&Default::default(), &settings.clusters, "ad-hoc contexts")
            .map_err(|error| SchedulerError::InvalidContext(format!("the server's cluster settings: {error}")))?;
        let scheduler = Scheduler {
            inner: Arc::new(Inner {
                store,
                runtime,
                settings,
                contexts: Mutex::new(HashMap::new()),
                adhoc,
                adhoc_connections,
                jobs: Mutex::new(HashMap::new()),
                tasks: TaskTracker::new(),
                shutting_down: CancellationToken::new(),
            }),
        };
        for row in scheduler.inner.store.list_contexts().await? {
            scheduler.load_context(row);
        }
        let report = scheduler.inner.store.reconcile_after_stop(Utc::now()).await?;
        if !report.interrupted.is_empty() {
            tracing::warn!(jobs = ?report.interrupted, "jobs that were running when the server stopped ended ERROR");
        }
        for pending in report.pending {
            scheduler.requeue(pending).await;
        }
        Ok(scheduler)
    }

    /// Validates and admits a job. It runs at once when its context has a
    /// free slot, waits in the context's queue otherwise, and is refused when
    /// the queue is full. Nothing is recorded for a refused job.
    pub async fn submit(&self, submission: Submission) -> SchedulerResult<Submitted> {
        let inner = &self.inner;
        if inner.shutting_down.is_cancelled() {
            return Err(SchedulerError::ShuttingDown);
        }
        let version = inner
            .store
            .find_app_version(&submission.app_name, submission.app_version)
            .await?
            .ok_or_else(|| match submission.app_version {
                Some(version) => SchedulerError::VersionNotFound {
                    app: submission.app_name.clone(),
                    version,
                },
                None => SchedulerError::AppNotFound(submission.app_name.clone()),
            })?;
        let class_path = choose_entry(&version, submission.class_path.as_deref())?;
        let id = Uuid::new_v4();
        let (context, adhoc, pool, limits, connections) = match &submission.context {
            Some(name) => {
                let contexts = self.contexts();
                let live = contexts
                    .get(name)
                    .ok_or_else(|| SchedulerError::ContextNotFound(name.clone()))?;
                let limits = self.limits(live.settings.memory_per_node.0, live.settings.job_timeout);
                (name.clone(), false, live.pool.clone(), limits, live.connections.clone())
            }
            None => {
                let limits = self.limits(inner.settings.limits.job_memory.0, inner.settings.limits.job_timeout);
                let name = adhoc_context_name(id, &class_path);
                (name, true, inner.adhoc.clone(), limits, inner.adhoc_connections.clone())
            }
        };
        let compiled = self.load(&version.blob_hash).await?;
        let info = JobInfo {
            id,
            app: version.app_name.clone(),
            version: version.version.max(0) as u32,
            entry: class_path.clone(),
            context: context.clone(),
            adhoc,
            submitted_at: Utc::now(),
        };
        let problems = inner
            .runtime
            .validate(compiled.clone(), info.clone(), &submission.config, limits)
            .await
            .map_err(SchedulerError::ValidateCrashed)?;
        if !problems.is_empty() {
            return Err(SchedulerError::ValidationFailed(problems));
        }

        let admission = pool.admit().map_err(|refusal| match refusal {
            Refusal::Full { running, queued } => SchedulerError::NoSlots {
                context: context.clone(),
                running,
                queued,
            },
            Refusal::Closed if inner.shutting_down.is_cancelled() => SchedulerError::ShuttingDown,
            Refusal::Closed => SchedulerError::ContextNotFound(context.clone()),
        })?;
        let new_job = NewJob {
            id,
            app_name: &version.app_name,
            app_version: version.version,
            blob_hash: &version.blob_hash,
            class_path: &class_path,
            context: &context,
            adhoc,
            config: &submission.config,
            status: match admission {
                Admission::RunNow => status::RUNNING,
                Admission::Queue => status::STARTED,
            },
            submitted_at: info.submitted_at,
            timeout_ms: limits.timeout.as_millis() as i64,
            memory_limit: limits.memory_bytes as i64,
        };
        let recorded = match inner.store.insert_job(&new_job).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SchedulerError::AppNotFound(version.app_name.clone())),
            Err(error) => Err(error.into()),
        };
        if let Err(error) = recorded {
            pool.release(admission);
            return Err(error);
        }
        let spec = JobSpec {
            info,
            connections,
            config: submission.config,
            limits,
            compiled,
        };
        self.register(id, pool.clone());
        match admission {
            Admission::RunNow => {
                pool.started(id);
                self.spawn(spec, pool, false);
            }
            Admission::Queue => {
                if let Some(spec) = pool.confirm(spec) {
                    if !pool.is_closed() {
                        self.spawn(spec, pool, true);
                    } else if inner.shutting_down.is_cancelled() {
                        // Recorded as STARTED: it runs after the next start.
                        self.unregister(id, status::STARTED);
                    } else {
                        self.end_unstarted(id, status::KILLED, "its context was deleted").await;
                    }
                }
            }
        }
        Ok(Submitted {
            id,
            context,
            class_path,
        })
    }

    /// Waits until the job ends, the server lets go of it (shutdown), or
    /// `timeout` passes; the job's report says which.
    pub async fn wait(&self, id: Uuid, timeout: Duration) {
        let receiver = self.jobs().get(&id).map(|job| job.ended.clone());
        if let Some(mut receiver) = receiver {
            let _ = tokio::time::timeout(timeout, receiver.wait_for(Option::is_some)).await;
        }
    }

    /// Kills a job: a waiting one leaves its queue, a running one is stopped
    /// (within an epoch tick, even in a tight loop). Both end KILLED. Returns
    /// once the job has ended.
    pub async fn kill(&self, id: Uuid, reason: &str) -> SchedulerResult<()> {
        let live = self.jobs().get(&id).map(|job| (job.pool.clone(), job.kill.clone()));
        let Some((pool, kill)) = live else {
            return match self.inner.store.get_job(id).await? {
                Some(job) => Err(SchedulerError::JobEnded { id, status: job.status }),
                None => Err(SchedulerError::JobNotFound(id)),
            };
        };
        if pool.remove_queued(id).is_some() {
            self.end_unstarted(id, status::KILLED, reason).await;
            return Ok(());
        }
        kill.pull(reason);
        self.wait(id, KILL_WAIT).await;
        Ok(())
    }

    /// Stops taking jobs, kills the running ones (they end KILLED) and leaves
    /// the waiting ones STARTED in the store, to be queued again at the next
    /// start. Returns when every job task has finished.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.shutting_down.cancel();
        let pools: Vec<Arc<Pool<JobSpec>>> = self
            .contexts()
            .values()
            .map(|live| live.pool.clone())
            .chain([inner.adhoc.clone()])
            .collect();
        for pool in &pools {
            // A pool a context deletion closed first is that deletion's to empty.
            let waiting = pool.close().unwrap_or_default();
            if !waiting.is_empty() {
                tracing::info!(jobs = waiting.len(), "waiting jobs stay queued for the next start");
            }
            // Their sync callers get the STARTED report now, not at their timeout.
            for job in waiting {
                self.unregister(job.info.id, status::STARTED);
            }
        }
        let running: Vec<Uuid> = pools.iter().flat_map(|pool| pool.snapshot().running).collect();
        for id in running {
            self.kill(id, "the server shut down while the job was running")
                .await
                .ok();
        }
        inner.tasks.close();
        inner.tasks.wait().await;
    }

    /// Deletes jobs that ended longer ago than the retention period.
    pub async fn purge(&self) -> SchedulerResult<u64> {
        let retention = chrono::Duration::from_std(self.inner.settings.job_retention).unwrap_or(chrono::Duration::MAX);
        let before = Utc::now()
            .checked_sub_signed(retention)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        Ok(self.inner.store.purge_ended_jobs(before).await?)
    }

    /// The job's report as stored; `None` when there is no such job.
    pub async fn job(&self, id: Uuid) -> SchedulerResult<Option<JobRow>> {
        Ok(self.inner.store.get_job(id).await?)
    }

    /// Removes a deleted app's compiled component from the caches.
    pub fn forget_component(&self, hash: &str) {
        self.inner.runtime.forget(hash);
    }

    fn limits(&self, memory_bytes: u64, timeout: Duration) -> RunLimits {
        let limits = &self.inner.settings.limits;
        RunLimits {
            timeout,
            memory_bytes,
            result_max_bytes: limits.result_max_size.0,
            log_max_bytes: limits.job_log_max_size.0,
        }
    }

    async fn load(&self, hash: &str) -> SchedulerResult<Arc<CompiledJob>> {
        let store = self.inner.store.clone();
        let owned_hash = hash.to_string();
        Ok(self
            .inner
            .runtime
            .load(hash, || async move {
                match store.blob_content(&owned_hash).await {
                    Ok(Some(bytes)) => Ok(bytes),
                    Ok(None) => Err("its content is no longer stored".to_string()),
                    Err(error) => Err(error.to_string()),
                }
            })
            .await?)
    }

    /// Queues again a job that was waiting when the server stopped.
    async fn requeue(&self, pending: PendingJobRow) {
        let job = pending.job;
        let pool = if job.adhoc {
            Some((self.inner.adhoc.clone(), self.inner.adhoc_connections.clone()))
        } else {
            self.contexts()
                .get(&job.context)
                .map(|live| (live.pool.clone(), live.connections.clone()))
        };
        let Some((pool, connections)) = pool else {
            self.end_unstarted(job.id, status::ERROR, "its context no longer exists")
                .await;
            return;
        };
        let compiled = match self.load(&job.blob_hash).await {
            Ok(compiled) => compiled,
            Err(error) => {
                tracing::error!(job = %job.id, %error, "cannot queue a job again");
                self.end_unstarted(
                    job.id,
                    status::ERROR,
                    &format!("its component could not be loaded: {error}"),
                )
                .await;
                return;
            }
        };
        let spec = JobSpec {
            connections,
            info: JobInfo {
                id: job.id,
                app: job.app_name,
                version: job.app_version.max(0) as u32,
                entry: job.class_path,
                context: job.context,
                adhoc: job.adhoc,
                submitted_at: job.submitted_at,
            },
            config: pending.config.0.to_string(),
            limits: RunLimits {
                timeout: Duration::from_millis(job.timeout_ms.max(1) as u64),
                memory_bytes: job.memory_limit.max(0) as u64,
                ..self.limits(0, Duration::ZERO)
            },
            compiled,
        };
        tracing::info!(job = %spec.info.id, context = %spec.info.context, "queued again after a restart");
        self.register(spec.info.id, pool.clone());
        if let Some(spec) = pool.requeue(spec) {
            self.spawn(spec, pool, true);
        }
    }

    fn register(&self, id: Uuid, pool: Arc<Pool<JobSpec>>) {
        let (sender, receiver) = watch::channel(None);
        self.jobs().insert(
            id,
            LiveJob {
                pool,
                kill: KillSwitch::default(),
                ended: receiver,
                ended_sender: Arc::new(sender),
            },
        );
    }

    /// Ends a job that never ran (killed in its queue, or unrunnable).
    async fn end_unstarted(&self, id: Uuid, final_status: &'static str, message: &str) {
        let end = JobEnd {
            status: final_status,
            ended_at: Utc::now(),
            result: None,
            error_class: Some(
                if final_status == status::KILLED {
                    "Killed"
                } else {
                    "NotRun"
                }
                .to_string(),
            ),
            error_message: Some(message.to_string()),
        };
        self.record_end(id, &end).await;
        self.unregister(id, final_status);
    }

    fn unregister(&self, id: Uuid, final_status: &'static str) {
        if let Some(job) = self.jobs().remove(&id) {
            job.ended_sender.send_replace(Some(final_status));
        }
    }

    fn spawn(&self, spec: JobSpec, pool: Arc<Pool<JobSpec>>, was_queued: bool) {
        let scheduler = self.clone();
        self.inner.tasks.spawn(async move {
            let mut next = Some((spec, was_queued));
            // Runs this job, then whatever its slot is handed next.
            while let Some((spec, was_queued)) = next.take() {
                let id = spec.info.id;
                if pool.is_closed() {
                    // Admitted just as its context was deleted or the server
                    // began to shut down: those only kill the jobs they see.
                    scheduler.refuse_to_start(id);
                }
                scheduler.execute(spec, was_queued).await;
                next = pool.finished(id).map(|spec| (spec, true));
            }
        });
    }

    /// Kills a job before it runs, with the reason its pool closed.
    fn refuse_to_start(&self, id: Uuid) {
        let reason = if self.inner.shutting_down.is_cancelled() {
            "the server shut down while the job was running"
        } else {
            "its context was deleted"
        };
        if let Some(job) = self.jobs().get(&id) {
            job.kill.pull(reason);
        }
    }

    fn contexts(&self) -> std::sync::MutexGuard<'_, HashMap<String, LiveContext>> {
        self.inner.contexts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, LiveJob>> {
        self.inner.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
