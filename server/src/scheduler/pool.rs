//! A pool of job slots: one per persistent context, and one shared by all
//! ad-hoc jobs. At most `max_running` jobs run at once; up to `max_queued` more
//! wait, first come first served.
//!
//! Admission happens in two steps around the database insert, so that nothing
//! is written for a job the pool would refuse and nothing is queued that the
//! database does not know: `admit` reserves a slot or a queue place, and
//! `confirm` turns a queue reservation into a queued job (or starts it, if a
//! slot freed up meanwhile). `release` undoes a reservation whose insert failed.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A slot is reserved: the job starts as soon as it is recorded.
    RunNow,
    /// A queue place is reserved.
    Queue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every slot is busy and the queue is full.
    Full { running: usize, queued: usize },
    /// The pool's context is being deleted.
    Closed,
}

/// What a pool queues: anything that knows its job id.
pub trait Queued {
    fn id(&self) -> Uuid;
}

pub struct Pool<T> {
    max_running: usize,
    max_queued: usize,
    state: Mutex<PoolState<T>>,
}

struct PoolState<T> {
    /// Jobs running, including slots reserved by `admit` and not yet started.
    running: Vec<Option<Uuid>>,
    queue: VecDeque<T>,
    reserved_queue_places: usize,
    closed: bool,
}

/// What a pool holds now, for reports.
#[derive(Debug, Clone, Default)]
pub struct PoolSnapshot {
    pub running: Vec<Uuid>,
    pub queued: Vec<Uuid>,
}

impl<T: Queued> Pool<T> {
    pub fn new(max_running: usize, max_queued: usize) -> Pool<T> {
        Pool {
            max_running: max_running.max(1),
            max_queued,
            state: Mutex::new(PoolState {
                running: Vec::new(),
                queue: VecDeque::new(),
                reserved_queue_places: 0,
                closed: false,
            }),
        }
    }

    pub fn admit(&self) -> Result<Admission, Refusal> {
        let mut state = self.lock();
        if state.closed {
            return Err(Refusal::Closed);
        }
        // Waiting jobs go first: a slot that is free while others wait will be
        // taken by them in a moment.
        if state.running.len() < self.max_running && state.queue.is_empty() && state.reserved_queue_places == 0 {
            state.running.push(None);
            return Ok(Admission::RunNow);
        }
        let queued = state.queue.len() + state.reserved_queue_places;
        if queued < self.max_queued {
            state.reserved_queue_places += 1;
            return Ok(Admission::Queue);
        }
        Err(Refusal::Full {
            running: state.running.len(),
            queued,
        })
    }

