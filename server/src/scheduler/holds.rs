//! The slots this server holds for its sync jobs (migration 0008): taken
//! from the store when a sync job finds none idle here, used by one job
//! after another, and given back when idle a while, when jobs wait for a
//! slot, or when the server stops.

use super::Scheduler;
use crate::store::{
    ADHOC_QUEUE, HeldCheck, Hold, Holding, NewJob, StoreResult, SubmitOutcome, adhoc_pool, queue_and_pool,
};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a hold may stay idle before it goes back.
pub(super) const HOLD_IDLE: Duration = Duration::from_millis(500);

#[derive(Default)]
pub(super) struct Holds {
    inner: Mutex<HoldsInner>,
}

#[derive(Default)]
struct HoldsInner {
    pools: HashMap<String, PoolHolds>,
    /// Holds to give back whose release failed, tried again by the sweep.
    to_release: Vec<Hold>,
    /// Set at shutdown: holds go back as their jobs end.
    closed: bool,
}

#[derive(Default)]
struct PoolHolds {
    idle: Vec<(Hold, Instant)>,
    in_use: HashSet<Uuid>,
    /// Jobs wait for a slot of this pool: its holds go back as they come
    /// free, and none is taken up again until a new one is taken from the
    /// store (which checks that nobody waits).
    wanted: bool,
}

impl Holds {
    fn lock(&self) -> std::sync::MutexGuard<'_, HoldsInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle hold of `pool`, now in use; none when jobs wait for its slots.
    pub(super) fn take(&self, pool: &str) -> Option<Hold> {
        let mut inner = self.lock();
        if inner.closed {
            return None;
        }
        let holds = inner.pools.get_mut(pool)?;
        if holds.wanted {
            return None;
        }
        let (hold, _) = holds.idle.pop()?;
        holds.in_use.insert(hold.token);
        Some(hold)
    }

    /// A hold just taken from the store, in use.
    pub(super) fn taken(&self, hold: &Hold) {
        let mut inner = self.lock();
        let holds = inner.pools.entry(hold.pool.clone()).or_default();
        holds.wanted = false;
        holds.in_use.insert(hold.token);
    }

    /// A hold whose job is done with it: idle again, or to be given back
    /// (returned) when jobs wait for its slot or the server stops. A hold
    /// forgotten meanwhile (its context deleted) is dropped.
    pub(super) fn put_back(&self, hold: Hold) -> Option<Hold> {
        let mut inner = self.lock();
        let closed = inner.closed;
        let holds = inner.pools.get_mut(&hold.pool)?;
        if !holds.in_use.remove(&hold.token) {
            return None;
        }
        if holds.wanted || closed {
            return Some(hold);
        }
        holds.idle.push((hold, Instant::now()));
        None
    }

    /// A hold that became a running job's slot, in the store too.
    pub(super) fn converted(&self, hold: &Hold) {
        if let Some(holds) = self.lock().pools.get_mut(&hold.pool) {
            holds.in_use.remove(&hold.token);
        }
    }

    /// Jobs wait for a slot of `pool`: its idle holds, to give back now.
    pub(super) fn wanted(&self, pool: &str) -> Vec<Hold> {
        match self.lock().pools.get_mut(pool) {
            Some(holds) => {
                holds.wanted = true;
                holds.idle.drain(..).map(|(hold, _)| hold).collect()
            }
            None => Vec::new(),
        }
    }

    /// Jobs of every pool are to give their holds back (the server lost its
    /// lease, and the reaper may have freed them): the idle ones, now.
    pub(super) fn all_wanted(&self) -> Vec<Hold> {
        let mut inner = self.lock();
        let mut idle = Vec::new();
        for holds in inner.pools.values_mut() {
            holds.wanted = true;
            idle.extend(holds.idle.drain(..).map(|(hold, _)| hold));
        }
        idle
    }

