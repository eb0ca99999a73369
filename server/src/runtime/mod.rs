//! The WebAssembly runtime: checks uploads, compiles components once per
//! content hash (cached in memory and on disk), and runs their entries under a
//! memory limit, a deadline and a kill switch. The capabilities jobs import
//! are in `host`; the contract comes from `job-sdk/wit/` through `bindings`.

mod artifact;
mod bindings;
mod cache;
mod checked_run;
pub mod host;
mod limits;

pub use artifact::{ArtifactError, ArtifactKind};
pub use bindings::{Entry, Problem};
pub use checked_run::Checked;
pub use host::{Capabilities, Grant, JobInfo, Journal, JournalBatch, LogLine, ObjectSpace};

use host::BoxFuture;

use bindings::{GuestError, JobComponentPre, JobInstance, current, v0_1};
use cache::ComponentCache;
use host::journal::Stream;
use host::{HostState, JobInfoHost, JournalHost, NamedObjects, OutputSink};
use limits::{EpochTicker, MemoryLimitExceeded, MemoryLimiter};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Store, Trap};
use wasmtime_wasi::WasiCtxBuilder;

/// Guest calls made while checking an upload (`entries`) or a config
/// (`validate`) must be quick; a job's own limit applies if it is shorter.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// What one run may use.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    pub timeout: Duration,
    pub memory_bytes: u64,
    pub result_max_bytes: u64,
    pub log_max_bytes: u64,
}

/// One run of an entry, and what it may reach.
pub struct JobRun {
    pub compiled: Arc<CompiledJob>,
    pub entry: String,
    /// The config as JSON text.
    pub config: String,
    pub limits: RunLimits,
    /// What it may reach.
    pub capabilities: Capabilities,
}

/// A compiled component, ready to instantiate.
pub struct CompiledJob {
    pub hash: String,
    pre: JobComponentPre,
}

/// An upload that passed every check.
pub struct InspectedArtifact {
    pub hash: String,
    pub kind: ArtifactKind,
    pub entries: Vec<Entry>,
}

/// How a run ended.
#[derive(Debug)]
pub enum RunOutcome {
    /// The job's result, as JSON text.
    Finished(String),
    Failed(JobFailure),
    Killed,
}

/// Why a run failed: `class` is a short, stable name for clients
/// (Spark Job Server's `errorClass`), `message` says what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    pub class: String,
    pub message: String,
}

impl JobFailure {
    fn new(class: impl Into<String>, message: impl Into<String>) -> JobFailure {
        JobFailure {
            class: class.into(),
            message: message.into(),
        }
    }

    /// A failure the job reported itself, with the class it chose (as
    /// `JobError` when it chose none or one no client could use).
    fn from_job(class: Option<String>, message: String) -> JobFailure {
        let class = class
            .map(|class| {
                class
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_CLASS_CHARS)
                    .collect::<String>()
            })
            .filter(|class| !class.trim().is_empty())
            .unwrap_or_else(|| "JobError".to_string());
        JobFailure { class, message }
    }
}

/// Longest error class a job may give; a class is a name, not a message.
const MAX_CLASS_CHARS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("could not load component {hash}: {message}")]
    Load { hash: String, message: String },
    #[error("{0}")]
    Engine(String),
}

#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    cache: Arc<ComponentCache>,
    executor: Arc<GuestExecutor>,
    /// Permits for `entries` and `validate` calls, which run outside any
    /// context's slots.
    checks: Arc<Semaphore>,
    /// Permits for instances, one per slot of the pool: a job waits for one
    /// rather than fail when the pool is exhausted.
    instances: Arc<Semaphore>,
    _ticker: Arc<EpochTicker>,
}

/// Guest code runs on a tokio runtime of its own. A guest computes for a
/// whole epoch tick between yields; on the server's runtime, HTTP handlers
/// (kills among them) would queue behind it, while on separate threads the OS
/// shares the cores between guests and handlers.
struct GuestExecutor {
    runtime: Option<tokio::runtime::Runtime>,
}

