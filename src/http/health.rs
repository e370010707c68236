//! Liveness and readiness probes.

use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, problem::Problem};
use crate::problems;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz))
}

#[derive(Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(pattern = "^(ok|ready)$", max_length = 5, example = "ok")]
    pub status: &'static str,
}

problems!(HealthzErrors:);
problems!(ReadyzErrors:);

/// Liveness
///
/// The process is up and serving HTTP. Does not touch the database.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "Alive", body = HealthResponse), HealthzErrors))]
pub async fn healthz() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok" })
}

/// Readiness
///
/// The database answers, and this binary knows every migration applied to
/// it (else it refuses writes: `schema-ahead-of-binary`). A 503 means this
/// instance should get no traffic.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200, description = "Ready", body = HealthResponse), ReadyzErrors))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<HealthResponse>, Problem> {
    if state.db.schema_ahead() {
        return Err(super::schema_fence::fenced());
    }
    state.db.ping().await.map_err(|err| {
        tracing::warn!(error = %err, "readiness check failed");
        Problem::unavailable("The database does not answer.")
    })?;
    Ok(Json(HealthResponse { status: "ready" }))
}
