//! Named objects kept in Postgres, scoped to one context.

use crate::runtime::ObjectSpace;
use crate::runtime::host::{BoxFuture, ObjectError, ObjectResult};
use crate::store::{Store, SwapOutcome, is_storable};

pub struct ContextObjects {
    pub store: Store,
    /// The context's name, or the ad-hoc job's scope.
    pub context: String,
    pub max_value_bytes: u64,
    pub max_objects: u32,
}

/// The job sees that storage failed, not how: database errors are logged here.
fn storage_error(error: crate::store::StoreError) -> ObjectError {
    tracing::error!(%error, "named object storage failed");
    ObjectError::Unavailable("the server could not reach its storage for named objects".to_string())
}

/// Names are keys in the store, which cannot hold every string.
fn check_storable(name: &str) -> ObjectResult<()> {
    if is_storable(name) {
        Ok(())
    } else {
        Err(ObjectError::Invalid(
            "a named object's name cannot contain the NUL character (U+0000)".to_string(),
        ))
    }
}

impl ContextObjects {
    fn check_put(&self, name: &str, value: &[u8]) -> ObjectResult<()> {
        check_storable(name)?;
        if value.len() as u64 > self.max_value_bytes {
            return Err(ObjectError::Invalid(format!(
                "named object '{name}' is {} bytes, over the limit of {} bytes",
                value.len(),
                self.max_value_bytes
            )));
        }
        Ok(())
    }

    fn full(&self) -> ObjectError {
        ObjectError::Invalid(format!(
            "the context already holds {} named objects, its limit; delete some first",
            self.max_objects
        ))
    }
}

impl ObjectSpace for ContextObjects {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ObjectResult<Option<Vec<u8>>>> {
        Box::pin(async move {
            check_storable(name)?;
            self.store.get_object(&self.context, name).await.map_err(storage_error)
        })
    }

    fn put<'a>(&'a self, name: &'a str, value: Vec<u8>) -> BoxFuture<'a, ObjectResult<()>> {
        Box::pin(async move {
            self.check_put(name, &value)?;
            let stored = self
                .store
                .put_object(&self.context, name, &value, self.max_objects)
                .await
                .map_err(storage_error)?;
            if stored { Ok(()) } else { Err(self.full()) }
        })
    }

    fn compare_and_swap<'a>(
        &'a self,
        name: &'a str,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> BoxFuture<'a, ObjectResult<bool>> {
        Box::pin(async move {
            self.check_put(name, &value)?;
            let outcome = self
                .store
                .swap_object(&self.context, name, expected.as_deref(), &value, self.max_objects)
                .await
                .map_err(storage_error)?;
            match outcome {
                SwapOutcome::Swapped => Ok(true),
                SwapOutcome::Changed => Ok(false),
                SwapOutcome::Full => Err(self.full()),
            }
        })
    }

    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ObjectResult<bool>> {
        Box::pin(async move {
            check_storable(name)?;
            self.store
                .delete_object(&self.context, name)
                .await
                .map_err(storage_error)
        })
    }

    fn list(&self) -> BoxFuture<'_, ObjectResult<Vec<String>>> {
        Box::pin(async move { self.store.list_objects(&self.context).await.map_err(storage_error) })
    }
}
