//! Artifacts: `/binaries` as Spark Job Server names them, and `/jars` as its
//! older clients do. Uploads are the raw request body; what they are is read
//! from the content.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{check_app_name, read_body};
use super::wire::{BinaryDetail, BinarySummary, BinaryVersion, ErrorBody, StatusBody, UploadBody};
use crate::runtime::{ArtifactError, RunLimits};
use crate::store::{DeleteAppOutcome, EntryRow, NewAppVersion};
use axum::Json;
use axum::extract::Request;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use std::collections::BTreeMap;

/// List apps and when each was last uploaded
///
/// Spark Job Server's `GET /jars`: app name to the upload time of its newest version.
#[utoipa::path(get, path = "/jars", tag = "binaries",
    responses(ApiError, (status = 200, description = "App name to upload time", body = BTreeMap<String, String>)))]
pub async fn list_jars(State(state): State<AppState>) -> ApiResult<Json<BTreeMap<String, String>>> {
    let apps = state.store.list_apps().await?;
    Ok(Json(
        apps.into_iter()
            .map(|app| (app.name, super::wire::timestamp(app.uploaded_at)))
            .collect(),
    ))
}

/// List apps with their binary type and upload time
#[utoipa::path(get, path = "/binaries", tag = "binaries",
    responses(ApiError, (status = 200, description = "App name to its newest upload", body = BTreeMap<String, BinarySummary>)))]
pub async fn list_binaries(State(state): State<AppState>) -> ApiResult<Json<BTreeMap<String, BinarySummary>>> {
    let apps = state.store.list_apps().await?;
    Ok(Json(
        apps.into_iter()
            .map(|app| {
                let summary = BinarySummary {
                    binary_type: app.binary_type,
                    upload_time: super::wire::timestamp(app.uploaded_at),
                };
                (app.name, summary)
            })
            .collect(),
    ))
}

/// Show an app: its versions, newest first, with their entries
#[utoipa::path(get, path = "/binaries/{appName}", tag = "binaries",
    params(("appName" = String, Path, description = "The app's name")),
    responses(ApiError,
        (status = 200, body = BinaryDetail),
        (status = 404, description = "No such app", body = ErrorBody)))]
pub async fn get_binary(State(state): State<AppState>, Path(app_name): Path<String>) -> ApiResult<Json<BinaryDetail>> {
    let versions = state.store.app_versions(&app_name).await?;
    let Some(newest) = versions.first() else {
        return Err(ApiError::NotFound(format!("no app named '{app_name}'")));
    };
    Ok(Json(BinaryDetail {
        app_name: newest.app_name.clone(),
        binary_type: newest.binary_type.clone(),
        upload_time: super::wire::timestamp(newest.uploaded_at),
        versions: versions.into_iter().map(BinaryVersion::from).collect(),
    }))
}

/// Upload a new version of an app
///
/// The body is the WebAssembly component itself (`curl --data-binary @job.wasm`); the
/// Content-Type is ignored. The component is validated (a component, not a core module;
/// complete; implementing the job world) and compiled before anything is stored. Every
/// upload is a new version; identical content is stored once.
#[utoipa::path(post, path = "/binaries/{appName}", tag = "binaries",
    params(("appName" = String, Path, description = "Name to upload under")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The component"),
    responses(ApiError,
        (status = 201, description = "Stored as a new version", body = UploadBody,
            headers(("Location" = String, description = "Where the app is shown"))),
        (status = 400, description = "Not a job component, and why", body = ErrorBody),
        (status = 413, description = "Larger than the upload limit", body = ErrorBody)))]
pub async fn upload_binary(
    State(state): State<AppState>,
    Path(app_name): Path<String>,
    request: Request,
) -> ApiResult<impl IntoResponse> {
    upload(state, app_name, request, StatusCode::CREATED).await
}

/// Upload a new version of an app (Spark Job Server's older path)
///
/// The same as `POST /binaries/{appName}`.
#[utoipa::path(post, path = "/jars/{appName}", tag = "binaries",
    params(("appName" = String, Path, description = "Name to upload under")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The component"),
    responses(ApiError,
        (status = 200, description = "Stored as a new version", body = UploadBody,
            headers(("Location" = String, description = "Where the app is shown"))),
        (status = 400, description = "Not a job component, and why", body = ErrorBody),
        (status = 413, description = "Larger than the upload limit", body = ErrorBody)))]
pub async fn upload_jar(
    State(state): State<AppState>,
    Path(app_name): Path<String>,
    request: Request,
) -> ApiResult<impl IntoResponse> {
    upload(state, app_name, request, StatusCode::OK).await
}

