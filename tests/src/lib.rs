//! The end-to-end test harness: a real PostgreSQL (one per test process, a
//! fresh database per test), the real `jobserver` binary as a child process
//! talking HTTP on a real socket, and the example job components built for
//! wasm32-wasip2. Tests and benchmarks use it the same way:
//!
//! ```no_run
//! # async fn example() {
//! use jobserver_tests::{TestServer, components, fresh_database};
//! let server = TestServer::start(&fresh_database().await).await;
//! let api = server.api();
//! api.upload("wordcount", &components().word_count).await;
//! # }
//! ```

mod link;
pub mod systems;

pub use link::DatabaseLink;

use jobserver_server::store::local_postgres::LocalPostgres;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use sqlx::Connection;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

/// How long a server may take to start (it may be compiling nothing, but
/// migrations and re-queuing run first).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// One PostgreSQL per test process; it stops when the process ends (the
/// server is started with a parent-death signal).
struct SharedPostgres {
    server: LocalPostgres,
    next_database: AtomicU32,
    /// Compiled components are shared by the servers of one process, so each
    /// component compiles once per test run rather than once per test.
    cache_dir: PathBuf,
}

fn shared_postgres() -> &'static SharedPostgres {
    static POSTGRES: OnceLock<SharedPostgres> = OnceLock::new();
    POSTGRES.get_or_init(|| {
        let dir = process_scratch_dir("pg");
        let server = LocalPostgres::start(&dir.join("cluster"))
            .unwrap_or_else(|error| panic!("the tests need PostgreSQL: {error}"));
        SharedPostgres {
            server,
            next_database: AtomicU32::new(0),
            cache_dir: dir.join("compiled"),
        }
    })
}

/// Where test processes keep their clusters: traversable by the `postgres`
/// user, which runs PostgreSQL when the tests run as root.
fn scratch_root() -> PathBuf {
    let root = std::env::temp_dir().join("jobserver-tests");
    std::fs::create_dir_all(&root).expect("cannot create the tests' scratch directory");
    let _ = std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755));
    root
}

/// The kinds of scratch directory a test process owns, each named `<kind>-<pid>`: its
/// PostgreSQL, and the other systems it runs (`systems`).
const PROCESS_SCRATCH_KINDS: [&str; 2] = ["pg", "systems"];

/// This process's scratch directory of one kind (not created here). The first call also
/// removes those that test processes now gone left behind.
fn process_scratch_dir(kind: &str) -> PathBuf {
    static SWEPT: Once = Once::new();
    debug_assert!(PROCESS_SCRATCH_KINDS.contains(&kind), "{kind} would never be swept");
    let root = scratch_root();
    SWEPT.call_once(|| remove_stale_scratch(&root));
    root.join(format!("{kind}-{}", std::process::id()))
}

