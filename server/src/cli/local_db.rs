//! Where local mode keeps its PostgreSQL cluster, and `jobserver local-db`.
//!
//! The cluster lives in `<data-dir>/postgres`. Run as root, PostgreSQL runs as
//! the `postgres` user, which cannot enter a data directory under, say, /root
//! (mode 700); rather than fail the one command that runs the server, the
//! cluster then goes under /var/lib/jobserver/clusters, in a directory named
//! after the data directory. The two are linked both ways, so that the link
//! can be found from either side: `<data-dir>/postgres-cluster` names the
//! cluster, and the cluster's directory holds `data-dir`, naming the data
//! directory. `jobserver local-db list` shows them; `remove` and `prune`
//! delete those no longer wanted, or whose data directories are gone.

use crate::store::local_postgres::{LocalPostgres, LocalPostgresError};
use clap::Subcommand;
use sha2::Digest;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where local mode keeps the clusters that the `postgres` user could not
/// reach in their data directories.
pub const ROOT: &str = "/var/lib/jobserver/clusters";

/// In a kept cluster's directory: the data directory it belongs to.
const DATA_DIR_FILE: &str = "data-dir";
/// In a data directory: the cluster kept elsewhere for it.
const CLUSTER_LINK_FILE: &str = "postgres-cluster";

#[derive(Debug, Subcommand)]
pub enum LocalDbCommand {
    /// List the clusters kept apart from their data directories: id, data
    /// directory (and whether it still exists), whether a server runs on it, size.
    List,
    /// Remove the clusters of these data directories (or ids, as `list` shows
    /// them), with every job, context and app they hold. Refused while a
    /// server runs on one, and for a data directory that still exists unless
    /// --force.
    Remove {
        #[arg(required = true, value_name = "DATA_DIR_OR_ID")]
        targets: Vec<String>,
        #[arg(long)]
        force: bool,
    },
    /// Remove every kept cluster whose data directory no longer exists.
    Prune,
}

/// Starts local mode's PostgreSQL for `data_dir`, in it when the postgres
/// user can reach it, else under `root`.
pub fn start(data_dir: &Path, root: &Path) -> Result<LocalPostgres, LocalPostgresError> {
    let dir = data_dir.join("postgres");
    tracing::info!(dir = %dir.display(), "local mode: starting a private PostgreSQL");
    match LocalPostgres::start(&dir) {
        Err(LocalPostgresError::NotTraversable { blocking, .. }) => {
            let absolute = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned());
            let kept = root.join(id_of(&absolute));
            let fallback = kept.join("postgres");
            tracing::warn!(
                unreachable = %blocking.display(),
                dir = %fallback.display(),
                "the postgres user cannot reach the data directory; keeping the cluster elsewhere (see jobserver local-db)"
            );
            let io = |context: String| move |source| LocalPostgresError::Io { context, source };
            for parent in fallback.ancestors().skip(1).take(3) {
                std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
                let _ = std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755));
            }
            let link = kept.join(DATA_DIR_FILE);
            std::fs::write(&link, absolute.as_os_str().as_encoded_bytes())
                .map_err(io(format!("writing {}", link.display())))?;
            let back = data_dir.join(CLUSTER_LINK_FILE);
            std::fs::write(&back, fallback.as_os_str().as_encoded_bytes())
                .map_err(io(format!("writing {}", back.display())))?;
            LocalPostgres::start(&fallback)
        }
        other => other,
    }
}

/// A kept cluster's id: named after its data directory's absolute path.
fn id_of(absolute_data_dir: &Path) -> String {
    let digest = sha2::Sha256::digest(absolute_data_dir.as_os_str().as_encoded_bytes());
    hex::encode(digest)[..16].to_string()
}

/// A cluster kept under the root.
#[derive(Debug)]
struct Kept {
    id: String,
    dir: PathBuf,
    /// `None` for a cluster kept before the link was recorded.
    data_dir: Option<PathBuf>,
    /// The pid of the postmaster running on it.
    running: Option<i32>,
    bytes: u64,
}

fn kept_clusters(root: &Path) -> std::io::Result<Vec<Kept>> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut kept = Vec::new();
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let dir = entry.path();
        let data_dir = std::fs::read_to_string(dir.join(DATA_DIR_FILE))
            .ok()
            .map(|text| PathBuf::from(text.trim_end()));
        kept.push(Kept {
            id: entry.file_name().to_string_lossy().into_owned(),
            running: postmaster(&dir.join("postgres")),
            bytes: size_of(&dir),
            data_dir,
            dir,
        });
    }
    kept.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(kept)
}

/// The live postmaster of a cluster, from its pid file.
fn postmaster(cluster: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(cluster.join("postmaster.pid")).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    alive.then_some(pid)
}

fn size_of(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| size_of(&entry.path()))
        .sum()
}

pub fn main(command: LocalDbCommand, root: &Path) -> ExitCode {
    let result = match command {
        LocalDbCommand::List => list(root),
        LocalDbCommand::Remove { targets, force } => remove(root, &targets, force),
        LocalDbCommand::Prune => prune(root),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("jobserver local-db: {error}");
            ExitCode::FAILURE
        }
    }
}

fn list(root: &Path) -> Result<(), String> {
    let kept = kept_clusters(root).map_err(|error| format!("cannot read {}: {error}", root.display()))?;
    if kept.is_empty() {
        println!("no clusters are kept in {}", root.display());
        return Ok(());
    }
    println!("{:<16}  {:>9}  {:<16}  data directory", "id", "size", "state");
    for cluster in kept {
        let state = match cluster.running {
            Some(pid) => format!("running ({pid})"),
            None => "stopped".to_string(),
        };
        let data_dir = match &cluster.data_dir {
            Some(dir) if dir.exists() => dir.display().to_string(),
            Some(dir) => format!("{} (gone)", dir.display()),
            None => "unknown (kept before jobserver recorded it)".to_string(),
        };
        let size = format!("{:.1} MB", cluster.bytes as f64 / 1_048_576.0);
        println!("{:<16}  {size:>9}  {state:<16}  {data_dir}", cluster.id);
    }
    Ok(())
}

