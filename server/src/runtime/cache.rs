//! Compiled components, by content hash: in memory for this process, and on
//! disk (`<cache-dir>/<hash>.cwasm`) so a restart does not compile again.

use super::CompiledJob;
use super::bindings::JobComponentPre;
use super::host::HostState;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

pub struct ComponentCache {
    dir: PathBuf,
    loaded: Mutex<HashMap<String, Arc<CompiledJob>>>,
}

impl ComponentCache {
    pub fn new(dir: PathBuf) -> ComponentCache {
        ComponentCache {
            dir,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, hash: &str) -> Option<Arc<CompiledJob>> {
        self.loaded().get(hash).cloned()
    }

    /// Keeps a freshly compiled component, in memory and on disk. A disk
    /// that refuses only costs a compilation after the next restart.
    pub fn store(&self, hash: &str, component: &Component, compiled: Arc<CompiledJob>) {
        self.loaded().insert(hash.to_string(), compiled);
        if let Err(error) = self.write(hash, component) {
            tracing::warn!(%hash, dir = %self.dir.display(), %error, "could not cache a compiled component on disk");
        }
    }

    fn write(&self, hash: &str, component: &Component) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let bytes = component.serialize()?;
        // Written under a temporary name and renamed, so a reader (another
        // server sharing the directory) never sees half a file.
        let temporary = tempfile_in(&self.dir, hash);
        std::fs::write(&temporary, bytes)?;
        std::fs::rename(&temporary, self.path(hash))?;
        Ok(())
    }

    /// A component compiled by an earlier run, if the disk cache has it and it
    /// suits this engine; a stale or damaged file is removed.
    pub fn load_from_disk(&self, engine: &Engine, linker: &Linker<HostState>, hash: &str) -> Option<Arc<CompiledJob>> {
        let path = self.path(hash);
        if !path.exists() {
            return None;
        }
        // SAFETY: `deserialize_file` trusts the file to be wasmtime's own
        // output. Files here are written only by `write` above, in a
        // directory the server owns, under the hash of the content they were
        // compiled from; wasmtime itself rejects files from another version
        // or configuration.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine, &path) };
        let compiled = loaded
            .and_then(|component| linker.instantiate_pre(&component))
            .and_then(JobComponentPre::new);
        match compiled {
            Ok(pre) => {
                let compiled = Arc::new(CompiledJob {
                    hash: hash.to_string(),
                    pre,
                });
                self.loaded().insert(hash.to_string(), compiled.clone());
                tracing::debug!(%hash, "loaded a compiled component from the disk cache");
                Some(compiled)
            }
            Err(error) => {
                tracing::info!(%hash, %error, "discarding a cached component this engine cannot use");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    pub fn forget(&self, hash: &str) {
        self.loaded().remove(hash);
        let _ = std::fs::remove_file(self.path(hash));
    }

    fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}.cwasm"))
    }

    fn loaded(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CompiledJob>>> {
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn tempfile_in(dir: &std::path::Path, hash: &str) -> PathBuf {
    dir.join(format!(".{hash}.{}.tmp", uuid::Uuid::new_v4().simple()))
}
