//! This server among those sharing the database: its lease, renewed by a
//! heartbeat; the reaping of servers whose leases expired; the notifications
//! the servers send each other; and the loop that claims waiting jobs and
//! stops the ones someone killed, woken by notifications and polling in case
//! one was lost.

use super::Scheduler;
use crate::store::{Notification, ServerRegistration};
use std::collections::HashSet;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// How often the claims and kills are looked for when nothing woke the loop.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How soon a failed heartbeat or listener tries again.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// How many waiting jobs one claim takes at most.
const CLAIM_BATCH: u32 = 32;
/// How many rounds of the claim loop (about a second each) between looks for
/// jobs the store says this server runs and it does not know of.
const RECONCILE_EVERY: u32 = 5;

/// Who this server is to the others.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    /// `JOBSERVER_SERVER_NAME`, or the host name and port.
    pub name: String,
    /// Where clients reach it, as `GET /servers` shows.
    pub address: String,
    /// Local mode: nobody else can share the database, so what earlier runs
    /// left behind is ended at once rather than when their leases expire.
    pub sole: bool,
}

impl Scheduler {
    /// Takes the lease, reaps what must be, and starts the background loops.
    pub(super) async fn join(&self) -> crate::scheduler::SchedulerResult<()> {
        let inner = &self.inner;
        self.register().await?;
        let lease = inner.settings.server_lease;
        // Only local mode reaps at once: elsewhere the servers whose leases
        // look expired may be reconnecting after an outage, and are reaped by
        // the heartbeat once this one has been connected for a whole lease.
        if inner.identity.sole {
            let reaped = inner.store.reap_servers(inner.me.id, true, Duration::ZERO).await?;
            if !reaped.is_empty() {
                tracing::warn!(servers = ?reaped, "ended the jobs an earlier run of this server left running");
            }
        }
        tracing::info!(server = %inner.me.name, id = %inner.me.id, lease = ?lease, "joined the servers sharing the database");
        // Not job tasks: they go on while the jobs stop at shutdown, and end
        // when `background` is cancelled after.
        tokio::spawn(self.clone().heartbeat());
        tokio::spawn(self.clone().watch_lease());
        tokio::spawn(self.clone().listen());
        tokio::spawn(self.clone().claim_and_kill());
        Ok(())
    }

    /// Gives up the lease at a clean stop.
    pub(super) async fn leave(&self) {
        let inner = &self.inner;
        inner.waiters.wake_all();
        match inner.store.deregister_server(inner.me.id, &inner.me.name).await {
            Ok(left) if !left.is_empty() => {
                tracing::warn!(jobs = ?left, "jobs whose ends could not be recorded ended ERROR as the server left")
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "could not give up this server's lease; it will expire"),
        }
    }

    async fn register(&self) -> crate::store::StoreResult<()> {
        let inner = &self.inner;
        let sent = Instant::now();
        inner
            .store
            .register_server(&ServerRegistration {
                id: inner.me.id,
                name: &inner.me.name,
                address: &inner.identity.address,
                lease: inner.settings.server_lease,
                adhoc_slots: u32::try_from(inner.settings.scheduling.adhoc_max_running.max(1)).unwrap_or(u32::MAX),
            })
            .await?;
        self.renewed_at(sent);
        Ok(())
    }

    fn renewed_at(&self, sent: Instant) {
        *self.inner.renewed.lock().unwrap_or_else(PoisonError::into_inner) = sent;
        if self.inner.fenced.swap(false, Ordering::SeqCst) {
            tracing::info!("this server holds its lease again and takes jobs again");
        }
    }