    /// Holds idle since before `before`, and those whose release failed:
    /// to give back now.
    fn sweep(&self, before: Instant) -> Vec<Hold> {
        let mut inner = self.lock();
        let mut released = std::mem::take(&mut inner.to_release);
        for holds in inner.pools.values_mut() {
            let (old, kept): (Vec<_>, Vec<_>) = holds.idle.drain(..).partition(|(_, since)| *since < before);
            holds.idle = kept;
            released.extend(old.into_iter().map(|(hold, _)| hold));
        }
        inner
            .pools
            .retain(|_, holds| !holds.idle.is_empty() || !holds.in_use.is_empty());
        released
    }

    /// No hold is taken up again; the idle ones, to give back.
    pub(super) fn close(&self) -> Vec<Hold> {
        self.lock().closed = true;
        self.sweep(Instant::now() + Duration::from_secs(1))
    }

    pub(super) fn release_failed(&self, holds: Vec<Hold>) {
        self.lock().to_release.extend(holds);
    }
}

impl Scheduler {
    pub(super) fn holds(&self) -> &Holds {
        &self.inner.holds
    }

    /// A slot for a sync job to run in at once: one held here and idle
    /// (true: the job is still to pass a submission's checks, `check_held`),
    /// or a new hold from the store, which made them. `Busy` when no slot is
    /// free or jobs wait for one.
    pub(super) async fn take_held_slot(&self, job: &NewJob<'_>) -> StoreResult<(Holding, bool)> {
        let inner = &self.inner;
        let (queue, pool) = queue_and_pool(job, &inner.me);
        if let Some(hold) = self.holds().take(&pool) {
            return Ok((Holding::Held(hold), true));
        }
        // Given back unless known to be taken or not: the call may be dropped
        // (its client went away), or its answer lost after it committed.
        let mut pending = PendingHold {
            scheduler: self,
            hold: Some(Hold {
                pool,
                queue,
                slot: -1,
                token: Uuid::new_v4(),
            }),
        };
        let token = pending.hold.as_ref().map_or_else(Uuid::nil, |hold| hold.token);
        let holding = inner.store.hold_slot(job, &inner.me, token).await?;
        pending.hold = None;
        if let Holding::Held(hold) = &holding {
            self.holds().taken(hold);
        }
        Ok((holding, false))
    }

    /// What becomes of a job, and its hold, when the job did not pass
    /// `check_held`: `None` sends it the ordinary way, else it is answered
    /// so. The hold goes back when jobs wait for its slot, or when it (or
    /// its context, or the lease) is gone; else it is idle again.
    pub(super) fn failed_check(&self, hold: Hold, check: StoreResult<HeldCheck>) -> Option<StoreResult<SubmitOutcome>> {
        let pool = hold.pool.clone();
        let answer = match check {
            Ok(HeldCheck::Ok) => None,
            Ok(HeldCheck::Waiting | HeldCheck::NoHold) => {
                self.release(self.holds().wanted(&pool));
                None
            }
            Ok(HeldCheck::Refused(outcome)) => {
                match outcome {
                    SubmitOutcome::NoContext => self.release(self.holds().wanted(&pool)),
                    SubmitOutcome::NoLease => self.release(self.holds().all_wanted()),
                    _ => {}
                }
                Some(Ok(outcome))
            }
            Err(error) => Some(Err(error)),
        };
        self.put_back_hold(hold);
        answer
    }

    /// Gives holds back to the store, on a task of its own: each slot goes
    /// to the oldest job waiting for it (claimed here and run), unless the
    /// server stops.
    pub(super) fn release(&self, holds: Vec<Hold>) {
        if holds.is_empty() {
            return;
        }
        let scheduler = self.clone();
        tokio::spawn(async move { scheduler.release_now(holds).await });
    }

