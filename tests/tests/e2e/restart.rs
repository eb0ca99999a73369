//! Stops and starts: contexts come back, results stay, nothing stays RUNNING,
//! waiting jobs run after the restart, and nothing compiles twice.

use super::*;
use jobserver_tests::ServerOptions;
use serde_json::json;

#[tokio::test]
async fn a_restart_brings_contexts_back_and_keeps_results() {
    let mut server = server_with_jobs().await;
    let api = server.api();
    assert_eq!(
        api.post(
            "/contexts/keep?num-cpu-cores=3&memory-per-node=128m&job-timeout=90s",
            ""
        )
        .await
        .status,
        200
    );
    let done = job_id(
        &api.submit("appName=wordcount&context=keep&sync=true", "input.string = a a")
            .await,
    );
    let status = server.terminate().await;
    assert!(
        status.success(),
        "SIGTERM ends the server cleanly: {status}\n{}",
        server.log()
    );

    server.restart().await;
    let api = server.api();
    assert_eq!(api.get("/contexts").await.body, json!(["keep"]));
    let shown = api.get("/contexts/keep").await;
    let settings = &shown.body["settings"];
    let limits: Vec<&Value> = ["num-cpu-cores", "memory-per-node", "job-timeout", "max-queued-jobs"]
        .iter()
        .map(|key| &settings[key])
        .collect();
    assert_eq!(
        limits,
        [&json!(3), &json!("128m"), &json!("90s"), &json!(100)],
        "{settings}"
    );
    let report = api.get(&format!("/jobs/{done}")).await;
    assert_eq!(report.body["result"], json!({"a": 2}));
    // The component compiled before the restart is loaded from the disk cache.
    let again = api
        .submit("appName=wordcount&context=keep&sync=true", "input.string = b")
        .await;
    assert_eq!(again.body["result"], json!({"b": 1}), "{again:?}");
    assert!(
        server.log().contains("loaded a compiled component from the disk cache"),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn a_crash_leaves_nothing_running_and_waiting_jobs_run_after_restart() {
    // A short lease: the server started again is another server to the
    // database, and ends the crashed one's jobs when its lease expires.
    let options = ServerOptions::with_database(&fresh_database().await)
        .env("JOBSERVER_SERVER_NAME", "crashing")
        .env("JOBSERVER_SERVER_LEASE", "5s");
    let mut server = TestServer::start_with(options).await;
    upload_examples(&server.api()).await;
    let api = server.api();
    assert_eq!(api.post("/contexts/solo?num-cpu-cores=1", "").await.status, 200);
    let running = start_job(&api, "appName=testjobs&classPath=spin&context=solo", "").await;
    let waiting = start_job(&api, "appName=wordcount&context=solo", "input.string = after crash").await;
    api.wait_for_job(&running, WAIT, |report| report["status"] == "RUNNING")
        .await;
    server.crash();

    server.restart().await;
    let api = server.api();
    assert_ended_by_a_stopped_server(&api, &running, "crashing").await;
    let report = api.wait_until_ended(&waiting, WAIT).await;
    assert_eq!(report["status"], "FINISHED", "{report}");
    assert_eq!(report["result"], json!({"after": 1, "crash": 1}));
    assert_eq!(api.get("/jobs?status=RUNNING").await.body, json!([]));
}

#[tokio::test]
async fn sigterm_kills_running_jobs_and_keeps_waiting_ones_for_the_next_start() {
    let mut server = server_with_jobs().await;
    let api = server.api();
    assert_eq!(api.post("/contexts/solo?num-cpu-cores=1", "").await.status, 200);
    let running = start_job(&api, "appName=testjobs&classPath=spin&context=solo", "").await;
    let waiting = start_job(&api, "appName=testjobs&classPath=noop&context=solo", "").await;
    api.wait_for_job(&running, WAIT, |report| report["status"] == "RUNNING")
        .await;
    // A sync caller waiting on the job gets its end, not a dropped connection.
    let sync_caller = {
        let api = api.clone();
        tokio::spawn(async move { api.submit("appName=testjobs&classPath=spin&sync=true", "").await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let status = server.terminate().await;
    assert!(status.success(), "{status}\n{}", server.log());
    let reply = sync_caller.await.unwrap();
    assert_eq!(reply.body["status"], "KILLED", "{reply:?}");

    server.restart().await;
    let api = server.api();
    let report = api.get(&format!("/jobs/{running}")).await;
    assert_eq!(report.body["status"], "KILLED", "{report:?}");
    assert!(report.message().contains("server shut down"), "{report:?}");
    let report = api.wait_until_ended(&waiting, WAIT).await;
    assert_eq!(report["status"], "FINISHED", "{report}");
}

#[tokio::test]
async fn local_mode_runs_its_own_postgres_and_keeps_data_across_restarts() {
    let mut server = TestServer::start_with(ServerOptions::default()).await;
    let api = server.api();
    assert_eq!(api.get("/healthz").await.status, 200);
    assert_eq!(api.upload("wordcount", &components().word_count).await.status, 201);
    let done = job_id(&api.submit("appName=wordcount&sync=true", "input.string = local").await);
    assert!(
        server.data_dir().join("postgres/PG_VERSION").exists(),
        "the cluster lives in the data dir"
    );
    assert!(server.terminate().await.success(), "{}", server.log());
    assert!(
        !server.data_dir().join("postgres/postmaster.pid").exists(),
        "PostgreSQL stopped with the server:\n{}",
        server.log()
    );

    server.restart().await;
    let report = server.api().get(&format!("/jobs/{done}")).await;
    assert_eq!(report.body["result"], json!({"local": 1}), "{report:?}");
}

#[tokio::test]
async fn ended_jobs_past_their_retention_are_purged_at_start() {
    let database = fresh_database().await;
    let mut server = TestServer::start(&database).await;
    upload_examples(&server.api()).await;
    let old = job_id(
        &server
            .api()
            .submit("appName=testjobs&classPath=noop&sync=true", "")
            .await,
    );
    assert!(server.terminate().await.success());
    drop(server);

    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let server =
        TestServer::start_with(ServerOptions::with_database(&database).env("JOBSERVER_JOB_RETENTION", "1s")).await;
    let api = server.api();
    assert_eq!(
        api.get(&format!("/jobs/{old}")).await.status,
        404,
        "the old job was purged"
    );
    assert_eq!(api.get("/binaries/testjobs").await.status, 200, "only jobs are purged");
    let fresh = job_id(&api.submit("appName=testjobs&classPath=noop&sync=true", "").await);
    assert_eq!(api.get(&format!("/jobs/{fresh}")).await.status, 200);
}

#[tokio::test]
async fn a_second_server_on_the_same_data_directory_refuses_to_start() {
    let server = TestServer::start_with(ServerOptions::default()).await;
    let output = tokio::process::Command::new(jobserver_tests::server_binary())
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env("JOBSERVER_DATA_DIR", server.data_dir())
        .env("JOBSERVER_LISTEN", "127.0.0.1:0")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("another jobserver (pid ") && stderr.contains("local mode is a single server"),
        "{stderr}"
    );
    assert_eq!(
        server.api().get("/healthz").await.status,
        200,
        "the first one serves on"
    );
}

/// The postmaster of local mode's cluster, from its pid file.
fn postmaster_pid(data_dir: &std::path::Path) -> i32 {
    let pid_file = std::fs::read_to_string(data_dir.join("postgres/postmaster.pid")).unwrap();
    pid_file.lines().next().unwrap().trim().parse().unwrap()
}

#[tokio::test]
async fn local_mode_starts_its_postgres_again_when_it_dies() {
    let server = TestServer::start_with(ServerOptions::default()).await;
    let api = server.api();
    assert_eq!(api.upload("wordcount", &components().word_count).await.status, 201);
    let first = postmaster_pid(server.data_dir());
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(first), nix::sys::signal::Signal::SIGKILL).unwrap();
    // Answers come back by themselves, from a new postmaster, with the data kept.
    let started = std::time::Instant::now();
    loop {
        let reply = api.submit("appName=wordcount&sync=true", "input.string = again").await;
        if reply.status == 200 {
            assert_eq!(reply.body["result"], json!({"again": 1}), "{reply:?}");
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the server did not recover: {reply:?}\n{}",
            server.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_ne!(postmaster_pid(server.data_dir()), first);
    assert!(
        server.log().contains("local PostgreSQL died; starting it again"),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn local_mode_exits_with_an_error_when_its_postgres_cannot_be_started_again() {
    let mut server = TestServer::start_with(ServerOptions::default()).await;
    let pid = postmaster_pid(server.data_dir());
    // Its cluster moved away under it, PostgreSQL cannot start there again.
    let cluster = server.data_dir().join("postgres");
    std::fs::rename(&cluster, server.data_dir().join("moved")).unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    let status = server.wait_for_exit(WAIT).await;
    assert!(!status.success(), "{status}\n{}", server.log());
    assert!(
        server.log().contains("could not be started again 3 times"),
        "{}",
        server.log()
    );
}
