//! Submitting jobs, following them, and every way a submission is refused.

use super::*;
use jobserver_tests::ServerOptions;
use serde_json::json;

#[tokio::test]
async fn wordcount_runs_sync_as_in_the_readme() {
    let server = server_with_jobs().await;
    let api = server.api();
    let reply = api
        .submit(
            "appName=wordcount&classPath=wordcount&sync=true",
            "input.string = a b c a b see",
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["status"], "FINISHED");
    assert_eq!(reply.body["result"], json!({"a": 2, "b": 2, "c": 1, "see": 1}));
    assert_eq!(reply.body["classPath"], "wordcount");
    assert_eq!(reply.body["appVersion"], 1);
    assert!(reply.body["duration"].as_str().unwrap().ends_with(" secs"), "{reply:?}");

    // classPath may be omitted when the component has one entry; JSON works as well as HOCON;
    // newer Spark Job Server clients' parameter names and letter case work too.
    let reply = api
        .submit(
            "cp=wordcount&mainClass=wordcount&sync=True",
            r#"{"input": {"string": "x y x"}}"#,
        )
        .await;
    assert_eq!(reply.body["result"], json!({"x": 2, "y": 1}), "{reply:?}");
}

#[tokio::test]
async fn async_jobs_answer_at_once_and_report_when_done() {
    let server = server_with_jobs().await;
    let api = server.api();
    let reply = api.submit("appName=wordcount", "input.string = \"x y x\"").await;
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.body["status"], "STARTED");
    let id = job_id(&reply);
    assert_eq!(
        reply.body["result"]["jobId"],
        id.as_str(),
        "older clients read the id from result"
    );
    assert!(
        reply.body["context"].as_str().unwrap().ends_with("-wordcount"),
        "{reply:?}"
    );

    let report = api.wait_until_ended(&id, WAIT).await;
    assert_eq!(report["status"], "FINISHED");
    assert_eq!(report["result"], json!({"x": 2, "y": 1}));
    assert!(report["startTime"].is_string() && report["endTime"].is_string());
    for field in ["jobId", "submitTime", "appName", "appVersion", "classPath", "context"] {
        assert_eq!(
            reply.body[field], report[field],
            "{field}: the answer says what was recorded"
        );
    }

    let config = api.get(&format!("/jobs/{id}/config")).await;
    assert_eq!(config.status, 200);
    assert_eq!(config.body, json!({"input": {"string": "x y x"}}));
    let logs = api.get(&format!("/jobs/{id}/logs")).await;
    let messages = field_of_each(&logs.body["logs"], "message");
    assert!(messages.iter().any(|m| m.contains("counted 3 words")), "{logs:?}");
}

#[tokio::test]
async fn bad_submissions_say_what_is_wrong_and_record_nothing() {
    let server = server_with_jobs().await;
    let api = server.api();
    let cases = [
        ("classPath=wordcount", "input.string = a", 400, "'appName' is required"),
        (
            "appName=wordcount&sync=maybe",
            "input.string = a",
            400,
            "query parameter 'sync'",
        ),
        (
            "appName=wordcount&contxt=x",
            "input.string = a",
            400,
            "unknown query parameter 'contxt'",
        ),
        (
            "appName=wordcount&sync=true&timeout=soon",
            "input.string = a",
            400,
            "query parameter 'timeout'",
        ),
        (
            "appName=wordcount",
            "input.string = \"unterminated",
            400,
            "line 1, column",
        ),
        ("appName=wordcount", "[1, 2]", 400, "must be an object"),
        ("appName=nope", "", 404, "no app named 'nope'"),
        ("appName=wordcount&appVersion=7", "", 404, "has no version 7"),
        ("appName=wordcount&appVersion=0", "", 400, "1 or more, not 0"),
        (
            "appName=wordcount&appVersion=latest",
            "",
            400,
            "'appVersion' must be a whole number, not 'latest'",
        ),
        (
            "cp=wordcount&appName=wordcount",
            "",
            400,
            "'appName' is given more than once",
        ),
        (
            "appName=wordcount&classPath=nope",
            "",
            404,
            "has no entry 'nope'; its entries are: wordcount",
        ),
        ("appName=testjobs", "", 400, "classPath is required"),
        (
            "appName=wordcount&context=nowhere",
            "input.string = a",
            404,
            "no context named 'nowhere'",
        ),
    ];
    for (query, config, code, expected) in cases {
        let reply = api.submit(query, config).await;
        assert_eq!(reply.status, code, "{query}: {reply:?}");
        assert!(
            reply.message().contains(expected),
            "{query}: {:?} lacks {expected:?}",
            reply.message()
        );
    }

    let reply = api.submit("appName=wordcount", "other = 1").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["status"], "VALIDATION FAILED");
    assert_eq!(reply.body["result"]["problems"][0]["path"], "input.string", "{reply:?}");
    let reply = api
        .submit("appName=testjobs&classPath=validate-strict", "count = 0")
        .await;
    assert_eq!(reply.body["status"], "VALIDATION FAILED");
    assert_eq!(
        reply.body["result"]["problems"].as_array().unwrap().len(),
        2,
        "{reply:?}"
    );

    assert_eq!(api.get("/jobs").await.body, json!([]), "no refused job was recorded");
}

