//! Which entry a submission runs, and what an ad-hoc context is called.

use super::{SchedulerError, SchedulerResult};
use crate::store::AppVersionRow;
use uuid::Uuid;

/// Spark Job Server names ad-hoc contexts after the job: `<8 hex>-<classPath>`.
pub(super) fn adhoc_context_name(id: Uuid, class_path: &str) -> String {
    format!("{}-{class_path}", &id.simple().to_string()[..8])
}

/// The entry to run: the one named, or the only one there is.
pub(super) fn choose_entry(version: &AppVersionRow, requested: Option<&str>) -> SchedulerResult<String> {
    let (app, entries) = (&version.app_name, &version.entries);
    let available = || entries.iter().map(|entry| entry.name.clone()).collect::<Vec<_>>();
    match requested {
        Some(name) if entries.iter().any(|entry| entry.name == name) => Ok(name.to_string()),
        Some(name) => Err(SchedulerError::EntryNotFound {
            app: app.clone(),
            version: version.version,
            entry: name.to_string(),
            available: available(),
        }),
        None if entries.len() == 1 => Ok(entries[0].name.clone()),
        None => Err(SchedulerError::EntryRequired {
            app: app.clone(),
            version: version.version,
            available: available(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EntryRow;
    use chrono::Utc;

    /// Version 3 of app `app`, with entries of these names.
    fn version(app: &str, names: &[&str]) -> AppVersionRow {
        AppVersionRow {
            app_name: app.to_string(),
            version: 3,
            blob_hash: String::new(),
            binary_type: "wasm".to_string(),
            size: 0,
            entries: names
                .iter()
                .map(|name| EntryRow {
                    name: name.to_string(),
                    description: String::new(),
                })
                .collect(),
            uploaded_at: Utc::now(),
        }
    }

    #[test]
    fn class_path_may_be_omitted_only_when_there_is_one_entry() {
        assert_eq!(choose_entry(&version("wc", &["wordcount"]), None).unwrap(), "wordcount");
        assert_eq!(choose_entry(&version("t", &["a", "b"]), Some("b")).unwrap(), "b");
        let error = choose_entry(&version("t", &["a", "b"]), None).unwrap_err().to_string();
        assert!(
            error.contains("(version 3) has several entries, so classPath is required; its entries are: a, b"),
            "{error}"
        );
        let error = choose_entry(&version("t", &["a"]), Some("c")).unwrap_err().to_string();
        assert!(
            error.contains("'t' (version 3) has no entry 'c'; its entries are: a"),
            "{error}"
        );
    }

    #[test]
    fn adhoc_contexts_are_named_after_their_job() {
        let id = Uuid::parse_str("3156120b-f001-56cf-d22a-b40ebf0a9af1").unwrap();
        assert_eq!(adhoc_context_name(id, "wordcount"), "3156120b-wordcount");
    }
}
