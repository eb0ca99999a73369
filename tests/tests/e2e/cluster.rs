//! Several servers on one database act as one: what one is given, all see;
//! a context's slots and queue hold across them; kills, deletions and sync
//! waits reach whichever server runs the job; a server that stops or dies
//! leaves nothing running and touches no other server's jobs.

use super::*;
use jobserver_tests::{DatabaseLink, ServerOptions};
use serde_json::json;

/// A server named `name` on `database`, with a short lease so that a dead
/// one is noticed within seconds.
async fn member(database: &str, name: &str) -> TestServer {
    TestServer::start_with(
        ServerOptions::with_database(database)
            .env("JOBSERVER_SERVER_NAME", name)
            .env("JOBSERVER_SERVER_LEASE", "5s"),
    )
    .await
}

/// Two servers, `a` and `b`, on one fresh database, with the examples uploaded on `a`.
async fn two_servers() -> (TestServer, TestServer) {
    let database = fresh_database().await;
    let a = member(&database, "a").await;
    upload_examples(&a.api()).await;
    let b = member(&database, "b").await;
    (a, b)
}

#[tokio::test]
async fn what_one_server_is_given_every_server_sees_and_runs() {
    let (a, b) = two_servers().await;
    let (on_a, on_b) = (a.api(), b.api());
    assert_eq!(on_b.get("/binaries").await.body, on_a.get("/binaries").await.body);
    assert_eq!(
        on_a.post("/contexts/shared?num-cpu-cores=2&memory-per-node=64m", "")
            .await
            .status,
        200
    );
    assert_eq!(on_b.get("/contexts").await.body, json!(["shared"]));
    let settings = on_b.get("/contexts/shared").await.body["settings"].clone();
    assert_eq!(settings, on_a.get("/contexts/shared").await.body["settings"]);
    assert_eq!(settings["memory-per-node"], "64m");

    let reply = on_b
        .submit(
            "appName=wordcount&context=shared&sync=true",
            "input.string = one two one",
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["result"], json!({"one": 2, "two": 1}));
    assert_eq!(reply.body["server"], "b", "the report names the server that ran it");
    let id = job_id(&reply);
    assert_eq!(
        on_a.get(&format!("/jobs/{id}")).await.body,
        on_b.get(&format!("/jobs/{id}")).await.body
    );
    assert_eq!(
        field_of_each(&on_a.get("/jobs").await.body, "jobId"),
        std::slice::from_ref(&id)
    );

    let servers = on_a.get("/servers").await;
    assert_eq!(servers.status, 200, "{servers:?}");
    assert_eq!(field_of_each(&servers.body, "name"), ["a", "b"]);
    assert_eq!(field_of_each(&servers.body, "thisServer"), ["true", "false"]);
    assert!(
        servers.body[0]["address"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
}

/// Each server remembers the versions it ran; an upload or a deletion on
/// another server is still what the next job on this one runs, or finds gone.
#[tokio::test]
async fn a_version_uploaded_or_an_app_deleted_on_one_server_is_what_the_next_job_on_another_finds() {
    let (a, b) = two_servers().await;
    let (on_a, on_b) = (a.api(), b.api());
    let version_run = |reply: &Reply| reply.body["result"]["version"].clone();
    let whoami = "appName=testjobs&classPath=whoami&sync=true";
    let reply = on_b.submit(whoami, "").await;
    assert_eq!(version_run(&reply), 1, "{reply:?}");
    assert_eq!(on_a.upload("testjobs", &components().test_jobs).await.status, 201);
    let reply = on_b.submit(whoami, "").await;
    assert_eq!(version_run(&reply), 2, "the newest, uploaded on a: {reply:?}");
    let pinned = on_b.submit(&format!("{whoami}&appVersion=1"), "").await;
    assert_eq!(version_run(&pinned), 1, "{pinned:?}");

    assert_eq!(on_a.delete("/binaries/testjobs").await.status, 200);
    let reply = on_b.submit(whoami, "").await;
    assert_eq!(reply.status, 404, "{reply:?}");
    assert_eq!(reply.body["result"], "no app named 'testjobs'");
    assert_eq!(on_a.upload("testjobs", &components().test_jobs).await.status, 201);
    let pinned = on_b.submit(&format!("{whoami}&appVersion=1"), "").await;
    assert_eq!(pinned.status, 404, "version 1 went with the app: {pinned:?}");
    let reply = on_b.submit(whoami, "").await;
    assert_eq!(version_run(&reply), 3, "numbers go on after a deletion: {reply:?}");
    // A version with other entries: b, which knows version 3, finds the new entry.
    assert_eq!(on_a.upload("testjobs", &components().word_count).await.status, 201);
    let reply = on_b
        .submit("appName=testjobs&classPath=wordcount&sync=true", "input.string = a b a")
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["result"], json!({"a": 2, "b": 1}));
}

#[tokio::test]
async fn a_contexts_cores_and_queue_hold_across_servers_and_kills_reach_any_server() {
    let (a, b) = two_servers().await;
    let (on_a, on_b) = (a.api(), b.api());
    assert_eq!(
        on_a.post("/contexts/one?num-cpu-cores=1&max-queued-jobs=1", "")
            .await
            .status,
        200
    );
    let spinning = start_job(&on_a, "appName=testjobs&classPath=spin&context=one", "").await;
    on_a.wait_for_job(&spinning, WAIT, |report| report["status"] == "RUNNING")
        .await;
    // The one core is taken on a: b queues the next job, and refuses the one after.
    let waiting = start_job(&on_b, "appName=testjobs&classPath=noop&context=one", "").await;
    assert_eq!(on_b.get(&format!("/jobs/{waiting}")).await.body["status"], "STARTED");
    let refused = on_b.submit("appName=testjobs&classPath=noop&context=one", "").await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.body["status"], "NO SLOTS AVAILABLE");
    assert_eq!(on_a.get("/contexts/one").await.body["queuedJobs"], json!([waiting]));

    // b kills a's job: it ends KILLED at once, and the waiting job runs.
    let killed = on_b.delete(&format!("/jobs/{spinning}")).await;
    assert_eq!(killed.status, 200, "{killed:?}");
    assert_eq!(killed.body["status"], "KILLED", "{killed:?}");
    assert_eq!(killed.body["server"], "a");
    let report = on_a.wait_until_ended(&waiting, WAIT).await;
    assert_eq!(report["status"], "FINISHED", "{report}");
}