impl GuestExecutor {
    fn new() -> std::io::Result<GuestExecutor> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("guest")
            .enable_all()
            .build()?;
        Ok(GuestExecutor { runtime: Some(runtime) })
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime
            .as_ref()
            .expect("the executor lives until dropped")
            .handle()
    }
}

impl Drop for GuestExecutor {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio forbids inside another one.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Runtime {
    pub fn new(cache_dir: PathBuf) -> Result<Runtime, RuntimeError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(limits::pooling()));
        let engine = Engine::new(&config).map_err(|error| RuntimeError::Engine(format!("{error:#}")))?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        let engine_error = |error: wasmtime::Error| RuntimeError::Engine(format!("{error:#}"));
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;
        link_imports(&mut linker).map_err(engine_error)?;
        let ticker = EpochTicker::start(engine.clone());
        let executor = GuestExecutor::new().map_err(|error| RuntimeError::Engine(error.to_string()))?;
        let checks = 2 * std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Runtime {
            cache: Arc::new(ComponentCache::new(cache_dir)),
            executor: Arc::new(executor),
            checks: Arc::new(Semaphore::new(checks)),
            instances: Arc::new(Semaphore::new(limits::POOLED_INSTANCES as usize)),
            engine,
            linker: Arc::new(linker),
            _ticker: Arc::new(ticker),
        })
    }

    /// Checks an upload: what it is, that it is a valid component implementing
    /// the job world with imports this host provides, and which entries it
    /// has. Compiles it on the way, so a job never waits for compilation.
    pub async fn inspect(&self, bytes: Arc<[u8]>, limits: RunLimits) -> Result<InspectedArtifact, ArtifactError> {
        let kind = artifact::classify(&bytes)?;
        let hash = artifact::content_hash(&bytes);
        let compiled = self.compile_checked(hash.clone(), bytes).await?;
        let entries = self.entries(compiled, limits).await?;
        artifact::check_entries(&entries)?;
        Ok(InspectedArtifact { hash, kind, entries })
    }

    async fn compile_checked(&self, hash: String, bytes: Arc<[u8]>) -> Result<Arc<CompiledJob>, ArtifactError> {
        let engine = self.engine.clone();
        let linker = self.linker.clone();
        let cache = self.cache.clone();
        tokio::task::spawn_blocking(move || -> Result<Arc<CompiledJob>, ArtifactError> {
            let component = wasmtime::component::Component::new(&engine, &bytes).map_err(artifact::compile_error)?;
            let pre = linker.instantiate_pre(&component).map_err(artifact::link_error)?;
            let pre = JobComponentPre::new(pre).map_err(artifact::world_error)?;
            let compiled = Arc::new(CompiledJob {
                hash: hash.clone(),
                pre,
            });
            cache.store(&hash, &component, compiled.clone());
            tracing::info!(%hash, contract = compiled.pre.contract_version(), "compiled a component");
            Ok(compiled)
        })
        .await
        .map_err(|error| ArtifactError::Internal(error.to_string()))?
    }

    async fn entries(&self, compiled: Arc<CompiledJob>, limits: RunLimits) -> Result<Vec<Entry>, ArtifactError> {
        let outcome = self
            .check_call(compiled, limits, None, |store, instance| {
                Box::pin(instance.entries(store))
            })
            .await;
        match outcome {
            Ok(entries) => Ok(entries),
            Err(None) => Err(ArtifactError::EntriesFailed("interrupted".into())),
            Err(Some(failure)) => Err(ArtifactError::EntriesFailed(failure.message)),
        }
    }

    /// A `guest_call` that checks a component rather than running a job
    /// (`entries`, `validate`): under the short check time limit, without
    /// named objects, and a few at a time, so a burst of uploads or
    /// submissions cannot run unbounded guest code.
    async fn check_call<T, F>(
        &self,
        compiled: Arc<CompiledJob>,
        limits: RunLimits,
        job: Option<JobInfo>,
        call: F,
    ) -> Result<T, Option<JobFailure>>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Store<HostState>, &'a JobInstance) -> BoxFuture<'a, wasmtime::Result<T>>
            + Send
            + 'static,
    {
        let _permit = self.checks.acquire().await;
        let journal = Arc::new(Journal::new(limits.log_max_bytes as usize));
        let limits = RunLimits {
            timeout: limits.timeout.min(CHECK_TIMEOUT),
            ..limits
        };
        let capabilities = Capabilities::for_checks(journal, job);
        self.guest_call(compiled, limits, capabilities, CancellationToken::new(), call)
            .await
    }

    /// Calls into a fresh instance of the component on the guest executor,
    /// under the limits and `cancel`. `Err(None)` means it was cancelled, and
    /// that happens too when the caller stops waiting, as an HTTP handler
    /// does when its client goes away.
    async fn guest_call<T, F>(
        &self,
        compiled: Arc<CompiledJob>,
        limits: RunLimits,
        capabilities: Capabilities,
        cancel: CancellationToken,
        call: F,
    ) -> Result<T, Option<JobFailure>>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Store<HostState>, &'a JobInstance) -> BoxFuture<'a, wasmtime::Result<T>>
            + Send
            + 'static,
    {
        let runtime = self.clone();
        let journal = capabilities.journal.clone();
        let task = {
            let cancel = cancel.clone();
            async move {
                let instance_call = async {
                    let _permit = runtime.instance_permit().await;
                    let (mut store, instance) = runtime.instantiate(&compiled, &limits, capabilities).await?;
                    call(&mut store, &instance).await
                };
                runtime.bounded(instance_call, &limits, &journal, &cancel).await
            }
        };
        let guard = cancel.drop_guard();
        let outcome = self.executor.handle().spawn(task).await;
        guard.disarm();
        outcome.unwrap_or_else(|error| {
            Err(Some(JobFailure::new(
                "Internal",
                format!("the guest task failed: {error}"),
            )))
        })
    }

    /// The compiled component for a content hash: from memory, from the disk
    /// cache, or compiled from the bytes `fetch` returns (at most once per
    /// server lifetime per hash, unless the disk cache is lost).
    pub async fn load<F, Fut>(&self, hash: &str, fetch: F) -> Result<Arc<CompiledJob>, RuntimeError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, String>>,
    {
        if let Some(compiled) = self.cache.get(hash) {
            return Ok(compiled);
        }
        let load_error = |message: String| RuntimeError::Load {
            hash: hash.to_string(),
            message,
        };
        let from_disk = {
            let (cache, engine, linker, hash) = (
                self.cache.clone(),
                self.engine.clone(),
                self.linker.clone(),
                hash.to_string(),
            );
            tokio::task::spawn_blocking(move || cache.load_from_disk(&engine, &linker, &hash))
                .await
                .map_err(|error| load_error(error.to_string()))?
        };
        if let Some(compiled) = from_disk {
            return Ok(compiled);
        }
        let bytes = fetch().await.map_err(load_error)?;
        self.compile_checked(hash.to_string(), bytes.into())
            .await
            .map_err(|error| load_error(error.to_string()))
    }

    /// Drops a component from the caches (its app was deleted).
    pub fn forget(&self, hash: &str) {
        self.cache.forget(hash);
    }

    /// Runs the entry's `validate`: `Ok(problems)` (empty when the config is
    /// fine), or the failure of the call itself.
    pub async fn validate(
        &self,
        compiled: Arc<CompiledJob>,
        job: JobInfo,
        config: &str,
        limits: RunLimits,
    ) -> Result<Vec<Problem>, JobFailure> {
        let (entry, config) = (job.entry.clone(), config.to_string());
        let outcome = self
            .check_call(compiled, limits, Some(job), move |store, instance| {
                Box::pin(async move { instance.validate(store, &entry, &config).await })
            })
            .await;
        match outcome {
            Ok(Ok(())) => Ok(Vec::new()),
            Ok(Err(problems)) => Ok(problems),
            Err(failure) => Err(failure.unwrap_or_else(|| JobFailure::new("Killed", "validation was interrupted"))),
        }
    }

    /// Runs the entry to its end, its time limit, or `cancel`.
    pub async fn run(&self, job: JobRun, cancel: CancellationToken) -> RunOutcome {
        let JobRun {
            compiled,
            entry,
            config,
            limits,
            capabilities,
        } = job;
        let journal = capabilities.journal.clone();
        let outcome = self
            .guest_call(compiled, limits, capabilities, cancel, move |store, instance| {
                Box::pin(async move { instance.run(store, &entry, &config).await })
            })
            .await;
        journal.close();
        run_outcome(outcome, limits.result_max_bytes)
    }

    /// Held for an instance's whole life, and declared before its store so
    /// that it is dropped after it: the store's pool slot is free by then.
    async fn instance_permit(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.instances
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    async fn instantiate(
        &self,
        compiled: &CompiledJob,
        limits: &RunLimits,
        capabilities: Capabilities,
    ) -> wasmtime::Result<(Store<HostState>, JobInstance)> {
        let Capabilities {
            journal,
            objects,
            job,
            kafka,
            cassandra,
        } = capabilities;
        // No preopened directories, no sockets, no environment: a job reaches
        // only what the imports above give it.
        let wasi = WasiCtxBuilder::new()
            .stdout(OutputSink::new(journal.clone(), Stream::Stdout))
            .stderr(OutputSink::new(journal.clone(), Stream::Stderr))
            .build();
        let state = HostState {
            wasi,
            table: wasmtime::component::ResourceTable::new(),
            limiter: MemoryLimiter::new(limits.memory_bytes),
            journal: JournalHost(journal),
            objects: NamedObjects(objects),
            job_info: JobInfoHost(job),
            kafka: host::kafka::KafkaHost::new(kafka),
            cassandra: host::cassandra::CassandraHost::new(cassandra),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        // Yield to tokio at every epoch tick, so that the deadline and kill
        // below are polled even while the guest spins.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        let instance = compiled.pre.instantiate(&mut store).await?;
        Ok((store, instance))
    }

    /// Drives a guest call under the run's deadline and kill switch. `Err(None)`
    /// means it was killed; `Err(Some(_))` that it failed.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = wasmtime::Result<T>>,
        limits: &RunLimits,
        journal: &Journal,
        cancel: &CancellationToken,
    ) -> Result<T, Option<JobFailure>> {
        tokio::select! {
            biased;
            () = cancel.cancelled() => Err(None),
            outcome = tokio::time::timeout(limits.timeout, call) => match outcome {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(error)) => Err(Some(classify_failure(&error, journal))),
                Err(_) => Err(Some(JobFailure::new(
                    "Timeout",
                    format!("the job ran longer than its limit of {}", crate::units::HumanDuration(limits.timeout)),
                ))),
            },
        }
    }
}