    /// Renews the lease every third of it, and reaps the servers whose
    /// leases expired: but only once this server has itself been connected
    /// for a whole lease, so that after an outage nobody is reaped for not
    /// having renewed yet.
    async fn heartbeat(self) {
        let inner = &self.inner;
        let lease = inner.settings.server_lease;
        let interval = (lease / 3).max(Duration::from_millis(100));
        let mut connected_since = Some(Instant::now());
        let mut failing = false;
        loop {
            let pause = if failing {
                RETRY_INTERVAL.min(interval)
            } else {
                interval
            };
            tokio::select! {
                () = inner.background.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
            let sent = Instant::now();
            match inner.store.renew_lease(inner.me.id, lease).await {
                Ok(true) => {
                    if failing {
                        tracing::info!("the database answers again; this server's lease is renewed");
                    }
                    failing = false;
                    connected_since.get_or_insert(sent);
                    self.renewed_at(sent);
                }
                Ok(false) => {
                    // Taken for dead: its running jobs were ended ERROR by
                    // another server, so they must not go on here.
                    tracing::error!(
                        "this server's lease expired and other servers ended its running jobs; stopping them here and joining again"
                    );
                    self.stop_all("the server lost its lease to the database while the job was running");
                    // The reaper freed them; any taken since go back too.
                    self.release(self.holds().all_wanted());
                    if let Err(error) = self.register().await {
                        tracing::warn!(%error, "could not join again");
                        failing = true;
                        continue;
                    }
                    failing = false;
                    connected_since = Some(sent);
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, "could not renew this server's lease; trying again every second");
                    }
                    failing = true;
                    connected_since = None;
                    continue;
                }
            }
            if connected_since.is_none_or(|since| since.elapsed() < lease) {
                continue;
            }
            match inner.store.reap_servers(inner.me.id, false, Duration::ZERO).await {
                Ok(reaped) if !reaped.is_empty() => {
                    tracing::warn!(servers = ?reaped, "servers stopped renewing their leases: their running jobs ended ERROR, their waiting ones run elsewhere");
                    inner.wake.notify_one();
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "could not look for servers that are gone"),
            }
        }
    }

    /// A server that cannot renew its lease cannot tell an outage of the
    /// database from being cut off from it while the others go on. So a
    /// little before its lease could expire it stops its running jobs (they
    /// end ERROR `ServerStopped` once the database answers) and claims
    /// nothing until it renews: the others may run jobs in its place, and a
    /// context must not run more than its cores. Local mode has no others.
    async fn watch_lease(self) {
        let inner = &self.inner;
        if inner.identity.sole {
            return;
        }
        let lease = inner.settings.server_lease;
        let margin = (lease / 6).max(Duration::from_millis(300)).min(lease / 2);
        loop {
            let renewed = *inner.renewed.lock().unwrap_or_else(PoisonError::into_inner);
            let fence_at = renewed + lease - margin;
            tokio::select! {
                () = inner.background.cancelled() => return,
                () = tokio::time::sleep_until(fence_at) => {}
            }
            let still = *inner.renewed.lock().unwrap_or_else(PoisonError::into_inner) == renewed;
            if still && !inner.fenced.swap(true, Ordering::SeqCst) {
                tracing::error!(
                    lease = ?lease,
                    "this server has not renewed its lease for nearly a lease: stopping its running jobs, as the other servers may take it for dead"
                );
                self.stop_all(&format!(
                    "server {} could not reach the database to renew its lease for nearly {}, so it stopped the job (other servers may have taken it for dead)",
                    inner.me.name,
                    crate::units::HumanDuration(lease)
                ));
                // Until it renews, nothing more to watch.
                while inner.fenced.load(Ordering::SeqCst) {
                    tokio::select! {
                        () = inner.background.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            }
        }
    }

    /// Stops every job this server runs, as the server's doing (ERROR
    /// `ServerStopped`), not a kill.
    fn stop_all(&self, reason: &str) {
        let running: Vec<_> = self.running().values().cloned().collect();
        for kill in running {
            kill.pull_stopped(reason);
        }
    }

    /// Follows what the other servers say: waiting jobs to claim, kills,
    /// ends that waiters here care about, contexts that changed.
    async fn listen(self) {
        let inner = &self.inner;
        'connect: loop {
            let mut notifications = tokio::select! {
                () = inner.background.cancelled() => return,
                listening = inner.store.listen() => match listening {
                    Ok(notifications) => notifications,
                    Err(error) => {
                        tracing::debug!(%error, "cannot listen for notifications yet");
                        tokio::select! {
                            () = inner.background.cancelled() => return,
                            () = tokio::time::sleep(RETRY_INTERVAL) => continue 'connect,
                        }
                    }
                },
            };
            // Whatever was said before listening began was missed.
            self.missed_notifications();
            loop {
                let next = tokio::select! {
                    () = inner.background.cancelled() => return,
                    next = notifications.next() => next,
                };
                match next {
                    Ok(Notification::Queued(queue)) => {
                        self.jobs_wait(&queue);
                        inner.wake.notify_one();
                    }
                    Ok(Notification::Kill { server }) => {
                        if server.is_none_or(|server| server == inner.me.id) {
                            inner.wake.notify_one();
                        }
                    }
                    Ok(Notification::Ended(id)) => inner.waiters.ended(id),
                    Ok(Notification::Context(name)) => {
                        self.jobs_wait(&name);
                        self.forget_context(&name);
                    }
                    Ok(Notification::Reconnected) => self.missed_notifications(),
                    Err(error) => {
                        tracing::debug!(%error, "lost the notifications' connection");
                        tokio::select! {
                            () = inner.background.cancelled() => return,
                            () = tokio::time::sleep(RETRY_INTERVAL) => continue 'connect,
                        }
                    }
                }
            }
        }
    }

    /// After notifications may have been lost: what this server opened of
    /// contexts may be stale, and there may be jobs to claim or kill.
    fn missed_notifications(&self) {
        self.forget_contexts();
        self.inner.wake.notify_one();
    }

    /// Claims waiting jobs that have a free slot and stops the jobs running
    /// here that someone killed: when woken, and every second anyway. Every
    /// few rounds it also takes up jobs the store says this server runs but
    /// it does not know of (a claim or hand-over whose answer was lost).
    async fn claim_and_kill(self) {
        let inner = &self.inner;
        let mut round = 0u32;
        let mut suspects = HashSet::new();
        loop {
            let fenced = inner.fenced.load(Ordering::SeqCst);
            if !inner.shutting_down.is_cancelled() && !fenced {
                match inner.store.claim_jobs(&inner.me, CLAIM_BATCH).await {
                    Ok(claimed) => {
                        let full = claimed.len() as u32 == CLAIM_BATCH;
                        for id in claimed {
                            tracing::debug!(job = %id, "claimed a waiting job");
                            self.running().entry(id).or_default();
                            self.spawn_claimed(id);
                        }
                        if full {
                            inner.wake.notify_one();
                        }
                    }
                    Err(error) => tracing::debug!(%error, "could not claim waiting jobs"),
                }
            }
            match inner.store.kill_requests(inner.me.id).await {
                Ok(kills) => {
                    for (id, reason) in kills {
                        self.stop_local(id, &reason);
                    }
                }
                Err(error) => tracing::debug!(%error, "could not look for kills"),
            }
            self.sweep_holds().await;
            round = round.wrapping_add(1);
            if round.is_multiple_of(RECONCILE_EVERY) && !inner.shutting_down.is_cancelled() && !fenced {
                self.take_up_orphans(&mut suspects).await;
            }
            tokio::select! {
                () = inner.background.cancelled() => return,
                () = inner.wake.notified() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }

    /// Runs the jobs the store has RUNNING on this server that it does not
    /// know of, once seen twice in a row (the first time may be a claim whose
    /// answer is on its way).
    async fn take_up_orphans(&self, suspects: &mut HashSet<uuid::Uuid>) {
        let Ok(recorded) = self.inner.store.running_on(self.inner.me.id).await else {
            return;
        };
        let unknown: HashSet<_> = {
            let running = self.running();
            recorded.into_iter().filter(|id| !running.contains_key(id)).collect()
        };
        for id in unknown.intersection(suspects) {
            tracing::warn!(job = %id, "the store has this job running here, unknown to this server (an answer was lost): running it");
            self.running().entry(*id).or_default();
            self.spawn_claimed(*id);
        }
        *suspects = unknown.difference(suspects).copied().collect();
    }
}
