//! The servers sharing the database, which act as one job server.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::wire::ServerBody;
use axum::Json;
use axum::extract::State;

/// List the live servers
///
/// Every server whose lease holds: its name (`JOBSERVER_SERVER_NAME`), address, start
/// time, last heartbeat and the jobs it runs now. Any server gives the same list.
#[utoipa::path(get, path = "/servers", tag = "servers",
    responses(ApiError,
        (status = 200, description = "The live servers, oldest first", body = Vec<ServerBody>)))]
pub async fn list_servers(State(state): State<AppState>) -> ApiResult<Json<Vec<ServerBody>>> {
    let servers = state.scheduler.servers().await?;
    let me = state.scheduler.server_name();
    Ok(Json(
        servers.into_iter().map(|row| ServerBody::from_row(row, me)).collect(),
    ))
}
