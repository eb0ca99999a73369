//! The `jobserver` command: `serve` runs the server; `openapi` prints the API
//! document; `local-db` lists and removes local mode's clusters. Start-up and
//! shutdown order live here.

mod local_db;

use crate::api::{self, AppState};
use crate::config::{LogFormat, Settings, SettingsArgs};
use crate::runtime::Runtime;
use crate::scheduler::{Scheduler, ServerIdentity};
use crate::store::Store;
use crate::store::local_postgres::LocalPostgres;
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often ended jobs past their retention are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// How often local mode looks whether its PostgreSQL still runs.
const SUPERVISE_INTERVAL: Duration = Duration::from_secs(1);
/// How many times local mode starts its PostgreSQL again after it died,
/// before the server gives up and exits for its own supervisor to act.
const POSTGRES_RESTARTS: u32 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "jobserver",
    version,
    about = "A job server for data teams: WebAssembly jobs over REST, in Postgres.",
    long_about = "A job server for data teams, in the manner of Spark Job Server: upload \
                  WebAssembly job components with curl, keep persistent contexts, and run jobs \
                  synchronously or asynchronously. Every setting can come from a HOCON config \
                  file (--config), the environment, or a flag; a flag beats the environment, \
                  which beats the file. Without DATABASE_URL the server runs its own private \
                  PostgreSQL in the data directory (local mode)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (port 8090 unless told otherwise).
    Serve(Box<SettingsArgs>),
    /// Print the OpenAPI document of the API (what /openapi.json serves).
    Openapi,
    /// Local mode's clusters kept apart from their data directories (run as
    /// root, when the postgres user cannot enter the data directory).
    #[command(subcommand)]
    LocalDb(local_db::LocalDbCommand),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Openapi => {
            println!("{}", openapi_json());
            ExitCode::SUCCESS
        }
        Command::LocalDb(command) => local_db::main(command, Path::new(local_db::ROOT)),
        Command::Serve(args) => {
            let settings = match args.resolve() {
                Ok(settings) => settings,
                Err(error) => {
                    eprintln!("jobserver: {error}");
                    return ExitCode::from(2);
                }
            };
            init_logging(settings.log_format);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("jobserver: cannot start the async runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve(settings, shutdown_signal())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!("{error:#}");
                    eprintln!("jobserver: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The OpenAPI document, pretty-printed, as committed in `openapi/openapi.json`.
pub fn openapi_json() -> String {
    api::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document always serialises")
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,wasmtime=warn,cranelift=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs the server until `shutdown` completes: then running jobs are killed
/// (waiting ones stay queued for the next start), requests in flight finish,
/// and local mode's PostgreSQL stops.
pub async fn serve(settings: Settings, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create the data directory {}", settings.data_dir.display()))?;
    // Local mode is one server: a second one on the same data directory
    // would start its own PostgreSQL on the same cluster.
    let _data_dir_lock = match &settings.database_url {
        Some(_) => None,
        None => Some(lock_data_dir(&settings.data_dir)?),
    };
    let local_postgres = match &settings.database_url {
        Some(_) => None,
        None => {
            let data_dir = settings.data_dir.clone();
            let postgres = tokio::task::spawn_blocking(move || local_db::start(&data_dir, Path::new(local_db::ROOT)))
                .await?
                .context("local mode (no DATABASE_URL given)")?;
            Some(Arc::new(std::sync::Mutex::new(postgres)))
        }
    };
    let database_url = match (&settings.database_url, &local_postgres) {
        (Some(url), _) => url.clone(),
        (None, Some(postgres)) => postgres
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .url()
            .to_string(),
        (None, None) => unreachable!("local mode always has a PostgreSQL"),
    };
    let postgres_lost = CancellationToken::new();
    let supervising = local_postgres
        .clone()
        .map(|postgres| tokio::spawn(supervise_local_postgres(postgres, postgres_lost.clone())));
    let stop = {
        let postgres_lost = postgres_lost.clone();
        async move {
            tokio::select! {
                () = shutdown => {},
                () = postgres_lost.cancelled() => {},
            }
        }
    };
    let result = run(settings.clone(), &database_url, stop).await;
    if let Some(supervising) = supervising {
        supervising.abort();
        // Dropped once this returns, and with it its hold on the PostgreSQL.
        let _ = supervising.await;
    }
    if let Some(postgres) = local_postgres {
        let stopped = tokio::task::spawn_blocking(move || match Arc::try_unwrap(postgres) {
            Ok(postgres) => postgres
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .stop(),
            // The supervisor still holds it: dropping it stops PostgreSQL too.
            Err(_) => Ok(()),
        })
        .await;
        if let Ok(Err(error)) = stopped {
            tracing::warn!(%error, "local PostgreSQL did not stop cleanly");
        }
    }
    if postgres_lost.is_cancelled() {
        anyhow::bail!(
            "local mode's PostgreSQL died and could not be started again {POSTGRES_RESTARTS} times; \
             its log is beside its cluster in the data directory"
        );
    }
    result
}

/// Holds `<data-dir>/jobserver.lock` for the life of the server.
fn lock_data_dir(data_dir: &Path) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    use std::io::{Read, Seek, Write};
    let path = data_dir.join("jobserver.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut holder = String::new();
    let _ = file.read_to_string(&mut holder);
    let mut lock = match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => anyhow::bail!(
            "another jobserver (pid {}) runs in local mode on the data directory {}: local mode is a single server; \
             stop that one, give this one another --data-dir, or share a database with DATABASE_URL",
            holder.trim(),
            data_dir.display()
        ),
        Err((_, errno)) => anyhow::bail!("cannot lock {}: {errno}", path.display()),
    };
    lock.set_len(0)?;
    lock.rewind()?;
    write!(lock, "{}", std::process::id())?;
    Ok(lock)
}

/// Local mode's PostgreSQL, watched: killed or crashed, it is started again
/// (on the same port, so the pool reconnects by itself), a few times at most;
/// then `lost` is cancelled and the server stops with an error.
async fn supervise_local_postgres(postgres: Arc<std::sync::Mutex<LocalPostgres>>, lost: CancellationToken) {
    let mut restarts = 0;
    loop {
        tokio::time::sleep(SUPERVISE_INTERVAL).await;
        let exited = postgres
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .exit_status();
        let Some(status) = exited else {
            continue;
        };
        loop {
            if restarts == POSTGRES_RESTARTS {
                tracing::error!("local PostgreSQL died again; not starting it any more: stopping the server");
                lost.cancel();
                return;
            }
            restarts += 1;
            tracing::error!(%status, attempt = restarts, "local PostgreSQL died; starting it again");
            let postgres = postgres.clone();
            let restarted = tokio::task::spawn_blocking(move || {
                postgres
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .restart()
            })
            .await;
            match restarted {
                Ok(Ok(())) => break,
                Ok(Err(error)) => tracing::error!(%error, "could not start local PostgreSQL again"),
                Err(error) => tracing::error!(%error, "could not start local PostgreSQL again"),
            }
            tokio::time::sleep(SUPERVISE_INTERVAL).await;
        }
    }
}

async fn run(
    settings: Arc<Settings>,
    database_url: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = Store::connect(database_url, settings.database_max_connections)
        .await
        .context("cannot open the database")?;
    let runtime = Runtime::new(settings.cache_dir.clone()).context("cannot start the WebAssembly runtime")?;
    // Bound before the scheduler starts, so that the server's name and
    // address (with the port the system chose, for port 0) are known.
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener.local_addr()?;
    let identity = server_identity(&settings, address);
    let scheduler = Scheduler::start(store.clone(), runtime.clone(), settings.clone(), identity)
        .await
        .context("cannot start the scheduler")?;
    // The first purge runs before the server answers, so that nothing past
    // its retention is served after a restart.
    purge(&scheduler).await;
    let purging = tokio::spawn(purge_periodically(scheduler.clone()));

    let state = AppState {
        scheduler: scheduler.clone(),
        store: store.clone(),
        runtime,
        settings,
    };
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown.await;
            stop.cancel();
        }
    });
    tracing::info!("jobserver listening on http://{address}");
    // Jobs are killed before connections drain: a sync request waiting for a
    // job gets the job's KILLED report instead of holding shutdown up.
    let draining = {
        let scheduler = scheduler.clone();
        async move {
            stop.cancelled().await;
            tracing::info!("shutting down: killing running jobs");
            scheduler.shutdown().await;
        }
    };
    axum::serve(listener, api::app(state))
        .with_graceful_shutdown(draining)
        .await
        .context("the HTTP server failed")?;
    purging.abort();
    store.close().await;
    tracing::info!("jobserver stopped");
    Ok(())
}

/// Who this server is to the others sharing its database: by default its
/// host name and port, reachable at that host name when it listens on every
/// address.
fn server_identity(settings: &Settings, address: std::net::SocketAddr) -> ServerIdentity {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    let port = address.port();
    let reachable = if address.ip().is_unspecified() {
        host.clone()
    } else {
        match address {
            std::net::SocketAddr::V4(v4) => v4.ip().to_string(),
            std::net::SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        }
    };
    ServerIdentity {
        name: settings.server_name.clone().unwrap_or_else(|| format!("{host}:{port}")),
        address: format!("http://{reachable}:{port}"),
        sole: settings.database_url.is_none(),
    }
}

async fn purge_periodically(scheduler: Scheduler) {
    let mut interval = tokio::time::interval(PURGE_INTERVAL);
    interval.tick().await;
    loop {
        interval.tick().await;
        purge(&scheduler).await;
    }
}

async fn purge(scheduler: &Scheduler) {
    match scheduler.purge().await {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "purged jobs past their retention"),
        Err(error) => tracing::warn!(%error, "could not purge old jobs"),
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
