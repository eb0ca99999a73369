//! End-to-end tests: the real server binary over real HTTP, against a real
//! PostgreSQL, running the example components built for wasm32-wasip2. One
//! test binary, so that one PostgreSQL and one build of the components serve
//! every test.

mod artifacts;
mod cassandra_connector;
mod cassandra_jobs;
mod cli;
mod cluster;
mod clusters;
mod contexts;
mod contract;
mod jobs;
mod kafka_connector;
mod kafka_jobs;
mod limits;
mod native_sdk;
mod outage;
mod restart;
mod systems;

use jobserver_tests::{Api, Reply, TestServer, components, field_of_each, fresh_database};
use serde_json::Value;
use std::time::Duration;

/// Generous: CI machines are slow, and nothing here asserts on time.
pub const WAIT: Duration = Duration::from_secs(60);

/// A server on a fresh database with the example components uploaded as
/// `wordcount`, `wordcache` and `testjobs`.
pub async fn server_with_jobs() -> TestServer {
    let server = TestServer::start(&fresh_database().await).await;
    upload_examples(&server.api()).await;
    server
}

pub async fn upload_examples(api: &Api) {
    let components = components();
    for (app, bytes) in [
        ("wordcount", &components.word_count),
        ("wordcache", &components.word_cache),
        ("testjobs", &components.test_jobs),
    ] {
        let reply = api.upload(app, bytes).await;
        assert_eq!(reply.status, 201, "uploading {app}: {reply:?}");
    }
}

/// Waits for a job that ran on a server that died to end ERROR, with a
/// message naming the server.
pub async fn assert_ended_by_a_stopped_server(api: &Api, job: &str, server: &str) {
    let report = api.wait_until_ended(job, WAIT).await;
    assert_eq!(report["status"], "ERROR", "{report}");
    assert_eq!(report["result"]["errorClass"], "ServerStopped");
    let message = report["result"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("server {server} stopped")), "{report}");
}

/// Submits asynchronously and returns the job id.
pub async fn start_job(api: &Api, query: &str, config: &str) -> String {
    let reply = api.submit(query, config).await;
    assert_eq!(reply.status, 202, "{reply:?}");
    job_id(&reply)
}

pub fn job_id(reply: &Reply) -> String {
    reply.body["jobId"]
        .as_str()
        .unwrap_or_else(|| panic!("no jobId in {reply:?}"))
        .to_string()
}

pub fn status(report: &Value) -> &str {
    report["status"].as_str().unwrap_or_default()
}
