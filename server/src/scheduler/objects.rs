//! Named objects kept in Postgres, scoped to one context.

use crate::runtime::ObjectSpace;
use crate::runtime::host::BoxFuture;
use crate::store::Store;

pub struct ContextObjects {
    pub store: Store,
    pub context: String,
}

/// The job sees that storage failed, not how: database errors are logged here.
fn storage_error(error: crate::store::StoreError) -> String {
    tracing::error!(%error, "named object storage failed");
    "the server could not reach its storage for named objects".to_string()
}

impl ObjectSpace for ContextObjects {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, String>> {
        Box::pin(async move { self.store.get_object(&self.context, name).await.map_err(storage_error) })
    }

    fn put<'a>(&'a self, name: &'a str, value: Vec<u8>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.store
                .put_object(&self.context, name, &value)
                .await
                .map_err(storage_error)
        })
    }

    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, String>> {
        Box::pin(async move {
            self.store
                .delete_object(&self.context, name)
                .await
                .map_err(storage_error)
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, String>> {
        Box::pin(async move { self.store.list_objects(&self.context).await.map_err(storage_error) })
    }
}
