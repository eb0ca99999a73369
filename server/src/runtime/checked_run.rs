//! `validate` and then `run` in one instance of the component: a sync job
//! that has its slot already pays for one instantiation, not two. The
//! contract allows it: a component keeps no state between calls.

use super::host::cassandra::CassandraHost;
use super::host::kafka::KafkaHost;
use super::host::{Capabilities, NamedObjects};
use super::{CHECK_TIMEOUT, JobFailure, JobRun, Problem, RunLimits, RunOutcome, Runtime, run_outcome};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// What `validate` said of the config, before the run.
#[derive(Debug)]
pub enum Checked {
    Valid,
    Invalid(Vec<Problem>),
    /// The call itself failed (a trap, its time limit).
    Failed(JobFailure),
}

impl Runtime {
    /// Runs the entry's `validate` and, when the config passes, its `run` in
    /// the same instance, once `go` says so. `checked` hears what `validate`
    /// said as soon as it is known; `None` is returned when the config did
    /// not pass, or `go` was dropped rather than sent. As in a
    /// check, `validate` gets no named objects and no clusters (they are
    /// granted for the run) and the check time limit, and what it logs is
    /// not kept.
    pub async fn validate_and_run(
        &self,
        job: JobRun,
        cancel: CancellationToken,
        checked: oneshot::Sender<Checked>,
        go: oneshot::Receiver<()>,
    ) -> Option<RunOutcome> {
        let JobRun {
            compiled,
            entry,
            config,
            limits,
            capabilities,
        } = job;
        let Capabilities {
            journal,
            objects,
            job: info,
            kafka,
            cassandra,
        } = capabilities;
        let runtime = self.clone();
        let task = {
            let (cancel, journal) = (cancel.clone(), journal.clone());
            async move {
                let check_limits = RunLimits {
                    timeout: limits.timeout.min(CHECK_TIMEOUT),
                    ..limits
                };
                let validated = runtime
                    .bounded(
                        async {
                            let permit = runtime.instance_permit().await;
                            let for_checks = Capabilities::for_checks(journal.clone(), info);
                            let (mut store, instance) = runtime.instantiate(&compiled, &limits, for_checks).await?;
                            let verdict = instance.validate(&mut store, &entry, &config).await?;
                            Ok((permit, store, instance, verdict))
                        },
                        &check_limits,
                        &journal,
                        &cancel,
                    )
                    .await;
                let (_permit, mut store, instance) = match validated {
                    // Not heard: the caller let go of the slot (validate was
                    // too slow), and the job is to run elsewhere, not here.
                    Ok((permit, store, instance, Ok(()))) => match checked.send(Checked::Valid) {
                        Ok(()) => (permit, store, instance),
                        Err(_) => return None,
                    },
                    Ok((_, _, _, Err(problems))) => {
                        let _ = checked.send(Checked::Invalid(problems));
                        return None;
                    }
                    Err(failure) => {
                        let failure =
                            failure.unwrap_or_else(|| JobFailure::new("Killed", "validation was interrupted"));
                        let _ = checked.send(Checked::Failed(failure));
                        return None;
                    }
                };
                if go.await.is_err() {
                    return None;
                }
                journal.forget();
                let state = store.data_mut();
                state.objects = NamedObjects(objects);
                state.kafka = KafkaHost::new(kafka);
                state.cassandra = CassandraHost::new(cassandra);
                let ran = runtime
                    .bounded(instance.run(&mut store, &entry, &config), &limits, &journal, &cancel)
                    .await;
                Some(ran)
            }
        };
        let guard = cancel.drop_guard();
        let outcome = self.executor.handle().spawn(task).await;
        guard.disarm();
        journal.close();
        match outcome {
            Ok(ran) => ran.map(|ran| run_outcome(ran, limits.result_max_bytes)),
            Err(error) => Some(RunOutcome::Failed(JobFailure::new(
                "Internal",
                format!("the guest task failed: {error}"),
            ))),
        }
    }
}
