//! Named objects: bytes that the jobs of one context share, by name.

use super::{Store, StoreResult};

/// How a compare-and-swap of a named object went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwapOutcome {
    Swapped,
    /// The object does not hold what was expected.
    Changed,
    /// The object would be new, and the context holds its limit of objects.
    Full,
}

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

    /// Stores `value` only if the object holds `expected` (`None`: there is
    /// none). Atomic: a concurrent change makes the other swap see `Changed`,
    /// since an UPDATE that waited on the row re-checks its condition, and an
    /// INSERT that met a new row does nothing.
    pub async fn swap_object(
        &self,
        context: &str,
        name: &str,
        expected: Option<&[u8]>,
        value: &[u8],
        max_objects: u32,
    ) -> StoreResult<SwapOutcome> {
        let Some(expected) = expected else {
            return self.create_object(context, name, value, max_objects).await;
        };
        let swapped = sqlx::query(
            "UPDATE named_objects SET value = $4, updated_at = now()
             WHERE context = $1 AND name = $2 AND value = $3",
        )
        .bind(context)
        .bind(name)
        .bind(expected)
        .bind(value)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(if swapped == 1 {
            SwapOutcome::Swapped
        } else {
            SwapOutcome::Changed
        })
    }

    /// Stores a new object; `Changed` when one of that name exists. One
    /// statement, so that "full" and "exists" are judged on the same view.
    async fn create_object(
        &self,
        context: &str,
        name: &str,
        value: &[u8],
        max_objects: u32,
    ) -> StoreResult<SwapOutcome> {
        let (created, full): (bool, bool) = sqlx::query_as(
            "WITH existing AS (SELECT 1 FROM named_objects WHERE context = $1 AND name = $2),
                  counted AS (SELECT count(*) AS n FROM named_objects WHERE context = $1),
                  created AS (
                      INSERT INTO named_objects (context, name, value)
                      SELECT $1, $2, $3
                      WHERE EXISTS (SELECT 1 FROM existing) OR (SELECT n FROM counted) < $4
                      ON CONFLICT (context, name) DO NOTHING
                      RETURNING 1)
             SELECT EXISTS (SELECT 1 FROM created),
                    NOT EXISTS (SELECT 1 FROM existing) AND (SELECT n FROM counted) >= $4",
        )
        .bind(context)
        .bind(name)
        .bind(value)
        .bind(i64::from(max_objects))
        .fetch_one(&self.pool)
        .await?;
        Ok(match (created, full) {
            (true, _) => SwapOutcome::Swapped,
            (false, true) => SwapOutcome::Full,
            (false, false) => SwapOutcome::Changed,
        })
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
}
