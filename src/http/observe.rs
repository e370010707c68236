//! One log line and one set of metrics per request: method, matched route
//! (never the raw path, which holds ids), status, latency, request id and
//! principal. The route and the principal are only known inside the router,
//! so route layers leave them in the response's extensions for this
//! outermost middleware to read.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use tracing::Instrument;

use crate::telemetry;

/// Outermost: a client's own `x-request-id` is kept when it is a UUID (so a
/// trace can cross services) and replaced by a fresh one otherwise. The id
/// is stored with every history event and quoted as `urn:uuid:…` in
/// problems, so it must be one (and bounded: it used to reach a varchar).
pub async fn keep_only_uuid_request_ids(mut request: Request, next: Next) -> Response {
    let header = request.headers().get("x-request-id");
    let foreign = header.is_some_and(|v| v.to_str().ok().and_then(|v| uuid::Uuid::parse_str(v).ok()).is_none());
    if foreign {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

/// The matched route template, left in the response by `stash_route`.
#[derive(Clone)]
struct RouteName(String);

/// Who called, left in the response by authentication.
#[derive(Clone)]
pub struct CallerName(pub String);

/// Route layer: remembers the matched route for `observe`.
pub async fn stash_route(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(RouteName(route));
    }
    response
}

/// Middleware: a span per request (so every log line carries the request
/// id), then the access log line and the request metrics.
pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let span = tracing::info_span!("request", %method, request_id = %request_id);
    let response = next.run(request).instrument(span.clone()).await;
    let latency = started.elapsed();
    let route = response.extensions().get::<RouteName>().map_or("unmatched", |r| r.0.as_str());
    let principal = response.extensions().get::<CallerName>().map_or("anonymous", |c| c.0.as_str());
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    let _entered = span.enter();
    if status >= 500 {
        tracing::error!(target: "berth::access", %method, route, status, latency_ms, principal, "request");
    } else {
        tracing::info!(target: "berth::access", %method, route, status, latency_ms, principal, "request");
    }
    telemetry::http_request(route, method.as_str(), status, latency);
    response
}