/// Every version of the job contract's imports, each served by its capability.
fn link_imports(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    v0_1::jobserver::job::log::add_to_linker::<_, HasSelf<JournalHost>>(linker, |state| &mut state.journal)?;
    v0_1::jobserver::job::progress::add_to_linker::<_, HasSelf<JournalHost>>(linker, |state| &mut state.journal)?;
    v0_1::jobserver::job::named_objects::add_to_linker::<_, HasSelf<NamedObjects>>(linker, |state| &mut state.objects)?;
    current::jobserver::job::log::add_to_linker::<_, HasSelf<JournalHost>>(linker, |state| &mut state.journal)?;
    current::jobserver::job::progress::add_to_linker::<_, HasSelf<JournalHost>>(linker, |state| &mut state.journal)?;
    current::jobserver::job::named_objects::add_to_linker::<_, HasSelf<NamedObjects>>(linker, |state| {
        &mut state.objects
    })?;
    current::jobserver::job::job_info::add_to_linker::<_, HasSelf<JobInfoHost>>(linker, |state| &mut state.job_info)?;
    current::jobserver::job::kafka::add_to_linker::<_, HasSelf<host::kafka::KafkaHost>>(linker, |state| {
        &mut state.kafka
    })?;
    current::jobserver::job::cassandra::add_to_linker::<_, HasSelf<host::cassandra::CassandraHost>>(linker, |state| {
        &mut state.cassandra
    })?;
    Ok(())
}

