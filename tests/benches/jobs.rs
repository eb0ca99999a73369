//! Figures for the engine's hot path, each beside a baseline measured in the
//! same run on the same database, because only ratios carry over between
//! machines: a trivial job's sync latency and rate against pgbench doing a
//! job's minimal writes (insert it, then record its end: two commits), on a
//! persistent context and ad hoc; `GET /jobs` over a million rows; an idle
//! server's memory, and what 1,000 contexts add; a long queue drained on one
//! core. A program that prints figures, not a timed test:
//! `cargo bench -p jobserver-tests --bench jobs`.
//!
//! The machines this runs on change speed by half or more within minutes,
//! so the sync figures are taken in rounds, each measuring pgbench and the
//! server back to back, and each ratio is the median of the rounds' ratios.

use jobserver_tests::{Api, TestServer, components, fresh_database};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const WARM_UP: usize = 50;
const ROUNDS: usize = 3;
/// Per round.
const SEQUENTIAL: usize = 300;
const CONCURRENCY: usize = 16;
/// Per round.
const CONCURRENT_JOBS: usize = 1_500;
const HEALTH_REQUESTS: usize = 20_000;
/// Per round and measure.
const PGBENCH_SECONDS: u32 = 4;
const CONTEXTS: usize = 1_000;
const QUEUED: usize = 1_000;
const JOB_ROWS: u64 = 1_000_000;

