//! The application as served (`app`): the routes, Swagger UI, the demo
//! page, and the middleware every request goes through, in order.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, HeaderValue, Method, StatusCode, Uri},
    middleware,
};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    services::ServeDir,
    set_header::SetResponseHeaderLayer,
    timeout::TimeoutLayer,
};
use utoipa_swagger_ui::SwaggerUi;

use super::{
    auth, idempotency, observe,
    openapi::openapi,
    own_buffers,
    problem::{self, Problem, ProblemContext, ProblemType},
    rate_limit,
    routes::{api_routes, ops_routes},
    schema_fence,
    state::AppState,
};
use crate::auth::Authenticator;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Limits applied to every request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub body_bytes: usize,
    pub request_timeout: Duration,
}

/// What the edge of the API needs besides the routes.
#[derive(Clone)]
pub struct Edge {
    pub limits: Limits,
    pub authenticator: Arc<Authenticator>,
    pub rate_limit_per_second: u64,
    pub rate_limit_burst: u32,
    pub cors_origins: Vec<String>,
    pub idempotency: crate::service::idempotency::Policy,
    /// Static files served at `/demo` (the example booking page), if any.
    pub demo_dir: Option<std::path::PathBuf>,
}

/// The complete application: routes, Swagger UI, and the middleware stack.
pub fn app(state: AppState, edge: Edge) -> Router {
    let problem_context = ProblemContext { base: state.public_url.to_string() };
    let idempotency_state = idempotency::IdempotencyState {
        db: state.db.clone(),
        problems: problem_context.clone(),
        policy: edge.idempotency,
    };
    // Route layers run outside-in from the last one added: admission,
    // authenticate, rate-limit, the schema fence, Idempotency-Key, then
    // the handler.
    //
    // Admission control: at most `BERTH_MAX_IN_FLIGHT` API requests run at once,
    // the rest wait in arrival order (the request timeout bounds the wait:
    // 503 + Retry-After). Past the pool's size a running request would only
    // wait for a connection anyway, but with its whole handler state
    // allocated: at 2,000 simultaneous bookings that was ~50 MiB of the
    // server's 125 MiB peak heap (heaptrack); a waiting one holds its request.
    let api = Router::<AppState>::from(api_routes())
        .route_layer(middleware::from_fn_with_state(idempotency_state, idempotency::idempotency))
        .route_layer(middleware::from_fn_with_state(state.db.clone(), schema_fence::refuse_writes));
    let api = rate_limit::with_rate_limit(api, edge.rate_limit_per_second, edge.rate_limit_burst)
        .route_layer(middleware::from_fn_with_state(edge.authenticator.clone(), auth::authenticate))
        .route_layer(GlobalConcurrencyLimitLayer::with_semaphore(state.admission.slots.clone()));
    let mut router = api
        .merge(Router::<AppState>::from(ops_routes()))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi()));
    if let Some(dir) = &edge.demo_dir {
        // The example booking page, on the API's own origin (no CORS).
        router = router.nest_service("/demo", ServeDir::new(dir).append_index_html_on_directories(true));
    }
    let router =
        router.route_layer(middleware::from_fn(observe::stash_route)).fallback(unknown_route).with_state(state);
    let router = with_middleware(router, problem_context, edge.limits);
    match cors(&edge.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// CORS for browser frontends on the configured origins, exposing the
/// headers a frontend needs to read.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o.trim()).ok()))
    };
    let header = HeaderName::from_static;
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
                axum::http::header::IF_MATCH,
                header("idempotency-key"),
                // An `EventSource` reconnecting to a change stream sends it.
                header("last-event-id"),
                REQUEST_ID,
            ])
            .expose_headers([
                axum::http::header::ALLOW,
                axum::http::header::ETAG,
                axum::http::header::LOCATION,
                axum::http::header::RETRY_AFTER,
                axum::http::header::WWW_AUTHENTICATE,
                header("idempotent-replayed"),
                rate_limit::RATE_LIMIT,
                rate_limit::RATE_LIMIT_POLICY,
                REQUEST_ID,
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// Wraps `router` in the middleware every request goes through. Public so
/// that tests can put the real stack around routes that misbehave on purpose.
pub fn with_middleware(router: Router, problem_context: ProblemContext, limits: Limits) -> Router {
    // Layers run outside-in from the bottom up: the request id exists
    // before anything logs, and `finish_problems` sees every error
    // response, including those of the limit, timeout and panic layers.
    router
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(limits.body_bytes))
        .layer(middleware::map_request(own_buffers::own_small_body))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, limits.request_timeout))
        .layer(CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
            tracing::error!("a handler panicked");
            axum::response::IntoResponse::into_response(Problem::internal())
        }))
        .layer(middleware::from_fn_with_state(problem_context, problem::finish_problems))
        .layer(SetResponseHeaderLayer::overriding(
            axum::http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(middleware::from_fn(observe::observe))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(middleware::from_fn(observe::keep_only_uuid_request_ids))
}

async fn unknown_route(uri: Uri) -> Problem {
    Problem::new(ProblemType::NotFound, format!("No route matches {}.", uri.path()))
}