/// What a call of `run` came to.
fn run_outcome(outcome: Result<Result<String, GuestError>, Option<JobFailure>>, result_max_bytes: u64) -> RunOutcome {
    match outcome {
        Ok(Ok(result)) => check_result(result, result_max_bytes),
        Ok(Err(error)) => RunOutcome::Failed(JobFailure::from_job(error.class, error.message)),
        Err(Some(failure)) => RunOutcome::Failed(failure),
        Err(None) => RunOutcome::Killed,
    }
}

fn check_result(result: String, max_bytes: u64) -> RunOutcome {
    if result.len() as u64 > max_bytes {
        return RunOutcome::Failed(JobFailure::new(
            "ResultTooLarge",
            format!(
                "the job's result is {} bytes, over the limit of {max_bytes} bytes",
                result.len()
            ),
        ));
    }
    // Parsed whole, not skimmed: a number out of range (`1e400`) is valid
    // JSON text that no reader of the stored result could take.
    match serde_json::from_str::<serde_json::Value>(&result) {
        Ok(_) => RunOutcome::Finished(result),
        Err(error) => RunOutcome::Failed(JobFailure::new(
            "InvalidResult",
            format!("the job's result is not valid JSON: {error}"),
        )),
    }
}

/// Turns a failed guest call into words: memory limit, panic (whose message
/// Rust printed to stderr), other traps, or host errors.
fn classify_failure(error: &wasmtime::Error, journal: &Journal) -> JobFailure {
    if let Some(limit) = error.downcast_ref::<MemoryLimitExceeded>() {
        return JobFailure::new("MemoryLimitExceeded", limit.to_string());
    }
    if let Some(trap) = error.downcast_ref::<Trap>() {
        if let Some(panic) = panic_message(&journal.stderr_tail()) {
            return JobFailure::new("Panic", format!("the job panicked: {panic}"));
        }
        return JobFailure::new("Trap", format!("the job trapped: {trap}"));
    }
    JobFailure::new("Trap", format!("the job failed: {error:#}"))
}

