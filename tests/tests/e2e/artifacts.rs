//! Uploading, listing and deleting job components.

use super::*;
use jobserver_tests::ServerOptions;

#[tokio::test]
async fn upload_list_and_show_as_spark_job_server_clients_expect() {
    let server = TestServer::start(&fresh_database().await).await;
    let api = server.api();
    let reply = api.upload("wordcount", &components().word_count).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.location.as_deref(), Some("/binaries/wordcount"));
    assert_eq!(reply.body["status"], "SUCCESS");
    assert_eq!(reply.body["result"]["version"], 1);
    assert_eq!(reply.body["result"]["binary-type"], "wasm");
    assert_eq!(reply.body["result"]["entries"][0]["name"], "wordcount");

    // The same path under its older name, as the Hydra talk uses it.
    let jars = api.get("/jars").await;
    assert_eq!(jars.status, 200);
    assert!(jars.body["wordcount"].as_str().unwrap().ends_with('Z'), "{jars:?}");
    let binaries = api.get("/binaries").await;
    assert_eq!(binaries.body["wordcount"]["binary-type"], "wasm");
    assert!(binaries.body["wordcount"]["upload-time"].is_string());

    let shown = api.get("/binaries/wordcount").await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["versions"].as_array().unwrap().len(), 1);
    assert_eq!(api.get("/binaries/nothing").await.status, 404);
}

#[tokio::test]
async fn every_upload_is_a_version_and_identical_content_is_stored_once() {
    let database = fresh_database().await;
    let server = TestServer::start(&database).await;
    let api = server.api();
    // Spark Job Server answers the older /jars path with 200, /binaries with 201.
    let reply = api.post("/jars/wc", components().word_count.clone()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let second = api.post("/jars/wc", components().word_count.clone()).await;
    assert_eq!(second.body["result"]["version"], 2);
    assert_eq!(second.body["result"]["hash"], reply.body["result"]["hash"]);
    let shown = api.get("/binaries/wc").await;
    assert_eq!(
        field_of_each(&shown.body["versions"], "version"),
        ["2", "1"],
        "newest first"
    );

    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&database)
        .await
        .unwrap();
    let blobs: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(blobs, 1, "identical content is stored once");
}

#[tokio::test]
async fn bad_uploads_are_refused_with_the_reason_and_nothing_is_stored() {
    let server = TestServer::start_with(
        ServerOptions::with_database(&fresh_database().await).env("JOBSERVER_UPLOAD_MAX_SIZE", "8m"),
    )
    .await;
    let api = server.api();
    let word_count = &components().word_count;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("text", b"hello, world".to_vec(), "not WebAssembly"),
        (
            "core",
            b"\0asm\x01\0\0\0".to_vec(),
            "core WebAssembly module, not a component",
        ),
        ("truncated", word_count[..word_count.len() / 2].to_vec(), "truncated"),
        // An empty component is valid WebAssembly but exports no job.
        (
            "empty",
            b"\0asm\x0d\0\x01\0".to_vec(),
            "does not implement the job world",
        ),
        ("jar", b"PK\x03\x04\x14\0\0\0".to_vec(), "JAR or zip archive"),
        ("native", b"\x7fELF\x02\x01\x01\0".to_vec(), "native shared library"),
        ("nothing", Vec::new(), "the upload is empty"),
        (
            "form",
            [
                b"--------------------------d74496d66958873e\r\n".as_slice(),
                b"Content-Disposition: form-data; name=\"file\"; filename=\"job.wasm\"\r\n\r\n",
                word_count,
            ]
            .concat(),
            "curl --data-binary",
        ),
    ];
    for (app, bytes, expected) in cases {
        let reply = api.upload(app, &bytes).await;
        assert_eq!(reply.status, 400, "{app}: {reply:?}");
        assert_eq!(reply.body["status"], "ERROR");
        assert!(
            reply.message().contains(expected),
            "{app}: {:?} lacks {expected:?}",
            reply.message()
        );
    }
    // Just over the limit, so that what the server leaves unread fits in the
    // socket's buffers and the client gets to read the answer.
    let too_big = api.upload("big", &vec![0u8; (8 << 20) + 1024]).await;
    assert_eq!(too_big.status, 413, "{too_big:?}");
    assert!(too_big.message().contains("limit"), "{too_big:?}");

    // `curl -d @job.wasm` sends the file as a form, losing its newlines and more.
    let mangled: Vec<u8> = word_count
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .skip(3)
        .collect();
    let as_form = api
        .http
        .post(api.url("/binaries/dashd"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(mangled)
        .send()
        .await
        .unwrap();
    assert_eq!(as_form.status(), 400);
    let answer = as_form.text().await.unwrap();
    assert!(answer.contains("curl --data-binary"), "{answer}");

    let bad_name = api.upload("no%20spaces", word_count).await;
    assert_eq!(bad_name.status, 400, "{bad_name:?}");
    let long_name = api.upload(&"x".repeat(5000), b"\0asm").await;
    assert_eq!(long_name.status, 400, "{long_name:?}");
    assert!(
        long_name
            .message()
            .ends_with("at most 100 characters long; this one has 5000"),
        "{long_name:?}"
    );

    assert_eq!(
        api.get("/binaries").await.body,
        serde_json::json!({}),
        "nothing was stored"
    );
    assert_eq!(api.get("/healthz").await.status, 200, "the server keeps serving");
}

#[tokio::test]
async fn delete_is_refused_while_a_job_uses_the_app() {
    let server = server_with_jobs().await;
    let api = server.api();
    let id = start_job(&api, "appName=testjobs&classPath=sleep", "ms = 30000").await;

    let refused = api.delete("/binaries/testjobs").await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(refused.body["jobIds"], serde_json::json!([id]));
    assert!(refused.message().contains("used by 1"), "{refused:?}");
    let refused = api.delete("/jars/testjobs").await;
    assert_eq!(refused.status, 403);

    assert_eq!(api.delete(&format!("/jobs/{id}")).await.status, 200);
    let deleted = api.delete("/jars/testjobs").await;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    assert_eq!(api.get("/binaries/testjobs").await.status, 404);
    assert_eq!(api.delete("/binaries/testjobs").await.status, 404);
    let gone = api.submit("appName=testjobs&classPath=noop", "").await;
    assert_eq!(gone.status, 404, "{gone:?}");
    // Finished jobs of a deleted app keep their reports.
    let report = api.get(&format!("/jobs/{id}")).await.body;
    assert_eq!(report["status"], "KILLED");
    assert_eq!(report["appVersion"], 1);

    // Uploaded again, it goes on numbering: version 1 keeps meaning what the old job ran.
    let again = api.upload("testjobs", &components().test_jobs).await;
    assert_eq!(again.status, 201, "{again:?}");
    assert_eq!(again.body["result"]["version"], 2, "{again:?}");
}
