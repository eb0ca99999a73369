//! Local mode: a private PostgreSQL cluster owned by this process.
//!
//! Postgres is the server's system of record. When no `DATABASE_URL` is given, the server
//! still needs one, so it initialises a cluster inside its own data directory with the
//! machine's PostgreSQL binaries and runs `postgres` as a child process for as long as it
//! runs itself; the end-to-end test harness starts real databases the same way. A child
//! rather than a daemon (`pg_ctl start`) keeps the ownership obvious: the server waits for
//! it, stops it, and the kernel stops it too (parent-death signal) if the server dies
//! without cleaning up. The cluster only listens on 127.0.0.1, has no Unix socket, and
//! requires a password (SCRAM) that is generated once and kept in a file only the owner
//! can read, so other local users cannot get in. Everything here is blocking by design.
//!
//! Files: the cluster is the directory `<dir>` itself (e.g. `<data-dir>/postgres`); next
//! to it, `<dir>.password` holds the password and `<dir>.log` collects the output of
//! initdb and postgres (e.g. `<data-dir>/postgres.password`, `<data-dir>/postgres.log`).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};
use std::{fmt, thread};

mod cluster_dir;

use cluster_dir::*;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Gid, Pid, Uid, User};

const DB_USER: &str = "jobserver";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for a previous postgres on the same directory that is already shutting
/// down, e.g. when a supervisor restarts the server right after it was killed.
const STOPPING_WAIT: Duration = Duration::from_secs(30);
const PORT_ATTEMPTS: usize = 5;
const LOG_TAIL_LINES: usize = 20;
const LOG_ROTATE_BYTES: u64 = 10 << 20;

#[derive(Debug, thiserror::Error)]
pub enum LocalPostgresError {
    #[error(
        "PostgreSQL server binaries (initdb, postgres) were not found. Install them \
         (Debian/Ubuntu: `apt-get install postgresql`; macOS: `brew install postgresql`), \
         set JOBSERVER_PG_BIN to their directory, or set DATABASE_URL to use an existing \
         database. (Looked in: {searched})"
    )]
    BinariesNotFound { searched: String },
    #[error(
        "running as root, and PostgreSQL refuses to run as root, but there is no `postgres` \
         user to run it as. Create one (e.g. `useradd --system postgres`), run the server as \
         an ordinary user, or set DATABASE_URL to use an existing database."
    )]
    NoPostgresUser,
    #[error(
        "the `postgres` user cannot reach the PostgreSQL data directory {dir}: {blocking} \
         (mode {mode:o}) is not traversable by it. Use a data directory elsewhere (e.g. \
         under /var/lib or /srv; /root is usually mode 700), or set DATABASE_URL to use an \
         existing database."
    )]
    NotTraversable { dir: PathBuf, blocking: PathBuf, mode: u32 },
    #[error(
        "the PostgreSQL data directory {dir} is in use by another running postgres \
         (pid {pid}); stop it or use another data directory"
    )]
    InUse { dir: PathBuf, pid: i32 },
    #[error(
        "the PostgreSQL cluster in {dir} exists but its password file {file} is missing or \
         empty; restore it, or move the cluster directory away to create a new cluster"
    )]
    PasswordMissing { dir: PathBuf, file: PathBuf },
    #[error("initdb failed ({status}); last lines of {log}:\n{tail}")]
    Initdb {
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },
    #[error("postgres {reason}; last lines of {log}:\n{tail}")]
    Startup { reason: String, log: PathBuf, tail: String },
    #[error("postgres did not shut down within {} s and was killed", STOP_TIMEOUT.as_secs())]
    StopTimedOut,
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

type Result<T, E = LocalPostgresError> = std::result::Result<T, E>;

trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<io::Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| LocalPostgresError::Io {
            context: what(),
            source: e.into(),
        })
    }
}

pub struct LocalPostgres {
    dir: PathBuf,
    bin: PathBuf,
    owner: Option<(Uid, Gid)>,
    log: PathBuf,
    password: String,
    port: u16,
    url: String,
    /// `None` once stopped, which makes `stop` and `Drop` idempotent.
    child: Option<Child>,
}

impl fmt::Debug for LocalPostgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hand-written so the password never ends up in logs.
        f.debug_struct("LocalPostgres")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .field("pid", &self.child.as_ref().map(Child::id))
            .finish_non_exhaustive()
    }
}

