//! The servers sharing the database: each holds a lease it renews, and those
//! whose leases expired are reaped by the others.

use super::engine::adhoc_pool;
use super::{Store, StoreResult};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::time::Duration;
use uuid::Uuid;

pub struct ServerRegistration<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub address: &'a str,
    pub lease: Duration,
    /// How many ad-hoc jobs it runs at once.
    pub adhoc_slots: u32,
}

/// A live server, as `GET /servers` shows it.
#[derive(Debug, Clone)]
pub struct ServerRow {
    pub id: Uuid,
    pub name: String,
    pub address: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub running_jobs: Vec<Uuid>,
}

/// Tells the servers that slots were freed, when the transaction commits.
async fn notify_queued(tx: &mut sqlx::Transaction<'static, sqlx::Postgres>) -> StoreResult<()> {
    sqlx::query("SELECT pg_notify('jobserver_queued', '')")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX).max(1)
}

impl Store {
    /// Takes a lease for the server, with its ad-hoc slots. Called again
    /// with the same id after the others reaped it, it comes back as it was.
    pub async fn register_server(&self, server: &ServerRegistration<'_>) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO servers (id, name, address, lease_ms, expires_at)
             VALUES ($1, $2, $3, $4, now() + $4 * interval '1 millisecond')
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), expires_at = EXCLUDED.expires_at",
        )
        .bind(server.id)
        .bind(server.name)
        .bind(server.address)
        .bind(lease_ms(server.lease))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO slots (pool, slot) SELECT $1, n FROM generate_series(0, $2 - 1) AS n
             ON CONFLICT DO NOTHING",
        )
        .bind(adhoc_pool(server.id))
        .bind(i32::try_from(server.adhoc_slots).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Renews the server's lease; false when it has none any more (the
    /// others took it for dead and ended its jobs).
    pub async fn renew_lease(&self, id: Uuid, lease: Duration) -> StoreResult<bool> {
        let renewed = sqlx::query(
            "UPDATE servers SET heartbeat_at = now(), expires_at = now() + $2 * interval '1 millisecond'
             WHERE id = $1",
        )
        .bind(id)
        .bind(lease_ms(lease))
        .execute(&self.pool)
        .await?;
        Ok(renewed.rows_affected() == 1)
    }

    /// A clean stop: the lease, the slots it holds and its ad-hoc slots go. Its jobs
    /// have ended by then; any the store still has RUNNING on it (an end it
    /// could not record, a claim whose answer was lost) end ERROR here, since
    /// no lease will be left to end them. Its waiting ones stay for any server.
    pub async fn deregister_server(&self, id: Uuid, name: &str) -> StoreResult<Vec<Uuid>> {
        let mut tx = self.begin().await?;
        // The row first, then the advisory lock, in the order the reaper
        // takes them (it skips a row locked here), so that the two never wait
        // for each other.
        sqlx::query("SELECT 1 FROM servers WHERE id = $1 FOR UPDATE")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock(4, hashtext($1::text))")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let left: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE jobs SET status = 'ERROR', ended_at = now(), error_class = 'ServerStopped', ended_by = $1,
                    error_message = format('server %s stopped before it could record the end of the job', $2::text)
             WHERE server_id = $1 AND status = 'RUNNING' RETURNING id",
        )
        .bind(id)
        .bind(name)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("UPDATE slots SET job_id = NULL WHERE job_id = ANY($1)")
            .bind(&left)
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_notify('jobserver_ended', job::text) FROM UNNEST($1::uuid[]) AS job")
            .bind(&left)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE slots SET job_id = NULL, held_by = NULL WHERE held_by = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM slots WHERE pool = $1")
            .bind(adhoc_pool(id))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM servers WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        notify_queued(&mut tx).await?;
        tx.commit().await?;
        Ok(left)
    }

    /// Ends what servers whose leases expired more than `grace` ago left
    /// behind (every other server's, with `all`); returns their names.
    pub async fn reap_servers(&self, reaper: Uuid, all: bool, grace: Duration) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT jobserver_reap($1, $2, $3)")
            .bind(reaper)
            .bind(all)
            .bind(lease_ms(grace) - 1)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Hands a job this server claimed but did not start back to its queue
    /// (the server is stopping), freeing its slot for any server.
    pub async fn release_job(&self, id: Uuid, server: Uuid) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let released = sqlx::query(
            "UPDATE jobs SET status = 'STARTED', started_at = NULL, server_id = NULL, server_name = NULL
             WHERE id = $1 AND server_id = $2 AND status = 'RUNNING'",
        )
        .bind(id)
        .bind(server)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if released == 1 {
            sqlx::query("UPDATE slots SET job_id = NULL WHERE job_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            notify_queued(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The servers whose leases have not expired, oldest first.
    pub async fn live_servers(&self) -> StoreResult<Vec<ServerRow>> {
        let rows = sqlx::query(
            "SELECT s.id, s.name, s.address, s.started_at, s.heartbeat_at, s.expires_at,
                    ARRAY(SELECT j.id FROM jobs j WHERE j.server_id = s.id AND j.status = 'RUNNING'
                          ORDER BY j.seq) AS running_jobs
             FROM servers s WHERE s.expires_at > now() ORDER BY s.started_at, s.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ServerRow {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    address: row.try_get("address")?,
                    started_at: row.try_get("started_at")?,
                    heartbeat_at: row.try_get("heartbeat_at")?,
                    expires_at: row.try_get("expires_at")?,
                    running_jobs: row.try_get("running_jobs")?,
                })
            })
            .collect()
    }
}