/// Spark Job Server answers `/binaries` uploads with 201 and `/jars` uploads
/// (the older API) with 200; its clients check for exactly that.
async fn upload(state: AppState, app_name: String, request: Request, code: StatusCode) -> ApiResult<impl IntoResponse> {
    let sent_as_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    let body = request.into_body();
    let limits = &state.settings.limits;
    // The body is read before the name is checked: a client still sending
    // would otherwise see a broken pipe instead of the answer.
    let bytes = read_body(body, limits.upload_max_size.0, "upload").await?;
    check_app_name(&app_name)?;
    let check_limits = RunLimits {
        timeout: limits.job_timeout,
        memory_bytes: limits.job_memory.0,
        result_max_bytes: limits.result_max_size.0,
        log_max_bytes: limits.job_log_max_size.0,
    };
    let bytes: std::sync::Arc<[u8]> = bytes.into();
    let inspected = match state.runtime.inspect(bytes.clone(), check_limits).await {
        Ok(inspected) => inspected,
        // `curl -d @job.wasm` sends a form and drops bytes of the file on
        // the way: the header tells why the content is not what was meant.
        // It is only a hint; the kind always comes from the content.
        Err(error @ (ArtifactError::NotWasm | ArtifactError::Truncated(_) | ArtifactError::Malformed(_)))
            if sent_as_form =>
        {
            return Err(ApiError::BadRequest(format!(
                "{error} (it came as a form, as `curl -d` sends, which drops newlines and \
                 other bytes of a file: send it with curl --data-binary @job.wasm)"
            )));
        }
        Err(error) => return Err(error.into()),
    };
    let row = state
        .store
        .insert_app_version(NewAppVersion {
            app_name: &app_name,
            blob_hash: &inspected.hash,
            content: &bytes,
            binary_type: inspected.kind.as_str(),
            entries: inspected
                .entries
                .into_iter()
                .map(|entry| EntryRow {
                    name: entry.name,
                    description: entry.description,
                })
                .collect(),
        })
        .await?;
    // The newest version here is this one now; other servers find out at their next submission.
    state.scheduler.forget_app(&app_name);
    tracing::info!(app = %row.app_name, version = row.version, hash = %row.blob_hash, "app uploaded");
    let location = format!("/binaries/{app_name}");
    Ok((
        code,
        [(header::LOCATION, location)],
        Json(UploadBody {
            status: "SUCCESS".into(),
            result: BinaryVersion::from(row),
        }),
    ))
}

/// Delete an app and all its versions
///
/// Refused with 403, naming the jobs, while a job of the app is queued or running.
#[utoipa::path(delete, path = "/binaries/{appName}", tag = "binaries",
    params(("appName" = String, Path, description = "The app's name")),
    responses(ApiError,
        (status = 200, body = StatusBody),
        (status = 403, description = "Jobs use it; `jobIds` lists them", body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody)))]
pub async fn delete_binary(State(state): State<AppState>, Path(app_name): Path<String>) -> ApiResult<Json<StatusBody>> {
    delete(state, app_name).await
}

/// Delete an app and all its versions (Spark Job Server's older path)
#[utoipa::path(delete, path = "/jars/{appName}", tag = "binaries",
    params(("appName" = String, Path, description = "The app's name")),
    responses(ApiError,
        (status = 200, body = StatusBody),
        (status = 403, description = "Jobs use it; `jobIds` lists them", body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody)))]
pub async fn delete_jar(State(state): State<AppState>, Path(app_name): Path<String>) -> ApiResult<Json<StatusBody>> {
    delete(state, app_name).await
}

async fn delete(state: AppState, app_name: String) -> ApiResult<Json<StatusBody>> {
    match state.store.delete_app(&app_name).await? {
        DeleteAppOutcome::Deleted { orphaned_hashes } => {
            state.scheduler.forget_app(&app_name);
            for hash in &orphaned_hashes {
                state.scheduler.forget_component(hash);
            }
            Ok(Json(StatusBody::success(format!("app '{app_name}' deleted"))))
        }
        DeleteAppOutcome::NotFound => Err(ApiError::NotFound(format!("no app named '{app_name}'"))),
        DeleteAppOutcome::InUse(job_ids) => Err(ApiError::InUse {
            message: format!(
                "app '{app_name}' is used by {} queued or running job(s); kill them or wait for them to end",
                job_ids.len()
            ),
            job_ids,
        }),
    }
}