/// Removes the scratch directories of test processes that are gone.
fn remove_stale_scratch(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .split_once('-')
            .filter(|(kind, _)| PROCESS_SCRATCH_KINDS.contains(kind))
            .and_then(|(_, pid)| pid.parse::<i32>().ok());
        let Some(pid) = pid else {
            continue;
        };
        if kill(Pid::from_raw(pid), None).is_err() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A new, empty database on the shared PostgreSQL; returns its URL.
pub async fn fresh_database() -> String {
    let postgres = shared_postgres();
    let name = format!(
        "test_{}_{}",
        std::process::id(),
        postgres.next_database.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = sqlx::PgConnection::connect(postgres.server.url())
        .await
        .expect("cannot connect to the test PostgreSQL");
    // CREATE DATABASE takes no bound parameters; the name is ours, digits and underscores.
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("cannot create a test database");
    postgres.server.url_for_database(&name)
}

/// The example components, built once per test process.
pub struct Components {
    pub word_count: Vec<u8>,
    pub word_cache: Vec<u8>,
    pub test_jobs: Vec<u8>,
    pub kafka_word_count: Vec<u8>,
    pub segment: Vec<u8>,
    pub campaign_report: Vec<u8>,
    pub weather: Vec<u8>,
    pub kafka_transform: Vec<u8>,
}

pub fn components() -> &'static Components {
    static COMPONENTS: OnceLock<Components> = OnceLock::new();
    COMPONENTS.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
        // A target directory of their own: the test run holds the lock on the
        // workspace's, and wasm builds share nothing with the host's anyway.
        let target_dir = workspace.join("target").join("wasm-jobs");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let rustup = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !matches!(rustup, Ok(status) if status.success()) {
            eprintln!("note: `rustup target add wasm32-wasip2` failed; assuming the target is installed");
        }
        let status = Command::new(cargo)
            .current_dir(&workspace)
            .args([
                "build",
                "--profile",
                "component",
                "--target",
                "wasm32-wasip2",
                "-p",
                "word-count",
                "-p",
                "word-cache",
                "-p",
                "test-jobs",
                "-p",
                "kafka-word-count",
                "-p",
                "segment",
                "-p",
                "campaign-report",
                "-p",
                "weather",
                "-p",
                "kafka-transform",
            ])
            .arg("--target-dir")
            .arg(&target_dir)
            .status()
            .expect("cannot run cargo to build the example jobs");
        assert!(status.success(), "building the example jobs for wasm32-wasip2 failed");
        let read = |name: &str| {
            let path = target_dir.join("wasm32-wasip2/component").join(name);
            std::fs::read(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
        };
        Components {
            word_count: read("word_count.wasm"),
            word_cache: read("word_cache.wasm"),
            test_jobs: read("test_jobs.wasm"),
            kafka_word_count: read("kafka_word_count.wasm"),
            segment: read("segment.wasm"),
            campaign_report: read("campaign_report.wasm"),
            weather: read("weather.wasm"),
            kafka_transform: read("kafka_transform.wasm"),
        }
    })
}

/// How to start a server: the database, and settings as environment variables.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// `None`: local mode, the server starts its own PostgreSQL.
    pub database_url: Option<String>,
    pub env: Vec<(String, String)>,
}

