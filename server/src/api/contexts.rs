//! Persistent contexts: named environments whose jobs share slots, limits and
//! named objects, and which survive restarts.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{QueryPairs, parse_config, read_body};
use super::wire::{ContextBody, ContextParams, ErrorBody, StatusBody};
use crate::scheduler::{ContextSettings, check_context_name};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::Value;

/// List the names of the contexts
#[utoipa::path(get, path = "/contexts", tag = "contexts",
    responses(ApiError, (status = 200, description = "Context names, sorted", body = Vec<String>)))]
pub async fn list_contexts(State(state): State<AppState>) -> ApiResult<Json<Vec<String>>> {
    Ok(Json(state.scheduler.context_names().await?))
}

/// Show a context: settings, start time, running and waiting jobs
#[utoipa::path(get, path = "/contexts/{name}", tag = "contexts",
    params(("name" = String, Path, description = "The context's name")),
    responses(ApiError, (status = 200, body = ContextBody), (status = 404, description = "No such context", body = ErrorBody)))]
pub async fn get_context(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<ContextBody>> {
    Ok(Json(ContextBody::from(state.scheduler.context(&name).await?)))
}

/// Create a context
///
/// Settings come as query parameters or as a HOCON or JSON body with the same keys.
/// Spark Job Server's form `spark.context-settings { num-cpu-cores = 2 }` is read too. Spark
/// settings (other `spark.*`, `context-factory`, `launcher`, `passthrough`) are accepted and ignored: they do not
/// apply to WebAssembly jobs. Each setting may be given once.
/// The name starts with a letter, then letters, digits, `-` and `_`.
#[utoipa::path(post, path = "/contexts/{name}", tag = "contexts",
    params(("name" = String, Path, description = "The new context's name"), ContextParams),
    request_body(description = "Optional settings, HOCON or JSON, whatever the Content-Type says", content(
        (Option<String> = "text/plain", example = "num-cpu-cores = 2\nmemory-per-node = 512m"),
        (Option<Object> = "application/json", example = json!({"num-cpu-cores": 2, "memory-per-node": "512m"})))),
    responses(ApiError,
        (status = 200, description = "Created", body = StatusBody,
            headers(("Location" = String, description = "Where the context is shown"))),
        (status = 400, description = "A bad name or setting, and which", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 413, description = "The settings body is larger than the limit", body = ErrorBody),
        (status = 503, description = "The server is shutting down, or the database is unavailable", body = ErrorBody)))]
pub async fn create_context(
    State(state): State<AppState>,
    Path(name): Path<String>,
    QueryPairs(query): QueryPairs,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    check_context_name(&name).map_err(ApiError::BadRequest)?;
    let body = read_body(body, state.settings.limits.request_max_size.0, "context settings").await?;
    let from_body = parse_config(&body, "context settings body")?;
    let pairs = query
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .chain(from_body);
    let settings = ContextSettings::from_pairs(pairs, &state.settings).map_err(ApiError::BadRequest)?;
    state.scheduler.create_context(&name, settings.clone()).await?;
    // Debug output of settings masks their credentials.
    tracing::info!(context = %name, ?settings, "context created");
    // 200, not 201: Spark Job Server's clients check for it.
    Ok((
        StatusCode::OK,
        [(header::LOCATION, format!("/contexts/{name}"))],
        Json(StatusBody::success("Context initialized")),
    ))
}

/// Delete a context
///
/// Its waiting and running jobs end KILLED; its named objects are dropped.
#[utoipa::path(delete, path = "/contexts/{name}", tag = "contexts",
    params(("name" = String, Path, description = "The context's name")),
    responses(ApiError, (status = 200, body = StatusBody),
        (status = 404, description = "No such context, or another request is deleting it", body = ErrorBody),
        (status = 503, description = "The server is shutting down, or the database is unavailable", body = ErrorBody)))]
pub async fn delete_context(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<StatusBody>> {
    state.scheduler.delete_context(&name).await?;
    tracing::info!(context = %name, "context deleted");
    Ok(Json(StatusBody::success("Context stopped")))
}
