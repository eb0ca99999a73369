//! The database going away and coming back: requests get a 503 that says so
//! rather than hanging or failing with a 500, running jobs go on and record
//! their ends once it is back, and the server recovers by itself.

use super::*;
use jobserver_tests::DatabaseLink;
use serde_json::json;

#[tokio::test]
async fn while_the_database_is_away_requests_get_503_and_running_jobs_record_their_end_when_it_is_back() {
    let link = DatabaseLink::to(&fresh_database().await).await;
    let server = TestServer::start(link.url()).await;
    let api = server.api();
    upload_examples(&api).await;
    assert_eq!(api.post("/contexts/ctx", "").await.status, 200);
    let job = start_job(&api, "appName=testjobs&classPath=sleep&context=ctx", "ms = 3000").await;
    api.wait_for_job(&job, WAIT, |report| report["status"] == "RUNNING")
        .await;

    link.cut();
    // A hang would show as the client's timeout; the server answers well inside it.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    for (method, path) in [
        ("GET", format!("/jobs/{job}")),
        ("GET", "/jobs".to_string()),
        ("GET", "/contexts".to_string()),
        ("GET", "/servers".to_string()),
        ("POST", "/jobs?appName=testjobs&classPath=noop&context=ctx".to_string()),
    ] {
        let request = match method {
            "GET" => client.get(api.url(&path)),
            _ => client.post(api.url(&path)).body(""),
        };
        let response = request.send().await.expect("an answer, not a hang");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 503, "{method} {path}: {body}");
        assert!(
            body["result"]
                .as_str()
                .unwrap_or_default()
                .contains("database is unavailable"),
            "{method} {path}: {body}"
        );
    }
    let health = client.get(api.url("/healthz")).send().await.expect("an answer");
    assert_eq!(health.status().as_u16(), 503);
    // The job ends while the database is away...
    tokio::time::sleep(Duration::from_secs(4)).await;
    link.restore().await;
    // ...and its end is recorded once it is back.
    let report = api.wait_until_ended(&job, WAIT).await;
    assert_eq!(report["status"], "FINISHED", "{report}");
    assert_eq!(api.get("/healthz").await.status, 200);
    let reply = api
        .submit("appName=wordcount&context=ctx&sync=true", "input.string = back again")
        .await;
    assert_eq!(reply.body["result"], json!({"back": 1, "again": 1}), "{reply:?}");
    assert!(!server.log().contains("panicked"), "{}", server.log());
}
