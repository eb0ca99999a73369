//! A sync job run in a slot this server holds (`holds`): `validate` and
//! `run` in one instance, and, when it ends within moments, its end written
//! once with the ends of the jobs that ended meanwhile (`recorder`).

use super::recorder::CONTEXT_GONE;
use super::run::{StartedRun, end_of, outcome_of, plain_end};
use super::{JobSpec, KillSwitch, Scheduler, SchedulerError, SchedulerResult};
use crate::runtime::{Checked, JobFailure};
use crate::store::{HeldCheck, HeldEnd, Hold, JobEnd, JobRow, JobStatus, Recorded, StoreResult, SubmitOutcome};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// How long a job in a held slot may run unwritten, from when it may start:
/// one that ends within it is written once, as it ended (most sync jobs take
/// a millisecond or so).
/// Meanwhile only this server sees it.
const OPEN_WINDOW: Duration = Duration::from_millis(20);
/// How long a `validate` may keep a held slot: most take microseconds. A
/// slower one lets go, and the job is submitted the ordinary way (validated
/// again, in an instance of its own, before any slot). Not shorter: with 16
/// clients on two cores a verdict can wait tens of milliseconds for a
/// thread, and with 100 ms the rate at 16 clients fell from about 0.4 of
/// pgbench's to 0.22-0.28 in back-to-back benchmarks.
const CHECK_WINDOW: Duration = Duration::from_secs(1);

/// A job about to run in a held slot, as it will be written.
pub(super) struct HeldJob {
    /// As submitted and started (`NewJob::recorded`).
    pub(super) job: JobRow,
    pub(super) config: String,
    pub(super) hold: Hold,
}

/// What became of a job run in a held slot.
pub(super) enum HeldRun {
    /// It ended, and is written as this says.
    Ended(JobEnd),
    /// It runs on, written RUNNING in the slot, which is its own now.
    Running,
    /// Its `validate` took too long to keep a slot for: nothing is written,
    /// and the job is for the ordinary way.
    SlowCheck,
    /// The submission's checks did not pass: nothing ran or is written.
    /// `None` sends the job the ordinary way; else it is the answer.
    NotRun(Option<StoreResult<SubmitOutcome>>),
}

impl Scheduler {
    /// Runs a sync job in a slot this server holds, once `passed` says that
    /// the job passed a submission's checks, which the caller makes while
    /// `validate` runs. The caller also sends `go` when they pass, straight
    /// to the run: a `validate` that finished first goes on to `run` at
    /// once, not after a wake-up of this task. The run starts only when
    /// `validate` passed and was heard here (one not heard within
    /// `CHECK_WINDOW` stops there) and `go` came. A config that does not
    /// pass gives the slot back to the hold, and nothing is written. An
    /// error writing its end (the
    /// database went away in those milliseconds) is the client's answer, as
    /// for a submission refused.
    pub(super) async fn run_held(
        &self,
        spec: JobSpec,
        kill: KillSwitch,
        held: HeldJob,
        passed: oneshot::Receiver<(StoreResult<HeldCheck>, Instant)>,
        go: oneshot::Receiver<()>,
    ) -> SchedulerResult<HeldRun> {
        let inner = &self.inner;
        let id = spec.info.id;
        let (checked, mut verdict) = oneshot::channel();
        // Its own token, so that giving up on a slow `validate` is no kill.
        let stop = kill.cancel.child_token();
        let mut run = self.start_run(spec, stop.clone(), Some((checked, go)));
        let verdict = match tokio::time::timeout(CHECK_WINDOW, &mut verdict).await {
            Ok(verdict) => verdict,
            // Closed first, so that a `validate` passing just now cannot go on
            // to run: either its verdict is here, or its run never starts.
            Err(_) => {
                verdict.close();
                match verdict.try_recv() {
                    Ok(verdict) => Ok(verdict),
                    Err(_) => {
                        stop.cancel();
                        self.put_back_hold(held.hold);
                        return Ok(HeldRun::SlowCheck);
                    }
                }
            }
        };
        let refusal = match verdict {
            Ok(Checked::Valid) => None,
            Ok(Checked::Invalid(problems)) => Some(SchedulerError::ValidationFailed(problems)),
            Ok(Checked::Failed(_)) if inner.shutting_down.is_cancelled() => Some(SchedulerError::ShuttingDown),
            // Stopped by a kill while it validated: this server lost its
            // lease, or (rarely, the id is the answer's) a client killed it.
            Ok(Checked::Failed(_)) if kill.cancel.is_cancelled() => Some(match kill.reason() {
                Some((_, false)) => SchedulerError::JobEnded {
                    id,
                    status: JobStatus::Killed,
                },
                _ => SchedulerError::LeaseLost,
            }),
            Ok(Checked::Failed(failure)) => Some(SchedulerError::ValidateCrashed(failure)),
            Err(_) => Some(SchedulerError::ValidateCrashed(JobFailure {
                class: "Internal".into(),
                message: "the validation's task failed".into(),
            })),
        };
        if let Some(refusal) = refusal {
            self.running().remove(&id);
            self.put_back_hold(held.hold);
            return Err(refusal);
        }
        // Unless it passed, `go` was dropped: the run never starts.
        // Timed from when `go` was sent, not from now: the run may have begun
        // while this task waited for a thread.
        let went = match passed.await {
            Ok((Ok(HeldCheck::Ok), went)) => went,
            // Still the submission's: it goes on the ordinary way, or is
            // answered.
            Ok((check, _)) => return Ok(HeldRun::NotRun(self.failed_check(held.hold, check))),
            // The submission went (its client did): nobody takes the hold back.
            Err(_) => {
                self.running().remove(&id);
                self.put_back_hold(held.hold);
                return Ok(HeldRun::SlowCheck);
            }
        };
        match tokio::time::timeout_at(went + OPEN_WINDOW, &mut run.handle).await {
            Ok(outcome) => {
                let end = end_of(outcome_of(outcome), &kill, &run.journal, 0, Vec::new());
                self.write_held_end(held, end).await.map(HeldRun::Ended)
            }
            Err(_) => self.record_running(run, kill, held).await,
        }
    }

