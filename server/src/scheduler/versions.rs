//! The app versions submissions ran, kept in memory, so that a submission
//! does not read its app before it is recorded. A version number never names
//! different content, so an entry can only have gone stale by its app being
//! deleted or, for "the newest", by a newer upload; the store's submission
//! checks both under the app's lock and answers `StaleVersion`, and the
//! submission is made again from the store.

use crate::store::AppVersionRow;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Past this many entries the cache starts again empty: app names and
/// versions are chosen by clients, so what it holds must be bounded.
const MAX_ENTRIES: usize = 4096;

/// By app name and the version asked for (`None`: the newest).
#[derive(Default)]
pub(super) struct VersionCache {
    entries: Mutex<HashMap<(String, Option<i32>), AppVersionRow>>,
}

impl VersionCache {
    pub(super) fn get(&self, app: &str, version: Option<i32>) -> Option<AppVersionRow> {
        self.entries().get(&(app.to_string(), version)).cloned()
    }

    pub(super) fn put(&self, app: &str, version: Option<i32>, row: &AppVersionRow) {
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert((app.to_string(), version), row.clone());
    }

    /// Drops what is known of an app: it was uploaded again or deleted.
    pub(super) fn forget_app(&self, app: &str) {
        self.entries().retain(|(name, _), _| name != app);
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Option<i32>), AppVersionRow>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn row(app: &str, version: i32) -> AppVersionRow {
        AppVersionRow {
            app_name: app.to_string(),
            version,
            blob_hash: format!("hash{version}"),
            binary_type: "wasm".to_string(),
            size: 0,
            entries: Vec::new(),
            uploaded_at: Utc::now(),
        }
    }

    #[test]
    fn entries_are_kept_by_app_and_version_asked_for_and_forgotten_by_app() {
        let cache = VersionCache::default();
        cache.put("a", None, &row("a", 2));
        cache.put("a", Some(1), &row("a", 1));
        cache.put("b", None, &row("b", 7));
        assert_eq!(cache.get("a", None).unwrap().version, 2);
        assert_eq!(cache.get("a", Some(1)).unwrap().version, 1);
        assert!(cache.get("a", Some(2)).is_none());
        cache.forget_app("a");
        assert!(cache.get("a", None).is_none() && cache.get("a", Some(1)).is_none());
        assert_eq!(cache.get("b", None).unwrap().version, 7);
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = VersionCache::default();
        for version in 0..(MAX_ENTRIES as i32 + 10) {
            cache.put("a", Some(version), &row("a", version));
        }
        assert!(cache.entries().len() <= MAX_ENTRIES);
        assert!(cache.get("a", Some(MAX_ENTRIES as i32 + 9)).is_some());
    }
}
