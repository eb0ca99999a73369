//! Persistent contexts: creation, slots and queues, deletion, named objects.

use super::*;
use serde_json::json;

#[tokio::test]
async fn contexts_are_created_listed_shown_and_deleted() {
    let server = server_with_jobs().await;
    let api = server.api();
    let created = api
        .post("/contexts/video-ctx?num-cpu-cores=2&memory-per-node=512m", "")
        .await;
    assert_eq!(created.status, 200, "{created:?}");
    assert_eq!(created.location.as_deref(), Some("/contexts/video-ctx"));
    assert_eq!(created.body["status"], "SUCCESS");
    // Settings may come as a HOCON or JSON body too.
    assert_eq!(
        api.post("/contexts/hocon-ctx", "num-cpu-cores = 3\njob-timeout = 5 minutes")
            .await
            .status,
        200
    );
    assert_eq!(
        api.post("/contexts/json-ctx", r#"{"memory-per-node": "1g"}"#)
            .await
            .status,
        200
    );

    assert_eq!(
        api.get("/contexts").await.body,
        json!(["hocon-ctx", "json-ctx", "video-ctx"])
    );
    let shown = api.get("/contexts/video-ctx").await;
    assert_eq!(shown.body["settings"]["num-cpu-cores"], 2);
    assert_eq!(shown.body["settings"]["memory-per-node"], "512m");
    assert_eq!(shown.body["state"], "RUNNING");
    let shown = api.get("/contexts/hocon-ctx").await;
    assert_eq!(shown.body["settings"]["job-timeout"], "5m");

    let reply = api
        .submit(
            "appName=wordcount&classPath=wordcount&context=video-ctx&sync=true",
            "input.string = \"x y x\"",
        )
        .await;
    assert_eq!(reply.body["context"], "video-ctx");
    assert_eq!(reply.body["result"], json!({"x": 2, "y": 1}));

    assert_eq!(api.delete("/contexts/video-ctx").await.status, 200);
    assert_eq!(api.get("/contexts/video-ctx").await.status, 404);
    assert_eq!(api.delete("/contexts/video-ctx").await.status, 404);
    assert_eq!(api.get("/contexts").await.body, json!(["hocon-ctx", "json-ctx"]));
}

#[tokio::test]
async fn bad_context_requests_say_what_is_wrong() {
    let server = TestServer::start(&fresh_database().await).await;
    let api = server.api();
    let cases = [
        ("/contexts/2fast", "", 400, "must start with a letter"),
        ("/contexts/a.b", "", 400, "not a valid context name"),
        (
            "/contexts/ok?num-cpu-cores=0",
            "",
            400,
            "num-cpu-cores must be a whole number from 1",
        ),
        ("/contexts/ok?memory-per-node=lots", "", 400, "'lots' is not a size"),
        ("/contexts/ok?cores=2", "", 400, "unknown context setting 'cores'"),
        ("/contexts/ok", "num-cpu-cores = ", 400, "does not parse: line 1"),
        (
            "/contexts/ok?num-cpu-cores=2",
            "num-cpu-cores = 3",
            400,
            "'num-cpu-cores' is given more than once",
        ),
    ];
    for (path, body, code, expected) in cases {
        let reply = api.post(path, body).await;
        assert_eq!(reply.status, code, "{path}: {reply:?}");
        assert!(
            reply.message().contains(expected),
            "{path}: {:?} lacks {expected:?}",
            reply.message()
        );
    }
    assert_eq!(api.get("/contexts").await.body, json!([]));
    // Spark's own settings, which Spark Job Server scripts send, are accepted and ignored.
    assert_eq!(
        api.post("/contexts/ok?spark.executor.memory=1g&context-factory=x", "")
            .await
            .status,
        200
    );
    // In a HOCON body, dotted keys nest: `spark` is then an object.
    let reply = api
        .post("/contexts/nested", "spark.executor.memory = 1g\nnum-cpu-cores = 2")
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(api.get("/contexts/nested").await.body["settings"]["num-cpu-cores"], 2);
    // Spark Job Server's own form of the settings is read, not dropped.
    let reply = api
        .post(
            "/contexts/sjs-form",
            "spark.context-settings { num-cpu-cores = 3, memory-per-node = 64m }",
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let settings = api.get("/contexts/sjs-form").await.body["settings"].clone();
    assert_eq!(settings["num-cpu-cores"], 3, "{settings}");
    assert_eq!(settings["memory-per-node"], "64m", "{settings}");
    assert_eq!(api.post("/contexts/odd", "spark = 5").await.status, 400);
    let taken = api.post("/contexts/ok?num-cpu-cores=4", "").await;
    assert_eq!(taken.status, 409, "{taken:?}");
    assert!(taken.message().contains("already exists"));
}

#[tokio::test]
async fn jobs_beyond_the_cores_wait_in_order_and_a_full_queue_answers_503() {
    let server = server_with_jobs().await;
    let api = server.api();
    assert_eq!(
        api.post("/contexts/one?num-cpu-cores=1&max-queued-jobs=2", "")
            .await
            .status,
        200
    );
    let first = start_job(&api, "appName=testjobs&classPath=sleep&context=one", "ms = 2000").await;
    let second = start_job(&api, "appName=testjobs&classPath=sleep&context=one", "ms = 10").await;
    let third = start_job(&api, "appName=testjobs&classPath=noop&context=one", "").await;
    let refused = api.submit("appName=testjobs&classPath=noop&context=one", "").await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.body["status"], "NO SLOTS AVAILABLE");

    let shown = api.get("/contexts/one").await;
    assert_eq!(shown.body["runningJobs"], json!([first]), "{shown:?}");
    assert_eq!(shown.body["queuedJobs"], json!([second, third]), "{shown:?}");
    assert_eq!(api.get(&format!("/jobs/{second}")).await.body["status"], "STARTED");

    let reports = [
        api.wait_until_ended(&first, WAIT).await,
        api.wait_until_ended(&second, WAIT).await,
        api.wait_until_ended(&third, WAIT).await,
    ];
    for report in &reports {
        assert_eq!(report["status"], "FINISHED", "{report}");
    }
    // In order: each started once the one before it had ended.
    let time = |report: &serde_json::Value, key: &str| report[key].as_str().unwrap().to_string();
    assert!(time(&reports[1], "startTime") >= time(&reports[0], "endTime"));
    assert!(time(&reports[2], "startTime") >= time(&reports[1], "endTime"));
}

#[tokio::test]
async fn deleting_a_context_kills_its_running_and_waiting_jobs() {
    let server = server_with_jobs().await;
    let api = server.api();
    assert_eq!(api.post("/contexts/doomed?num-cpu-cores=1", "").await.status, 200);
    let running = start_job(&api, "appName=testjobs&classPath=spin&context=doomed", "").await;
    let waiting = start_job(&api, "appName=testjobs&classPath=noop&context=doomed", "").await;
    api.wait_for_job(&running, WAIT, |report| report["status"] == "RUNNING")
        .await;
    let deleted = api.delete("/contexts/doomed").await;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    for id in [&running, &waiting] {
        let report = api.get(&format!("/jobs/{id}")).await;
        assert_eq!(report.body["status"], "KILLED", "{report:?}");
        assert!(report.message().contains("'doomed' was deleted"), "{report:?}");
    }
    let gone = api.submit("appName=testjobs&classPath=noop&context=doomed", "").await;
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn named_objects_are_shared_by_the_jobs_of_a_context() {
    let server = server_with_jobs().await;
    let api = server.api();
    assert_eq!(api.post("/contexts/cache-ctx", "").await.status, 200);
    let stored = api
        .submit(
            "appName=wordcache&classPath=store&context=cache-ctx&sync=true",
            "input.string = x y x",
        )
        .await;
    assert_eq!(stored.body["status"], "FINISHED", "{stored:?}");
    let again = api
        .submit(
            "appName=wordcache&classPath=store&context=cache-ctx&sync=true",
            "input.string = x",
        )
        .await;
    assert_eq!(again.body["status"], "FINISHED", "{again:?}");
    let looked_up = api
        .submit(
            "appName=wordcache&classPath=lookup&context=cache-ctx&sync=true",
            "word = x",
        )
        .await;
    assert_eq!(
        looked_up.body["result"],
        json!({"word": "x", "count": 3}),
        "{looked_up:?}"
    );

    // Another context, or an ad-hoc one, does not see them.
    assert_eq!(api.post("/contexts/other-ctx", "").await.status, 200);
    let elsewhere = api
        .submit(
            "appName=wordcache&classPath=lookup&context=other-ctx&sync=true",
            "word = x",
        )
        .await;
    assert_eq!(elsewhere.body["status"], "ERROR", "{elsewhere:?}");
    assert!(elsewhere.message().contains("nothing stored"), "{elsewhere:?}");
    let adhoc = api
        .submit("appName=wordcache&classPath=lookup&sync=true", "word = x")
        .await;
    assert_eq!(adhoc.body["status"], "ERROR", "{adhoc:?}");

    // Deleting the context drops them: a new context of that name starts empty.
    assert_eq!(api.delete("/contexts/cache-ctx").await.status, 200);
    assert_eq!(api.post("/contexts/cache-ctx", "").await.status, 200);
    let fresh = api
        .submit(
            "appName=wordcache&classPath=lookup&context=cache-ctx&sync=true",
            "word = x",
        )
        .await;
    assert_eq!(fresh.body["status"], "ERROR", "{fresh:?}");
}

/// Jobs that update one object at the same time lose none of each other's changes.
#[tokio::test]
async fn concurrent_updates_of_a_named_object_are_all_kept() {
    let server = server_with_jobs().await;
    let api = server.api();
    assert_eq!(api.post("/contexts/busy?num-cpu-cores=4", "").await.status, 200);
    const JOBS: u64 = 20;
    let submitted: Vec<_> = (0..JOBS)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move {
                api.submit(
                    "appName=wordcache&classPath=store&context=busy&sync=true",
                    "input.string = hit",
                )
                .await
            })
        })
        .collect();
    for job in submitted {
        let reply = job.await.unwrap();
        assert_eq!(reply.body["status"], "FINISHED", "{reply:?}");
    }
    let looked_up = api
        .submit(
            "appName=wordcache&classPath=lookup&context=busy&sync=true",
            "word = hit",
        )
        .await;
    assert_eq!(
        looked_up.body["result"],
        json!({"word": "hit", "count": JOBS}),
        "{looked_up:?}"
    );
}