#[tokio::test]
async fn failing_jobs_end_error_with_the_reason_and_the_server_carries_on() {
    let server = TestServer::start_with(
        ServerOptions::with_database(&fresh_database().await).env("JOBSERVER_RESULT_MAX_SIZE", "1k"),
    )
    .await;
    upload_examples(&server.api()).await;
    let api = server.api();
    let cases = [
        ("fail", "message = \"no input today\"", "JobError", "no input today"),
        ("fail", "message = \"no rows\", class = BadInput", "BadInput", "no rows"),
        // A class is a name: control characters go, and an empty one is JobError.
        ("fail", "message = x, class = \"Bad\\nInput\"", "BadInput", "x"),
        ("fail", "message = y, class = \"  \"", "JobError", "y"),
        ("panic", "message = kaboom", "Panic", "kaboom"),
        (
            "big-result",
            "size = 5000",
            "ResultTooLarge",
            "over the limit of 1024 bytes",
        ),
    ];
    for (entry, config, class, expected) in cases {
        let reply = api
            .submit(&format!("appName=testjobs&classPath={entry}&sync=true"), config)
            .await;
        assert_eq!(reply.status, 200, "{entry}: {reply:?}");
        assert_eq!(reply.body["status"], "ERROR", "{entry}: {reply:?}");
        assert_eq!(reply.body["result"]["errorClass"], class, "{entry}: {reply:?}");
        let message = reply.body["result"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{entry}: {message:?} lacks {expected:?}");
    }
    let fine = api
        .submit("appName=testjobs&classPath=big-result&sync=true", "size = 100")
        .await;
    assert_eq!(fine.body["status"], "FINISHED", "{fine:?}");
    assert_eq!(api.get("/healthz").await.status, 200);
}

/// PostgreSQL text cannot hold U+0000; a job that writes it must still end,
/// with what it wrote kept as closely as the store allows.
#[tokio::test]
async fn jobs_that_write_nul_characters_still_end_and_report_them() {
    let server = server_with_jobs().await;
    let api = server.api();
    let replaced = "bad\u{FFFD}thing";

    let reply = api
        .submit(
            "appName=testjobs&classPath=fail&sync=true",
            r#"{"message": "bad\u0000thing"}"#,
        )
        .await;
    assert_eq!(reply.body["status"], "ERROR", "{reply:?}");
    let id = job_id(&reply);
    let report = api.get(&format!("/jobs/{id}")).await.body;
    assert_eq!(report["status"], "ERROR", "{report}");
    assert_eq!(report["result"]["message"], replaced, "{report}");
    // A sync answer is built from what the server recorded, not read back:
    // it must be what the store keeps, to the character and the millisecond.
    assert_eq!(reply.body, report, "the sync answer is the stored report");

    // JSON keeps the escape: the config and a result come back as they were.
    let reply = api
        .submit(
            "appName=testjobs&classPath=echo&sync=true",
            r#"{"text": "bad\u0000thing"}"#,
        )
        .await;
    assert_eq!(reply.body["result"], json!({"text": "bad\u{0}thing"}), "{reply:?}");
    let report = api.get(&format!("/jobs/{}", job_id(&reply))).await.body;
    assert_eq!(reply.body, report, "the sync answer is the stored report");
    let config = api.get(&format!("/jobs/{}/config", job_id(&reply))).await.body;
    assert_eq!(config, json!({"text": "bad\u{0}thing"}));

    let reply = api
        .submit(
            "appName=testjobs&classPath=chatty&sync=true",
            r#"{"lines": 0, "note": "bad\u0000thing"}"#,
        )
        .await;
    assert_eq!(reply.body["status"], "FINISHED", "{reply:?}");
    let id = job_id(&reply);
    let report = api.get(&format!("/jobs/{id}")).await.body;
    assert_eq!(report["progress"]["message"], replaced, "{report}");
    assert_eq!(reply.body, report, "the sync answer is the stored report");
    let logs = api.get(&format!("/jobs/{id}/logs")).await;
    let messages = field_of_each(&logs.body["logs"], "message");
    assert!(messages.iter().any(|m| m == replaced), "{logs:?}");

    let reply = api
        .submit(
            "appName=testjobs&classPath=objects&sync=true",
            r#"{"op": "put", "name": "bad\u0000name", "value": 1}"#,
        )
        .await;
    assert_eq!(reply.body["status"], "ERROR", "{reply:?}");
    assert!(
        reply.message().contains("cannot contain the NUL character"),
        "{reply:?}"
    );
    let running = api.get("/jobs?status=RUNNING").await.body;
    assert_eq!(running, json!([]), "no job is left RUNNING");
}

#[tokio::test]
async fn a_sync_call_that_times_out_answers_with_the_job_and_the_job_goes_on() {
    let server = server_with_jobs().await;
    let api = server.api();
    let reply = api
        .submit("appName=testjobs&classPath=sleep&sync=true&timeout=1", "ms = 3000")
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.body["status"], "RUNNING");
    let id = job_id(&reply);
    let report = api.wait_until_ended(&id, WAIT).await;
    assert_eq!(report["status"], "FINISHED");
    assert_eq!(report["result"], json!({"slept_ms": 3000}));
}