/// Rust's panic hook prints `thread '..' panicked at FILE:LINE:COL:` and then
/// the message; picks those out of the last lines of stderr.
fn panic_message(stderr_tail: &[String]) -> Option<String> {
    let start = stderr_tail.iter().rposition(|line| line.contains("panicked at"))?;
    let location = stderr_tail[start].split("panicked at ").nth(1)?.trim_end_matches(':');
    let message: Vec<&str> = stderr_tail[start + 1..]
        .iter()
        .map(String::as_str)
        .take_while(|line| !line.starts_with("note: "))
        .collect();
    Some(format!("{} (at {location})", message.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_read_from_stderr() {
        let tail = [
            "something earlier".to_string(),
            "thread '<unnamed>' panicked at src/lib.rs:10:5:".into(),
            "boom".into(),
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace".into(),
        ];
        assert_eq!(panic_message(&tail).as_deref(), Some("boom (at src/lib.rs:10:5)"));
        assert_eq!(panic_message(&["plain".to_string()]), None);
    }

    #[test]
    fn results_are_checked_for_size_and_json() {
        assert!(matches!(check_result("{\"a\":1}".into(), 100), RunOutcome::Finished(_)));
        let RunOutcome::Failed(failure) = check_result("\"0123456789\"".into(), 5) else {
            panic!()
        };
        assert_eq!(failure.class, "ResultTooLarge");
        let RunOutcome::Failed(failure) = check_result("{nope".into(), 100) else {
            panic!()
        };
        assert_eq!(failure.class, "InvalidResult");
        let RunOutcome::Failed(failure) = check_result("[1e400]".into(), 100) else {
            panic!()
        };
        assert_eq!(failure.class, "InvalidResult");
    }
}
