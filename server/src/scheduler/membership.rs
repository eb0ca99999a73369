//! This server among those sharing the database: its lease, renewed by a
//! heartbeat; the reaping of servers whose leases expired; the notifications
//! the servers send each other; and the loop that claims waiting jobs and
//! stops the ones someone killed, woken by notifications and polling in case
//! one was lost.

use super::Scheduler;
use crate::store::{Notification, ServerRegistration};
use std::time::Duration;
use tokio::time::Instant;

/// How often the claims and kills are looked for when nothing woke the loop.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How soon a failed heartbeat or listener tries again.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// How many waiting jobs one claim takes at most.
const CLAIM_BATCH: u32 = 32;

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
        let reaped = if inner.identity.sole {
            inner.store.reap_servers(inner.me.id, true, Duration::ZERO).await?
        } else {
            // Just connected: leases that expired less than a lease ago may
            // belong to servers that are reconnecting after an outage.
            inner.store.reap_servers(inner.me.id, false, lease).await?
        };
        if !reaped.is_empty() {
            tracing::warn!(servers = ?reaped, "ended the running jobs of servers that are gone");
        }
        tracing::info!(server = %inner.me.name, id = %inner.me.id, lease = ?lease, "joined the servers sharing the database");
        // Not job tasks: they go on while the jobs stop at shutdown, and end
        // when `background` is cancelled after.
        tokio::spawn(self.clone().heartbeat());
        tokio::spawn(self.clone().listen());
        tokio::spawn(self.clone().claim_and_kill());
        Ok(())
    }

    /// Gives up the lease at a clean stop.
    pub(super) async fn leave(&self) {
        let inner = &self.inner;
        inner.waiters.wake_all();
        if let Err(error) = inner.store.deregister_server(inner.me.id).await {
            tracing::warn!(%error, "could not give up this server's lease; it will expire");
        }
    }

    async fn register(&self) -> crate::store::StoreResult<()> {
        let inner = &self.inner;
        inner
            .store
            .register_server(&ServerRegistration {
                id: inner.me.id,
                name: &inner.me.name,
                address: &inner.identity.address,
                lease: inner.settings.server_lease,
                adhoc_slots: u32::try_from(inner.settings.scheduling.adhoc_max_running.max(1)).unwrap_or(u32::MAX),
            })
            .await
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
            match inner.store.renew_lease(inner.me.id, lease).await {
                Ok(true) => {
                    if failing {
                        tracing::info!("the database answers again; this server's lease is renewed");
                    }
                    failing = false;
                    connected_since.get_or_insert_with(Instant::now);
                }
                Ok(false) => {
                    // Taken for dead: its running jobs were ended ERROR by
                    // another server, so they must not go on here.
                    tracing::error!(
                        "this server's lease expired and other servers ended its running jobs; stopping them here and joining again"
                    );
                    let running: Vec<_> = self.running().values().cloned().collect();
                    for kill in running {
                        kill.pull("the server lost its lease to the database while the job was running");
                    }
                    if let Err(error) = self.register().await {
                        tracing::warn!(%error, "could not join again");
                        failing = true;
                        continue;
                    }
                    failing = false;
                    connected_since = Some(Instant::now());
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
            let connected = connected_since.map(|since| since.elapsed()).unwrap_or_default();
            let grace = lease.saturating_sub(connected);
            match inner.store.reap_servers(inner.me.id, false, grace).await {
                Ok(reaped) if !reaped.is_empty() => {
                    tracing::warn!(servers = ?reaped, "servers stopped renewing their leases: their running jobs ended ERROR, their waiting ones run elsewhere");
                    inner.wake.notify_one();
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "could not look for servers that are gone"),
            }
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
                    Ok(Notification::Queued) => inner.wake.notify_one(),
                    Ok(Notification::Kill { server }) => {
                        if server.is_none_or(|server| server == inner.me.id) {
                            inner.wake.notify_one();
                        }
                    }
                    Ok(Notification::Ended(id)) => inner.waiters.ended(id),
                    Ok(Notification::Context(name)) => self.forget_context(&name),
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
    /// here that someone killed: when woken, and every second anyway.
    async fn claim_and_kill(self) {
        let inner = &self.inner;
        loop {
            if !inner.shutting_down.is_cancelled() {
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
            tokio::select! {
                () = inner.background.cancelled() => return,
                () = inner.wake.notified() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }
}