#[tokio::main]
async fn main() {
    let database = fresh_database().await;
    let server = TestServer::start(&database).await;
    let api = server.api();
    assert_eq!(api.upload("bench", &components().test_jobs).await.status, 201);
    let idle_rss = rss_kib(server.pid());
    let context = format!("/contexts/bench?num-cpu-cores={CONCURRENCY}&max-queued-jobs=1000");
    assert_eq!(api.post(&context, "").await.status, 200);
    let persistent = "appName=bench&classPath=noop&context=bench&sync=true";
    let adhoc = "appName=bench&classPath=noop&sync=true";

    println!("jobserver benchmark: a trivial job (test-jobs `noop`), sync, everything in Postgres");
    println!(
        "  baseline: pgbench doing a job's minimal writes (insert, then end: two commits); {ROUNDS} rounds of pgbench and the server back to back, ratios the rounds' medians"
    );
    let pgbench = Pgbench::new(&database);
    for (what, query) in [("persistent context", persistent), ("ad-hoc context", adhoc)] {
        for _ in 0..WARM_UP {
            run_noop(&api, query).await;
        }
        let mut rounds = Vec::new();
        let mut all_latencies = Vec::new();
        for _ in 0..ROUNDS {
            let baseline_p50 = pgbench.latency_p50();
            let latencies = sequential(&api, query).await;
            let jobs_per_second = rate(
                CONCURRENT_JOBS,
                move |api| async move { run_noop(&api, query).await },
                &api,
            )
            .await;
            let baseline_rate = pgbench.rate(CONCURRENCY);
            rounds.push(Round {
                p50: percentile(&latencies, 50),
                baseline_p50,
                rate: jobs_per_second,
                baseline_rate,
            });
            all_latencies.extend(latencies);
        }
        all_latencies.sort();
        let median = |value: fn(&Round) -> f64| {
            let mut values: Vec<f64> = rounds.iter().map(value).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        let each = |value: fn(&Round) -> f64| {
            rounds
                .iter()
                .map(|round| format!("{:.2}", value(round)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "  {what}: p50 {:.2} ms against pgbench {:.2} ms at 1 client (x{:.2}; rounds x{}), p99 {:.2} ms; {:.0} jobs/s against pgbench {:.0}/s at {CONCURRENCY} clients (x{:.2}; rounds x{})",
            median(|round| millis(round.p50)),
            median(|round| millis(round.baseline_p50)),
            median(Round::latency_ratio),
            each(Round::latency_ratio),
            millis(percentile(&all_latencies, 99)),
            median(|round| round.rate),
            median(|round| round.baseline_rate),
            median(Round::rate_ratio),
            each(Round::rate_ratio),
        );
    }
    let health_per_second = rate(
        HEALTH_REQUESTS,
        |api| async move { assert_eq!(api.get("/healthz").await.status, 200) },
        &api,
    )
    .await;
    println!("  /healthz: {health_per_second:.0} requests/s at {CONCURRENCY} clients");

    queue_on_one_core(&api, &database).await;
    memory(&server, &api, idle_rss).await;
    listing(&api, &database).await;
}

/// One round of the sync figures: the server's and pgbench's, back to back.
struct Round {
    p50: Duration,
    baseline_p50: Duration,
    rate: f64,
    baseline_rate: f64,
}

impl Round {
    fn latency_ratio(&self) -> f64 {
        self.p50.as_secs_f64() / self.baseline_p50.as_secs_f64()
    }

    fn rate_ratio(&self) -> f64 {
        self.rate / self.baseline_rate
    }
}

/// 1,000 jobs waiting at once on a context with one core, behind a job that
/// holds it: once it is killed, how long the queue takes to drain, per job,
/// from the first one's start to the last one's end (the database's own
/// times); that none is lost; and that they ran in the order submitted.
async fn queue_on_one_core(api: &Api, database: &str) {
    assert_eq!(
        api.post("/contexts/onecore?num-cpu-cores=1&max-queued-jobs=2000", "")
            .await
            .status,
        200
    );
    let one = "appName=bench&classPath=noop&context=onecore&sync=true";
    for _ in 0..WARM_UP {
        run_noop(api, one).await;
    }
    let blocker = api
        .submit("appName=bench&classPath=sleep&context=onecore", "ms = 600000")
        .await;
    assert_eq!(blocker.status, 202, "{blocker:?}");
    let blocker = blocker.body["jobId"].as_str().unwrap().to_string();
    api.wait_for_job(&blocker, Duration::from_secs(60), |report| {
        report["status"] == "RUNNING"
    })
    .await;
    let mut ids = Vec::with_capacity(QUEUED);
    for _ in 0..QUEUED {
        let reply = api.submit("appName=bench&classPath=noop&context=onecore", "").await;
        assert_eq!(reply.status, 202, "{reply:?}");
        ids.push(uuid::Uuid::parse_str(reply.body["jobId"].as_str().unwrap()).unwrap());
    }
    assert_eq!(api.delete(&format!("/jobs/{blocker}")).await.status, 200);
    let last = ids.last().unwrap().to_string();
    let report = api.wait_until_ended(&last, Duration::from_secs(600)).await;
    assert_eq!(report["status"], "FINISHED");
    let pool = sqlx::PgPool::connect(database).await.unwrap();
    type Time = Option<chrono::DateTime<chrono::Utc>>;
    let rows: Vec<(uuid::Uuid, String, Time, Time)> =
        sqlx::query_as("SELECT id, status, started_at, ended_at FROM jobs WHERE id = ANY($1) ORDER BY started_at, seq")
            .bind(&ids)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), QUEUED);
    assert!(
        rows.iter().all(|(_, status, _, _)| status == "FINISHED"),
        "a queued job did not finish"
    );
    let order: Vec<uuid::Uuid> = rows.iter().map(|(id, ..)| *id).collect();
    assert_eq!(
        order, ids,
        "the queued jobs did not start in the order they were submitted"
    );
    let first_start = rows.iter().filter_map(|(_, _, started, _)| *started).min().unwrap();
    let last_end = rows.iter().filter_map(|(_, _, _, ended)| *ended).max().unwrap();
    let drained = (last_end - first_start).to_std().unwrap_or_default();
    println!(
        "  {QUEUED} jobs waiting on a one-core context, drained in {:.2} s once it came free: {:.0} µs per job, each job's own run included, all finished, in the order submitted",
        drained.as_secs_f64(),
        micros(drained / QUEUED as u32),
    );
}

/// The server's memory idle, and what 1,000 contexts that have each run a
/// job (so the server holds them open) add.
async fn memory(server: &TestServer, api: &Api, idle_rss: u64) {
    let before = rss_kib(server.pid());
    for n in 0..CONTEXTS {
        assert_eq!(api.post(&format!("/contexts/many{n}"), "").await.status, 200);
        run_noop(api, &format!("appName=bench&classPath=noop&context=many{n}&sync=true")).await;
    }
    let after = rss_kib(server.pid());
    println!(
        "  memory: {:.1} MB resident when idle after start; {CONTEXTS} contexts, each with a job run, add {:.1} KB each",
        idle_rss as f64 / 1024.0,
        after.saturating_sub(before) as f64 / CONTEXTS as f64,
    );
}

/// `GET /jobs?limit=50`, plain and by status, with a million job rows.
async fn listing(api: &Api, database: &str) {
    let pool = sqlx::PgPool::connect(database).await.unwrap();
    sqlx::query(
        "INSERT INTO jobs (id, app_name, app_version, blob_hash, class_path, context, adhoc, config, status,
                           submitted_at, started_at, ended_at, timeout_ms, memory_limit, queue)
         SELECT gen_random_uuid(), 'bench', 1, 'x', 'noop', 'bench', false, '{}',
                (ARRAY['FINISHED', 'ERROR', 'KILLED'])[1 + n % 3], now() - n * interval '1 second',
                now() - n * interval '1 second', now() - n * interval '1 second', 1000, 1000, 'bench'
         FROM generate_series(1, $1) AS n",
    )
    .bind(JOB_ROWS as i64)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE jobs").execute(&pool).await.unwrap();
    for path in [
        "/jobs?limit=50",
        "/jobs?limit=50&status=KILLED",
        "/jobs?limit=50&status=RUNNING",
    ] {
        let mut latencies = Vec::new();
        for _ in 0..200 {
            let started = Instant::now();
            assert_eq!(api.get(path).await.status, 200);
            latencies.push(started.elapsed());
        }
        latencies.sort();
        println!(
            "  GET {path} with {JOB_ROWS} job rows: p50 {:.2} ms, p99 {:.2} ms",
            millis(percentile(&latencies, 50)),
            millis(percentile(&latencies, 99))
        );
    }
}

