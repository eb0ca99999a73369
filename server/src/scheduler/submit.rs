//! Submission: a job checked against its app, context and config, and
//! recorded to run at once, to wait in its queue, or refused.
//!
//! A sync job whose pool has a slot free takes the fast way: it runs in a
//! slot this server holds (`holds`), `validate` and `run` share one instance
//! of the component, and the job is written once, as it ended (`run_held`).
//! Any other job is validated, then recorded by `submit_job`.

use super::entries::{adhoc_context_name, choose_entry};
use super::held_run::{HeldJob, HeldRun};
use super::{JobSpec, KillSwitch, Scheduler, SchedulerError, SchedulerResult, Submission, Submitted};
use crate::runtime::{JobInfo, RuntimeError};
use crate::store::{HeldCheck, Holding, NewJob, SubmitOutcome};
use chrono::Utc;
use uuid::Uuid;

impl Scheduler {
    /// Validates and records a job. It runs here at once when its context
    /// has a free slot, waits in the context's queue otherwise (for a slot on
    /// any server), and is refused when the queue is full. Nothing is
    /// recorded for a refused job.
    pub async fn submit(&self, submission: Submission) -> SchedulerResult<Submitted> {
        let mut context_retried = false;
        let mut app_retries = 0;
        loop {
            match self.try_submit(&submission).await {
                // The context this server knew was deleted and made again: once
                // more with the one that exists now.
                Err(SchedulerError::ContextNotFound(_)) if submission.context.is_some() && !context_retried => {
                    context_retried = true;
                }
                // The version cached here was not the one to run any more: again
                // from the store, which a stream of uploads could outrun.
                Err(SchedulerError::AppChanged(_)) if app_retries < 2 => app_retries += 1,
                other => return other,
            }
        }
    }

