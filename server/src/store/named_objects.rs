//! Named objects: bytes that the jobs of one context share, by name.

use super::{Store, StoreResult};

impl Store {
    pub async fn get_object(&self, context: &str, name: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM named_objects WHERE context = $1 AND name = $2")
                .bind(context)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Stores or replaces an object; false when it is new and the context
    /// already holds `max_objects`.
    pub async fn put_object(&self, context: &str, name: &str, value: &[u8], max_objects: u32) -> StoreResult<bool> {
        let stored = sqlx::query(
            "INSERT INTO named_objects (context, name, value)
             SELECT $1, $2, $3
             WHERE EXISTS (SELECT 1 FROM named_objects WHERE context = $1 AND name = $2)
                OR (SELECT count(*) FROM named_objects WHERE context = $1) < $4
             ON CONFLICT (context, name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        )
        .bind(context)
        .bind(name)
        .bind(value)
        .bind(i64::from(max_objects))
        .execute(&self.pool)
        .await?;
        Ok(stored.rows_affected() == 1)
    }

    /// True when there was an object of that name.
    pub async fn delete_object(&self, context: &str, name: &str) -> StoreResult<bool> {
        Ok(
            sqlx::query("DELETE FROM named_objects WHERE context = $1 AND name = $2")
                .bind(context)
                .bind(name)
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    pub async fn list_objects(&self, context: &str) -> StoreResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT name FROM named_objects WHERE context = $1 ORDER BY name")
                .bind(context)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Drops every object of a context (an ad-hoc context whose job ended).
    pub async fn delete_objects_of(&self, context: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM named_objects WHERE context = $1")
            .bind(context)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