impl LocalPostgres {
    /// Blocking. Finds the binaries, runs initdb in `dir` if it holds no cluster yet,
    /// starts `postgres` as a child process listening on 127.0.0.1 on a free port,
    /// waits until it accepts connections, and returns.
    pub fn start(dir: &Path) -> Result<LocalPostgres, LocalPostgresError> {
        let bin = find_bin_dir(
            std::env::var_os("JOBSERVER_PG_BIN"),
            Path::new("/usr/lib/postgresql"),
            std::env::var_os("PATH"),
        )?;
        // PostgreSQL refuses to run as root, so root hands the cluster to `postgres`.
        let owner = if nix::unistd::geteuid().is_root() {
            let user = User::from_name("postgres")
                .context(|| "looking up the `postgres` user".into())?
                .ok_or(LocalPostgresError::NoPostgresUser)?;
            Some((user.uid, user.gid))
        } else {
            None
        };

        fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
        let dir = fs::canonicalize(dir).context(|| format!("resolving {}", dir.display()))?;
        let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
            return Err(io::Error::other("not a usable cluster directory")).context(|| dir.display().to_string());
        };
        let sibling = |ext: &str| {
            let mut file = name.to_os_string();
            file.push(ext);
            parent.join(file)
        };
        let (log, password_file) = (sibling(".log"), sibling(".password"));

        if let Some((uid, gid)) = owner {
            check_traversable(&dir, uid, gid)?;
        }
        wait_for_previous_owner(&dir)?;
        prepare_dir(&dir, owner)?;
        rotate_log(&log);

        let initialised = dir.join("PG_VERSION").exists();
        let password = if initialised {
            match fs::read_to_string(&password_file) {
                Ok(p) if !p.trim().is_empty() => p.trim().to_owned(),
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(e).context(|| format!("reading {}", password_file.display()));
                }
                _ => {
                    return Err(LocalPostgresError::PasswordMissing {
                        dir,
                        file: password_file,
                    });
                }
            }
        } else {
            let password = random_hex(16)?;
            write_private(&password_file, &password, None)?;
            initdb(&bin, &dir, &log, &password_file, &password, owner)?;
            password
        };

        let (child, port) = start_postgres(&bin, &dir, &log, owner, free_port)?;
        let url = format!("postgres://{DB_USER}:{password}@127.0.0.1:{port}/postgres");
        tracing::info!(dir = %dir.display(), port, pid = child.id(), "local postgres is ready");
        Ok(LocalPostgres {
            dir,
            bin,
            owner,
            log,
            password,
            port,
            url,
            child: Some(child),
        })
    }

    /// URL of the cluster's `postgres` database, with user and password:
    /// postgres://jobserver:<password>@127.0.0.1:<port>/postgres
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Same server, another database name (the test harness creates one database per test).
    pub fn url_for_database(&self, database: &str) -> String {
        let mut db = String::new();
        for b in database.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                db.push(b as char);
            } else {
                db.push_str(&format!("%{b:02X}"));
            }
        }
        format!("postgres://{DB_USER}:{}@127.0.0.1:{}/{db}", self.password, self.port)
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// How the postmaster ended, if it has (killed, crashed) without `stop`.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Blocking. Starts PostgreSQL again after it ended, on the same cluster
    /// and port, so that connections made with `url` work again.
    pub fn restart(&mut self) -> Result<(), LocalPostgresError> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        wait_for_previous_owner(&self.dir)?;
        let port = self.port;
        let (child, _) = start_postgres(&self.bin, &self.dir, &self.log, self.owner, || Ok(port))?;
        tracing::info!(dir = %self.dir.display(), port, pid = child.id(), "local postgres started again");
        self.child = Some(child);
        Ok(())
    }

    /// Fast shutdown (SIGINT to the postmaster), waits for it to exit (bounded, then SIGKILL).
    pub fn stop(mut self) -> Result<(), LocalPostgresError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // Until the child is reaped its pid cannot be reused, so signalling it is safe.
        if child.try_wait().ok().flatten().is_none() {
            let _ = kill(pid_of(&child), Signal::SIGINT);
        }
        match wait_timeout(&mut child, STOP_TIMEOUT) {
            Ok(Some(status)) => {
                if !status.success() {
                    tracing::warn!(%status, log = %self.log.display(), "local postgres exited abnormally");
                }
                tracing::info!(dir = %self.dir.display(), "local postgres stopped");
                Ok(())
            }
            res => {
                let _ = child.kill();
                let _ = child.wait();
                res.context(|| "waiting for postgres to stop".into())?;
                Err(LocalPostgresError::StopTimedOut)
            }
        }
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!(error = %e, "stopping local postgres");
        }
    }
}

