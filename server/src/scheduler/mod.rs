//! Contexts and the lives of jobs, kept in Postgres so that every server on
//! one database acts as one: admission into a context's slots or queue (the
//! store's engine functions), running what this server claimed, recording
//! every step, kills from any server, sync waits for jobs run anywhere,
//! deletion of contexts, and this server's lease (`membership`).

mod clusters;
mod context;
mod contexts;
mod entries;
mod held_run;
mod holds;
mod membership;
mod objects;
mod recorder;
mod run;
mod submit;
mod versions;
mod waiters;

pub use clusters::{CLUSTER_KEYS, Connections};
pub use context::{ContextSettings, SETTING_KEYS, check_name as check_context_name};
pub use contexts::ContextReport;
pub use membership::ServerIdentity;

use crate::config::Settings;
use crate::runtime::{CompiledJob, JobFailure, JobInfo, Problem, RunLimits, Runtime, RuntimeError};
use crate::store::{JobListFilter, JobLogRow, JobRow, JobStatus, KillOutcome, ServerId, ServerRow, Store, StoreError};
use chrono::{DateTime, Utc};
use contexts::LiveContext;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;
use versions::VersionCache;
use waiters::Waiters;

/// How long a kill or a context deletion waits for running jobs to stop.
const KILL_WAIT: Duration = Duration::from_secs(10);

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
    NoSlots { context: String, running: u32, queued: u32 },
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("this server lost its lease to the database and is joining again; try again, or another server")]
    LeaseLost,
    /// Uploaded or deleted while the submission was made, every time it was
    /// tried.
    #[error("app '{0}' changed while the job was submitted; try again")]
    AppChanged(String),
    #[error("no job with id {0}")]
    JobNotFound(Uuid),
    #[error("job {id} has already ended: {status}")]
    JobEnded { id: Uuid, status: JobStatus },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

pub type SchedulerResult<T> = Result<T, SchedulerError>;

/// A job to run, as claimed: everything its run needs.
#[derive(Clone)]
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

/// Stops a job's run; the first reason given is the one its report shows.
#[derive(Clone, Default)]
struct KillSwitch {
    cancel: CancellationToken,
    /// Why, and whether the server stopped it (ERROR `ServerStopped`) rather
    /// than someone killing it (KILLED).
    reason: Arc<Mutex<Option<(String, bool)>>>,
}

impl KillSwitch {
    fn pull(&self, reason: &str) {
        self.pull_as(reason, false);
    }

    /// Stopped because this server may have been taken for dead.
    fn pull_stopped(&self, reason: &str) {
        self.pull_as(reason, true);
    }

    fn pull_as(&self, reason: &str, server_stopped: bool) {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(|| (reason.to_string(), server_stopped));
        self.cancel.cancel();
    }

    fn reason(&self) -> Option<(String, bool)> {
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
    /// Whether the client waits for the end: a job that gets a slot at once is
    /// then recorded with its end in one commit, when it ends soon enough.
    pub sync: bool,
}

/// A job that was accepted.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub id: Uuid,
    pub context: String,
    pub class_path: String,
    /// Its row as recorded by the submission, or by its end when it has
    /// ended already (a sync job that ran at once): its report, without
    /// reading it back.
    pub row: JobRow,
    pub ended: bool,
}

#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    runtime: Runtime,
    settings: Arc<Settings>,
    /// This server, as the others see it.
    me: ServerId,
    identity: ServerIdentity,
    /// Persistent contexts as this server has opened them, by name; the
    /// store is the truth, this is where their connections live.
    contexts: Mutex<HashMap<String, Arc<LiveContext>>>,
    /// The app versions submissions looked up.
    versions: VersionCache,
    /// The server's Kafka and Cassandra, which ad-hoc jobs use.
    adhoc_connections: Connections,
    /// The jobs this server runs (or has claimed and is starting).
    running: Mutex<HashMap<Uuid, KillSwitch>>,
    waiters: Waiters,
    /// The slots this server holds for its sync jobs.
    holds: holds::Holds,
    /// Writes the ends of the jobs that ran in them, many to a commit.
    recorder: recorder::EndRecorder,
    tasks: TaskTracker,
    shutting_down: CancellationToken,
    /// Wakes the loop that claims waiting jobs and stops killed ones.
    wake: Notify,
    /// Stops the lease, the listener and the claims, once every job ended.
    background: CancellationToken,
    /// When the lease was last renewed (the moment the renewal was sent): it
    /// holds until at least a lease after that.
    renewed: Mutex<tokio::time::Instant>,
    /// Set while this server has not renewed its lease for nearly a lease:
    /// its jobs are stopped and it claims nothing, because the others may
    /// take it for dead.
    fenced: std::sync::atomic::AtomicBool,
}

