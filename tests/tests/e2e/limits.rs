//! Guest code under its limits: time, memory, and kills.

use super::*;

#[tokio::test]
async fn an_endless_loop_is_stopped_by_its_timeout() {
    let server = server_with_jobs().await;
    let api = server.api();
    let created = api.post("/contexts/short?job-timeout=2s", "").await;
    assert_eq!(created.status, 200, "{created:?}");
    let reply = api
        .submit("appName=testjobs&classPath=spin&context=short&sync=true", "")
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["status"], "ERROR");
    assert_eq!(reply.body["result"]["errorClass"], "Timeout");
    assert!(reply.message().contains("longer than its limit of 2s"), "{reply:?}");
    // The context's slot is free again.
    let next = api
        .submit("appName=testjobs&classPath=noop&context=short&sync=true", "")
        .await;
    assert_eq!(next.body["status"], "FINISHED", "{next:?}");
}

#[tokio::test]
async fn an_endless_loop_is_stopped_by_delete() {
    let server = server_with_jobs().await;
    let api = server.api();
    let id = start_job(&api, "appName=testjobs&classPath=spin", "").await;
    api.wait_for_job(&id, WAIT, |report| report["status"] == "RUNNING")
        .await;
    let killed = api.delete(&format!("/jobs/{id}")).await;
    assert_eq!(killed.status, 200, "{killed:?}");
    assert_eq!(
        killed.body["status"], "KILLED",
        "DELETE answers once the job has ended: {killed:?}"
    );
    assert_eq!(killed.body["result"]["errorClass"], "Killed");
    let report = api.get(&format!("/jobs/{id}")).await;
    assert_eq!(report.body["status"], "KILLED");
}

#[tokio::test]
async fn a_sleeping_job_is_killed_too() {
    let server = server_with_jobs().await;
    let api = server.api();
    let id = start_job(&api, "appName=testjobs&classPath=sleep", "ms = 600000").await;
    api.wait_for_job(&id, WAIT, |report| report["status"] == "RUNNING")
        .await;
    let killed = api.delete(&format!("/jobs/{id}")).await;
    assert_eq!(killed.body["status"], "KILLED", "{killed:?}");
}

#[tokio::test]
async fn a_job_that_allocates_without_bound_ends_error_and_the_server_keeps_serving() {
    let server = server_with_jobs().await;
    let api = server.api();
    let created = api.post("/contexts/small?memory-per-node=64m", "").await;
    assert_eq!(created.status, 200, "{created:?}");
    let reply = api
        .submit("appName=testjobs&classPath=alloc&context=small&sync=true", "")
        .await;
    assert_eq!(reply.body["status"], "ERROR", "{reply:?}");
    assert_eq!(reply.body["result"]["errorClass"], "MemoryLimitExceeded");
    assert!(reply.message().contains(&(64u64 << 20).to_string()), "{reply:?}");

    // Ad-hoc jobs have the server's default limit.
    let reply = api.submit("appName=testjobs&classPath=alloc&sync=true", "").await;
    assert_eq!(reply.body["result"]["errorClass"], "MemoryLimitExceeded", "{reply:?}");

    assert_eq!(api.get("/healthz").await.status, 200);
    let after = api
        .submit("appName=wordcount&context=small&sync=true", "input.string = still here")
        .await;
    assert_eq!(after.body["status"], "FINISHED", "{after:?}");
}
