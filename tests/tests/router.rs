//! Router tests: the application called in-process with `oneshot`, no socket,
//! against a real PostgreSQL. They pin the HTTP mapping of requests that need
//! no job component; the OpenAPI test keeps `openapi/openapi.json` honest.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use jobserver_server::api::{AppState, app};
use jobserver_server::config::SettingsArgs;
use jobserver_server::runtime::Runtime;
use jobserver_server::scheduler::{Scheduler, ServerIdentity};
use jobserver_server::store::Store;
use jobserver_tests::fresh_database;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

async fn state() -> (AppState, tempfile::TempDir) {
    let settings = Arc::new(SettingsArgs::default().resolve().unwrap());
    let store = Store::connect(&fresh_database().await, 5).await.unwrap();
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(cache.path().to_owned()).unwrap();
    let identity = ServerIdentity {
        name: "router-test".into(),
        address: "http://127.0.0.1:0".into(),
        sole: true,
    };
    let scheduler = Scheduler::start(store.clone(), runtime.clone(), settings.clone(), identity)
        .await
        .unwrap();
    (
        AppState {
            scheduler,
            store,
            runtime,
            settings,
        },
        cache,
    )
}

async fn call(state: &AppState, method: &str, uri: &str, body: &'static str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body))
        .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn errors_have_one_json_shape() {
    let (state, _cache) = state().await;
    let cases = [
        ("GET", "/nowhere", StatusCode::NOT_FOUND, "no such path: /nowhere"),
        (
            "PATCH",
            "/jobs",
            StatusCode::METHOD_NOT_ALLOWED,
            "PATCH is not allowed on /jobs",
        ),
        ("GET", "/jobs/xyz", StatusCode::BAD_REQUEST, "'xyz' is not a job id"),
        (
            "GET",
            "/jobs?limit=-1",
            StatusCode::BAD_REQUEST,
            "'limit' must be from 1 to 1000",
        ),
        ("POST", "/jobs", StatusCode::BAD_REQUEST, "'appName' is required"),
        (
            "POST",
            "/jobs?appName=x&sync=perhaps",
            StatusCode::BAD_REQUEST,
            "query parameter 'sync'",
        ),
        ("POST", "/jobs?appName=x", StatusCode::NOT_FOUND, "no app named 'x'"),
        (
            "POST",
            "/contexts/1x",
            StatusCode::BAD_REQUEST,
            "not a valid context name",
        ),
        (
            "DELETE",
            "/contexts/none",
            StatusCode::NOT_FOUND,
            "no context named 'none'",
        ),
        ("POST", "/binaries/app", StatusCode::BAD_REQUEST, "the upload is empty"),
        ("DELETE", "/jars/none", StatusCode::NOT_FOUND, "no app named 'none'"),
        ("GET", "/binaries/a%00b", StatusCode::BAD_REQUEST, "NUL character (%00)"),
        (
            "DELETE",
            "/binaries/a%00b",
            StatusCode::BAD_REQUEST,
            "NUL character (%00)",
        ),
        (
            "POST",
            "/jobs?appName=a%00b",
            StatusCode::BAD_REQUEST,
            "NUL character (%00)",
        ),
        (
            "GET",
            "/jobs?foo=2",
            StatusCode::BAD_REQUEST,
            "unknown query parameter 'foo'; expected `limit` or `status`",
        ),
        (
            "POST",
            "/jobs?appName=x&appVersion=99999999999",
            StatusCode::BAD_REQUEST,
            "query parameter 'appVersion' is too large: '99999999999'",
        ),
    ];
    for (method, uri, code, message) in cases {
        let (status, body) = call(&state, method, uri, "").await;
        assert_eq!(status, code, "{method} {uri}: {body}");
        assert_eq!(body["status"], "ERROR", "{method} {uri}: {body}");
        assert!(
            body["result"].as_str().unwrap().contains(message),
            "{method} {uri}: {body}"
        );
    }
}

#[tokio::test]
async fn contexts_round_trip_through_the_router() {
    let (state, _cache) = state().await;
    let (status, _) = call(&state, "POST", "/contexts/c1?num-cpu-cores=2", "memory-per-node = 64m").await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = call(&state, "GET", "/contexts/c1", "").await;
    assert_eq!(body["settings"]["num-cpu-cores"], 2);
    assert_eq!(body["settings"]["memory-per-node"], "64m");
    assert_eq!(body["runningJobs"], json!([]));
    let (status, body) = call(&state, "POST", "/contexts/c1", "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        call(&state, "GET", "/healthz", "").await,
        (StatusCode::OK, json!({"status": "OK"}))
    );
}

#[test]
fn the_committed_openapi_document_is_the_generated_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json");
    let generated = jobserver_server::cli::openapi_json();
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed.trim_end() != generated.trim_end() {
        panic!(
            "openapi/openapi.json is out of date; regenerate it with\n  \
             cargo run --bin jobserver -- openapi > openapi/openapi.json"
        );
    }
}

#[test]
fn every_operation_documents_the_answers_any_endpoint_may_give() {
    let document: Value = serde_json::from_str(&jobserver_server::cli::openapi_json()).unwrap();
    let mut operations = 0;
    for (path, methods) in document["paths"].as_object().unwrap() {
        for (method, operation) in methods.as_object().unwrap() {
            let responses = &operation["responses"];
            // /healthz answers 503 with its own body, and never a 500.
            if path == "/healthz" {
                continue;
            }
            operations += 1;
            for status in ["500", "503"] {
                let schema = &responses[status]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {status}");
            }
        }
    }
    assert!(operations >= 18, "{operations}");
}

/// The store is the only layer that knows sqlx: its rows are plain types, so
/// that the scheduler and the API never depend on how the database is reached.
#[test]
fn only_the_store_uses_sqlx() {
    fn sources(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                found.push(path);
            }
        }
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 20);
    let outside: Vec<_> = files
        .iter()
        .filter(|path| !path.starts_with(src.join("store")))
        .filter(|path| std::fs::read_to_string(path).unwrap().contains("sqlx::"))
        .collect();
    assert!(outside.is_empty(), "sqlx outside server/src/store: {outside:?}");
}
