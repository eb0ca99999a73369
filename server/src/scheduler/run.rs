//! The run of a job this server holds a slot for: its capabilities, its
//! journal flushed to the store while it runs, its end recorded whatever
//! happens (waiting out a database that is away), and then the next job its
//! slot was handed to.

use super::objects::ContextObjects;
use super::{JobSpec, KillSwitch, Scheduler, SchedulerError};
use crate::runtime::{Capabilities, Checked, JobFailure, JobInfo, JobRun, Journal, RunLimits, RunOutcome};
use crate::store::{JobEnd, JobStatus, LogLine, PendingJobRow, Store};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often a running job's logs and progress are written to the store.
const JOURNAL_FLUSH_INTERVAL: Duration = Duration::from_millis(500);
/// How often an end the database refuses is tried before it is recorded plainly.
const RECORD_END_ATTEMPTS: u32 = 3;
/// The longest pause between attempts to record an end while the database is away.
const RECORD_END_MAX_PAUSE: Duration = Duration::from_secs(5);
/// How long a stopping server keeps trying to record ends.
const RECORD_END_AT_SHUTDOWN: Duration = Duration::from_secs(15);

impl Scheduler {
    /// Runs the job, then each job its slot is handed to, on this server.
    pub(super) fn spawn(&self, spec: JobSpec, kill: KillSwitch) {
        let scheduler = self.clone();
        self.inner.tasks.spawn(async move {
            let mut next = scheduler.execute(spec, kill).await;
            while let Some(id) = next.take() {
                next = scheduler.run_claimed(id).await;
            }
        });
    }

    /// Starts a job this server claimed from a queue.
    pub(super) fn spawn_claimed(&self, id: Uuid) {
        let scheduler = self.clone();
        self.inner.tasks.spawn(async move {
            let mut next = Some(id);
            while let Some(id) = next.take() {
                next = scheduler.run_claimed(id).await;
            }
        });
    }

    /// Loads and runs a claimed job; returns the job its slot went to next.
    pub(super) async fn run_claimed(&self, id: Uuid) -> Option<Uuid> {
        let kill = self.running().entry(id).or_default().clone();
        if self.inner.shutting_down.is_cancelled() {
            // Claimed as the server began to stop: back to the queue, for
            // whichever server is there.
            self.running().remove(&id);
            if let Err(error) = self.inner.store.release_job(id, self.inner.me.id).await {
                tracing::warn!(job = %id, %error, "could not hand a job back to its queue; its lease will");
            }
            return None;
        }
        match self.spec_of(id).await {
            Ok(spec) => self.execute(spec, kill).await,
            Err(reason) => {
                tracing::error!(job = %id, %reason, "cannot run a claimed job");
                let end = plain_end(JobStatus::Error, "NotRun", reason);
                self.finish(id, end).await
            }
        }
    }

    /// What a claimed job needs to run, from the store.
    async fn spec_of(&self, id: Uuid) -> Result<JobSpec, String> {
        let pending: PendingJobRow = self
            .inner
            .store
            .pending_job(id)
            .await
            .map_err(|error| format!("it could not be read: {error}"))?
            .ok_or_else(|| "it was deleted".to_string())?;
        let job = pending.job;
        let connections = if job.adhoc {
            self.inner.adhoc_connections.clone()
        } else {
            match self.live_context(&job.context).await {
                Ok(live) => live.connections.clone(),
                Err(SchedulerError::ContextNotFound(_)) => return Err("its context no longer exists".into()),
                Err(error) => return Err(format!("its context could not be read: {error}")),
            }
        };
        let compiled = self
            .load(&job.blob_hash)
            .await
            .map_err(|error| format!("its component could not be loaded: {error}"))?;
        Ok(JobSpec {
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
            config: pending.config.to_string(),
            limits: RunLimits {
                timeout: Duration::from_millis(job.timeout_ms.max(1) as u64),
                memory_bytes: job.memory_limit.max(0) as u64,
                ..self.limits(0, Duration::ZERO)
            },
            compiled,
        })
    }

    /// Runs one job and records its end; returns the job its slot went to.
    async fn execute(&self, spec: JobSpec, kill: KillSwitch) -> Option<Uuid> {
        let run = self.start_run(spec, kill.cancel.clone(), None);
        self.complete(run, kill).await
    }