impl ServerOptions {
    pub fn with_database(database_url: &str) -> ServerOptions {
        ServerOptions {
            database_url: Some(database_url.to_string()),
            env: Vec::new(),
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> ServerOptions {
        self.env.push((key.to_string(), value.to_string()));
        self
    }
}

/// A running `jobserver serve` process.
pub struct TestServer {
    child: Option<Child>,
    options: ServerOptions,
    data_dir: tempfile::TempDir,
    base: String,
    log: Arc<Mutex<String>>,
}

impl TestServer {
    pub async fn start(database_url: &str) -> TestServer {
        TestServer::start_with(ServerOptions::with_database(database_url)).await
    }

    pub async fn start_with(options: ServerOptions) -> TestServer {
        let data_dir = tempfile::Builder::new()
            .prefix("server-")
            .permissions(std::fs::Permissions::from_mode(0o755))
            .tempdir_in(scratch_root())
            .expect("cannot create a data directory");
        let mut server = TestServer {
            child: None,
            options,
            data_dir,
            base: String::new(),
            log: Arc::new(Mutex::new(String::new())),
        };
        server.launch().await;
        server
    }

    /// Starts the process again on the same database and data directory.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server before restarting it");
        self.launch().await;
    }

    async fn launch(&mut self) {
        let mut command = Command::new(server_binary());
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "RUST_LOG",
                "info,jobserver_server=debug,jobserver_connectors=debug,sqlx=warn",
            )
            .env("JOBSERVER_LISTEN", "127.0.0.1:0")
            .env("JOBSERVER_DATA_DIR", self.data_dir.path())
            .env("JOBSERVER_CACHE_DIR", &shared_postgres().cache_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Ok(home) = std::env::var("HOME") {
            command.env("HOME", home);
        }
        if let Some(url) = &self.options.database_url {
            command.env("DATABASE_URL", url);
        }
        for (key, value) in &self.options.env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("cannot start the jobserver binary");
        let stderr = child.stderr.take().unwrap();
        let (address_sender, address) = std::sync::mpsc::channel();
        let log = self.log.clone();
        std::thread::spawn(move || {
            let mut sender = Some(address_sender);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1)
                    && let Some(sender) = sender.take()
                {
                    let _ = sender.send(rest.trim().to_string());
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if let Ok(address) = address.try_recv() {
                self.base = format!("http://{address}");
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("jobserver exited during start-up ({status}):\n{}", self.log());
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "jobserver did not start within {START_TIMEOUT:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn api(&self) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: self.base.clone(),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is not running").id()
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGTERM, then waits for the process to exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the server is not running");
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("jobserver did not stop within 60 s of SIGTERM:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the process to exit by itself.
    pub async fn wait_for_exit(&mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("the server is not running");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > timeout {
                let _ = child.kill();
                panic!("jobserver did not exit within {timeout:?}:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: a crash, as far as the server can tell.
    pub fn crash(&mut self) {
        let mut child = self.child.take().expect("the server is not running");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The server binary: built by Cargo next to the running test's own
/// directory (`target/<profile>/`), or named by `JOBSERVER_BIN`.
pub fn server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("JOBSERVER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps");
    profile_dir.join("jobserver-under-test")
}

/// A small HTTP client for the API.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    base: String,
}

/// A response: its status code and JSON body (`Value::Null` when not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub location: Option<String>,
}

impl Reply {
    async fn from(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body, location }
    }

    /// `result.message` or `result` of an error body.
    pub fn message(&self) -> String {
        match &self.body["result"] {
            Value::String(message) => message.clone(),
            other => other["message"].as_str().unwrap_or_default().to_string(),
        }
    }
}

/// `field` of each element of the array `list`, as text: job ids of a listing, messages of
/// a log. Panics when `list` is not an array, so a test cannot pass on a missing list.
pub fn field_of_each(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {list}"))
        .iter()
        .map(|element| match &element[field] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .collect()
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::from(self.http.get(self.url(path)).send().await.expect("GET failed")).await
    }

    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> Reply {
        Reply::from(
            self.http
                .post(self.url(path))
                .body(body)
                .send()
                .await
                .expect("POST failed"),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        Reply::from(self.http.delete(self.url(path)).send().await.expect("DELETE failed")).await
    }

    /// Uploads a component as Spark Job Server clients do, with their Content-Type.
    pub async fn upload(&self, app: &str, bytes: &[u8]) -> Reply {
        let response = self
            .http
            .post(self.url(&format!("/binaries/{app}")))
            .header("content-type", "application/java-archive")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("upload failed");
        Reply::from(response).await
    }

    /// Submits a job; `query` is everything after `/jobs?`.
    pub async fn submit(&self, query: &str, config: &str) -> Reply {
        self.post(&format!("/jobs?{query}"), config.to_string()).await
    }

    /// Polls the job until it is FINISHED, ERROR or KILLED.
    pub async fn wait_until_ended(&self, job_id: &str, timeout: Duration) -> Value {
        let started = Instant::now();
        loop {
            let reply = self.get(&format!("/jobs/{job_id}")).await;
            assert_eq!(reply.status, 200, "{reply:?}");
            if matches!(reply.body["status"].as_str(), Some("FINISHED" | "ERROR" | "KILLED")) {
                return reply.body;
            }
            assert!(
                started.elapsed() < timeout,
                "job {job_id} did not end within {timeout:?}: {reply:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Polls until `check` holds for the job's report.
    pub async fn wait_for_job(&self, job_id: &str, timeout: Duration, check: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let reply = self.get(&format!("/jobs/{job_id}")).await;
            if check(&reply.body) {
                return reply.body;
            }
            assert!(
                started.elapsed() < timeout,
                "job {job_id} never got there within {timeout:?}: {reply:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
