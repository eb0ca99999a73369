//! Named objects: values shared by the jobs of one persistent context, as
//! Spark Job Server's named RDDs are. In an ad-hoc context they live only as
//! long as the job.
//!
//! [`get`] and [`put`] store values as JSON; [`get_bytes`] and [`put_bytes`]
//! store bytes as they are. There is no locking: two jobs of one context that
//! read, modify and write the same object concurrently can lose an update.

use serde::Serialize;
use serde::de::DeserializeOwned;

#[cfg(target_arch = "wasm32")]
use crate::__private::bindings::jobserver::job::named_objects as host;
use crate::JobError;
#[cfg(not(target_arch = "wasm32"))]
use crate::native::named_objects as host;

/// The object called `name` read as JSON into `T`; `None` when there is none.
pub fn get<T: DeserializeOwned>(name: &str) -> Result<Option<T>, JobError> {
    get_bytes(name)?
        .map(|bytes| {
            serde_json::from_slice(&bytes).map_err(|e| {
                JobError::new(format!(
                    "named object '{name}' does not hold what this job expects: {e}"
                ))
            })
        })
        .transpose()
}

/// Stores `value` as JSON under `name`, replacing any object of that name.
pub fn put<T: Serialize + ?Sized>(name: &str, value: &T) -> Result<(), JobError> {
    let bytes = serde_json::to_vec(value)?;
    put_bytes(name, &bytes)
}

pub fn get_bytes(name: &str) -> Result<Option<Vec<u8>>, JobError> {
    host::get(name).map_err(|e| host_error("reading", name, e))
}

pub fn put_bytes(name: &str, value: &[u8]) -> Result<(), JobError> {
    host::put(name, value).map_err(|e| host_error("storing", name, e))
}

/// Deletes the object called `name`; true when there was one.
pub fn delete(name: &str) -> Result<bool, JobError> {
    host::delete(name).map_err(|e| host_error("deleting", name, e))
}

/// The names of the context's objects, sorted.
pub fn list() -> Result<Vec<String>, JobError> {
    host::list().map_err(|e| JobError::new(format!("listing named objects failed: {e}")))
}

fn host_error(doing: &str, name: &str, error: String) -> JobError {
    JobError::new(format!("{doing} named object '{name}' failed: {error}"))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn json_round_trip_and_listing() {
        assert_eq!(get::<Value>("a"), Ok(None));
        put("b", &json!({"x": 1})).unwrap();
        put("a", &[1, 2]).unwrap();
        assert_eq!(get::<Value>("b"), Ok(Some(json!({"x": 1}))));
        assert_eq!(get::<Vec<u8>>("a"), Ok(Some(vec![1, 2])));
        assert_eq!(list(), Ok(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(delete("a"), Ok(true));
        assert_eq!(delete("a"), Ok(false));
    }

    #[test]
    fn wrong_shape_names_the_object() {
        put_bytes("n", b"not json").unwrap();
        let error = get::<Value>("n").unwrap_err();
        assert!(error.message().starts_with("named object 'n' does not hold"), "{error}");
    }
}