    pub(super) async fn release_now(&self, holds: Vec<Hold>) {
        let inner = &self.inner;
        let mut by_pool: HashMap<String, Vec<Hold>> = HashMap::new();
        for hold in holds {
            by_pool.entry(hold.pool.clone()).or_default().push(hold);
        }
        let hand_over = !inner.shutting_down.is_cancelled();
        for holds in by_pool.into_values() {
            match inner.store.release_holds(&inner.me, &holds, hand_over).await {
                Ok(next) => {
                    for id in next {
                        self.running().entry(id).or_default();
                        self.spawn_claimed(id);
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "could not give back held slots; trying again");
                    self.holds().release_failed(holds);
                }
            }
        }
    }

    /// Jobs wait in `queue` (another server said so), or its context was
    /// made or deleted: the holds of its pool go back, the idle ones now,
    /// the others as their jobs end (a hold whose slot went with its
    /// context is given back as nothing).
    pub(super) fn jobs_wait(&self, queue: &str) {
        let pool = if queue == ADHOC_QUEUE {
            adhoc_pool(self.inner.me.id)
        } else {
            queue.to_string()
        };
        if !queue.is_empty() {
            self.release(self.holds().wanted(&pool));
        }
    }

    /// Gives back the holds idle for `HOLD_IDLE`, and those whose release
    /// failed: from the loop that claims, which runs at least every second.
    pub(super) async fn sweep_holds(&self) {
        let Some(before) = Instant::now().checked_sub(HOLD_IDLE) else {
            return;
        };
        let holds = self.holds().sweep(before);
        if !holds.is_empty() {
            self.release_now(holds).await;
        }
    }
}

/// A hold asked of the store, given back if the asking is dropped or fails
/// with no answer.
struct PendingHold<'a> {
    scheduler: &'a Scheduler,
    hold: Option<Hold>,
}

impl Drop for PendingHold<'_> {
    fn drop(&mut self) {
        if let Some(hold) = self.hold.take() {
            self.scheduler.holds().release_failed(vec![hold]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(pool: &str) -> Hold {
        Hold {
            pool: pool.into(),
            queue: pool.into(),
            slot: 0,
            token: Uuid::new_v4(),
        }
    }

    #[test]
    fn a_hold_put_back_is_taken_up_again_until_jobs_want_its_slot() {
        let holds = Holds::default();
        let first = hold("a");
        holds.taken(&first);
        assert_eq!(holds.take("a"), None, "in use");
        assert_eq!(holds.put_back(first.clone()), None);
        assert_eq!(holds.take("a"), Some(first.clone()));
        assert_eq!(holds.put_back(first.clone()), None);
        assert_eq!(holds.wanted("a"), vec![first.clone()], "idle ones go back at once");
        assert_eq!(holds.take("a"), None);
        let second = hold("a");
        holds.taken(&second);
        assert_eq!(
            holds.put_back(second.clone()),
            None,
            "taken from the store: nobody waited"
        );
        holds.take("a").unwrap();
        holds.wanted("a");
        assert_eq!(
            holds.put_back(second.clone()),
            Some(second),
            "in use when wanted: back as it ends"
        );
    }

    #[test]
    fn holds_all_go_back_when_the_lease_is_lost_and_idle_ones_are_swept() {
        let holds = Holds::default();
        let (a, b) = (hold("a"), hold("b"));
        holds.taken(&a);
        holds.taken(&b);
        assert_eq!(holds.put_back(b.clone()), None);
        assert_eq!(holds.all_wanted(), vec![b.clone()], "the idle one at once");
        assert_eq!(holds.put_back(a.clone()), Some(a), "the one in use as its job ends");
        assert_eq!(holds.take("b"), None);
        holds.taken(&b);
        assert_eq!(holds.put_back(b.clone()), None);
        assert!(
            holds.sweep(Instant::now() - Duration::from_secs(1)).is_empty(),
            "not idle long enough"
        );
        assert_eq!(holds.sweep(Instant::now() + Duration::from_secs(1)), vec![b.clone()]);
        holds.taken(&b);
        assert_eq!(holds.close(), Vec::new());
        assert_eq!(holds.put_back(b.clone()), Some(b), "after close, back as it ends");
        assert_eq!(holds.take("b"), None);
    }
}
