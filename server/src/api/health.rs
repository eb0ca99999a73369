//! Liveness, and the placeholder web UI.

use super::AppState;
use super::wire::HealthBody;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Html;

/// Whether the server and its database answer
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses(
        (status = 200, description = "Serving", body = HealthBody),
        (status = 503, description = "The database does not answer", body = HealthBody)))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<HealthBody>) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(HealthBody { status: "OK".into() })),
        Err(error) => {
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
