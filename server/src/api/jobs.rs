//! Jobs: submission (sync or async), reports, kills, configs and logs.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{Params, parse_config, parse_job_id, read_body};
use super::wire::{ErrorBody, JobLogsBody, JobReport, ListJobsParams, LogLineBody, SubmitParams};
use crate::scheduler::Submission;
use crate::store::{JobListFilter, JobStatus};
use crate::units::HumanDuration;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

const DEFAULT_LIST_LIMIT: i64 = 50;
const MAX_LIST_LIMIT: i64 = 1000;

/// Run a job
///
/// The body is the job's config, HOCON (`input.string = a b c`) or JSON. Without `sync`,
/// the answer is 202 with the job id at once. With `sync=true` it is 200 with the result
/// when the job ends within `timeout`; otherwise 202 with its current status, and the job
/// goes on. A job that fails is reported with status ERROR and the reason.
#[utoipa::path(post, path = "/jobs", tag = "jobs",
    params(SubmitParams),
    request_body(description = "Job config, HOCON or JSON, whatever the Content-Type says", content(
        (Option<String> = "text/plain", example = "input.string = a b c a b see"),
        (Option<Object> = "application/json", example = json!({"input": {"string": "a b c a b see"}})))),
    responses(ApiError,
        (status = 200, description = "sync=true: the job ended (FINISHED, ERROR or KILLED)", body = JobReport),
        (status = 202, description = "Accepted: async, or sync and still running at the timeout", body = JobReport),
        (status = 400, description = "A bad parameter or config, or VALIDATION FAILED with the problems", body = ErrorBody),
        (status = 404, description = "No such app, version, entry or context", body = ErrorBody),
        (status = 413, description = "The config is larger than the limit", body = ErrorBody),
        (status = 503, description = "NO SLOTS AVAILABLE: the context's queue is full; or the database is unavailable, or the server is shutting down", body = ErrorBody)))]
pub async fn submit_job(
    State(state): State<AppState>,
    Params(params): Params<SubmitParams>,
    body: Body,
) -> ApiResult<(StatusCode, Json<JobReport>)> {
    let app_name = params
        .app_name
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ApiError::BadRequest("query parameter 'appName' is required".into()))?;
    // Spark Job Server reads it with Scala's toBoolean: any letter case.
    let sync = match params.sync.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "query parameter 'sync' must be true or false".into(),
            ));
        }
    };
    if let Some(version) = params.app_version
        && version < 1
    {
        return Err(ApiError::BadRequest(format!(
            "query parameter 'appVersion' must be a version number, 1 or more, not {version}"
        )));
    }
    let sync_timeout = match params.timeout.as_deref() {
        Some(text) => text
            .parse::<HumanDuration>()
            .map(|duration| duration.0)
            .map_err(|error| ApiError::BadRequest(format!("query parameter 'timeout': {error}")))?,
        None => state.settings.limits.sync_timeout,
    };
    let body = read_body(body, state.settings.limits.request_max_size.0, "job config").await?;
    let config = Value::Object(parse_config(&body, "job config")?).to_string();
    let submitted = state
        .scheduler
        .submit(Submission {
            app_name,
            app_version: params.app_version,
            class_path: params.class_path.filter(|class_path| !class_path.is_empty()),
            context: params.context.filter(|context| !context.is_empty()),
            config,
            sync,
        })
        .await?;
    tracing::info!(job = %submitted.id, context = %submitted.context, class_path = %submitted.class_path, "job accepted");

    if !sync {
        let mut report = JobReport::from(submitted.row);
        // Spark Job Server answers an async submission with STARTED, and
        // its older clients read the job id from `result`.
        report.status = JobStatus::Started.to_string();
        report.duration = "Job not done yet".into();
        report.end_time = None;
        report.result = Some(json!({"jobId": submitted.id, "context": submitted.context}));
        return Ok((StatusCode::ACCEPTED, Json(report)));
    }
    let report = if submitted.ended {
        JobReport::from(submitted.row)
    } else {
        state.scheduler.wait(submitted.id, sync_timeout).await;
        job_report(&state, submitted.id).await?
    };
    let ended = JobStatus::parse(&report.status).is_some_and(JobStatus::has_ended);
    let code = if ended { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((code, Json(report)))
}

