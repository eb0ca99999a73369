//! The HTTP API: Spark Job Server's REST shapes over artifacts (`/binaries`,
//! `/jars`), contexts and jobs, plus `/healthz`, the OpenAPI document (generated
//! from the handlers below) and the web UI.

mod binaries;
mod contexts;
pub mod error;
mod extract;
mod health;
mod jobs;
mod servers;
pub mod wire;

use crate::config::Settings;
use crate::runtime::Runtime;
use crate::scheduler::Scheduler;
use crate::store::Store;
use axum::Router;
use axum::extract::Request;
use axum::http::{Method, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use error::ApiError;
use std::sync::Arc;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub scheduler: Scheduler,
    pub store: Store,
    pub runtime: Runtime,
    pub settings: Arc<Settings>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "jobserver",
        description = "A job server for data teams: upload WebAssembly job components, keep \
                       persistent contexts, run jobs synchronously or asynchronously. The API \
                       follows Spark Job Server's shapes and status codes.",
        license(name = "Apache-2.0"),
    ),
    tags(
        (name = "binaries", description = "Job components: upload, list, delete"),
        (name = "contexts", description = "Persistent contexts with their own slots and limits"),
        (name = "jobs", description = "Run jobs and follow them"),
        (name = "servers", description = "The servers sharing one database, which act as one"),
        (name = "health", description = "Liveness"),
    )
)]
struct ApiDoc;

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(binaries::list_jars))
        .routes(routes!(binaries::upload_jar, binaries::delete_jar))
        .routes(routes!(binaries::list_binaries))
        .routes(routes!(
            binaries::get_binary,
            binaries::upload_binary,
            binaries::delete_binary
        ))
        .routes(routes!(contexts::list_contexts))
        .routes(routes!(
            contexts::get_context,
            contexts::create_context,
            contexts::delete_context
        ))
        .routes(routes!(jobs::list_jobs, jobs::submit_job))
        .routes(routes!(jobs::get_job, jobs::kill_job))
        .routes(routes!(jobs::job_config))
        .routes(routes!(jobs::job_logs))
        .routes(routes!(servers::list_servers))
        .routes(routes!(health::healthz))
}

/// The OpenAPI document, as served at `/openapi.json` and committed in `openapi/`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

/// The whole application; tests drive it with `oneshot`, the server with a socket.
pub fn app(state: AppState) -> Router {
    let (router, openapi) = api_router().split_for_parts();
    router
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .route("/", get(health::ui))
        .fallback(unknown_path)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(refuse_nul))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of a request's log lines: its method and path, without the
/// query, whose values may be credentials (`?cassandra.password=...`).
fn request_span(request: &Request) -> tracing::Span {
    tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
}

/// Names and values from the URL end up in PostgreSQL text, which cannot hold
/// NUL: refused here, once, rather than failing deep down as a 500.
async fn refuse_nul(request: Request, next: Next) -> Result<Response, ApiError> {
    let uri = request.uri();
    let has_nul = |text: &str| text.contains("%00");
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return Err(ApiError::BadRequest(
            "the URL contains a NUL character (%00), which no name or parameter may hold".into(),
        ));
    }
    Ok(next.run(request).await)
}

async fn unknown_path(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no such path: {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}
