//! `GET /metrics`: Prometheus text format. Protected: send
//! `Authorization: Bearer <BERTH_METRICS_TOKEN>` (what a Prometheus scrape
//! config's `bearer_token` does), or an admin JWT.

use axum::{
    extract::State,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState,
    problem::{Problem, ProblemType},
};
use crate::{auth::Principal, problems, telemetry};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_metrics))
}

problems!(GetMetricsErrors: Unauthenticated, Forbidden);

fn same_secret(a: &str, b: &str) -> bool {
    // Compare digests: equal-length, so the comparison's timing says nothing.
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

/// Metrics
///
/// Request counts and latency by route, method and status class; problems
/// by type; bookings and holds; idempotent replays; transaction retries;
/// the database pool; `/v1` requests running (admission slots taken);
/// background task runs and rows. Needs the metrics
/// token or an admin token.
#[utoipa::path(
    get, path = "/metrics", tag = "operations", security(("bearer_auth" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        GetMetricsErrors,
    )
)]
pub async fn get_metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Problem> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or_else(|| Problem::new(ProblemType::Unauthenticated, "Send the metrics token or an admin token."))?;
    let by_metrics_token = state.metrics_token.as_deref().is_some_and(|expected| same_secret(token, expected));
    if !by_metrics_token {
        match state.authenticator.verify(token) {
            Ok(Principal::Admin { .. }) => {}
            Ok(_) => return Err(Problem::new(ProblemType::Forbidden, "Only admins may read metrics.")),
            Err(_) => return Err(Problem::new(ProblemType::Unauthenticated, "The token was refused.")),
        }
    }
    let (in_use, idle) = state.db.pool_stats();
    telemetry::db_pool(in_use, idle);
    telemetry::api_requests_running(state.admission.running());
    let body = telemetry::prometheus().map(|handle| handle.render()).unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response())
}