/// List jobs, newest first
#[utoipa::path(get, path = "/jobs", tag = "jobs",
    params(ListJobsParams),
    responses(ApiError,
        (status = 200, description = "Job reports, without results", body = Vec<JobReport>),
        (status = 400, description = "A bad limit or status", body = ErrorBody)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    Params(params): Params<ListJobsParams>,
) -> ApiResult<Json<Vec<JobReport>>> {
    let limit = params.limit.unwrap_or(DEFAULT_LIST_LIMIT);
    if !(1..=MAX_LIST_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "query parameter 'limit' must be from 1 to {MAX_LIST_LIMIT}, not {limit}"
        )));
    }
    let status = match params.status {
        Some(status) => Some(JobStatus::parse(&status).ok_or_else(|| {
            let all: Vec<&str> = JobStatus::ALL.iter().map(|status| status.as_str()).collect();
            ApiError::BadRequest(format!(
                "query parameter 'status' must be one of {}, not '{status}'",
                all.join(", ")
            ))
        })?),
        None => None,
    };
    let rows = state.scheduler.jobs(&JobListFilter { limit, status }).await?;
    Ok(Json(rows.into_iter().map(JobReport::summary).collect()))
}

/// Show a job: status, duration, progress, and its result once it ended
#[utoipa::path(get, path = "/jobs/{jobId}", tag = "jobs",
    params(("jobId" = Uuid, Path, description = "The job's id")),
    responses(ApiError,
        (status = 200, body = JobReport),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody)))]
pub async fn get_job(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<JobReport>> {
    let id = parse_job_id(&id)?;
    Ok(Json(job_report(&state, id).await?))
}

/// Kill a job
///
/// A waiting job leaves its queue; a running one is stopped, even in a tight loop. Either
/// ends KILLED, and the answer is its report: KILLED, unless the job took more than 10 s to
/// stop, when it shows the job still RUNNING.
#[utoipa::path(delete, path = "/jobs/{jobId}", tag = "jobs",
    params(("jobId" = Uuid, Path, description = "The job's id")),
    responses(ApiError,
        (status = 200, description = "The job's report, KILLED", body = JobReport),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job had already ended", body = ErrorBody)))]
pub async fn kill_job(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<JobReport>> {
    let id = parse_job_id(&id)?;
    state.scheduler.kill(id, "killed by a DELETE request").await?;
    tracing::info!(job = %id, "job killed");
    Ok(Json(job_report(&state, id).await?))
}

/// Show the config a job was given, as JSON
#[utoipa::path(get, path = "/jobs/{jobId}/config", tag = "jobs",
    params(("jobId" = Uuid, Path, description = "The job's id")),
    responses(ApiError,
        (status = 200, description = "The config", body = Object),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody)))]
pub async fn job_config(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_job_id(&id)?;
    Ok(Json(state.scheduler.job_config(id).await?))
}

/// Show what a job logged
///
/// Lines from the job's log import and from its stdout and stderr, in order. While the job
/// runs, lines appear within a second.
#[utoipa::path(get, path = "/jobs/{jobId}/logs", tag = "jobs",
    params(("jobId" = Uuid, Path, description = "The job's id")),
    responses(ApiError,
        (status = 200, body = JobLogsBody),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody)))]
pub async fn job_logs(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<JobLogsBody>> {
    let id = parse_job_id(&id)?;
    let lines = state.scheduler.job_logs(id).await?;
    Ok(Json(JobLogsBody {
        job_id: id,
        logs: lines.into_iter().map(LogLineBody::from).collect(),
    }))
}

async fn job_report(state: &AppState, id: Uuid) -> ApiResult<JobReport> {
    let row = state
        .scheduler
        .job(id)
        .await?
        .ok_or(crate::scheduler::SchedulerError::JobNotFound(id))?;
    Ok(JobReport::from(row))
}