    /// A job that outlived `OPEN_WINDOW`: written RUNNING in its held slot,
    /// which becomes its own, it goes on as any other job. When the hold is
    /// gone (its context was deleted) it is stopped, and written KILLED.
    async fn record_running(&self, mut run: StartedRun, kill: KillSwitch, held: HeldJob) -> SchedulerResult<HeldRun> {
        let inner = &self.inner;
        let written = inner
            .store
            .record_running_held(&held.job, &held.config, &held.hold, &inner.me)
            .await;
        match written {
            Ok(true) => self.holds().converted(&held.hold),
            Ok(false) => {
                kill.pull(CONTEXT_GONE);
                let end = end_of(outcome_of((&mut run.handle).await), &kill, &run.journal, 0, Vec::new());
                return self.write_held_end(held, end).await.map(HeldRun::Ended);
            }
            // Whether it took effect is unknown (its answer may be what was
            // lost), so the job goes on either way: written, its end is too;
            // not, its end finds no row, and the hold goes back by the sweep
            // (a release finds nothing when the slot is the job's). It stays
            // known here, so it is not taken up again as an orphan. The
            // client is told of the failure.
            Err(_) => {
                self.holds().converted(&held.hold);
                self.holds().release_failed(vec![held.hold.clone()]);
            }
        }
        let scheduler = self.clone();
        inner.tasks.spawn(async move {
            let mut next = scheduler.complete(run, kill).await;
            while let Some(id) = next.take() {
                next = scheduler.run_claimed(id).await;
            }
        });
        written?;
        Ok(HeldRun::Running)
    }

    /// Writes the end of a job that ran in a held slot, with the others that
    /// end meanwhile, and puts the hold back for the next job.
    async fn write_held_end(&self, held: HeldJob, end: JobEnd) -> SchedulerResult<JobEnd> {
        let inner = &self.inner;
        let id = held.job.id;
        let hold = held.hold.clone();
        let written = inner
            .recorder
            .record(HeldEnd {
                job: held.job,
                config: held.config,
                hold: held.hold,
                end: end.clone(),
            })
            .await;
        self.running().remove(&id);
        inner.waiters.ended(id);
        let end = match written {
            Ok(Some(Recorded::AsEnded)) => {
                self.put_back_hold(hold);
                end
            }
            Ok(Some(Recorded::ContextGone)) => {
                self.release(self.holds().wanted(&hold.pool));
                self.put_back_hold(hold);
                JobEnd {
                    progress: end.progress,
                    logs: end.logs,
                    ended_at: end.ended_at,
                    ..plain_end(JobStatus::Killed, "Killed", CONTEXT_GONE.into())
                }
            }
            Ok(None) => {
                self.release(self.holds().all_wanted());
                self.put_back_hold(hold);
                return Err(SchedulerError::LeaseLost);
            }
            Err(error) => {
                self.put_back_hold(hold);
                return Err(error.into());
            }
        };
        tracing::info!(job = %id, status = %end.status, "job ended");
        Ok(end)
    }

    /// A hold done with: idle for the next job, or given back.
    pub(super) fn put_back_hold(&self, hold: Hold) {
        if let Some(hold) = self.holds().put_back(hold) {
            self.release(vec![hold]);
        }
    }
}
