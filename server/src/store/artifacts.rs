//! Artifacts: application names, their versions, and content stored once per
//! distinct hash.

use super::text::storable;
use super::{Store, StoreResult};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

/// One upload of an application.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppVersionRow {
    pub app_name: String,
    pub version: i32,
    pub blob_hash: String,
    pub binary_type: String,
    pub size: i64,
    #[sqlx(json)]
    pub entries: Vec<EntryRow>,
    pub uploaded_at: DateTime<Utc>,
}

/// An entry as stored with its version (Spark Job Server's class path).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct EntryRow {
    pub name: String,
    pub description: String,
}

/// An application and its newest upload.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppSummaryRow {
    pub name: String,
    pub binary_type: String,
    pub latest_version: i32,
    pub uploaded_at: DateTime<Utc>,
}

pub struct NewAppVersion<'a> {
    pub app_name: &'a str,
    pub blob_hash: &'a str,
    pub content: &'a [u8],
    pub binary_type: &'a str,
    pub entries: Vec<EntryRow>,
}

#[derive(Debug)]
pub enum DeleteAppOutcome {
    /// Deleted; these content hashes are no longer used by any version.
    Deleted {
        orphaned_hashes: Vec<String>,
    },
    NotFound,
    /// Refused: these jobs are queued or running on one of its versions.
    InUse(Vec<Uuid>),
}

/// Entries as they can be stored: their names were checked at upload, but a
/// description is whatever the component says.
fn storable_entries(entries: &[EntryRow]) -> Vec<EntryRow> {
    entries
        .iter()
        .map(|entry| EntryRow {
            name: entry.name.clone(),
            description: storable(&entry.description).into_owned(),
        })
        .collect()
}

impl Store {
    /// Stores a new version of `app_name` (creating the app on first upload);
    /// content already stored under the same hash is not stored again.
    pub async fn insert_app_version(&self, new: NewAppVersion<'_>) -> StoreResult<AppVersionRow> {
        let mut tx = self.begin().await?;
        // The update on conflict takes a row lock, so a concurrent delete of an
        // app that used the same content cannot remove it under us.
        sqlx::query(
            "INSERT INTO blobs (hash, content, size) VALUES ($1, $2, $3)
             ON CONFLICT (hash) DO UPDATE SET hash = EXCLUDED.hash",
        )
        .bind(new.blob_hash)
        .bind(new.content)
        .bind(new.content.len() as i64)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO apps (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
            .bind(new.app_name)
            .execute(&mut *tx)
            .await?;
        // The counter's row lock serialises uploads of one app, so version
        // numbers never collide; the counter outlives a deleted app, so they
        // are never reused either.
        let version: i32 = sqlx::query_scalar(
            "INSERT INTO app_version_counters (name, last_version) VALUES ($1, 1)
             ON CONFLICT (name) DO UPDATE SET last_version = app_version_counters.last_version + 1
             RETURNING last_version",
        )
        .bind(new.app_name)
        .fetch_one(&mut *tx)
        .await?;
        let row = sqlx::query_as::<_, AppVersionRow>(
            "INSERT INTO app_versions (app_name, version, blob_hash, binary_type, entries)
             VALUES ($1, $6, $2, $3, $4)
             RETURNING app_name, version, blob_hash, binary_type, $5::BIGINT AS size, entries, uploaded_at",
        )
        .bind(new.app_name)
        .bind(new.blob_hash)
        .bind(new.binary_type)
        .bind(Json(storable_entries(&new.entries)))
        .bind(new.content.len() as i64)
        .bind(version)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Every app with its newest version, by name.
    pub async fn list_apps(&self) -> StoreResult<Vec<AppSummaryRow>> {
        Ok(sqlx::query_as::<_, AppSummaryRow>(
            "SELECT DISTINCT ON (app_name) app_name AS name, binary_type, version AS latest_version, uploaded_at
             FROM app_versions ORDER BY app_name, version DESC",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// All versions of an app, newest first; empty when there is no such app.
    pub async fn app_versions(&self, app_name: &str) -> StoreResult<Vec<AppVersionRow>> {
        Ok(sqlx::query_as::<_, AppVersionRow>(
            "SELECT v.app_name, v.version, v.blob_hash, v.binary_type, b.size, v.entries, v.uploaded_at
             FROM app_versions v JOIN blobs b ON b.hash = v.blob_hash
             WHERE v.app_name = $1 ORDER BY v.version DESC",
        )
        .bind(app_name)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The named version of an app, or its newest when `version` is `None`.
    pub async fn find_app_version(&self, app_name: &str, version: Option<i32>) -> StoreResult<Option<AppVersionRow>> {
        Ok(sqlx::query_as::<_, AppVersionRow>(
            "SELECT v.app_name, v.version, v.blob_hash, v.binary_type, b.size, v.entries, v.uploaded_at
             FROM app_versions v JOIN blobs b ON b.hash = v.blob_hash
             WHERE v.app_name = $1 AND ($2::INT IS NULL OR v.version = $2)
             ORDER BY v.version DESC LIMIT 1",
        )
        .bind(app_name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn blob_content(&self, hash: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar("SELECT content FROM blobs WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Deletes an app with all its versions, unless a queued or running job
    /// uses it. A submission holds the app's advisory lock shared (see
    /// `jobserver_submit`), so a job cannot slip in between the check and the
    /// delete.
    pub async fn delete_app(&self, app_name: &str) -> StoreResult<DeleteAppOutcome> {
        let mut tx = self.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(1, hashtext($1))")
            .bind(app_name)
            .execute(&mut *tx)
            .await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT name FROM apps WHERE name = $1 FOR UPDATE")
            .bind(app_name)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(DeleteAppOutcome::NotFound);
        }
        let active: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM jobs WHERE app_name = $1 AND status IN ('STARTED', 'RUNNING')
             ORDER BY submitted_at",
        )
        .bind(app_name)
        .fetch_all(&mut *tx)
        .await?;
        if !active.is_empty() {
            return Ok(DeleteAppOutcome::InUse(active));
        }
        let hashes: Vec<String> = sqlx::query_scalar("SELECT DISTINCT blob_hash FROM app_versions WHERE app_name = $1")
            .bind(app_name)
            .fetch_all(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM apps WHERE name = $1")
            .bind(app_name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        // Best effort, outside the transaction: content another upload took up
        // meanwhile is kept (the foreign key refuses), and an orphan left
        // behind costs only space.
        let orphaned_hashes = sqlx::query_scalar(
            "DELETE FROM blobs b WHERE b.hash = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM app_versions v WHERE v.blob_hash = b.hash)
             RETURNING b.hash",
        )
        .bind(&hashes)
        .fetch_all(&self.pool)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "could not remove the content of a deleted app");
            Vec::new()
        });
        Ok(DeleteAppOutcome::Deleted { orphaned_hashes })
    }
}