    /// Starts the job's run on the guest executor; with `checked`, after its
    /// `validate` in the same instance, which `checked` hears of, and once
    /// `go` says so.
    pub(super) fn start_run(
        &self,
        spec: JobSpec,
        cancel: CancellationToken,
        checked: Option<(oneshot::Sender<Checked>, oneshot::Receiver<()>)>,
    ) -> StartedRun {
        let inner = &self.inner;
        let journal = Arc::new(Journal::new(spec.limits.log_max_bytes as usize));
        let objects = Arc::new(ContextObjects {
            store: inner.store.clone(),
            context: spec.objects_scope(),
            max_value_bytes: inner.settings.limits.named_object_max_size.0,
            max_objects: inner.settings.limits.named_objects_per_context,
        });
        let run = JobRun {
            compiled: spec.compiled.clone(),
            entry: spec.info.entry.clone(),
            config: spec.config.clone(),
            limits: spec.limits,
            capabilities: Capabilities {
                journal: journal.clone(),
                objects,
                job: Some(spec.info.clone()),
                kafka: spec.connections.kafka.clone(),
                cassandra: spec.connections.cassandra.clone(),
            },
        };
        let runtime = inner.runtime.clone();
        let handle = inner.tasks.spawn(async move {
            match checked {
                // A run whose config did not pass: nobody looks at its outcome.
                Some((checked, go)) => runtime
                    .validate_and_run(run, cancel, checked, go)
                    .await
                    .unwrap_or(RunOutcome::Killed),
                None if cancel.is_cancelled() => RunOutcome::Killed,
                None => runtime.run(run, cancel).await,
            }
        });
        StartedRun {
            id: spec.info.id,
            journal,
            handle,
        }
    }

    /// Waits for a started run, writing its journal to the store meanwhile,
    /// and records its end; returns the job its slot went to.
    pub(super) async fn complete(&self, mut run: StartedRun, kill: KillSwitch) -> Option<Uuid> {
        let inner = &self.inner;
        let id = run.id;
        let flushing = CancellationToken::new();
        let flusher = tokio::spawn(flush_journal(
            inner.store.clone(),
            id,
            run.journal.clone(),
            flushing.clone(),
        ));
        let outcome = outcome_of((&mut run.handle).await);
        flushing.cancel();
        let (first_seq, logs) = match flusher.await {
            Ok(unwritten) => unwritten,
            Err(error) => {
                tracing::error!(job = %id, %error, "the journal flusher of a job failed");
                (0, Vec::new())
            }
        };
        // An ad-hoc context's named objects go with its end, in one transaction.
        self.finish(id, end_of(outcome, &kill, &run.journal, first_seq, logs))
            .await
    }

    /// Records a job's end and lets go of it; returns the job its slot went to.
    async fn finish(&self, id: Uuid, end: JobEnd) -> Option<Uuid> {
        let status = end.status;
        let next = self.record_end(id, end).await;
        self.running().remove(&id);
        self.inner.waiters.ended(id);
        tracing::info!(job = %id, %status, "job ended");
        if let Some(next) = next {
            self.running().entry(next).or_default();
        }
        next
    }

