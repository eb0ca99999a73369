//! Postgres, the system of record: artifacts, contexts, jobs with their logs,
//! and named objects. All SQL of the server lives in this module, with bound
//! parameters only; callers get typed rows and never see SQL or sqlx.
//!
//! `local_postgres` runs a private PostgreSQL when no `DATABASE_URL` is given.

mod artifacts;
mod contexts;
mod engine;
mod held;
mod jobs;
pub mod local_postgres;
mod named_objects;
mod notifications;
mod servers;
mod status;
mod text;

pub use artifacts::EntryRow;
pub use artifacts::{AppSummaryRow, AppVersionRow, DeleteAppOutcome, NewAppVersion};
pub use contexts::{ContextRow, DeletedContext};
pub use engine::{
    ADHOC_QUEUE, EndOutcome, JobEnd, KillOutcome, LogLine, NewJob, ServerId, SubmitOutcome, adhoc_pool, queue_and_pool,
};
pub use held::{HeldCheck, HeldEnd, Hold, Holding, Recorded};
pub use jobs::{JobListFilter, JobLogRow, JobRow, PendingJobRow};
pub use named_objects::SwapOutcome;
pub use notifications::{Notification, Notifications};
pub use servers::{ServerRegistration, ServerRow};
pub use status::JobStatus;
pub use text::is_storable;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// What can go wrong in the store. Callers map it to a 5xx: every expected
/// outcome (a missing row, a name taken) is a value, not an error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("could not apply the database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// The database went away, as `message` says: what `is_unavailable`
    /// takes it for, for each of several callers that one failure failed.
    pub fn unavailable(message: String) -> StoreError {
        StoreError::Database(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            message,
        )))
    }

    /// The database cannot be reached (or gives no connection in time): worth
    /// a 503 and a retry, unlike a query it refused.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(error) = self else {
            return false;
        };
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => {
                true
            }
            // Connection exceptions (08...), and a server shutting down or
            // starting up (57P01 to 57P03).
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|code| code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")),
            _ => false,
        }
    }
}

/// How long the first connection may take before start-up gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a query waits for a connection once the server runs: when the
/// database is down, requests get a 503 this soon rather than hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
}

/// How long a transaction may wait on its server between statements.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "5s";

impl Store {
    /// Connects (waiting a while for a database that is still starting) and
    /// applies the migrations in `migrations/`.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Store> {
        // A transaction holds locks others may wait for (a context's
        // deletion, a queue's length): should its server freeze or lose the
        // network mid-way, the database ends it itself instead of keeping
        // them for hours.
        let options = PgConnectOptions::from_str(url)?
            .application_name("jobserver")
            .options([("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION_TIMEOUT)]);
        tracing::info!(
            host = options.get_host(),
            port = options.get_port(),
            database = ?options.get_database(),
            "connecting to the database"
        );
        // One plain connection first: when the database cannot be reached,
        // this fails at once with the reason (refused, bad password, ...),
        // where the pool would wait out its timeout and say only that.
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        probe.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A ping before every query would double the round trips of the
            // hot path; a connection that broke fails its query instead, which
            // callers see as the database being unavailable, and is dropped.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let store = Store { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Wraps an existing pool (tests) and applies the migrations.
    pub async fn from_pool(pool: PgPool) -> StoreResult<Store> {
        let store = Store { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("../migrations").run(&self.pool).await?;
        Ok(())
    }

    /// Cheap liveness check for `/healthz`.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

/// True when the error is Postgres refusing a duplicate key.
fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}
