//! The run of one admitted job: its capabilities, its journal flushed to the
//! store while it runs, and its end recorded whatever happens.

use super::objects::ContextObjects;
use super::{JobSpec, Scheduler, status};
use crate::runtime::{Capabilities, JobRun, Journal, RunOutcome};
use crate::store::{JobEnd, Store};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often a running job's logs and progress are written to the store.
const JOURNAL_FLUSH_INTERVAL: Duration = Duration::from_millis(500);
/// How often the end of a job is written before it is recorded plainly.
const RECORD_END_ATTEMPTS: u32 = 5;

impl Scheduler {
    pub(super) async fn execute(&self, spec: JobSpec, was_queued: bool) {
        let inner = &self.inner;
        let id = spec.info.id;
        let live = self.jobs().get(&id).map(|job| job.kill.clone());
        let Some(kill) = live else {
            return;
        };
        if was_queued && let Err(error) = inner.store.mark_running(id, Utc::now()).await {
            tracing::error!(job = %id, %error, "could not record that a job started");
        }
        let journal = Arc::new(Journal::new(spec.limits.log_max_bytes as usize));
        let objects = Arc::new(ContextObjects {
            store: inner.store.clone(),
            context: spec.objects_scope(),
            max_value_bytes: inner.settings.limits.named_object_max_size.0,
            max_objects: inner.settings.limits.named_objects_per_context,
        });
        let flushing = CancellationToken::new();
        let flusher = tokio::spawn(flush_journal(
            inner.store.clone(),
            id,
            journal.clone(),
            flushing.clone(),
        ));
        let run = JobRun {
            compiled: spec.compiled.clone(),
            entry: spec.info.entry.clone(),
            config: spec.config.clone(),
            limits: spec.limits,
            capabilities: Capabilities {
                journal,
                objects,
                job: Some(spec.info.clone()),
                kafka: spec.connections.kafka.clone(),
                cassandra: spec.connections.cassandra.clone(),
            },
        };
        let outcome = inner.runtime.run(run, kill.cancel.clone()).await;
        flushing.cancel();
        if let Err(error) = flusher.await {
            tracing::error!(job = %id, %error, "the journal flusher of a job failed");
        }
        let end = match outcome {
            RunOutcome::Finished(result) => JobEnd {
                status: status::FINISHED,
                ended_at: Utc::now(),
                result: Some(result),
                error_class: None,
                error_message: None,
            },
            RunOutcome::Failed(failure) => JobEnd {
                status: status::ERROR,
                ended_at: Utc::now(),
                result: None,
                error_class: Some(failure.class.to_string()),
                error_message: Some(failure.message),
            },
            RunOutcome::Killed => JobEnd {
                status: status::KILLED,
                ended_at: Utc::now(),
                result: None,
                error_class: Some("Killed".to_string()),
                error_message: kill.reason(),
            },
        };
        self.record_end(id, &end).await;
        if spec.info.adhoc
            && let Err(error) = inner.store.delete_objects_of(&spec.objects_scope()).await
        {
            tracing::warn!(job = %id, %error, "could not drop the named objects of an ad-hoc context");
        }
        tracing::info!(job = %id, status = end.status, "job ended");
        self.unregister(id, end.status);
    }

    /// Writes a job's end, retrying a few times: a job left RUNNING in the
    /// store would be reported wrongly until the next restart reconciles it.
    /// When its end cannot be written as it is (something in the result the
    /// database refuses), the job is recorded as ERROR with a plain message,
    /// so that it still ends.
    pub(super) async fn record_end(&self, id: Uuid, end: &JobEnd) {
        for attempt in 1..=RECORD_END_ATTEMPTS {
            match self.inner.store.finish_job(id, end).await {
                Ok(_) => return,
                Err(error) => {
                    tracing::error!(job = %id, attempt, %error, "could not record the end of a job");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
            }
        }
        let plain = JobEnd {
            status: status::ERROR,
            ended_at: end.ended_at,
            result: None,
            error_class: Some("NotRecorded".to_string()),
            error_message: Some(format!(
                "the job ended {} but the server could not record its outcome; the server log says why",
                end.status
            )),
        };
        if let Err(error) = self.inner.store.finish_job(id, &plain).await {
            tracing::error!(job = %id, %error, "could not record even a plain end of a job; a restart will");
        }
    }
}

/// Writes the journal's lines and progress to the store while the job runs,
/// and once more after it ended.
async fn flush_journal(store: Store, id: Uuid, journal: Arc<Journal>, done: CancellationToken) {
    let mut next_seq = 0;
    loop {
        let finished = tokio::select! {
            () = done.cancelled() => true,
            () = tokio::time::sleep(JOURNAL_FLUSH_INTERVAL) => false,
        };
        let batch = journal.drain();
        if let Some((fraction, message)) = &batch.progress
            && let Err(error) = store.update_progress(id, *fraction, message.as_deref()).await
        {
            tracing::warn!(job = %id, %error, "could not record a job's progress");
        }
        if !batch.lines.is_empty() {
            let lines: Vec<_> = batch
                .lines
                .iter()
                .map(|line| (line.at, line.level, line.message.as_str()))
                .collect();
            match store.append_logs(id, next_seq, &lines).await {
                Ok(()) => next_seq += lines.len() as i32,
                Err(error) => {
                    tracing::warn!(job = %id, %error, lines = lines.len(), "could not record a job's log lines")
                }
            }
        }
        if finished {
            return;
        }
    }
}