fn initdb(
    bin: &Path,
    dir: &Path,
    log: &Path,
    password_file: &Path,
    password: &str,
    owner: Option<(Uid, Gid)>,
) -> Result<()> {
    tracing::info!(dir = %dir.display(), "initialising local postgres cluster");
    // The password file stays readable by us only; when the cluster belongs to `postgres`,
    // initdb gets a short-lived copy it can read.
    let pwfile = match owner {
        None => password_file.to_owned(),
        Some(owner) => {
            let copy = password_file.with_extension(format!("initdb-{}", std::process::id()));
            write_private(&copy, password, Some(owner))?;
            copy
        }
    };
    let mut pwfile_arg = OsString::from("--pwfile=");
    pwfile_arg.push(&pwfile);
    let mut cmd = Command::new(bin.join("initdb"));
    cmd.arg("-D")
        .arg(dir)
        .args([
            "--auth=scram-sha-256",
            "--username",
            DB_USER,
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .arg(&pwfile_arg);
    let status = run_child(cmd, dir, log, owner)
        .and_then(|mut child| child.wait())
        .context(|| format!("running {}", bin.join("initdb").display()));
    if owner.is_some() {
        let _ = fs::remove_file(&pwfile);
    }
    let status = status?;
    if !status.success() {
        return Err(LocalPostgresError::Initdb {
            status,
            log: log.to_owned(),
            tail: log_tail(log, 0),
        });
    }
    Ok(())
}

/// Starts postgres on a free port and waits until it accepts connections. The port is
/// found by binding port 0 and releasing it, so another process may grab it in between;
/// that is detected from the log and retried with a fresh port.
fn start_postgres(
    bin: &Path,
    dir: &Path,
    log: &Path,
    owner: Option<(Uid, Gid)>,
    mut next_port: impl FnMut() -> io::Result<u16>,
) -> Result<(Child, u16)> {
    let pg_isready = Some(bin.join("pg_isready")).filter(|p| p.is_file());
    for attempt in 1..=PORT_ATTEMPTS {
        let port = next_port().context(|| "finding a free port on 127.0.0.1".into())?;
        let log_start = fs::metadata(log).map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(bin.join("postgres"));
        cmd.arg("-D").arg(dir).arg("-p").arg(port.to_string());
        for setting in [
            "listen_addresses=127.0.0.1",
            // No Unix socket: TCP with a password is the only way in.
            "unix_socket_directories=",
            "max_connections=100",
            "shared_buffers=128MB",
            // Everything goes to our stderr, i.e. the log file, in English so that the
            // port-conflict check below can read it.
            "logging_collector=off",
            "log_destination=stderr",
            "lc_messages=C",
        ] {
            cmd.arg("-c").arg(setting);
        }
        let mut child =
            run_child(cmd, dir, log, owner).context(|| format!("starting {}", bin.join("postgres").display()))?;
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().context(|| "waiting for postgres".into())? {
                let output = log_tail_from(log, log_start);
                if output.contains("could not bind") || output.contains("Address already in use") {
                    tracing::warn!(port, attempt, "port taken before postgres could bind it; retrying");
                    break;
                }
                // Lost a race with another start on the same directory?
                wait_for_previous_owner(dir)?;
                return Err(startup_error(
                    format!("exited during startup ({status})"),
                    log,
                    log_start,
                ));
            }
            if is_ready(dir, &child, port, pg_isready.as_deref()) {
                return Ok((child, port));
            }
            if started.elapsed() > READY_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                let reason = format!("did not accept connections within {} s", READY_TIMEOUT.as_secs());
                return Err(startup_error(reason, log, log_start));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    Err(startup_error(
        format!("could not bind a free port on 127.0.0.1 in {PORT_ATTEMPTS} attempts"),
        log,
        0,
    ))
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

fn startup_error(reason: String, log: &Path, from: u64) -> LocalPostgresError {
    LocalPostgresError::Startup {
        reason,
        log: log.to_owned(),
        tail: log_tail(log, from),
    }
}

/// Postgres records "ready" in postmaster.pid once it accepts connections; checking the
/// pid and port there makes sure it is our child that is listening, not some other server
/// that took the port. `pg_isready` then confirms it over the real protocol.
fn is_ready(dir: &Path, child: &Child, port: u16, pg_isready: Option<&Path>) -> bool {
    let Ok(pid_file) = fs::read_to_string(dir.join("postmaster.pid")) else {
        return false;
    };
    let lines: Vec<&str> = pid_file.lines().map(str::trim).collect();
    let ours = lines.first() == Some(&child.id().to_string().as_str())
        && lines.get(3) == Some(&port.to_string().as_str())
        && lines.get(7) == Some(&"ready");
    if !ours {
        return false;
    }
    match pg_isready {
        Some(exe) => Command::new(exe)
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string(), "-t", "5"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        None => {
            TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), Duration::from_secs(5)).is_ok()
        }
    }
}

/// Runs a PostgreSQL program on the cluster: as its owner, output appended to the log, in
/// its own process group (a Ctrl-C meant for the server must not shut the database down
/// under it; the server stops it when it is done), and killed along with us.
fn run_child(mut cmd: Command, dir: &Path, log: &Path, owner: Option<(Uid, Gid)>) -> io::Result<Child> {
    let out = OpenOptions::new().create(true).append(true).mode(0o600).open(log)?;
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0);
    if let Some((uid, gid)) = owner {
        // std also drops supplementary groups (setgroups(0)) when a uid is set.
        cmd.uid(uid.as_raw()).gid(gid.as_raw());
    }
    // SIGINT is postgres's fast shutdown: it still ends cleanly if we die.
    spawn_with_parent_death_signal(cmd, Signal::SIGINT)
}

/// Spawns `cmd` so that the kernel sends the child `signal` when this process dies, however
/// it dies (on Linux; elsewhere the child is merely spawned). Local postgres is started this
/// way, and so are the brokers and databases the end-to-end tests run, which must not
/// outlive the test process either. A uid or gid set on `cmd` is fine: std switches
/// credentials before running the check installed here, and that order matters, because a
/// credential change clears the parent-death signal.
pub fn spawn_with_parent_death_signal(mut cmd: Command, signal: Signal) -> io::Result<Child> {
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed: it makes two plain syscalls (prctl, getppid)
    // and builds its error from a raw errno, so it neither allocates nor takes locks.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            #[cfg(target_os = "linux")]
            nix::sys::prctl::set_pdeathsig(signal)?;
            #[cfg(not(target_os = "linux"))]
            let _ = signal;
            // We may have died before the signal was armed.
            if nix::unistd::getppid() != parent {
                return Err(Errno::ESRCH.into());
            }
            Ok(())
        });
    }
    spawn_from_long_lived_thread(cmd)
}