#[tokio::test]
async fn a_sync_caller_gets_the_result_of_a_job_another_server_ran() {
    let (a, b) = two_servers().await;
    let (on_a, on_b) = (a.api(), b.api());
    assert_eq!(on_a.post("/contexts/one?num-cpu-cores=1", "").await.status, 200);
    let spinning = start_job(&on_a, "appName=testjobs&classPath=spin&context=one", "").await;
    on_a.wait_for_job(&spinning, WAIT, |report| report["status"] == "RUNNING")
        .await;
    let sync = {
        let on_b = on_b.clone();
        tokio::spawn(async move {
            on_b.submit(
                "appName=wordcount&context=one&sync=true&timeout=60s",
                "input.string = x",
            )
            .await
        })
    };
    // Wait for b's job to be queued, then free the slot on a: a hands it the
    // slot and runs it, and b answers with its result.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(on_a.delete(&format!("/jobs/{spinning}")).await.status, 200);
    let reply = sync.await.unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["result"], json!({"x": 1}));
    assert_eq!(reply.body["server"], "a", "{reply:?}");
}

#[tokio::test]
async fn deleting_a_context_on_one_server_stops_its_jobs_on_every_server() {
    let (a, b) = two_servers().await;
    let (on_a, on_b) = (a.api(), b.api());
    assert_eq!(on_a.post("/contexts/doomed?num-cpu-cores=2", "").await.status, 200);
    let on_a_job = start_job(&on_a, "appName=testjobs&classPath=spin&context=doomed", "").await;
    let on_b_job = start_job(&on_b, "appName=testjobs&classPath=spin&context=doomed", "").await;
    let queued = start_job(&on_b, "appName=testjobs&classPath=noop&context=doomed", "").await;
    for id in [&on_a_job, &on_b_job] {
        on_a.wait_for_job(id, WAIT, |report| report["status"] == "RUNNING")
            .await;
    }
    assert_eq!(on_b.delete("/contexts/doomed").await.status, 200);
    for id in [&on_a_job, &on_b_job, &queued] {
        let report = on_a.get(&format!("/jobs/{id}")).await.body;
        assert_eq!(report["status"], "KILLED", "{report}");
        assert!(
            report["result"]["message"]
                .as_str()
                .unwrap()
                .contains("'doomed' was deleted"),
            "{report}"
        );
    }
    assert_eq!(on_a.get("/contexts").await.body, json!([]));
    assert_eq!(on_a.get("/contexts/doomed").await.status, 404);
    // A context of the same name is a new one, on every server.
    assert_eq!(on_b.post("/contexts/doomed?num-cpu-cores=3", "").await.status, 200);
    assert_eq!(on_a.get("/contexts/doomed").await.body["settings"]["num-cpu-cores"], 3);
    let reply = on_a
        .submit("appName=testjobs&classPath=noop&context=doomed&sync=true", "")
        .await;
    assert_eq!(reply.body["status"], "FINISHED", "{reply:?}");
}

