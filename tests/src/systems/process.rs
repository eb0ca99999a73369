//! Running a system as a child of the test process. The child writes everything to a log
//! file in its scratch directory, is killed by the kernel when the test process dies
//! (SIGKILL: its data is scratch, and a JVM's shutdown hooks could keep it alive for
//! seconds after nobody needs it), and is ready only when a real client call succeeds, not
//! when a port opens. Ports are found by binding port 0 and letting go, so another process
//! may take one before the child binds it; that start is then retried on fresh ports, in a
//! fresh directory. Any other failure is a panic with the last lines of the log.

use jobserver_server::store::local_postgres::spawn_with_parent_death_signal;
use nix::sys::signal::Signal;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Lines of the log a failure shows.
const LOG_TAIL_LINES: usize = 40;
/// Starts that lost a port to another process before giving up.
const PORT_ATTEMPTS: usize = 4;
/// Between two readiness checks.
const POLL: Duration = Duration::from_millis(200);

/// A started system's process. Held for as long as the test process runs; dropping it
/// would not stop the process (a `Child` does not), the parent-death signal does.
pub(super) struct Service {
    _child: Child,
}

/// How to start one system.
pub(super) struct Launch<'a> {
    /// For messages: "Apache Kafka".
    pub name: &'a str,
    /// Its scratch directory, emptied before each attempt; the log is `<dir>.log`.
    pub dir: PathBuf,
    /// How many free ports it needs.
    pub ports: usize,
    /// How long it may take to become ready: generous, since machines under load are slow,
    /// and only there so that a hung start fails instead of hanging the test run.
    pub timeout: Duration,
}

impl Launch<'_> {
    pub fn log(&self) -> PathBuf {
        self.dir.with_extension("log")
    }

    /// Starts the system: `prepare` gets the ports and writes the configuration (it may run
    /// helper programs with `run_to_completion`) and returns the command of the system
    /// itself; `ready` says, with a reason when not, whether it answers real requests on
    /// those ports yet. Returns the running process and its ports.
    pub fn start(
        &self,
        mut prepare: impl FnMut(&[u16]) -> Command,
        mut ready: impl FnMut(&[u16]) -> Result<(), String>,
    ) -> (Service, Vec<u16>) {
        let log = self.log();
        for attempt in 1..=PORT_ATTEMPTS {
            let _ = fs::remove_dir_all(&self.dir);
            fs::create_dir_all(&self.dir)
                .unwrap_or_else(|error| panic!("cannot create {}: {error}", self.dir.display()));
            let ports = free_ports(self.ports);
            let log_start = fs::metadata(&log).map(|meta| meta.len()).unwrap_or(0);
            let mut child = self.spawn(prepare(&ports));
            let started = Instant::now();
            loop {
                let exited = child
                    .try_wait()
                    .unwrap_or_else(|error| panic!("cannot wait for {}: {error}", self.name));
                if let Some(status) = exited {
                    let output = read_log(&log, log_start);
                    if output.contains("Address already in use") && attempt < PORT_ATTEMPTS {
                        super::tell(&format!(
                            "note: a port of {} was taken before it bound it; retrying",
                            self.name
                        ));
                        break;
                    }
                    panic!(
                        "{} exited during start-up ({status}); {}",
                        self.name,
                        tail(&log, log_start)
                    );
                }
                let not_ready = match ready(&ports) {
                    Ok(()) => return (Service { _child: child }, ports),
                    Err(reason) => reason,
                };
                if started.elapsed() > self.timeout {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "{} was not ready within {:?} (last check: {not_ready}); {}",
                        self.name,
                        self.timeout,
                        tail(&log, log_start)
                    );
                }
                std::thread::sleep(POLL);
            }
        }
        unreachable!("the last attempt panics rather than retrying")
    }

    /// Runs a helper program of the system (a storage formatter, say) to its end, with its
    /// output in the log; panics when it fails.
    pub fn run_to_completion(&self, what: &str, command: Command) {
        let log = self.log();
        let log_start = fs::metadata(&log).map(|meta| meta.len()).unwrap_or(0);
        let status = self
            .spawn(command)
            .wait()
            .unwrap_or_else(|error| panic!("cannot wait for {what}: {error}"));
        assert!(status.success(), "{what} failed ({status}); {}", tail(&log, log_start));
    }

    /// Spawns `command` in the scratch directory (where stray files such as JVM crash
    /// reports land), output appended to the log, tied to this process's life.
    fn spawn(&self, mut command: Command) -> Child {
        let log = self.log();
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|error| panic!("cannot open {}: {error}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|error| panic!("cannot share {}: {error}", log.display()));
        command
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let program = command.get_program().to_string_lossy().into_owned();
        spawn_with_parent_death_signal(command, Signal::SIGKILL)
            .unwrap_or_else(|error| panic!("cannot run {program} for {}: {error}", self.name))
    }
}

/// `count` distinct ports that were free a moment ago: all are held at once while they
/// are picked, so none comes out twice.
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| {
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .unwrap_or_else(|error| panic!("cannot find a free port on 127.0.0.1: {error}"))
        })
        .collect();
    listeners
        .iter()
        .map(|listener| {
            listener
                .local_addr()
                .unwrap_or_else(|error| panic!("cannot read a bound port: {error}"))
                .port()
        })
        .collect()
}

/// `executable` on `PATH`, if it is there.
pub(super) fn on_path(executable: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(executable))
        .find(|candidate| candidate.is_file())
}

/// Writes a configuration file, panicking with its path when that fails.
pub(super) fn write_config(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
}

/// "last lines of <log>:" and the last lines written since byte `from`.
fn tail(log: &Path, from: u64) -> String {
    let text = read_log(log, from);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
    format!("last lines of {}:\n{tail}", log.display())
}

/// The log from byte `from` on, at most its last 256 KiB (a JVM's stack traces are long).
fn read_log(log: &Path, from: u64) -> String {
    let mut text = Vec::new();
    if let Ok(mut file) = File::open(log) {
        let len = file.metadata().map(|meta| meta.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(from.max(len.saturating_sub(256 << 10))));
        let _ = file.read_to_end(&mut text);
    }
    String::from_utf8_lossy(&text).into_owned()
}