    /// The job of a `RunNow` admission was recorded and is starting.
    pub fn started(&self, id: Uuid) {
        let mut state = self.lock();
        if let Some(slot) = state.running.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(id);
        }
    }

    /// The job of a `Queue` admission was recorded: it waits, or is handed
    /// back to start at once when a slot freed up and nobody is ahead of it.
    pub fn confirm(&self, job: T) -> Option<T> {
        let mut state = self.lock();
        state.reserved_queue_places -= 1;
        if state.closed {
            // The context is going away: hand the job back so it is ended.
            return Some(job);
        }
        if state.running.len() < self.max_running && state.queue.is_empty() {
            state.running.push(Some(job.id()));
            return Some(job);
        }
        state.queue.push_back(job);
        None
    }

    /// Whether `confirm` handed the job back because the pool closed.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Undoes an admission whose job could not be recorded.
    pub fn release(&self, admission: Admission) {
        let mut state = self.lock();
        match admission {
            Admission::RunNow => {
                if let Some(index) = state.running.iter().position(Option::is_none) {
                    state.running.swap_remove(index);
                }
            }
            Admission::Queue => state.reserved_queue_places -= 1,
        }
    }

    /// A running job ended; returns the next job to start in its slot.
    pub fn finished(&self, id: Uuid) -> Option<T> {
        let mut state = self.lock();
        let index = state.running.iter().position(|slot| *slot == Some(id))?;
        if state.closed {
            state.running.swap_remove(index);
            return None;
        }
        match state.queue.pop_front() {
            Some(next) => {
                state.running[index] = Some(next.id());
                Some(next)
            }
            None => {
                state.running.swap_remove(index);
                None
            }
        }
    }

    /// Takes a waiting job out of the queue (it was killed).
    pub fn remove_queued(&self, id: Uuid) -> Option<T> {
        let mut state = self.lock();
        let index = state.queue.iter().position(|job| job.id() == id)?;
        state.queue.remove(index)
    }

    /// Refuses further jobs and hands back the waiting ones; `None` when it
    /// was closed already, so that only one caller acts on the closing.
    pub fn close(&self) -> Option<Vec<T>> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        state.closed = true;
        Some(state.queue.drain(..).collect())
    }

    /// Puts back a job that was waiting when the server last stopped,
    /// whatever the limits: it was admitted then.
    pub fn requeue(&self, job: T) -> Option<T> {
        let mut state = self.lock();
        if state.running.len() < self.max_running && state.queue.is_empty() {
            state.running.push(Some(job.id()));
            return Some(job);
        }
        state.queue.push_back(job);
        None
    }

    pub fn snapshot(&self) -> PoolSnapshot {
        let state = self.lock();
        PoolSnapshot {
            running: state.running.iter().flatten().copied().collect(),
            queued: state.queue.iter().map(|job| job.id()).collect(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState<T>> {
        // Every critical section above leaves the state consistent at each
        // step, so a poisoned lock holds valid state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Job(Uuid);

    impl Queued for Job {
        fn id(&self) -> Uuid {
            self.0
        }
    }

    fn job() -> Job {
        Job(Uuid::new_v4())
    }

    #[test]
    fn jobs_beyond_the_slots_wait_in_order_and_a_full_queue_refuses() {
        let pool = Pool::new(1, 2);
        let first = job();
        assert_eq!(pool.admit(), Ok(Admission::RunNow));
        pool.started(first.0);
        let (second, third) = (job(), job());
        assert_eq!(pool.admit(), Ok(Admission::Queue));
        assert!(pool.confirm(Job(second.0)).is_none());
        assert_eq!(pool.admit(), Ok(Admission::Queue));
        assert!(pool.confirm(Job(third.0)).is_none());
        assert_eq!(pool.admit(), Err(Refusal::Full { running: 1, queued: 2 }));
        assert_eq!(pool.snapshot().queued, [second.0, third.0]);
        assert_eq!(pool.finished(first.0), Some(Job(second.0)));
        assert_eq!(pool.finished(second.0), Some(Job(third.0)));
        assert_eq!(pool.finished(third.0), None);
        assert_eq!(pool.admit(), Ok(Admission::RunNow));
    }

    #[test]
    fn a_reservation_whose_insert_failed_is_released() {
        let pool: Pool<Job> = Pool::new(1, 0);
        let admission = pool.admit().unwrap();
        assert_eq!(pool.admit(), Err(Refusal::Full { running: 1, queued: 0 }));
        pool.release(admission);
        assert_eq!(pool.admit(), Ok(Admission::RunNow));
    }

    #[test]
    fn a_queued_job_starts_when_its_slot_freed_before_it_was_confirmed() {
        let pool = Pool::new(1, 5);
        let first = job();
        pool.admit().unwrap();
        pool.started(first.0);
        assert_eq!(pool.admit(), Ok(Admission::Queue));
        assert_eq!(pool.finished(first.0), None);
        let second = job();
        assert_eq!(pool.confirm(Job(second.0)), Some(Job(second.0)));
        assert_eq!(pool.snapshot().running, [second.0]);
    }

    #[test]
    fn killed_waiting_jobs_leave_the_queue_and_closing_refuses_new_ones() {
        let pool = Pool::new(1, 5);
        let (first, second, third) = (job(), job(), job());
        pool.admit().unwrap();
        pool.started(first.0);
        for waiting in [&second, &third] {
            pool.admit().unwrap();
            pool.confirm(Job(waiting.0));
        }
        assert_eq!(pool.remove_queued(second.0), Some(Job(second.0)));
        assert_eq!(pool.close(), Some(vec![Job(third.0)]));
        assert_eq!(pool.close(), None, "only the first close hands back the waiting jobs");
        assert_eq!(pool.admit(), Err(Refusal::Closed));
        assert_eq!(pool.finished(first.0), None);
        assert!(pool.snapshot().running.is_empty());
    }
}
