//! What the servers sharing the database tell each other, through Postgres's
//! LISTEN/NOTIFY. Only a hint: a notification sent while a listener was
//! reconnecting is lost, which `Notification::Reconnected` says, so that the
//! listener polls for what it may have missed.

use super::{Store, StoreResult};
use sqlx::postgres::PgListener;
use uuid::Uuid;

const CHANNELS: [&str; 4] = [
    "jobserver_queued",
    "jobserver_kill",
    "jobserver_ended",
    "jobserver_contexts",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// Jobs wait in this queue, or (empty) slots were freed: claim what can run.
    Queued(String),
    /// Someone asked this server (or another, when it is not ours) to kill a job.
    Kill { server: Option<Uuid> },
    /// A job ended.
    Ended(Uuid),
    /// A context was created or deleted.
    Context(String),
    /// The connection was lost and made again; anything may have been missed.
    Reconnected,
}

pub struct Notifications {
    listener: PgListener,
}

impl Store {
    pub async fn listen(&self) -> StoreResult<Notifications> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen_all(CHANNELS).await?;
        Ok(Notifications { listener })
    }
}

impl Notifications {
    /// The next notification; an error when the database cannot be reached
    /// (the next call tries again).
    pub async fn next(&mut self) -> StoreResult<Notification> {
        let Some(notification) = self.listener.try_recv().await? else {
            return Ok(Notification::Reconnected);
        };
        let payload = notification.payload();
        Ok(match notification.channel() {
            "jobserver_kill" => Notification::Kill {
                server: Uuid::parse_str(payload).ok(),
            },
            "jobserver_ended" => match Uuid::parse_str(payload) {
                Ok(id) => Notification::Ended(id),
                Err(_) => Notification::Reconnected,
            },
            "jobserver_contexts" => Notification::Context(payload.to_string()),
            _ => Notification::Queued(payload.to_string()),
        })
    }
}