/// Linux delivers the parent-death signal when the *thread* that forked the child exits,
/// not the process. Spawning from the calling thread would kill postgres as soon as, say,
/// a test thread or a tokio blocking-pool thread finished; so all children are forked by
/// one thread that lives as long as the process.
fn spawn_from_long_lived_thread(cmd: Command) -> io::Result<Child> {
    type Request = (Command, mpsc::Sender<io::Result<Child>>);
    static SPAWNER: OnceLock<Option<mpsc::Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        thread::Builder::new()
            .name("child-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .ok()?;
        Some(tx)
    });
    let Some(spawner) = spawner else {
        return Err(io::Error::other("could not start the child spawner thread"));
    };
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("the child spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("the child spawner thread is gone"))?
}

fn pid_of(child: &Child) -> Pid {
    Pid::from_raw(child.id() as i32)
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn log_tail(log: &Path, from: u64) -> String {
    let text = log_tail_from(log, from);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// The log's text from byte `from` on, capped to its last 64 KiB.
fn log_tail_from(log: &Path, from: u64) -> String {
    let mut text = Vec::new();
    if let Ok(mut f) = File::open(log) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(from.max(len.saturating_sub(64 << 10))));
        let _ = f.read_to_end(&mut text);
    }
    String::from_utf8_lossy(&text).into_owned()
}

#[cfg(test)]
mod tests;
