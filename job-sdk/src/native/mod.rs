//! Stand-ins for the host's imports when a job is compiled for a native
//! target, which is what `cargo test` does. wit-bindgen's imports only exist
//! in a component (natively they hit `unreachable!`), and job authors should
//! be able to unit-test `run` without a server: so logs and progress go to
//! stderr (captured by the test harness), named objects live in memory, one
//! store per thread so that parallel tests do not see each other's, and
//! Kafka and Cassandra calls go to real clusters through the connectors the
//! server uses (see `clusters` for which).
//!
//! Each stand-in has the signature of the generated import it replaces, so
//! the SDK's code above it is the same on both targets.

pub mod cassandra;
pub mod clusters;
pub mod kafka;

/// The connectors' error kinds are the WIT variants' cases; Kafka's and
/// Cassandra's errors each get their `From` from here, as the server's host
/// does.
macro_rules! from_connector {
    ($error:ty) => {
        jobserver_connectors::wit_error_from_connector!($error);

        impl From<clusters::Unavailable> for $error {
            fn from(unavailable: clusters::Unavailable) -> Self {
                match unavailable {
                    clusters::Unavailable::PermissionDenied(message) => Self::PermissionDenied(message),
                    clusters::Unavailable::InvalidRequest(message) => Self::InvalidRequest(message),
                    clusters::Unavailable::Other(message) => Self::Other(message),
                }
            }
        }
    };
}

from_connector!(crate::kafka::Error);
from_connector!(crate::cassandra::Error);

pub mod log {
    pub use crate::__private::bindings::jobserver::job::log::Level;

    pub fn log(level: Level, message: &str) {
        eprintln!("[{level:?}] {message}");
    }
}

pub mod progress {
    pub fn report(fraction: f32, message: Option<&str>) {
        eprintln!("[progress {fraction}] {}", message.unwrap_or_default());
    }
}

pub mod named_objects {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use crate::__private::bindings::jobserver::job::named_objects::Error;

    thread_local! {
        static OBJECTS: RefCell<BTreeMap<String, Vec<u8>>> = const { RefCell::new(BTreeMap::new()) };
    }

    pub fn get(name: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(OBJECTS.with_borrow(|objects| objects.get(name).cloned()))
    }

    pub fn put(name: &str, value: &[u8]) -> Result<(), Error> {
        OBJECTS.with_borrow_mut(|objects| objects.insert(name.to_owned(), value.to_vec()));
        Ok(())
    }

    pub fn compare_and_swap(name: &str, expected: Option<&[u8]>, value: &[u8]) -> Result<bool, Error> {
        Ok(OBJECTS.with_borrow_mut(|objects| {
            let matches = objects.get(name).map(Vec::as_slice) == expected;
            if matches {
                objects.insert(name.to_owned(), value.to_vec());
            }
            matches
        }))
    }

    pub fn delete(name: &str) -> Result<bool, Error> {
        Ok(OBJECTS.with_borrow_mut(|objects| objects.remove(name).is_some()))
    }

    pub fn list() -> Result<Vec<String>, Error> {
        Ok(OBJECTS.with_borrow(|objects| objects.keys().cloned().collect()))
    }
}

pub mod job_info {
    use std::cell::RefCell;

    use crate::JobInfo;

    thread_local! {
        static INFO: RefCell<Option<JobInfo>> = const { RefCell::new(None) };
    }

    pub fn get() -> Option<JobInfo> {
        INFO.with_borrow(Clone::clone)
    }

    pub fn set(info: Option<JobInfo>) {
        INFO.set(info);
    }
}
