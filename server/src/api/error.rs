//! The one place where errors become HTTP: a stable JSON body in Spark Job
//! Server's shape, `{"status": ..., "result": message}`. A 4xx says precisely
//! what is wrong; a 5xx says only that the server failed, and the real error
//! goes to the log.

use super::wire::{ErrorBody, ProblemBody};
use crate::runtime::ArtifactError;
use crate::scheduler::SchedulerError;
use crate::store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    ValidationFailed(Vec<ProblemBody>),
    NotFound(String),
    /// Refused because jobs use the thing; their ids go with the message.
    InUse {
        message: String,
        job_ids: Vec<Uuid>,
    },
    Conflict(String),
    MethodNotAllowed(String),
    PayloadTooLarge(String),
    NoSlots(String),
    Unavailable(String),
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::ValidationFailed(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::InUse { .. } => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NoSlots(_) | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let plain = |message: &str| ErrorBody {
            status: "ERROR".into(),
            result: json!(message),
            job_ids: None,
        };
        match self {
            ApiError::BadRequest(message)
            | ApiError::NotFound(message)
            | ApiError::Conflict(message)
            | ApiError::MethodNotAllowed(message)
            | ApiError::PayloadTooLarge(message)
            | ApiError::Unavailable(message) => plain(message),
            ApiError::ValidationFailed(problems) => ErrorBody {
                status: "VALIDATION FAILED".into(),
                result: json!({
                    "message": validation_message(problems),
                    "problems": problems,
                }),
                job_ids: None,
            },
            ApiError::InUse { message, job_ids } => ErrorBody {
                status: "ERROR".into(),
                result: json!(message),
                job_ids: Some(job_ids.clone()),
            },
            ApiError::NoSlots(message) => ErrorBody {
                status: "NO SLOTS AVAILABLE".into(),
                result: json!(message),
                job_ids: None,
            },
            ApiError::Internal(_) => plain("internal server error; the server log has the details"),
        }
    }
}

fn validation_message(problems: &[ProblemBody]) -> String {
    let listed: Vec<String> = problems
        .iter()
        .map(|problem| match problem.path.as_str() {
            "" => problem.message.clone(),
            path => format!("{path}: {}", problem.message),
        })
        .collect();
    format!("the job's config is invalid: {}", listed.join("; "))
}

/// The answers any endpoint may give whatever it does, documented once here
/// and listed by every handler (`responses(..., ApiError)`); each handler
/// documents the 4xx answers of its own.
impl utoipa::IntoResponses for ApiError {
    fn responses() -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::response::Response>> {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error_body = || {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build()
        };
        [
            (
                "503",
                "The database is unavailable (answered within two seconds), or the server is shutting down: try again",
            ),
            (
                "500",
                "The server failed; the body says only that, and the server log has the details",
            ),
        ]
        .into_iter()
        .map(|(status, description)| {
            let response = ResponseBuilder::new()
                .description(description)
                .content("application/json", error_body())
                .build();
            (status.to_string(), response.into())
        })
        .collect()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "request failed");
        }
        (self.status(), Json(self.body())).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(%error, "the database is unavailable");
            ApiError::Unavailable("the database is unavailable; try again shortly".into())
        } else {
            ApiError::Internal(error.to_string())
        }
    }
}

impl From<ArtifactError> for ApiError {
    fn from(error: ArtifactError) -> Self {
        if error.is_client_error() {
            ApiError::BadRequest(error.to_string())
        } else {
            ApiError::Internal(error.to_string())
        }
    }
}

impl From<SchedulerError> for ApiError {
    fn from(error: SchedulerError) -> Self {
        let message = error.to_string();
        match error {
            SchedulerError::AppNotFound(_)
            | SchedulerError::VersionNotFound { .. }
            | SchedulerError::EntryNotFound { .. }
            | SchedulerError::ContextNotFound(_)
            | SchedulerError::JobNotFound(_) => ApiError::NotFound(message),
            SchedulerError::EntryRequired { .. } | SchedulerError::InvalidContext(_) => ApiError::BadRequest(message),
            SchedulerError::ContextExists(_) | SchedulerError::JobEnded { .. } => ApiError::Conflict(message),
            SchedulerError::ValidationFailed(problems) => {
                ApiError::ValidationFailed(problems.into_iter().map(ProblemBody::from).collect())
            }
            SchedulerError::ValidateCrashed(failure) => ApiError::ValidationFailed(vec![ProblemBody {
                path: String::new(),
                message: format!("validate failed: {}", failure.message),
            }]),
            SchedulerError::NoSlots { .. } => ApiError::NoSlots(message),
            SchedulerError::ShuttingDown | SchedulerError::LeaseLost | SchedulerError::AppChanged(_) => {
                ApiError::Unavailable(message)
            }
            SchedulerError::Store(error) => error.into(),
            SchedulerError::Runtime(_) => ApiError::Internal(message),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
