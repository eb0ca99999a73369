//! The `named-objects` import: values shared by the jobs of one context. The
//! runtime does not know where they are kept; the scheduler hands each run an
//! `ObjectSpace` for its context (Postgres-backed in the server). Both
//! contract versions are served from here: 0.1.0 tells the job a bare
//! message, the current one which kind of error it was.

use super::super::bindings::{current, v0_1};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a named-object call failed; each holds a message for the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectError {
    /// A bad name, or over a limit.
    Invalid(String),
    /// Not available in this call (`entries`, `validate`).
    NotHere(String),
    /// The server's storage failed.
    Unavailable(String),
}

impl ObjectError {
    fn message(self) -> String {
        match self {
            ObjectError::Invalid(message) | ObjectError::NotHere(message) | ObjectError::Unavailable(message) => {
                message
            }
        }
    }
}

impl From<ObjectError> for current::jobserver::job::named_objects::Error {
    fn from(error: ObjectError) -> Self {
        use current::jobserver::job::named_objects::Error as E;
        match error {
            ObjectError::Invalid(message) => E::InvalidRequest(message),
            ObjectError::NotHere(message) => E::PermissionDenied(message),
            ObjectError::Unavailable(message) => E::Unavailable(message),
        }
    }
}

pub type ObjectResult<T> = Result<T, ObjectError>;

/// The named objects of one context.
pub trait ObjectSpace: Send + Sync {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ObjectResult<Option<Vec<u8>>>>;
    fn put<'a>(&'a self, name: &'a str, value: Vec<u8>) -> BoxFuture<'a, ObjectResult<()>>;
    /// Stores `value` only if the object holds `expected` (`None`: none);
    /// false when it holds something else.
    fn compare_and_swap<'a>(
        &'a self,
        name: &'a str,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> BoxFuture<'a, ObjectResult<bool>>;
    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ObjectResult<bool>>;
    fn list(&self) -> BoxFuture<'_, ObjectResult<Vec<String>>>;
}

/// Longest object name; a name is a key, not a place to keep data.
const MAX_NAME_LEN: usize = 256;

pub struct NamedObjects(pub Arc<dyn ObjectSpace>);

fn check_name(name: &str) -> ObjectResult<()> {
    if name.is_empty() {
        Err(ObjectError::Invalid("a named object needs a non-empty name".into()))
    } else if name.len() > MAX_NAME_LEN {
        Err(ObjectError::Invalid(format!(
            "object names are at most {MAX_NAME_LEN} bytes long"
        )))
    } else {
        Ok(())
    }
}

impl NamedObjects {
    async fn get(&self, name: String) -> ObjectResult<Option<Vec<u8>>> {
        check_name(&name)?;
        self.0.get(&name).await
    }

    async fn put(&self, name: String, value: Vec<u8>) -> ObjectResult<()> {
        check_name(&name)?;
        self.0.put(&name, value).await
    }

    async fn compare_and_swap(&self, name: String, expected: Option<Vec<u8>>, value: Vec<u8>) -> ObjectResult<bool> {
        check_name(&name)?;
        self.0.compare_and_swap(&name, expected, value).await
    }

    async fn delete(&self, name: String) -> ObjectResult<bool> {
        check_name(&name)?;
        self.0.delete(&name).await
    }
}

/// The two versions' `Host` traits differ only in their error type.
macro_rules! named_objects_host {
    ($version:ident, $error:ty, $convert:expr) => {
        impl $version::jobserver::job::named_objects::Host for NamedObjects {
            async fn get(&mut self, name: String) -> Result<Option<Vec<u8>>, $error> {
                NamedObjects::get(self, name).await.map_err($convert)
            }

            async fn put(&mut self, name: String, value: Vec<u8>) -> Result<(), $error> {
                NamedObjects::put(self, name, value).await.map_err($convert)
            }

            async fn compare_and_swap(
                &mut self,
                name: String,
                expected: Option<Vec<u8>>,
                value: Vec<u8>,
            ) -> Result<bool, $error> {
                NamedObjects::compare_and_swap(self, name, expected, value)
                    .await
                    .map_err($convert)
            }

            async fn delete(&mut self, name: String) -> Result<bool, $error> {
                NamedObjects::delete(self, name).await.map_err($convert)
            }

            async fn list(&mut self) -> Result<Vec<String>, $error> {
                self.0.list().await.map_err($convert)
            }
        }
    };
}

named_objects_host!(v0_1, String, ObjectError::message);
named_objects_host!(current, current::jobserver::job::named_objects::Error, Into::into);

/// For `entries` and `validate`: they run before a job exists, outside any
/// context, so there are no objects to reach.
pub struct NoObjects;

fn not_here<T>() -> BoxFuture<'static, ObjectResult<T>> {
    Box::pin(async {
        Err(ObjectError::NotHere(
            "named objects are only available while a job runs, not in entries or validate".to_string(),
        ))
    })
}

impl ObjectSpace for NoObjects {
    fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, ObjectResult<Option<Vec<u8>>>> {
        not_here()
    }

    fn put<'a>(&'a self, _: &'a str, _: Vec<u8>) -> BoxFuture<'a, ObjectResult<()>> {
        not_here()
    }

    fn compare_and_swap<'a>(&'a self, _: &'a str, _: Option<Vec<u8>>, _: Vec<u8>) -> BoxFuture<'a, ObjectResult<bool>> {
        not_here()
    }

    fn delete<'a>(&'a self, _: &'a str) -> BoxFuture<'a, ObjectResult<bool>> {
        not_here()
    }

    fn list(&self) -> BoxFuture<'_, ObjectResult<Vec<String>>> {
        not_here()
    }
}