#[tokio::test]
async fn a_server_that_dies_has_its_jobs_ended_and_its_queue_run_by_the_others() {
    let (mut a, b) = two_servers().await;
    let (on_a, on_b) = (a.api(), b.api());
    assert_eq!(on_a.post("/contexts/one?num-cpu-cores=1", "").await.status, 200);
    let running = start_job(&on_a, "appName=testjobs&classPath=spin&context=one", "").await;
    on_a.wait_for_job(&running, WAIT, |report| report["status"] == "RUNNING")
        .await;
    let waiting = start_job(&on_a, "appName=wordcount&context=one", "input.string = survived").await;
    // b started after a's job did, and left it alone.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(on_b.get(&format!("/jobs/{running}")).await.body["status"], "RUNNING");

    a.crash();
    assert_ended_by_a_stopped_server(&on_b, &running, "a").await;
    let report = on_b.wait_until_ended(&waiting, WAIT).await;
    assert_eq!(report["status"], "FINISHED", "{report}");
    assert_eq!(report["result"], json!({"survived": 1}));
    assert_eq!(report["server"], "b");
    assert_eq!(field_of_each(&on_b.get("/servers").await.body, "name"), ["b"]);
    assert_eq!(on_b.get("/jobs?status=RUNNING").await.body, json!([]));
}

#[tokio::test]
async fn a_server_that_stops_kills_only_its_own_jobs() {
    let (mut a, b) = two_servers().await;
    let (on_a, on_b) = (a.api(), b.api());
    assert_eq!(on_a.post("/contexts/two?num-cpu-cores=2", "").await.status, 200);
    let on_a_job = start_job(&on_a, "appName=testjobs&classPath=spin&context=two", "").await;
    let on_b_job = start_job(&on_b, "appName=testjobs&classPath=spin&context=two", "").await;
    let queued = start_job(&on_a, "appName=testjobs&classPath=noop&context=two", "").await;
    for id in [&on_a_job, &on_b_job] {
        on_b.wait_for_job(id, WAIT, |report| report["status"] == "RUNNING")
            .await;
    }
    assert!(a.terminate().await.success(), "{}", a.log());
    let report = on_b.get(&format!("/jobs/{on_a_job}")).await.body;
    assert_eq!(report["status"], "KILLED", "{report}");
    assert_eq!(on_b.get(&format!("/jobs/{on_b_job}")).await.body["status"], "RUNNING");
    // The slot a freed goes to the job a queued, on b.
    let report = on_b.wait_until_ended(&queued, WAIT).await;
    assert_eq!(report["status"], "FINISHED", "{report}");
    assert_eq!(report["server"], "b");
    assert_eq!(field_of_each(&on_b.get("/servers").await.body, "name"), ["b"]);
    assert_eq!(on_b.delete(&format!("/jobs/{on_b_job}")).await.body["status"], "KILLED");
}