    /// Writes a job's end, handing its slot to the next waiting job unless
    /// the server is stopping. While the database is away it keeps trying
    /// (the job's slot stays taken meanwhile, so nothing runs in its place);
    /// an end the database refuses as it is (something in the result) is
    /// recorded as ERROR with a plain message, so that the job still ends.
    async fn record_end(&self, id: Uuid, mut end: JobEnd) -> Option<Uuid> {
        let inner = &self.inner;
        let mut pause = Duration::from_millis(100);
        let mut refusals = 0;
        let mut stopping_since: Option<Instant> = None;
        loop {
            let hand_over = !inner.shutting_down.is_cancelled();
            match inner.store.end_job(id, &inner.me, &end, hand_over).await {
                Ok(outcome) => {
                    if !outcome.ended {
                        tracing::warn!(job = %id, "the job's end was not recorded: other servers took this one for dead and ended it");
                    }
                    return outcome.next;
                }
                Err(error) if error.is_unavailable() => {
                    tracing::warn!(job = %id, %error, "cannot record the end of a job yet: the database is unavailable");
                }
                Err(error) => {
                    refusals += 1;
                    tracing::error!(job = %id, attempt = refusals, %error, "could not record the end of a job");
                    if refusals >= RECORD_END_ATTEMPTS {
                        end = JobEnd {
                            logs: std::mem::take(&mut end.logs),
                            ..plain_end(
                                JobStatus::Error,
                                "NotRecorded",
                                format!(
                                    "the job ended {} but the server could not record its outcome; the server log says why",
                                    end.status
                                ),
                            )
                        };
                    }
                }
            }
            if inner.shutting_down.is_cancelled() {
                let since = *stopping_since.get_or_insert_with(Instant::now);
                if since.elapsed() > RECORD_END_AT_SHUTDOWN {
                    tracing::error!(job = %id, "gave up recording the end of a job at shutdown; its lease will end it");
                    return None;
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RECORD_END_MAX_PAUSE);
        }
    }
}

/// A run going on the guest executor.
pub(super) struct StartedRun {
    id: Uuid,
    pub(super) journal: Arc<Journal>,
    pub(super) handle: JoinHandle<RunOutcome>,
}

/// A run's outcome, or the failure of its task.
pub(super) fn outcome_of(joined: Result<RunOutcome, tokio::task::JoinError>) -> RunOutcome {
    joined.unwrap_or_else(|error| {
        RunOutcome::Failed(JobFailure {
            class: "Internal".into(),
            message: format!("the job's task failed: {error}"),
        })
    })
}

/// How a run ended, as the store records it: with its status, the last of
/// its journal (after the lines from `first_seq` on that were not written,
/// `logs`) and its progress.
pub(super) fn end_of(
    outcome: RunOutcome,
    kill: &KillSwitch,
    journal: &Journal,
    first_seq: i32,
    mut logs: Vec<LogLine>,
) -> JobEnd {
    let last = journal.drain();
    logs.extend(last.lines.into_iter().map(|line| LogLine {
        at: line.at,
        level: line.level,
        message: line.message,
    }));
    let mut end = match outcome {
        RunOutcome::Finished(result) => JobEnd {
            result: Some(result),
            ..plain_end(JobStatus::Finished, "", String::new())
        },
        RunOutcome::Failed(failure) => plain_end(JobStatus::Error, &failure.class, failure.message),
        RunOutcome::Killed => match kill.reason() {
            Some((reason, true)) => plain_end(JobStatus::Error, "ServerStopped", reason),
            Some((reason, false)) => plain_end(JobStatus::Killed, "Killed", reason),
            None => plain_end(JobStatus::Killed, "Killed", String::new()),
        },
    };
    if end.status == JobStatus::Finished {
        end.error_class = None;
        end.error_message = None;
    }
    end.progress = last.progress;
    end.first_seq = first_seq;
    end.logs = logs;
    end
}

/// An end without a result.
pub(super) fn plain_end(status: JobStatus, class: &str, message: String) -> JobEnd {
    JobEnd {
        status,
        ended_at: Utc::now(),
        result: None,
        error_class: Some(class.to_string()),
        error_message: Some(message),
        progress: None,
        first_seq: 0,
        logs: Vec::new(),
    }
}

/// Writes the journal's lines and progress to the store while the job runs.
/// Returns, once told the job ended, the number of the next line and the
/// lines it could not write (the database was away), for the end to write.
async fn flush_journal(store: Store, id: Uuid, journal: Arc<Journal>, done: CancellationToken) -> (i32, Vec<LogLine>) {
    let mut next_seq = 0;
    let mut unwritten: Vec<LogLine> = Vec::new();
    loop {
        tokio::select! {
            () = done.cancelled() => return (next_seq, unwritten),
            () = tokio::time::sleep(JOURNAL_FLUSH_INTERVAL) => {}
        }
        let batch = journal.drain();
        if let Some((fraction, message)) = &batch.progress
            && let Err(error) = store.update_progress(id, *fraction, message.as_deref()).await
        {
            tracing::warn!(job = %id, %error, "could not record a job's progress");
        }
        unwritten.extend(batch.lines.into_iter().map(|line| LogLine {
            at: line.at,
            level: line.level,
            message: line.message,
        }));
        if unwritten.is_empty() {
            continue;
        }
        let lines: Vec<_> = unwritten
            .iter()
            .map(|line| (line.at, line.level, line.message.as_str()))
            .collect();
        match store.append_logs(id, next_seq, &lines).await {
            Ok(()) => {
                next_seq += lines.len() as i32;
                unwritten.clear();
            }
            Err(error) => {
                tracing::warn!(job = %id, %error, lines = lines.len(), "could not record a job's log lines yet")
            }
        }
    }
}
