//! The `named-objects` import: values shared by the jobs of one context. The
//! runtime does not know where they are kept; the scheduler hands each run an
//! `ObjectSpace` for its context (Postgres-backed in the server).

use super::super::bindings::jobserver;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The named objects of one context. Errors are messages for the job.
pub trait ObjectSpace: Send + Sync {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, String>>;
    fn put<'a>(&'a self, name: &'a str, value: Vec<u8>) -> BoxFuture<'a, Result<(), String>>;
    /// Stores `value` only if the object holds `expected` (`None`: none);
    /// false when it holds something else.
    fn compare_and_swap<'a>(
        &'a self,
        name: &'a str,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> BoxFuture<'a, Result<bool, String>>;
    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, String>>;
    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, String>>;
}

/// Longest object name; a name is a key, not a place to keep data.
const MAX_NAME_LEN: usize = 256;

pub struct NamedObjects(pub Arc<dyn ObjectSpace>);

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("a named object needs a non-empty name".into())
    } else if name.len() > MAX_NAME_LEN {
        Err(format!("object names are at most {MAX_NAME_LEN} bytes long"))
    } else {
        Ok(())
    }
}

impl jobserver::job::named_objects::Host for NamedObjects {
    async fn get(&mut self, name: String) -> Result<Option<Vec<u8>>, String> {
        check_name(&name)?;
        self.0.get(&name).await
    }

    async fn put(&mut self, name: String, value: Vec<u8>) -> Result<(), String> {
        check_name(&name)?;
        self.0.put(&name, value).await
    }

    async fn compare_and_swap(
        &mut self,
        name: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Result<bool, String> {
        check_name(&name)?;
        self.0.compare_and_swap(&name, expected, value).await
    }

    async fn delete(&mut self, name: String) -> Result<bool, String> {
        check_name(&name)?;
        self.0.delete(&name).await
    }

    async fn list(&mut self) -> Result<Vec<String>, String> {
        self.0.list().await
    }
}

/// For `entries` and `validate`: they run before a job exists, outside any
/// context, so there are no objects to reach.
pub struct NoObjects;

const NO_OBJECTS: &str = "named objects are only available while a job runs, not in entries or validate";

impl ObjectSpace for NoObjects {
    fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, String>> {
        Box::pin(async { Err(NO_OBJECTS.to_string()) })
    }

    fn put<'a>(&'a self, _: &'a str, _: Vec<u8>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Err(NO_OBJECTS.to_string()) })
    }

    fn compare_and_swap<'a>(
        &'a self,
        _: &'a str,
        _: Option<Vec<u8>>,
        _: Vec<u8>,
    ) -> BoxFuture<'a, Result<bool, String>> {
        Box::pin(async { Err(NO_OBJECTS.to_string()) })
    }

    fn delete<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<bool, String>> {
        Box::pin(async { Err(NO_OBJECTS.to_string()) })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, String>> {
        Box::pin(async { Err(NO_OBJECTS.to_string()) })
    }
}