#[tokio::test]
async fn a_server_cut_off_from_the_database_stops_its_jobs_before_the_others_run_theirs() {
    let database = fresh_database().await;
    let link = DatabaseLink::to(&database).await;
    let a = member(link.url(), "a").await;
    upload_examples(&a.api()).await;
    let b = member(&database, "b").await;
    let (on_a, on_b) = (a.api(), b.api());
    assert_eq!(on_a.post("/contexts/one?num-cpu-cores=1", "").await.status, 200);
    let cut_off = start_job(&on_a, "appName=testjobs&classPath=spin&context=one", "").await;
    on_a.wait_for_job(&cut_off, WAIT, |report| report["status"] == "RUNNING")
        .await;

    link.cut();
    // b takes a for dead once its lease expired; a stopped the job before.
    assert_ended_by_a_stopped_server(&on_b, &cut_off, "a").await;
    assert!(
        a.log()
            .contains("stopping its running jobs, as the other servers may take it for dead"),
        "{}",
        a.log()
    );
    let on_b_now = start_job(&on_b, "appName=testjobs&classPath=spin&context=one", "").await;
    on_b.wait_for_job(&on_b_now, WAIT, |report| report["status"] == "RUNNING")
        .await;

    // Back in touch, a joins again and works as before.
    link.restore().await;
    let started = std::time::Instant::now();
    while field_of_each(&on_b.get("/servers").await.body, "name").len() != 2 {
        assert!(started.elapsed() < WAIT, "a never joined again:\n{}", a.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(on_a.delete(&format!("/jobs/{on_b_now}")).await.body["status"], "KILLED");
    let reply = on_a
        .submit("appName=testjobs&classPath=noop&context=one&sync=true", "")
        .await;
    assert_eq!(reply.body["status"], "FINISHED", "{reply:?}");
    assert_eq!(reply.body["server"], "a");
}

#[tokio::test]
async fn after_an_outage_longer_than_a_lease_no_server_takes_another_for_dead() {
    let database = fresh_database().await;
    let link = DatabaseLink::to(&database).await;
    let server = |name: &'static str| {
        TestServer::start_with(
            ServerOptions::with_database(link.url())
                .env("JOBSERVER_SERVER_NAME", name)
                .env("JOBSERVER_SERVER_LEASE", "2s"),
        )
    };
    let (a, b) = (server("a").await, server("b").await);
    // Both connected for a whole lease, so both would reap.
    tokio::time::sleep(Duration::from_secs(3)).await;
    link.cut();
    tokio::time::sleep(Duration::from_secs(7)).await;
    link.restore().await;
    let started = std::time::Instant::now();
    while a.api().get("/healthz").await.status != 200 || b.api().get("/healthz").await.status != 200 {
        assert!(started.elapsed() < WAIT, "the servers did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A whole lease after both are back, neither has reaped the other.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for server in [&a, &b] {
        let log = server.log();
        assert!(!log.contains("servers stopped renewing their leases"), "{log}");
        assert!(!log.contains("other servers ended its running jobs"), "{log}");
    }
    assert_eq!(field_of_each(&a.api().get("/servers").await.body, "name"), ["a", "b"]);
}

/// A server keeps the slot its sync jobs ran in for the next ones: a job
/// that waits for it on another server gets it, even while sync jobs keep
/// coming, and deleting the context there lets it go.
#[tokio::test]
async fn a_slot_kept_for_sync_jobs_on_one_server_goes_to_jobs_waiting_on_another() {
    let (a, b) = two_servers().await;
    let (on_a, on_b) = (a.api(), b.api());
    assert_eq!(
        on_a.post("/contexts/one?num-cpu-cores=1&max-queued-jobs=10", "")
            .await
            .status,
        200
    );
    let sync = "appName=testjobs&classPath=noop&context=one&sync=true";
    for _ in 0..5 {
        let reply = on_a.submit(sync, "").await;
        assert_eq!(reply.body["status"], "FINISHED", "{reply:?}");
        assert_eq!(reply.body["server"], "a");
    }
    let waiting = start_job(&on_b, "appName=testjobs&classPath=noop&context=one", "").await;
    let report = on_b.wait_until_ended(&waiting, WAIT).await;
    assert_eq!(report["status"], "FINISHED", "{report}");

    // Sync jobs on a, one after another, while b's jobs wait: none starves.
    let busy = {
        let on_a = on_a.clone();
        tokio::spawn(async move {
            for _ in 0..100 {
                let reply = on_a.submit(sync, "").await;
                assert_eq!(reply.body["status"], "FINISHED", "{reply:?}");
            }
        })
    };
    let mut waiting = Vec::new();
    for _ in 0..5 {
        waiting.push(start_job(&on_b, "appName=testjobs&classPath=noop&context=one", "").await);
    }
    for id in &waiting {
        let report = on_b.wait_until_ended(id, WAIT).await;
        assert_eq!(report["status"], "FINISHED", "{report}");
    }
    busy.await.unwrap();

    // Deleted and made again on b while a keeps its slot: a's next sync job
    // runs in the new context.
    assert_eq!(on_a.submit(sync, "").await.body["status"], "FINISHED");
    assert_eq!(on_b.delete("/contexts/one").await.status, 200);
    assert_eq!(on_b.post("/contexts/one?num-cpu-cores=1", "").await.status, 200);
    let reply = on_a.submit(sync, "").await;
    assert_eq!(reply.body["status"], "FINISHED", "{reply:?}");
    let report = on_b.get("/contexts/one").await;
    assert_eq!(report.body["runningJobs"], json!([]), "{report:?}");
}