/// A sync job with a slot free validates and runs in one instance; one whose
/// `validate` takes longer than the server holds a slot for is validated
/// again the ordinary way. Either way it runs once, and what `validate`
/// printed is not in the job's log.
#[tokio::test]
async fn a_sync_job_runs_once_whether_its_validate_is_quick_or_slow() {
    let server = server_with_jobs().await;
    let api = server.api();
    for validate_ms in [0, 1500] {
        let config = format!("ms = 1, validate_ms = {validate_ms}");
        let reply = api.submit("appName=testjobs&classPath=sleep&sync=true", &config).await;
        assert_eq!(reply.status, 200, "{validate_ms}: {reply:?}");
        assert_eq!(reply.body["result"], json!({"slept_ms": 1}), "{reply:?}");
        let logs = api.get(&format!("/jobs/{}/logs", job_id(&reply))).await;
        let messages = field_of_each(&logs.body["logs"], "message");
        assert!(
            !messages.iter().any(|m| m.contains("validating")),
            "{validate_ms}: validate's output was kept: {logs:?}"
        );

        let bad = format!("ms = soon, validate_ms = {validate_ms}");
        let reply = api.submit("appName=testjobs&classPath=sleep&sync=true", &bad).await;
        assert_eq!(reply.status, 400, "{validate_ms}: {reply:?}");
        assert_eq!(reply.body["status"], "VALIDATION FAILED", "{reply:?}");
        assert_eq!(reply.body["result"]["problems"][0]["path"], "ms", "{reply:?}");
    }
    let jobs = api.get("/jobs").await.body;
    assert_eq!(
        jobs.as_array().unwrap().len(),
        2,
        "one job per accepted submission: {jobs}"
    );
    let running = api.get("/jobs?status=RUNNING").await.body;
    assert_eq!(running, json!([]));
}

#[tokio::test]
async fn jobs_are_listed_newest_first_and_filtered_by_status() {
    let server = server_with_jobs().await;
    let api = server.api();
    let first = job_id(&api.submit("appName=testjobs&classPath=noop&sync=true", "").await);
    let second = job_id(&api.submit("appName=testjobs&classPath=noop&sync=true", "").await);
    let running = start_job(&api, "appName=testjobs&classPath=sleep", "ms = 30000").await;
    api.wait_for_job(&running, WAIT, |report| report["status"] == "RUNNING")
        .await;

    let listed = api.get("/jobs?limit=10").await;
    assert_eq!(
        field_of_each(&listed.body, "jobId"),
        [running.as_str(), second.as_str(), first.as_str()]
    );
    let limited = api.get("/jobs?limit=1").await;
    assert_eq!(limited.body.as_array().unwrap().len(), 1);
    let only_running = api.get("/jobs?status=RUNNING").await;
    assert_eq!(field_of_each(&only_running.body, "jobId"), [running.as_str()]);

    let bad = api.get("/jobs?status=DONE").await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.message()
            .contains("must be one of STARTED, RUNNING, FINISHED, ERROR, KILLED"),
        "{bad:?}"
    );
    assert_eq!(api.get("/jobs?limit=0").await.status, 400);
    assert_eq!(api.get("/jobs?limit=many").await.status, 400);
    api.delete(&format!("/jobs/{running}")).await;
}