#[tokio::test]
async fn named_objects_have_a_size_and_a_count_limit() {
    let server = TestServer::start_with(
        jobserver_tests::ServerOptions::with_database(&fresh_database().await)
            .env("JOBSERVER_NAMED_OBJECT_MAX_SIZE", "1k")
            .env("JOBSERVER_NAMED_OBJECTS_PER_CONTEXT", "2"),
    )
    .await;
    upload_examples(&server.api()).await;
    let api = server.api();
    assert_eq!(api.post("/contexts/small", "").await.status, 200);
    let run = |config: String| {
        let api = api.clone();
        async move {
            api.submit("appName=testjobs&classPath=objects&context=small&sync=true", &config)
                .await
        }
    };
    let big = run(format!("op = put, name = big, value = \"{}\"", "x".repeat(2000))).await;
    assert_eq!(big.body["status"], "ERROR", "{big:?}");
    assert!(big.message().contains("over the limit of 1024 bytes"), "{big:?}");
    for name in ["a", "b"] {
        let stored = run(format!("op = put, name = {name}, value = 1")).await;
        assert_eq!(stored.body["result"], json!({"stored": true}), "{stored:?}");
    }
    let third = run("op = put, name = c, value = 1".into()).await;
    assert_eq!(third.body["status"], "ERROR", "{third:?}");
    assert!(third.message().contains("already holds 2 named objects"), "{third:?}");
    // An atomic update that would add an object meets the same limit.
    let updated = api
        .submit(
            "appName=wordcache&classPath=store&context=small&sync=true",
            "input.string = x, cache = c",
        )
        .await;
    assert_eq!(updated.body["status"], "ERROR", "{updated:?}");
    assert!(
        updated.message().contains("already holds 2 named objects"),
        "{updated:?}"
    );
    let replaced = run("op = put, name = a, value = 2".into()).await;
    assert_eq!(
        replaced.body["result"],
        json!({"stored": true}),
        "replacing is fine: {replaced:?}"
    );
    let read = run("op = get, name = a".into()).await;
    assert_eq!(read.body["result"], json!({"found": true, "value": 2}), "{read:?}");
    let listed = run("op = list".into()).await;
    assert_eq!(listed.body["result"], json!({"names": ["a", "b"]}), "{listed:?}");
}
