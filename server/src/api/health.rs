//! Liveness, and the placeholder web UI.

use super::AppState;
use super::wire::HealthBody;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Html;
use std::time::Duration;

/// How long the health check waits for the database.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(1500);

/// Whether the server and its database answer
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses(
        (status = 200, description = "Serving", body = HealthBody),
        (status = 503, description = "The database does not answer", body = HealthBody)))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<HealthBody>) {
    // Bounded: a database that does not answer at all (a lost host) must
    // not make the health check hang.
    match tokio::time::timeout(HEALTH_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, Json(HealthBody { status: "OK".into() })),
        outcome => {
            let error = match outcome {
                Ok(Err(error)) => error.to_string(),
                _ => format!("no answer within {HEALTH_TIMEOUT:?}"),
            };
            tracing::warn!(%error, "health check: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(HealthBody {
                    status: "UNAVAILABLE".into(),
                }),
            )
        }
    }
}

pub async fn ui() -> Html<&'static str> {
    Html(include_str!("../../../ui/index.html"))
}
