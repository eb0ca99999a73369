//! Figures for a trivial job on a warm context with everything persisted: sync
//! latency (p50, p99), jobs per second under concurrency, and the same
//! server's `/healthz` rate in the same run, for scale. A program that prints
//! figures, not a timed test: `cargo bench -p jobserver-tests --bench jobs`.

use jobserver_tests::{Api, TestServer, components, fresh_database};
use std::time::{Duration, Instant};

const WARM_UP: usize = 50;
const SEQUENTIAL: usize = 500;
const CONCURRENCY: usize = 16;
const CONCURRENT_JOBS: usize = 2_000;
const HEALTH_REQUESTS: usize = 20_000;

#[tokio::main]
async fn main() {
    let server = TestServer::start(&fresh_database().await).await;
    let api = server.api();
    assert_eq!(api.upload("bench", &components().test_jobs).await.status, 201);
    let context = format!("/contexts/bench?num-cpu-cores={CONCURRENCY}&max-queued-jobs=1000");
    assert_eq!(api.post(&context, "").await.status, 200);
    let query = "appName=bench&classPath=noop&context=bench&sync=true";

    for _ in 0..WARM_UP {
        run_noop(&api, query).await;
    }
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let started = Instant::now();
        run_noop(&api, query).await;
        latencies.push(started.elapsed());
    }
    latencies.sort();

    let jobs_per_second = rate(
        CONCURRENT_JOBS,
        move |api| async move { run_noop(&api, query).await },
        &api,
    )
    .await;
    let health_per_second = rate(
        HEALTH_REQUESTS,
        |api| async move { assert_eq!(api.get("/healthz").await.status, 200) },
        &api,
    )
    .await;

    println!("jobserver benchmark: trivial job (test-jobs `noop`) on a warm context, results in Postgres");
    println!(
        "  sync latency, {SEQUENTIAL} sequential jobs: p50 {:.2} ms, p99 {:.2} ms",
        millis(percentile(&latencies, 50)),
        millis(percentile(&latencies, 99))
    );
    println!("  sync jobs/s, {CONCURRENCY} concurrent clients, {CONCURRENT_JOBS} jobs: {jobs_per_second:.0}");
    println!(
        "  /healthz requests/s, {CONCURRENCY} concurrent clients, {HEALTH_REQUESTS} requests: {health_per_second:.0}"
    );
}

async fn run_noop(api: &Api, query: &str) {
    let reply = api.submit(query, "").await;
    assert_eq!(reply.body["status"], "FINISHED", "{reply:?}");
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