    async fn try_submit(&self, submission: &Submission) -> SchedulerResult<Submitted> {
        let inner = &self.inner;
        if inner.shutting_down.is_cancelled() {
            return Err(SchedulerError::ShuttingDown);
        }
        let (app, asked) = (&submission.app_name, submission.app_version);
        let cached = inner.versions.get(app, asked);
        let from_cache = cached.is_some();
        // A cached version may have been replaced or deleted on another server:
        // what it refuses (an entry, its content, the config) is asked again
        // of the store before the client is told.
        let checked = |error: SchedulerError| {
            if from_cache {
                inner.versions.forget_app(app);
                SchedulerError::AppChanged(app.clone())
            } else {
                error
            }
        };
        let version = match cached {
            Some(version) => version,
            None => {
                let version = inner
                    .store
                    .find_app_version(app, asked)
                    .await?
                    .ok_or_else(|| match asked {
                        Some(version) => SchedulerError::VersionNotFound {
                            app: app.clone(),
                            version,
                        },
                        None => SchedulerError::AppNotFound(app.clone()),
                    })?;
                inner.versions.put(app, asked, &version);
                version
            }
        };
        let class_path = choose_entry(&version, submission.class_path.as_deref()).map_err(checked)?;
        let id = Uuid::new_v4();
        let (context, live, limits, connections, max_queued) = match &submission.context {
            Some(name) => {
                let live = self.live_context(name).await?;
                let limits = self.limits(live.settings.memory_per_node.0, live.settings.job_timeout);
                let max_queued = live.settings.max_queued_jobs;
                let connections = live.connections.clone();
                (name.clone(), Some(live), limits, connections, max_queued)
            }
            None => {
                let limits = self.limits(inner.settings.limits.job_memory.0, inner.settings.limits.job_timeout);
                let name = adhoc_context_name(id, &class_path);
                let max_queued = u32::try_from(inner.settings.scheduling.adhoc_max_queued).unwrap_or(u32::MAX);
                (name, None, limits, inner.adhoc_connections.clone(), max_queued)
            }
        };
        let compiled = self.load(&version.blob_hash).await.map_err(checked)?;
        let info = JobInfo {
            id,
            app: version.app_name.clone(),
            version: version.version.max(0) as u32,
            entry: class_path.clone(),
            context: context.clone(),
            adhoc: live.is_none(),
            submitted_at: Utc::now(),
        };
        let new_job = NewJob {
            id,
            app_name: &version.app_name,
            app_version: version.version,
            latest: asked.is_none(),
            blob_hash: &version.blob_hash,
            class_path: &class_path,
            context: &context,
            adhoc: live.is_none(),
            context_created: live.as_ref().map(|live| live.created_at),
            max_queued,
            config: &submission.config,
            submitted_at: info.submitted_at,
            timeout_ms: limits.timeout.as_millis() as i64,
            memory_limit: limits.memory_bytes as i64,
        };
        let spec = JobSpec {
            info,
            connections,
            config: submission.config.clone(),
            limits,
            compiled,
        };
        let submitted = |row, ended| Submitted {
            id,
            context: new_job.context.to_string(),
            class_path: new_job.class_path.to_string(),
            row,
            ended,
        };
        // Known as running before it is recorded so: a kill that comes as
        // soon as it is finds it.
        let kill = KillSwitch::default();
        self.running().insert(id, kill.clone());
        let mut known = Known {
            scheduler: self,
            id,
            until_run: true,
        };
        let outcome = if submission.sync {
            match self.take_held_slot(&new_job).await {
                Ok((Holding::Held(hold), to_check)) => {
                    let row = new_job.recorded(SubmitOutcome::Running, &inner.me);
                    let held = HeldJob {
                        job: row.clone(),
                        config: submission.config.clone(),
                        hold: hold.clone(),
                    };
                    // On a task of its own, so that a client going away
                    // while it runs does not drop it half done. That task
                    // lets go of the job once it ran; one that did not run
                    // is the submission's to go on with, or, when the
                    // submission went meanwhile, the task's to let go of.
                    let (scheduler, spec, kill) = (self.clone(), spec.clone(), kill.clone());
                    let (passed, checked_here) = tokio::sync::oneshot::channel();
                    let (go, gone_ahead) = tokio::sync::oneshot::channel();
                    let (answer, answered) = tokio::sync::oneshot::channel();
                    known.until_run = false;
                    inner.tasks.spawn(async move {
                        let ran = scheduler.run_held(spec, kill, held, checked_here, gone_ahead).await;
                        if let Err(Ok(HeldRun::SlowCheck | HeldRun::NotRun(_))) = answer.send(ran) {
                            scheduler.running().remove(&id);
                        }
                    });
                    // Made while `validate` runs: the run waits for it.
                    let check = match to_check {
                        true => inner.store.check_held(&new_job, &inner.me, &hold).await,
                        false => Ok(HeldCheck::Ok),
                    };
                    let went = tokio::time::Instant::now();
                    if let Ok(HeldCheck::Ok) = check {
                        let _ = go.send(());
                    }
                    let _ = passed.send((check, went));
                    let ran = answered.await.map_err(|_| {
                        self.running().remove(&id);
                        SchedulerError::Runtime(RuntimeError::Engine("a job's task failed".into()))
                    })?;
                    known.until_run = matches!(ran, Ok(HeldRun::SlowCheck | HeldRun::NotRun(_)));
                    match ran {
                        Ok(HeldRun::Ended(end)) => return Ok(submitted(end.recorded(row), true)),
                        Ok(HeldRun::Running) => return Ok(submitted(row, false)),
                        Ok(HeldRun::SlowCheck) => None,
                        Ok(HeldRun::NotRun(answer)) => answer,
                        Err(error @ (SchedulerError::ValidationFailed(_) | SchedulerError::ValidateCrashed(_))) => {
                            return Err(checked(error));
                        }
                        Err(error) => return Err(error),
                    }
                }
                Ok((Holding::Busy, _)) => None,
                Ok((Holding::Refused(outcome), _)) => Some(Ok(outcome)),
                Err(error) => Some(Err(error)),
            }
        } else {
            None
        };
        let outcome = match outcome {
            Some(outcome) => outcome,
            None => match self.validate(&spec, &submission.config).await {
                Ok(()) => inner.store.submit_job(&new_job, &inner.me).await,
                Err(error) => return Err(checked(error)),
            },
        };
        let outcome = outcome?;
        // Now, not when this returns: a queued job may be claimed here soon.
        known.until_run = false;
        if outcome != SubmitOutcome::Running {
            self.running().remove(&id);
        }
        let row = new_job.recorded(outcome, &inner.me);
        match outcome {
            SubmitOutcome::Running => self.spawn(spec, kill),
            // Claimed by whichever server has a slot first, this one included.
            SubmitOutcome::Queued => inner.wake.notify_one(),
            SubmitOutcome::Full { running, queued } => {
                return Err(SchedulerError::NoSlots {
                    context: context.clone(),
                    running,
                    queued,
                });
            }
            SubmitOutcome::NoApp | SubmitOutcome::StaleVersion => {
                inner.versions.forget_app(app);
                return Err(SchedulerError::AppChanged(app.clone()));
            }
            SubmitOutcome::NoLease => return Err(SchedulerError::LeaseLost),
            SubmitOutcome::NoContext => {
                self.forget_context(&context);
                return Err(SchedulerError::ContextNotFound(context.clone()));
            }
        }
        Ok(submitted(row, false))
    }

    /// The entry's `validate`, in an instance of its own, outside any slot.
    async fn validate(&self, spec: &JobSpec, config: &str) -> SchedulerResult<()> {
        let problems = self
            .inner
            .runtime
            .validate(spec.compiled.clone(), spec.info.clone(), config, spec.limits)
            .await
            .map_err(SchedulerError::ValidateCrashed)?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SchedulerError::ValidationFailed(problems))
        }
    }
}

/// Takes a submitted job out of the server's running jobs when its
/// submission ends, fails or is dropped (its client went away) before the
/// job runs.
struct Known<'a> {
    scheduler: &'a Scheduler,
    id: Uuid,
    until_run: bool,
}

impl Drop for Known<'_> {
    fn drop(&mut self) {
        if self.until_run {
            self.scheduler.running().remove(&self.id);
        }
    }
}