/// pgbench on the benchmark's own database, doing what a job needs written at
/// the least: its row inserted, then its end recorded, each a commit, into a
/// table like `jobs` (same columns and indexes).
struct Pgbench {
    binary: PathBuf,
    database: String,
    script: tempfile::NamedTempFile,
}

impl Pgbench {
    fn new(database: &str) -> Pgbench {
        let binary = find_pgbench();
        let script = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            script.path(),
            "INSERT INTO bench_jobs (id, app_name, app_version, blob_hash, class_path, context, adhoc, config, status, \
             submitted_at, started_at, timeout_ms, memory_limit, queue) VALUES (gen_random_uuid(), 'bench', 1, 'x', \
             'noop', 'bench', false, '{}', 'RUNNING', now(), now(), 1000, 1000, 'bench') RETURNING id \\gset\n\
             UPDATE bench_jobs SET status = 'FINISHED', ended_at = now(), result = '{}' WHERE id = ':id';\n",
        )
        .unwrap();
        let pgbench = Pgbench {
            binary,
            database: database.to_string(),
            script,
        };
        pgbench.psql("CREATE TABLE bench_jobs (LIKE jobs INCLUDING ALL)");
        pgbench
    }

    fn psql(&self, sql: &str) {
        let psql = self.binary.with_file_name("psql");
        let status = Command::new(psql)
            .args(["-q", "-c", sql, &self.database])
            .status()
            .unwrap();
        assert!(status.success(), "psql {sql}");
    }

    /// Median latency of the two writes at one client, from pgbench's
    /// per-transaction log.
    fn latency_p50(&self) -> Duration {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("log");
        self.run(1, &["-l", "--log-prefix", prefix.to_str().unwrap()]);
        let mut latencies: Vec<Duration> = std::fs::read_dir(dir.path())
            .unwrap()
            .flat_map(|entry| {
                std::fs::read_to_string(entry.unwrap().path())
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter_map(|line| line.split_whitespace().nth(2)?.parse::<u64>().ok())
            .map(Duration::from_micros)
            .collect();
        latencies.sort();
        percentile(&latencies, 50)
    }

    /// Transactions (jobs) per second at `clients`.
    fn rate(&self, clients: usize) -> f64 {
        let output = self.run(clients, &[]);
        output
            .lines()
            .find_map(|line| line.strip_prefix("tps = ")?.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no tps in pgbench's output:\n{output}"))
    }

    fn run(&self, clients: usize, extra: &[&str]) -> String {
        let output = Command::new(&self.binary)
            .args(["-n", "-f"])
            .arg(self.script.path())
            .args(["-c", &clients.to_string(), "-j", &clients.min(2).to_string()])
            .args(["-T", &PGBENCH_SECONDS.to_string()])
            .args(extra)
            .arg(&self.database)
            .output()
            .expect("cannot run pgbench");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "pgbench failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }
}

/// pgbench beside the PostgreSQL binaries the harness uses.
fn find_pgbench() -> PathBuf {
    if let Some(dir) = std::env::var_os("JOBSERVER_PG_BIN") {
        return PathBuf::from(dir).join("pgbench");
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin/pgbench"))
        .filter(|path| path.is_file())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| PathBuf::from("pgbench"))
}

/// The resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| {
            line.strip_prefix("VmRSS:")?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap()
}

async fn run_noop(api: &Api, query: &str) {
    let reply = api.submit(query, "").await;
    assert_eq!(reply.body["status"], "FINISHED", "{reply:?}");
}

async fn sequential(api: &Api, query: &str) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let started = Instant::now();
        run_noop(api, query).await;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    latencies
}

/// Runs `total` calls of `call` from `CONCURRENCY` clients; calls per second.
async fn rate<F, Fut>(total: usize, call: F, api: &Api) -> f64
where
    F: Fn(Api) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let started = Instant::now();
    let clients: Vec<_> = (0..CONCURRENCY)
        .map(|client| {
            let (api, call) = (api.clone(), call.clone());
            let share = total / CONCURRENCY + usize::from(client < total % CONCURRENCY);
            tokio::spawn(async move {
                for _ in 0..share {
                    call(api.clone()).await;
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    sorted[(sorted.len() * percent / 100).min(sorted.len() - 1)]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000_000.0
}
