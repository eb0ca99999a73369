//! Waiting for a job to end, wherever it runs: woken at once by this server's
//! own ends and by other servers' notifications, and polling the store in
//! case a notification was lost.

use crate::store::Store;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often a waiter looks at the store itself.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(super) struct Waiters {
    waiting: Mutex<HashMap<Uuid, watch::Sender<bool>>>,
}

impl Waiters {
    /// Wakes whoever waits for the job: it ended.
    pub fn ended(&self, id: Uuid) {
        if let Some(sender) = self.lock().remove(&id) {
            sender.send_replace(true);
        }
    }

    /// Wakes every waiter (the server is stopping): they answer with the
    /// jobs' reports as they are.
    pub fn wake_all(&self) {
        for (_, sender) in self.lock().drain() {
            sender.send_replace(true);
        }
    }

    /// Until the job ended, `timeout` passed, or `stop`. `runs_here` says
    /// whether this server runs the job: then its end wakes the waiter, and
    /// the store need not be asked first.
    pub async fn wait(
        &self,
        store: &Store,
        id: Uuid,
        timeout: Duration,
        stop: &CancellationToken,
        runs_here: impl Fn() -> bool,
    ) {
        let mut receiver = self
            .lock()
            .entry(id)
            .or_insert_with(|| watch::channel(false).0)
            .subscribe();
        let deadline = Instant::now() + timeout;
        // Checked after subscribing, so that an end between the two is seen.
        let mut ask_store = !runs_here();
        loop {
            if ask_store {
                match store.job_status(id).await {
                    Ok(Some(status)) if !status.has_ended() => {}
                    Ok(_) => break,
                    // The database is away: wait on, for a local end or the timeout.
                    Err(_) => {}
                }
            }
            ask_store = true;
            let next_poll = (Instant::now() + POLL_INTERVAL).min(deadline);
            tokio::select! {
                _ = receiver.wait_for(|ended| *ended) => break,
                () = tokio::time::sleep_until(next_poll) => {}
                () = stop.cancelled() => break,
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        drop(receiver);
        // Nobody else waits for it: forget it, or the map would grow with
        // every timed-out wait.
        let mut waiting = self.lock();
        if waiting.get(&id).is_some_and(|sender| sender.receiver_count() == 0) {
            waiting.remove(&id);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, watch::Sender<bool>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
