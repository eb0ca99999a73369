//! The cluster's directory before PostgreSQL starts in it: which binaries to
//! use, whether the `postgres` user can reach it, a previous owner still
//! running or stopping, ownership and modes, the log and the password file.

use super::*;

/// Search order: `JOBSERVER_PG_BIN`, the newest `<versioned_root>/<version>/bin` (Debian's
/// layout), `pg_config --bindir`, then `initdb` on `PATH`. A set but wrong
/// `JOBSERVER_PG_BIN` is an error rather than a fall-through: silently using other
/// binaries than the ones asked for would be worse.
pub(super) fn find_bin_dir(
    env_dir: Option<OsString>,
    versioned_root: &Path,
    path: Option<OsString>,
) -> Result<PathBuf> {
    let has_server = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    let not_found = |searched: String| LocalPostgresError::BinariesNotFound { searched };

    if let Some(d) = env_dir.filter(|d| !d.is_empty()) {
        let d = PathBuf::from(d);
        return if has_server(&d) {
            Ok(d)
        } else {
            Err(not_found(format!("JOBSERVER_PG_BIN={}", d.display())))
        };
    }

    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(versioned_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: Result<Vec<u32>, _> = e.file_name().to_str()?.split('.').map(str::parse).collect();
            Some((v.ok()?, e.path().join("bin")))
        })
        .collect();
    versions.sort();
    if let Some((_, d)) = versions.into_iter().rev().find(|(_, d)| has_server(d)) {
        return Ok(d);
    }

    let path_dirs: Vec<PathBuf> = path
        .as_deref()
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    let on_path = |exe: &str| path_dirs.iter().map(|d| d.join(exe)).find(|p| p.is_file());
    if let Some(pg_config) = on_path("pg_config")
        && let Ok(out) = Command::new(pg_config).arg("--bindir").stderr(Stdio::null()).output()
        && out.status.success()
    {
        let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server(&d) {
            return Ok(d);
        }
    }
    if let Some(initdb) = on_path("initdb") {
        // Homebrew links both into one bin directory; otherwise follow the link to the real one.
        let linked = initdb.parent().map(Path::to_path_buf);
        let real = fs::canonicalize(&initdb)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        if let Some(d) = [linked, real].into_iter().flatten().find(|d| has_server(d)) {
            return Ok(d);
        }
    }
    Err(not_found(format!(
        "{}/*/bin, pg_config --bindir, PATH",
        versioned_root.display()
    )))
}

/// Every ancestor must be searchable by the cluster owner, or postgres cannot even reach
/// its own data directory; failing here gives a far clearer message than its log would.
pub(super) fn check_traversable(dir: &Path, uid: Uid, gid: Gid) -> Result<()> {
    for ancestor in dir.ancestors().skip(1) {
        let meta = fs::metadata(ancestor).context(|| format!("inspecting {}", ancestor.display()))?;
        let mode = meta.mode();
        let ok = mode & 0o001 != 0
            || (meta.uid() == uid.as_raw() && mode & 0o100 != 0)
            || (meta.gid() == gid.as_raw() && mode & 0o010 != 0);
        if !ok {
            return Err(LocalPostgresError::NotTraversable {
                dir: dir.to_owned(),
                blocking: ancestor.to_owned(),
                mode: mode & 0o7777,
            });
        }
    }
    Ok(())
}

/// A live postgres that owns `dir` means the directory is in use. A stale `postmaster.pid`
/// whose pid is dead is left for postgres, which removes it itself; one whose pid was
/// reused by an unrelated process (common in containers after a crash) postgres would
/// refuse, so it is removed here. One that is shutting down is waited for.
pub(super) fn wait_for_previous_owner(dir: &Path) -> Result<()> {
    let pid_file = dir.join("postmaster.pid");
    let deadline = Instant::now() + STOPPING_WAIT;
    loop {
        let Ok(contents) = fs::read_to_string(&pid_file) else {
            return Ok(());
        };
        let lines: Vec<&str> = contents.lines().collect();
        let Some(pid) = lines
            .first()
            .and_then(|l| l.trim().parse::<i32>().ok())
            .filter(|p| *p > 0)
        else {
            return Ok(());
        };
        let alive = matches!(kill(Pid::from_raw(pid), None), Ok(()) | Err(Errno::EPERM));
        if !alive {
            return Ok(());
        }
        // Without /proc (macOS) assume the worst: it is a postgres.
        let is_postgres = fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim().starts_with("postgres") || c.trim() == "postmaster")
            .unwrap_or(true);
        if !is_postgres {
            tracing::warn!(pid, file = %pid_file.display(), "removing stale postmaster.pid (its pid now belongs to another process)");
            return fs::remove_file(&pid_file).context(|| format!("removing {}", pid_file.display()));
        }
        let stopping = lines.get(7).is_some_and(|s| s.trim() == "stopping");
        if !stopping || Instant::now() >= deadline {
            return Err(LocalPostgresError::InUse {
                dir: dir.to_owned(),
                pid,
            });
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Postgres insists on owning its directory with mode 0700 (or 0750). Only a directory
/// that holds a cluster is handed over recursively: anything else in it is not ours to
/// give away (and initdb refuses a non-empty directory anyway).
pub(super) fn prepare_dir(dir: &Path, owner: Option<(Uid, Gid)>) -> Result<()> {
    let meta = fs::metadata(dir).context(|| format!("inspecting {}", dir.display()))?;
    if let Some((uid, gid)) = owner
        && meta.uid() != uid.as_raw()
    {
        if dir.join("PG_VERSION").exists() {
            chown_recursive(dir, uid, gid)?;
        } else {
            std::os::unix::fs::chown(dir, Some(uid.as_raw()), Some(gid.as_raw()))
                .context(|| format!("handing {} to the postgres user", dir.display()))?;
        }
    }
    if !matches!(meta.mode() & 0o777, 0o700 | 0o750) {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .context(|| format!("setting mode 700 on {}", dir.display()))?;
    }
    Ok(())
}

pub(super) fn chown_recursive(path: &Path, uid: Uid, gid: Gid) -> Result<()> {
    let ctx = || format!("handing {} to the postgres user", path.display());
    std::os::unix::fs::lchown(path, Some(uid.as_raw()), Some(gid.as_raw())).context(ctx)?;
    if fs::symlink_metadata(path).context(ctx)?.is_dir() {
        for entry in fs::read_dir(path).context(ctx)? {
            chown_recursive(&entry.context(ctx)?.path(), uid, gid)?;
        }
    }
    Ok(())
}

pub(super) fn rotate_log(log: &Path) {
    if fs::metadata(log).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
        let _ = fs::rename(log, log.with_extension("log.old"));
    }
}

pub(super) fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context(|| "reading /dev/urandom".into())?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `contents` to a file only its owner (`owner`, or us) can read.
pub(super) fn write_private(path: &Path, contents: &str, owner: Option<(Uid, Gid)>) -> Result<()> {
    let ctx = || format!("writing {}", path.display());
    let _ = fs::remove_file(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .context(ctx)?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&f, Some(uid.as_raw()), Some(gid.as_raw())).context(ctx)?;
    }
    f.write_all(format!("{contents}\n").as_bytes()).context(ctx)?;
    f.sync_all().context(ctx)
}
