//! The middleware that renders every problem with its request context
//! (`instance` = `urn:uuid:<request id>`, `type` under `BERTH_PUBLIC_URL`),
//! and turns the framework's own bare error responses (the router's 405,
//! tower-http's 413 and timeouts, panics) into problems too.

use axum::{
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::Response,
};

use super::{
    catalogue::ProblemType,
    value::{PROBLEM_JSON, PendingProblem, Problem},
};

/// Request context the renderer needs.
#[derive(Clone)]
pub struct ProblemContext {
    /// Prefix of `type` URIs: `BERTH_PUBLIC_URL` without a trailing slash, or "".
    pub base: String,
}

/// Middleware: renders every problem with its request context, and turns any
/// other error response (the router's 405, tower-http's 413 and timeouts) into
/// the matching problem, keeping headers such as `Allow`.
pub async fn finish_problems(State(ctx): State<ProblemContext>, request: Request, next: Next) -> Response {
    let instance = instance_of(request.headers());
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    finalize(response, &ctx, instance.as_deref(), &path)
}

/// `urn:uuid:<request id>`, when the request id is a UUID.
pub fn instance_of(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| uuid::Uuid::parse_str(v).ok())
        .map(|id| format!("urn:uuid:{id}"))
}

/// Renders the response's pending problem, or the problem for a bare error
/// status; anything else passes unchanged. `instance` falls back to `path`.
pub fn finalize(mut response: Response, ctx: &ProblemContext, instance: Option<&str>, path: &str) -> Response {
    let (problem, from_bare_status) = match response.extensions_mut().remove::<PendingProblem>() {
        Some(PendingProblem(problem)) => (problem, false),
        None => {
            let status = response.status();
            let is_problem = response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
            if !(status.is_client_error() || status.is_server_error()) || is_problem {
                return response;
            }
            (problem_for_bare_status(status, path), true)
        }
    };
    crate::telemetry::problem(problem.kind.slug());
    let (mut parts, _) = response.into_parts();
    let rendered = problem.render(&ctx.base, instance.or(Some(path)));
    let (rendered_parts, body) = rendered.into_parts();
    parts.status = rendered_parts.status;
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in rendered_parts.headers.iter() {
        // A layer's own headers (the rate limiter's Retry-After) win over
        // the defaults of a problem made up for its bare status.
        if from_bare_status && parts.headers.contains_key(name) && name != header::CONTENT_TYPE {
            continue;
        }
        parts.headers.insert(name.clone(), value.clone());
    }
    Response::from_parts(parts, body)
}

/// The problem for an error response that some layer produced without a body
/// of ours.
fn problem_for_bare_status(status: StatusCode, path: &str) -> Problem {
    match status {
        StatusCode::NOT_FOUND => Problem::new(ProblemType::NotFound, format!("No route matches {path}.")),
        StatusCode::METHOD_NOT_ALLOWED => {
            Problem::new(ProblemType::MethodNotAllowed, "This route does not accept this method; see the Allow header.")
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            Problem::new(ProblemType::PayloadTooLarge, "The request body is larger than the limit.")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            Problem::new(ProblemType::UnsupportedMediaType, "The body must be application/json.")
        }
        StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
            Problem::unavailable("The request did not finish in time. Nothing may have changed; retry later.")
        }
        StatusCode::UNAUTHORIZED => Problem::new(ProblemType::Unauthenticated, "A valid bearer token is required."),
        StatusCode::FORBIDDEN => Problem::new(ProblemType::Forbidden, "Not allowed."),
        StatusCode::TOO_MANY_REQUESTS => Problem::new(ProblemType::RateLimited, "Too many requests."),
        StatusCode::UNPROCESSABLE_ENTITY => Problem::validation(Vec::new()),
        s if s.is_server_error() => Problem::internal(),
        _ => Problem::malformed("The request could not be understood."),
    }
}