#[tokio::test]
async fn reports_show_progress_and_logs_while_the_job_runs() {
    let server = server_with_jobs().await;
    let api = server.api();
    let id = start_job(&api, "appName=testjobs&classPath=chatty", "lines = 3, ms = 1500").await;
    let report = api
        .wait_for_job(&id, WAIT, |report| {
            report["progress"]["fraction"].as_f64() >= Some(0.25)
        })
        .await;
    assert_eq!(report["status"], "RUNNING", "{report}");
    assert!(report["progress"]["message"].is_string(), "{report}");
    let report = api.wait_until_ended(&id, WAIT).await;
    assert_eq!(report["progress"]["fraction"], 1.0);

    let logs = api.get(&format!("/jobs/{id}/logs")).await;
    let levels = field_of_each(&logs.body["logs"], "level");
    for level in ["INFO", "WARN", "STDOUT", "STDERR"] {
        assert!(levels.iter().any(|l| l == level), "no {level} line in {logs:?}");
    }
    assert_eq!(levels.iter().filter(|level| **level == "INFO").count(), 3, "{logs:?}");
}

#[tokio::test]
async fn job_ids_are_checked() {
    let server = server_with_jobs().await;
    let api = server.api();
    for path in ["/jobs/not-a-uuid", "/jobs/not-a-uuid/config", "/jobs/not-a-uuid/logs"] {
        let reply = api.get(path).await;
        assert_eq!(reply.status, 400, "{path}: {reply:?}");
        assert!(reply.message().contains("not a job id"), "{reply:?}");
    }
    let unknown = uuid::Uuid::new_v4();
    for path in [
        format!("/jobs/{unknown}"),
        format!("/jobs/{unknown}/config"),
        format!("/jobs/{unknown}/logs"),
    ] {
        assert_eq!(api.get(&path).await.status, 404, "{path}");
    }
    assert_eq!(api.delete(&format!("/jobs/{unknown}")).await.status, 404);
    let done = job_id(&api.submit("appName=testjobs&classPath=noop&sync=true", "").await);
    let again = api.delete(&format!("/jobs/{done}")).await;
    assert_eq!(again.status, 409, "{again:?}");
    assert!(again.message().contains("already ended: FINISHED"), "{again:?}");
}

#[tokio::test]
async fn jobs_run_the_newest_version_unless_one_is_named() {
    let server = TestServer::start(&fresh_database().await).await;
    let api = server.api();
    assert_eq!(api.upload("multi", &components().word_count).await.status, 201);
    assert_eq!(api.upload("multi", &components().test_jobs).await.status, 201);
    let newest = api.submit("appName=multi&classPath=noop&sync=true", "").await;
    assert_eq!(newest.body["appVersion"], 2, "{newest:?}");
    let older = api
        .submit("appName=multi&appVersion=1&sync=true", "input.string = a")
        .await;
    assert_eq!(older.body["appVersion"], 1, "{older:?}");
    assert_eq!(older.body["result"], json!({"a": 1}));
    let missing = api
        .submit("appName=multi&classPath=wordcount&sync=true", "input.string = a")
        .await;
    assert_eq!(missing.status, 404, "version 2 has no wordcount entry: {missing:?}");
}

#[tokio::test]
async fn the_config_reaches_the_job_as_json() {
    let server = server_with_jobs().await;
    let api = server.api();
    let config = "a.b = 1\na.c = [x, y]\nname = \"quoted\"\nflag = true\n";
    let reply = api.submit("appName=testjobs&classPath=echo&sync=true", config).await;
    assert_eq!(
        reply.body["result"],
        json!({"a": {"b": 1, "c": ["x", "y"]}, "name": "quoted", "flag": true}),
        "{reply:?}"
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let server = TestServer::start(&fresh_database().await).await;
    let api = server.api();
    let reply = api.get("/nowhere").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body["status"], "ERROR");
    let reply = api.http.put(api.url("/jobs")).send().await.unwrap();
    assert_eq!(reply.status().as_u16(), 405);
    let health = api.get("/healthz").await;
    assert_eq!(health.body, json!({"status": "OK"}));
    let spec = api.get("/openapi.json").await;
    assert!(spec.body["paths"]["/jobs"].is_object(), "{spec:?}");
    let docs = api.get("/docs/").await;
    assert_eq!(docs.status, 200);
    let ui = api.get("/").await;
    assert!(ui.body.as_str().unwrap().contains("jobserver"));
}