impl Scheduler {
    /// Takes this server's lease and starts claiming: the jobs that wait,
    /// here or anywhere, run as slots free up. In local mode, where no other
    /// server can share the database, what an earlier run left behind is
    /// ended at once; otherwise servers that died are reaped when their
    /// leases expire.
    pub async fn start(
        store: Store,
        runtime: Runtime,
        settings: Arc<Settings>,
        identity: ServerIdentity,
    ) -> SchedulerResult<Scheduler> {
        // The server's own cluster settings must be usable: a mistake there
        // stops the start, with the reason.
        let adhoc_connections = Connections::open(&Default::default(), &settings.clusters, "ad-hoc contexts")
            .map_err(|error| SchedulerError::InvalidContext(format!("the server's cluster settings: {error}")))?;
        let me = ServerId {
            id: Uuid::new_v4(),
            name: identity.name.clone(),
        };
        let scheduler = Scheduler {
            inner: Arc::new(Inner {
                recorder: recorder::EndRecorder::start(store.clone(), me.clone()),
                store,
                runtime,
                me,
                identity,
                settings,
                contexts: Mutex::new(HashMap::new()),
                versions: VersionCache::default(),
                adhoc_connections,
                running: Mutex::new(HashMap::new()),
                waiters: Waiters::default(),
                holds: holds::Holds::default(),
                tasks: TaskTracker::new(),
                shutting_down: CancellationToken::new(),
                wake: Notify::new(),
                background: CancellationToken::new(),
                renewed: Mutex::new(tokio::time::Instant::now()),
                fenced: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        scheduler.join().await?;
        Ok(scheduler)
    }

    /// Waits until the job ends, wherever it runs, or `timeout` passes (or
    /// this server shuts down); the job's report says which.
    pub async fn wait(&self, id: Uuid, timeout: Duration) {
        let runs_here = || self.running().contains_key(&id);
        self.inner
            .waiters
            .wait(&self.inner.store, id, timeout, &self.inner.background, runs_here)
            .await;
    }

    /// Kills a job on any server: a waiting one leaves its queue, a running
    /// one is stopped (within an epoch tick, even in a tight loop). Both end
    /// KILLED. Returns once the job has ended, or after `KILL_WAIT`.
    pub async fn kill(&self, id: Uuid, reason: &str) -> SchedulerResult<()> {
        match self.inner.store.kill_job(id, reason).await? {
            KillOutcome::Killed => {
                self.inner.waiters.ended(id);
                Ok(())
            }
            KillOutcome::Running { server } => {
                if server == self.inner.me.id {
                    self.stop_local(id, reason);
                }
                self.wait(id, KILL_WAIT).await;
                Ok(())
            }
            KillOutcome::Ended(status) => Err(SchedulerError::JobEnded { id, status }),
            // A sync job in its first moments, not committed yet, runs here.
            KillOutcome::Missing if self.running().contains_key(&id) => {
                self.stop_local(id, reason);
                self.wait(id, KILL_WAIT).await;
                Ok(())
            }
            // Or one that ended (and was committed) since it was looked for.
            KillOutcome::Missing => match self.inner.store.job_status(id).await? {
                Some(status) if status.has_ended() => Err(SchedulerError::JobEnded { id, status }),
                _ => Err(SchedulerError::JobNotFound(id)),
            },
        }
    }

    /// Stops taking jobs, kills the ones running here (they end KILLED, and
    /// their slots are free for the other servers) and gives up the lease.
    /// Waiting jobs stay queued for any server, this one after its next start.
    /// Returns when every job task has finished.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.shutting_down.cancel();
        // Free for the other servers now; those in use go as their jobs end.
        let idle = self.holds().close();
        self.release_now(idle).await;
        let running: Vec<KillSwitch> = self.running().values().cloned().collect();
        for kill in running {
            kill.pull("the server shut down while the job was running");
        }
        inner.tasks.close();
        inner.tasks.wait().await;
        self.leave().await;
        inner.background.cancel();
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

    /// Jobs, newest first.
    pub async fn jobs(&self, filter: &JobListFilter) -> SchedulerResult<Vec<JobRow>> {
        Ok(self.inner.store.list_jobs(filter).await?)
    }

    pub async fn job_config(&self, id: Uuid) -> SchedulerResult<Value> {
        self.inner
            .store
            .job_config(id)
            .await?
            .ok_or(SchedulerError::JobNotFound(id))
    }

    pub async fn job_logs(&self, id: Uuid) -> SchedulerResult<Vec<JobLogRow>> {
        self.inner
            .store
            .job_logs(id)
            .await?
            .ok_or(SchedulerError::JobNotFound(id))
    }

    /// The servers sharing the database whose leases hold.
    pub async fn servers(&self) -> SchedulerResult<Vec<ServerRow>> {
        Ok(self.inner.store.live_servers().await?)
    }

    /// This server's name among them.
    pub fn server_name(&self) -> &str {
        &self.inner.me.name
    }

    /// Removes a deleted app's compiled component from the caches.
    pub fn forget_component(&self, hash: &str) {
        self.inner.runtime.forget(hash);
    }

    /// Forgets which versions of an app submissions ran: a version was
    /// uploaded, or the app deleted.
    pub fn forget_app(&self, app: &str) {
        self.inner.versions.forget_app(app);
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

    /// Stops a job this server runs, if it does.
    fn stop_local(&self, id: Uuid, reason: &str) {
        if let Some(kill) = self.running().get(&id) {
            kill.pull(reason);
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, KillSwitch>> {
        self.inner.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