fn remove(root: &Path, targets: &[String], force: bool) -> Result<(), String> {
    let kept = kept_clusters(root).map_err(|error| format!("cannot read {}: {error}", root.display()))?;
    let mut chosen = Vec::new();
    for target in targets {
        let as_dir = std::path::absolute(target).map(|dir| id_of(&dir)).unwrap_or_default();
        let cluster = kept
            .iter()
            .find(|cluster| cluster.id == *target || cluster.id == as_dir)
            .ok_or_else(|| format!("no cluster is kept in {} for '{target}'", root.display()))?;
        if let Some(pid) = cluster.running {
            return Err(format!(
                "a PostgreSQL (pid {pid}) runs on the cluster of '{target}': stop its server first"
            ));
        }
        if let Some(dir) = cluster.data_dir.as_ref().filter(|dir| dir.exists())
            && !force
        {
            return Err(format!(
                "the data directory {} of '{target}' still exists, and a server started on it would use \
                 this cluster: give --force to remove the cluster anyway",
                dir.display()
            ));
        }
        chosen.push(cluster);
    }
    for cluster in chosen {
        remove_one(cluster)?;
    }
    Ok(())
}

fn prune(root: &Path) -> Result<(), String> {
    let kept = kept_clusters(root).map_err(|error| format!("cannot read {}: {error}", root.display()))?;
    let gone: Vec<&Kept> = kept
        .iter()
        .filter(|cluster| cluster.running.is_none())
        .filter(|cluster| cluster.data_dir.as_ref().is_some_and(|dir| !dir.exists()))
        .collect();
    if gone.is_empty() {
        println!("no kept cluster has lost its data directory");
    }
    for cluster in gone {
        remove_one(cluster)?;
    }
    Ok(())
}

fn remove_one(cluster: &Kept) -> Result<(), String> {
    std::fs::remove_dir_all(&cluster.dir)
        .map_err(|error| format!("cannot remove {}: {error}", cluster.dir.display()))?;
    if let Some(link) = cluster.data_dir.as_ref().map(|dir| dir.join(CLUSTER_LINK_FILE)) {
        let _ = std::fs::remove_file(link);
    }
    let data_dir = cluster.data_dir.as_ref().map_or_else(
        || "an unknown data directory".to_string(),
        |dir| dir.display().to_string(),
    );
    println!(
        "removed {} ({:.1} MB), the cluster of {data_dir}",
        cluster.dir.display(),
        cluster.bytes as f64 / 1_048_576.0
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kept cluster for `data_dir` under `root`, as `start` leaves one.
    fn keep(root: &Path, data_dir: &Path) -> PathBuf {
        let kept = root.join(id_of(data_dir));
        std::fs::create_dir_all(kept.join("postgres")).unwrap();
        std::fs::write(kept.join("postgres/PG_VERSION"), "15").unwrap();
        std::fs::write(kept.join(DATA_DIR_FILE), data_dir.as_os_str().as_encoded_bytes()).unwrap();
        kept
    }

    #[test]
    fn clusters_are_listed_with_their_data_directories_and_removed_only_when_safe() {
        let scratch = tempfile::tempdir().unwrap();
        let root = scratch.path().join("clusters");
        let alive = scratch.path().join("alive");
        std::fs::create_dir_all(&alive).unwrap();
        let gone = scratch.path().join("gone");
        let (kept_alive, kept_gone) = (keep(&root, &alive), keep(&root, &gone));
        let kept = kept_clusters(&root).unwrap();
        assert_eq!(kept.len(), 2);
        assert!(
            kept.iter()
                .all(|cluster| cluster.running.is_none() && cluster.bytes > 0)
        );
        assert!(list(&root).is_ok());

        // A data directory that exists keeps its cluster unless forced.
        let refused = remove(&root, &[alive.display().to_string()], false).unwrap_err();
        assert!(
            refused.contains("still exists") && refused.contains("--force"),
            "{refused}"
        );
        assert!(kept_alive.exists());
        let unknown = remove(&root, &["nope".into()], false).unwrap_err();
        assert!(unknown.contains("no cluster is kept"), "{unknown}");

        // Pruning takes the one whose data directory is gone, by itself.
        prune(&root).unwrap();
        assert!(!kept_gone.exists() && kept_alive.exists());
        // By id, forced.
        let id = id_of(&alive);
        remove(&root, &[id], true).unwrap();
        assert!(!kept_alive.exists());
        assert!(kept_clusters(&root).unwrap().is_empty());
        assert!(kept_clusters(&scratch.path().join("absent")).unwrap().is_empty());
    }

    #[test]
    fn a_cluster_a_postgres_runs_on_is_never_removed() {
        let scratch = tempfile::tempdir().unwrap();
        let root = scratch.path().join("clusters");
        let gone = scratch.path().join("gone");
        let kept = keep(&root, &gone);
        // This process stands in for the postmaster.
        std::fs::write(
            kept.join("postgres/postmaster.pid"),
            format!("{}\n", std::process::id()),
        )
        .unwrap();
        let refused = remove(&root, &[gone.display().to_string()], true).unwrap_err();
        assert!(refused.contains("runs on the cluster"), "{refused}");
        prune(&root).unwrap();
        assert!(kept.exists());
    }
}
