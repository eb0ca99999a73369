//! The ends of jobs that ran in held slots, written many to a commit: a job
//! that ends while the ends before it are being written waits for the next
//! write, with every other end that came meanwhile. One job alone waits for
//! nobody; sixteen at once share a commit, its WAL flush and its round trip.
//! An end that comes while nothing is being written is written at once by
//! the job's own task: handing it to a writer task and back costs two thread
//! wake-ups, a tenth of a sync job's time at one client.

use crate::store::{HeldEnd, Recorded, ServerId, Store, StoreError, StoreResult};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

/// Ends written in one statement at most.
const MAX_BATCH: usize = 64;
/// Writes in flight at once: while one commits, the next batch gathers.
const WRITERS: usize = 2;

/// The error of a job written KILLED because its context went while it ran.
pub(super) const CONTEXT_GONE: &str = "the job's context was deleted while it ran";

type Answer = oneshot::Sender<StoreResult<Option<Recorded>>>;

pub(super) struct EndRecorder {
    ends: mpsc::UnboundedSender<(HeldEnd, Answer)>,
    store: Store,
    me: ServerId,
    /// Writes in progress, by the writers or by jobs' own tasks.
    writing: Arc<AtomicUsize>,
}

impl EndRecorder {
    pub(super) fn start(store: Store, me: ServerId) -> EndRecorder {
        let (ends, received) = mpsc::unbounded_channel();
        let received = Arc::new(Mutex::new(received));
        let writing = Arc::new(AtomicUsize::new(0));
        for _ in 0..WRITERS {
            tokio::spawn(write(store.clone(), me.clone(), received.clone(), writing.clone()));
        }
        EndRecorder {
            ends,
            store,
            me,
            writing,
        }
    }

    /// Writes a job's end with the others that come meanwhile: how it was
    /// written, or `None` when this server has no lease (nothing was).
    pub(super) async fn record(&self, ended: HeldEnd) -> StoreResult<Option<Recorded>> {
        // Nothing being written: there is no batch to join.
        if let Some(_writing) = Writing::alone(&self.writing) {
            let id = ended.job.id;
            let written = self
                .store
                .record_held(&self.me, CONTEXT_GONE, std::slice::from_ref(&ended))
                .await?;
            return Ok(how_written(written.as_ref(), id));
        }
        let (answer, answered) = oneshot::channel();
        if self.ends.send((ended, answer)).is_err() {
            return Err(gone());
        }
        answered.await.unwrap_or_else(|_| Err(gone()))
    }
}

/// A write in progress, counted in `EndRecorder::writing` while it lives.
struct Writing<'a>(&'a AtomicUsize);

impl<'a> Writing<'a> {
    /// The only write, when no other is in progress.
    fn alone(writing: &'a AtomicUsize) -> Option<Writing<'a>> {
        writing
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .ok()
            .map(|_| Writing(writing))
    }

    fn another(writing: &'a AtomicUsize) -> Writing<'a> {
        writing.fetch_add(1, Ordering::SeqCst);
        Writing(writing)
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How `record_held`'s answer says job `id` was written; `None`: nothing
/// was, the server has no lease.
fn how_written(written: Option<&HashMap<Uuid, Recorded>>, id: Uuid) -> Option<Recorded> {
    written.map(|written| written.get(&id).copied().unwrap_or(Recorded::AsEnded))
}

/// The writers are gone: the server is stopping.
fn gone() -> StoreError {
    StoreError::unavailable("the server stopped writing job ends".into())
}

/// One writer: gathers what waits, writes it, answers each job.
async fn write(
    store: Store,
    me: ServerId,
    received: Arc<Mutex<mpsc::UnboundedReceiver<(HeldEnd, Answer)>>>,
    writing: Arc<AtomicUsize>,
) {
    loop {
        let batch = {
            let mut received = received.lock().await;
            let Some(first) = received.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match received.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            batch
        };
        let _writing = Writing::another(&writing);
        let (ends, answers): (Vec<HeldEnd>, Vec<Answer>) = batch.into_iter().unzip();
        match store.record_held(&me, CONTEXT_GONE, &ends).await {
            Ok(written) => {
                for (end, answer) in ends.iter().zip(answers) {
                    let how = how_written(written.as_ref(), end.job.id);
                    let _ = answer.send(Ok(how));
                }
            }
            Err(error) if answers.len() == 1 => {
                if let Some(answer) = answers.into_iter().next() {
                    let _ = answer.send(Err(error));
                }
            }
            // The database is away: every end in the batch would fail alike.
            Err(error) if error.is_unavailable() => {
                let message = error.to_string();
                for answer in answers {
                    let _ = answer.send(Err(StoreError::unavailable(message.clone())));
                }
            }
            // One end the database refused must not fail the others with it:
            // each again on its own.
            Err(_) => {
                for (end, answer) in ends.into_iter().zip(answers) {
                    let id = end.job.id;
                    let written = store.record_held(&me, CONTEXT_GONE, std::slice::from_ref(&end)).await;
                    let _ = answer.send(written.map(|written| how_written(written.as_ref(), id)));
                }
            }
        }
    }
}
