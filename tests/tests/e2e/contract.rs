//! The job contract across versions: components built with an SDK of an
//! earlier contract keep uploading and running, and the current contract's
//! additions (job info, error classes) reach the job and the report.

use super::{WAIT, server_with_jobs, start_job, status};
use jobserver_tests::field_of_each;
use std::path::Path;

/// `examples/word-cache` as SDK 0.1 built it (see tests/fixtures/README.md).
fn word_cache_built_with_sdk_0_1() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/word-cache-sdk-0.1.0.wasm");
    std::fs::read(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

#[tokio::test]
async fn a_component_built_against_contract_0_1_uploads_and_runs() {
    let server = server_with_jobs().await;
    let api = server.api();
    let reply = api.upload("oldcache", &word_cache_built_with_sdk_0_1()).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let app = api.get("/binaries/oldcache").await.body;
    assert_eq!(
        field_of_each(&app["versions"][0]["entries"], "name"),
        ["store", "lookup", "clear"],
        "{app}"
    );
    assert_eq!(api.post("/contexts/old", "").await.status, 200);

    // Its validate still reports problems by path.
    let refused = api.submit("appName=oldcache&classPath=store&context=old", "{}").await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.body["status"], "VALIDATION FAILED", "{refused:?}");

    // Its run's error is a bare message: the report's class is JobError.
    let early = api
        .submit("appName=oldcache&classPath=lookup&context=old&sync=true", "word = a")
        .await;
    assert_eq!(early.body["status"], "ERROR", "{early:?}");
    assert_eq!(early.body["result"]["errorClass"], "JobError", "{early:?}");
    assert!(early.message().contains("run the store entry first"), "{early:?}");

    // Named objects through the 0.1 imports.
    let stored = api
        .submit(
            "appName=oldcache&classPath=store&context=old&sync=true",
            "input.string = \"a b a\"",
        )
        .await;
    assert_eq!(stored.body["status"], "FINISHED", "{stored:?}");
    assert_eq!(stored.body["result"], serde_json::json!({"a": 2, "b": 1}));
    let found = api
        .submit("appName=oldcache&classPath=lookup&context=old&sync=true", "word = a")
        .await;
    assert_eq!(
        found.body["result"],
        serde_json::json!({"word": "a", "count": 2}),
        "{found:?}"
    );
    let logs = api
        .get(&format!("/jobs/{}/logs", found.body["jobId"].as_str().unwrap()))
        .await;
    assert_eq!(logs.status, 200, "{logs:?}");
}

#[tokio::test]
async fn a_job_learns_which_job_it_is_in_validate_and_in_run() {
    let server = server_with_jobs().await;
    let api = server.api();
    assert_eq!(api.post("/contexts/who", "").await.status, 200);
    let id = start_job(
        &api,
        "appName=testjobs&classPath=whoami&context=who",
        "expect-app = testjobs",
    )
    .await;
    let report = api.wait_until_ended(&id, WAIT).await;
    assert_eq!(status(&report), "FINISHED", "{report}");
    let info = &report["result"];
    assert_eq!(info["id"], id.as_str());
    assert_eq!(info["app"], "testjobs");
    assert_eq!(info["version"], 1);
    assert_eq!(info["entry"], "whoami");
    assert_eq!(info["context"], "who");
    assert_eq!(info["adhoc"], false);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let told = info["submittedAt"].as_i64().unwrap();
    assert!((now - 600_000..=now).contains(&told), "submitted at {told}, now {now}");

    let adhoc = api.submit("appName=testjobs&classPath=whoami&sync=true", "").await;
    assert_eq!(adhoc.body["result"]["adhoc"], true, "{adhoc:?}");
    assert_eq!(adhoc.body["result"]["context"], adhoc.body["context"], "{adhoc:?}");

    // validate sees the job too, and may refuse by it.
    let refused = api
        .submit("appName=testjobs&classPath=whoami&context=who", "expect-app = other")
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(refused.body.to_string().contains("this is app testjobs"), "{refused:?}");
}
