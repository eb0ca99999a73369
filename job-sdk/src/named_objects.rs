//! Named objects: values shared by the jobs of one persistent context, as
//! Spark Job Server's named RDDs are. In an ad-hoc context they live only as
//! long as the job.
//!
//! [`get`] and [`put`] store values as JSON; [`get_bytes`] and [`put_bytes`]
//! store bytes as they are. Two jobs of one context that [`get`], change and
//! [`put`] the same object at once can lose one's change; [`update`] cannot:
//! it retries its change until it applies to the value it read.

use serde::Serialize;
use serde::de::DeserializeOwned;

#[cfg(target_arch = "wasm32")]
use crate::__private::bindings::jobserver::job::named_objects as host;
use crate::__private::bindings::jobserver::job::named_objects::Error;
use crate::JobError;
#[cfg(not(target_arch = "wasm32"))]
use crate::native::named_objects as host;

/// The object called `name` read as JSON into `T`; `None` when there is none.
pub fn get<T: DeserializeOwned>(name: &str) -> Result<Option<T>, JobError> {
    get_bytes(name)?.map(|bytes| decode(name, &bytes)).transpose()
}

fn decode<T: DeserializeOwned>(name: &str, bytes: &[u8]) -> Result<T, JobError> {
    serde_json::from_slice(bytes).map_err(|e| {
        JobError::new(format!(
            "named object '{name}' does not hold what this job expects: {e}"
        ))
    })
}

/// Stores `value` as JSON under `name`, replacing any object of that name.
pub fn put<T: Serialize + ?Sized>(name: &str, value: &T) -> Result<(), JobError> {
    let bytes = serde_json::to_vec(value)?;
    put_bytes(name, &bytes)
}

/// How often [`update`] tries before it gives up: each failed try means
/// another job's update went in, so this bounds the wait, not the progress.
const MAX_UPDATE_ATTEMPTS: u32 = 10_000;

/// Changes the object called `name` atomically: `change` gets its current
/// value (`None` when there is none) and returns the new one, which is stored
/// only if no other job changed the object in between; otherwise `change` runs
/// again on the newer value. Returns the value stored.
///
/// ```
/// use job_sdk::named_objects;
///
/// // Counts the runs of a job; jobs running at once each add theirs.
/// let runs: u64 = named_objects::update("runs", |runs: Option<u64>| Ok(runs.unwrap_or(0) + 1))?;
/// assert_eq!(runs, 1);
/// # Ok::<(), job_sdk::JobError>(())
/// ```
pub fn update<T, F>(name: &str, mut change: F) -> Result<T, JobError>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(Option<T>) -> Result<T, JobError>,
{
    for _ in 0..MAX_UPDATE_ATTEMPTS {
        let current = get_bytes(name)?;
        let value = change(current.as_deref().map(|bytes| decode(name, bytes)).transpose()?)?;
        let bytes = serde_json::to_vec(&value)?;
        if compare_and_swap_bytes(name, current.as_deref(), &bytes)? {
            return Ok(value);
        }
    }
    Err(JobError::new(format!(
        "updating named object '{name}' gave up after {MAX_UPDATE_ATTEMPTS} attempts: other jobs kept changing it"
    )))
}

/// Stores `value` under `name` only if the object still holds `expected`
/// (`None`: only if there is none); false when it holds something else.
pub fn compare_and_swap_bytes(name: &str, expected: Option<&[u8]>, value: &[u8]) -> Result<bool, JobError> {
    host::compare_and_swap(name, expected, value).map_err(|e| host_error("updating", name, e))
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
    host::list().map_err(|e| JobError::new(format!("listing named objects failed: {}", message(e))))
}

fn host_error(doing: &str, name: &str, error: Error) -> JobError {
    JobError::new(format!("{doing} named object '{name}' failed: {}", message(error)))
}

fn message(error: Error) -> String {
    match error {
        Error::InvalidRequest(message) | Error::PermissionDenied(message) | Error::Unavailable(message) => message,
    }
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
    fn compare_and_swap_applies_only_to_the_expected_value() {
        assert_eq!(compare_and_swap_bytes("c", Some(b"1"), b"2"), Ok(false));
        assert_eq!(compare_and_swap_bytes("c", None, b"1"), Ok(true));
        assert_eq!(compare_and_swap_bytes("c", None, b"2"), Ok(false));
        assert_eq!(compare_and_swap_bytes("c", Some(b"0"), b"2"), Ok(false));
        assert_eq!(compare_and_swap_bytes("c", Some(b"1"), b"2"), Ok(true));
        assert_eq!(get_bytes("c"), Ok(Some(b"2".to_vec())));
    }

    #[test]
    fn update_changes_the_current_value() {
        let add = |n: Option<u64>| Ok(n.unwrap_or(0) + 1);
        assert_eq!(update("u", add), Ok(1));
        assert_eq!(update("u", add), Ok(2));
        assert_eq!(get::<u64>("u"), Ok(Some(2)));
        let refused = update("u", |_: Option<u64>| Err(JobError::new("no")));
        assert_eq!(refused, Err(JobError::new("no")));
        assert_eq!(get::<u64>("u"), Ok(Some(2)), "a refused change stores nothing");
    }

    #[test]
    fn wrong_shape_names_the_object() {
        put_bytes("n", b"not json").unwrap();
        let error = get::<Value>("n").unwrap_err();
        assert!(error.message().starts_with("named object 'n' does not hold"), "{error}");
    }
}
