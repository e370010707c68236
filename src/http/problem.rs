//! RFC 9457 problem details: the catalogue of every problem type berth can
//! answer with, the one place where errors become `application/problem+json`,
//! and the middleware that turns the framework's own bare rejections (405
//! from the router, 413 from the body limit, timeouts, panics) into problems
//! too.
//!
//! A handler returns `Err(Problem)`. `Problem::into_response` only parks the
//! problem in the response's extensions; `finish_problems` (a middleware that
//! sees the request) renders it, because the body needs request context: the
//! `instance` (the request id as `urn:uuid:...`) and the absolute `type` base
//! (`BERTH_PUBLIC_URL`). Without a public URL, `type` is the relative
//! reference `/problems/<slug>`, which RFC 9457 allows.

use std::collections::BTreeMap;

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::{
    ToSchema,
    openapi::{
        ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, example::ExampleBuilder,
        response::Response as OaResponse,
    },
};

pub const PROBLEM_JSON: &str = "application/problem+json";
/// Seconds a client should wait before retrying a 503 or a lost race.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// Every problem type berth answers with. Slugs never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProblemType {
    CapacityExceeded,
    DuplicateBooking,
    InvalidStateTransition,
    HoldExpired,
    ResourceInactive,
    CapacityBelowCommitments,
    ResourceHasBookings,
    AlreadyExists,
    IdempotencyKeyInUse,
    PreconditionFailed,
    PreconditionRequired,
    ValidationError,
    IdempotencyKeyReused,
    MalformedRequest,
    IdempotencyKeyInvalid,
    Unauthenticated,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    InternalError,
    ServiceUnavailable,
}

/// What the catalogue says about one problem type.
pub struct ProblemInfo {
    pub slug: &'static str,
    pub status: u16,
    pub title: &'static str,
    /// When it happens and what a client should do, for the docs page.
    pub when: &'static str,
    /// Extension members: (name, meaning).
    pub members: &'static [(&'static str, &'static str)],
    /// A response header that comes with it: (name, meaning).
    pub header: Option<(&'static str, &'static str)>,
}

impl ProblemType {
    pub const ALL: [ProblemType; 24] = [
        Self::CapacityExceeded,
        Self::DuplicateBooking,
        Self::InvalidStateTransition,
        Self::HoldExpired,
        Self::ResourceInactive,
        Self::CapacityBelowCommitments,
        Self::ResourceHasBookings,
        Self::AlreadyExists,
        Self::IdempotencyKeyInUse,
        Self::PreconditionFailed,
        Self::PreconditionRequired,
        Self::ValidationError,
        Self::IdempotencyKeyReused,
        Self::MalformedRequest,
        Self::IdempotencyKeyInvalid,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RateLimited,
        Self::InternalError,
        Self::ServiceUnavailable,
    ];

    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.info().slug == slug)
    }

    pub fn slug(self) -> &'static str {
        self.info().slug
    }

    pub fn status(self) -> StatusCode {
        StatusCode::from_u16(self.info().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn info(self) -> &'static ProblemInfo {
        use ProblemType::*;
        const RETRY: Option<(&str, &str)> = Some(("Retry-After", "seconds to wait before retrying"));
        match self {
            CapacityExceeded => &ProblemInfo {
                slug: "capacity-exceeded",
                status: 409,
                title: "Capacity exceeded",
                when: "The requested quantity does not fit: at some instant of the interval the resource's blocking bookings plus the request would exceed its capacity. Retry with at most `available` units, or another interval.",
                members: &[
                    ("resource_id", "the resource asked for"),
                    ("capacity", "the resource's capacity"),
                    ("requested", "the quantity asked for"),
                    ("available", "the largest quantity that would fit over the whole interval"),
                ],
                header: None,
            },
            DuplicateBooking => &ProblemInfo {
                slug: "duplicate-booking",
                status: 409,
                title: "Duplicate booking",
                when: "The customer already holds a blocking booking of this resource that overlaps the interval.",
                members: &[("existing_booking_id", "the booking that overlaps")],
                header: None,
            },
            InvalidStateTransition => &ProblemInfo {
                slug: "invalid-state-transition",
                status: 409,
                title: "Invalid state transition",
                when: "The action is not allowed from the booking's current status.",
                members: &[
                    ("current_status", "the booking's status now"),
                    ("action", "the action that was refused"),
                    ("allowed_actions", "the actions allowed from the current status"),
                ],
                header: None,
            },
            HoldExpired => &ProblemInfo {
                slug: "hold-expired",
                status: 409,
                title: "Hold expired",
                when: "The hold ran out before it was confirmed; the booking is now `expired`. Book again.",
                members: &[("hold_expired_at", "when the hold ran out")],
                header: None,
            },
            ResourceInactive => &ProblemInfo {
                slug: "resource-inactive",
                status: 409,
                title: "Resource inactive",
                when: "The resource is deactivated: it takes no new bookings or reschedules.",
                members: &[("resource_id", "the inactive resource")],
                header: None,
            },
            CapacityBelowCommitments => &ProblemInfo {
                slug: "capacity-below-commitments",
                status: 409,
                title: "Capacity below commitments",
                when: "The new capacity is lower than the peak usage of the resource's future blocking bookings.",
                members: &[("peak_usage", "the highest number of units booked at one instant in the future")],
                header: None,
            },
            ResourceHasBookings => &ProblemInfo {
                slug: "resource-has-bookings",
                status: 409,
                title: "Resource has bookings",
                when: "The resource has future blocking bookings and cannot be deleted; deactivate it instead.",
                members: &[("blocking_bookings", "how many future blocking bookings it has")],
                header: None,
            },
            AlreadyExists => &ProblemInfo {
                slug: "already-exists",
                status: 409,
                title: "Already exists",
                when: "Another object already uses this unique value (resource names and customer e-mails are unique, ignoring case).",
                members: &[("field", "the field whose value is taken")],
                header: None,
            },
            IdempotencyKeyInUse => &ProblemInfo {
                slug: "idempotency-key-in-use",
                status: 409,
                title: "Idempotency key in use",
                when: "A request with this Idempotency-Key is still being processed. Retry after `Retry-After` seconds to get its outcome.",
                members: &[],
                header: RETRY,
            },
            PreconditionFailed => &ProblemInfo {
                slug: "precondition-failed",
                status: 412,
                title: "Precondition failed",
                when: "The `If-Match` ETag does not match the current version: someone changed the object since you read it. Nothing was changed; read it again and reapply.",
                members: &[("current_etag", "the object's current ETag")],
                header: None,
            },
            PreconditionRequired => &ProblemInfo {
                slug: "precondition-required",
                status: 428,
                title: "Precondition required",
                when: "This write needs an `If-Match` header with the ETag you last read, so that it cannot overwrite a change you have not seen.",
                members: &[("required_header", "the header to send")],
                header: None,
            },
            ValidationError => &ProblemInfo {
                slug: "validation-error",
                status: 422,
                title: "Validation error",
                when: "The request is well-formed but some values are not acceptable. Each entry of `errors` points at one value (a JSON Pointer into the body, or `/name` of a query parameter).",
                members: &[("errors", "a list of `{pointer, detail}`")],
                header: None,
            },
            IdempotencyKeyReused => &ProblemInfo {
                slug: "idempotency-key-reused",
                status: 422,
                title: "Idempotency key reused",
                when: "This Idempotency-Key was already used for a different request. Use a new key for a new request.",
                members: &[],
                header: None,
            },
            MalformedRequest => &ProblemInfo {
                slug: "malformed-request",
                status: 400,
                title: "Malformed request",
                when: "The request cannot be parsed: the body is not valid JSON, or a header has invalid syntax.",
                members: &[],
                header: None,
            },
            IdempotencyKeyInvalid => &ProblemInfo {
                slug: "idempotency-key-invalid",
                status: 400,
                title: "Idempotency key invalid",
                when: "The Idempotency-Key header is not 1 to 255 visible ASCII characters (optionally in double quotes).",
                members: &[],
                header: None,
            },
            Unauthenticated => &ProblemInfo {
                slug: "unauthenticated",
                status: 401,
                title: "Unauthenticated",
                when: "The request has no valid bearer token.",
                members: &[],
                header: Some(("WWW-Authenticate", "the authentication scheme: Bearer")),
            },
            Forbidden => &ProblemInfo {
                slug: "forbidden",
                status: 403,
                title: "Forbidden",
                when: "The token is valid but its role may not do this.",
                members: &[],
                header: None,
            },
            NotFound => &ProblemInfo {
                slug: "not-found",
                status: 404,
                title: "Not found",
                when: "No such object (or it is not yours to see), or no such route.",
                members: &[],
                header: None,
            },
            MethodNotAllowed => &ProblemInfo {
                slug: "method-not-allowed",
                status: 405,
                title: "Method not allowed",
                when: "The route exists but not with this method.",
                members: &[],
                header: Some(("Allow", "the methods the route accepts")),
            },
            PayloadTooLarge => &ProblemInfo {
                slug: "payload-too-large",
                status: 413,
                title: "Payload too large",
                when: "The request body is larger than the configured limit (1 MiB by default).",
                members: &[],
                header: None,
            },
            UnsupportedMediaType => &ProblemInfo {
                slug: "unsupported-media-type",
                status: 415,
                title: "Unsupported media type",
                when: "The body must be sent as `Content-Type: application/json`.",
                members: &[],
                header: None,
            },
            RateLimited => &ProblemInfo {
                slug: "rate-limited",
                status: 429,
                title: "Rate limited",
                when: "Too many requests from this caller. Wait `Retry-After` seconds.",
                members: &[],
                header: RETRY,
            },
            InternalError => &ProblemInfo {
                slug: "internal-error",
                status: 500,
                title: "Internal error",
                when: "A bug in berth. The details are in the server log under the `instance` request id.",
                members: &[],
                header: None,
            },
            ServiceUnavailable => &ProblemInfo {
                slug: "service-unavailable",
                status: 503,
                title: "Service unavailable",
                when: "The database is unreachable, the request timed out, or a write lost too many races in a row. Nothing was changed; retry after `Retry-After` seconds.",
                members: &[],
                header: RETRY,
            },
        }
    }

    /// A realistic example body, used in the OpenAPI document.
    pub fn example(self) -> Value {
        use ProblemType::*;
        let info = self.info();
        let (detail, members) = match self {
            CapacityExceeded => (
                "Only 2 of the 3 requested units are free over the whole interval.",
                json!({"resource_id": "0193a5c2-7b1e-7c3a-9d2e-1f4b5c6d7e8f", "capacity": 10, "requested": 3, "available": 2}),
            ),
            DuplicateBooking => (
                "The customer already has a booking of this resource that overlaps the interval.",
                json!({"existing_booking_id": "0193a5c2-8c2f-7d4b-8e3f-2a5b6c7d8e9f"}),
            ),
            InvalidStateTransition => (
                "A cancelled booking cannot be confirmed.",
                json!({"current_status": "cancelled", "action": "confirm", "allowed_actions": []}),
            ),
            HoldExpired => {
                ("The hold expired before it was confirmed.", json!({"hold_expired_at": "2026-11-22T10:10:00Z"}))
            }
            ResourceInactive => (
                "The resource is inactive and takes no new bookings.",
                json!({"resource_id": "0193a5c2-7b1e-7c3a-9d2e-1f4b5c6d7e8f"}),
            ),
            CapacityBelowCommitments => {
                ("Future bookings use up to 8 units at once; capacity cannot go below that.", json!({"peak_usage": 8}))
            }
            ResourceHasBookings => {
                ("The resource has 3 future blocking bookings; deactivate it instead.", json!({"blocking_bookings": 3}))
            }
            AlreadyExists => ("A resource named 'Court 1' already exists.", json!({"field": "name"})),
            PreconditionFailed => ("The ETag in If-Match is not the current one.", json!({"current_etag": "\"4\""})),
            PreconditionRequired => ("This request needs an If-Match header.", json!({"required_header": "If-Match"})),
            ValidationError => (
                "The request has 1 invalid value.",
                json!({"errors": [{"pointer": "/capacity", "detail": "must be between 1 and 1000000"}]}),
            ),
            _ => (info.when, json!({})),
        };
        let mut body = json!({
            "type": format!("/problems/{}", info.slug),
            "title": info.title,
            "status": info.status,
            "detail": detail,
            "instance": "urn:uuid:0193a5c2-9d3a-7e5c-af4a-3b6c7d8e9fa0",
        });
        if let (Some(body), Value::Object(members)) = (body.as_object_mut(), members) {
            body.extend(members);
        }
        body
    }
}

/// One invalid value: where it is and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON Pointer (RFC 6901) to the value: into the body, or `/name` of a
    /// query parameter.
    pub pointer: String,
    pub detail: String,
}

/// An error on its way to the client. Build it with `Problem::new` and the
/// typed helpers; it renders as `application/problem+json`.
#[derive(Clone, Debug)]
pub struct Problem {
    pub kind: ProblemType,
    pub detail: String,
    pub extensions: Vec<(String, Value)>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        let mut problem = Self { kind, detail: detail.into(), extensions: Vec::new(), headers: Vec::new() };
        match kind {
            ProblemType::ServiceUnavailable | ProblemType::RateLimited | ProblemType::IdempotencyKeyInUse => {
                problem.headers.push((header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS)));
            }
            ProblemType::Unauthenticated => {
                problem.headers.push((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            _ => {}
        }
        problem
    }

    /// Adds an extension member.
    pub fn with(mut self, name: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.extensions.retain(|(existing, _)| existing != name);
        self.extensions.push((name.to_owned(), value));
        self
    }

    /// Sets `Retry-After` to `seconds`.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.headers.retain(|(name, _)| name != header::RETRY_AFTER);
        self.headers.push((header::RETRY_AFTER, HeaderValue::from(seconds)));
        self
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::MalformedRequest, detail)
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let count = errors.len();
        let detail = match errors.as_slice() {
            [only] => format!("{}: {}", display_pointer(&only.pointer), only.detail),
            _ => format!("The request has {count} invalid values."),
        };
        Self::new(ProblemType::ValidationError, detail).with("errors", errors)
    }

    pub fn invalid(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::validation(vec![FieldError { pointer: pointer.into(), detail: detail.into() }])
    }

    pub fn internal() -> Self {
        Self::new(ProblemType::InternalError, "An unexpected error occurred. It has been logged.")
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::ServiceUnavailable, detail)
    }

    /// The JSON body, with `type` under `base` and the given `instance`.
    pub fn body(&self, base: &str, instance: Option<&str>) -> Value {
        let info = self.kind.info();
        let mut body = Map::new();
        body.insert("type".into(), Value::String(format!("{base}/problems/{}", info.slug)));
        body.insert("title".into(), Value::String(info.title.into()));
        body.insert("status".into(), Value::from(info.status));
        body.insert("detail".into(), Value::String(self.detail.clone()));
        if let Some(instance) = instance {
            body.insert("instance".into(), Value::String(instance.into()));
        }
        for (name, value) in &self.extensions {
            body.insert(name.clone(), value.clone());
        }
        Value::Object(body)
    }

    /// The complete response.
    pub fn render(&self, base: &str, instance: Option<&str>) -> Response {
        let body = self.body(base, instance).to_string();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.kind.status();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        response
    }
}

fn display_pointer(pointer: &str) -> &str {
    if pointer.is_empty() { "the body" } else { pointer }
}

/// Parks the problem for `finish_problems`, which has the request context.
#[derive(Clone)]
struct PendingProblem(Problem);

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = self.kind.status().into_response();
        response.extensions_mut().insert(PendingProblem(self));
        response
    }
}

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

/// The `Problem` schema of the OpenAPI document: the standard members plus
/// every extension member any problem type uses (each present only for its
/// types; see `/problems/{slug}`).
#[derive(Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemSchema {
    /// URI reference identifying the problem type; `GET` it for a description.
    #[schema(example = "/problems/capacity-exceeded")]
    pub r#type: String,
    pub title: String,
    /// The HTTP status code, repeated.
    pub status: u16,
    /// What happened this time, for humans.
    pub detail: String,
    /// This occurrence: `urn:uuid:<request id>`, to quote when reporting.
    pub instance: Option<String>,
    pub resource_id: Option<uuid::Uuid>,
    pub capacity: Option<i64>,
    pub requested: Option<i64>,
    pub available: Option<i64>,
    pub existing_booking_id: Option<uuid::Uuid>,
    pub current_status: Option<String>,
    pub action: Option<String>,
    pub allowed_actions: Option<Vec<String>>,
    pub hold_expired_at: Option<chrono::DateTime<chrono::Utc>>,
    pub peak_usage: Option<i64>,
    pub blocking_bookings: Option<i64>,
    pub field: Option<String>,
    pub current_etag: Option<String>,
    pub required_header: Option<String>,
    pub errors: Option<Vec<FieldError>>,
}

/// OpenAPI responses for a set of problem types, grouped by status, each
/// type a named example.
pub fn problem_responses(kinds: &[ProblemType]) -> BTreeMap<String, RefOr<OaResponse>> {
    let mut by_status: BTreeMap<u16, Vec<ProblemType>> = BTreeMap::new();
    for kind in kinds {
        by_status.entry(kind.info().status).or_default().push(*kind);
    }
    by_status
        .into_iter()
        .map(|(status, kinds)| {
            let description =
                kinds.iter().map(|k| format!("`{}`: {}", k.slug(), k.info().when)).collect::<Vec<_>>().join("\n\n");
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .examples_from_iter(kinds.iter().map(|k| {
                    (k.slug(), ExampleBuilder::new().summary(k.info().title).value(Some(k.example())).build())
                }))
                .build();
            let mut response = ResponseBuilder::new().description(description).content(PROBLEM_JSON, content);
            for kind in &kinds {
                if let Some((name, meaning)) = kind.info().header {
                    response = response.header(
                        name,
                        HeaderBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String)))
                            .description(Some(meaning))
                            .build(),
                    );
                }
            }
            (status.to_string(), RefOr::T(response.build()))
        })
        .collect()
}

/// Declares a type whose `IntoResponses` documents the given problem types;
/// list it in a handler's `responses(...)`. Every operation also gets
/// `internal-error` and `service-unavailable`, which any route can answer;
/// `/v1` operations (`problems!(Name, api: ...)`) also get `unauthenticated`
/// (a bad token is refused everywhere) and `rate-limited`.
#[macro_export]
macro_rules! problems {
    ($(#[$doc:meta])* $name:ident, api: $($kind:ident),* $(,)?) => {
        $crate::problems!($(#[$doc])* $name: $($kind,)* Unauthenticated, RateLimited);
    };
    ($(#[$doc:meta])* $name:ident: $($kind:ident),* $(,)?) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                use $crate::http::problem::ProblemType::*;
                $crate::http::problem::problem_responses(&[$($kind,)* InternalError, ServiceUnavailable])
            }
        }
    };
}

impl From<crate::service::ServiceError> for Problem {
    fn from(err: crate::service::ServiceError) -> Self {
        use crate::service::ServiceError;
        match err {
            ServiceError::NotFound => Problem::new(ProblemType::NotFound, "No object with this id."),
            ServiceError::AlreadyExists { field } => {
                Problem::new(ProblemType::AlreadyExists, format!("Another object already has this {field}."))
                    .with("field", field)
            }
            ServiceError::VersionMismatch { current_version } => {
                super::precondition::precondition_failed(current_version)
            }
            ServiceError::Invalid { pointer, detail } => Problem::invalid(pointer, detail),
            ServiceError::InvalidTransition(invalid) => Problem::new(
                ProblemType::InvalidStateTransition,
                format!("A {} booking cannot {}.", invalid.current, invalid.action),
            )
            .with("current_status", invalid.current.as_str())
            .with("action", invalid.action.as_str())
            .with("allowed_actions", invalid.allowed.iter().map(|a| a.as_str()).collect::<Vec<_>>()),
            ServiceError::HoldExpired { at } => {
                Problem::new(ProblemType::HoldExpired, "The hold ran out before this request; the booking is expired.")
                    .with("hold_expired_at", at)
            }
            ServiceError::ResourceInactive { resource_id } => {
                Problem::new(ProblemType::ResourceInactive, "The resource is inactive and takes no new bookings.")
                    .with("resource_id", resource_id.0)
            }
            ServiceError::DuplicateBooking { existing } => Problem::new(
                ProblemType::DuplicateBooking,
                "The customer already has a booking of this resource that overlaps the interval.",
            )
            .with("existing_booking_id", existing.0),
            ServiceError::CapacityExceeded { resource_id, capacity, requested, available } => Problem::new(
                ProblemType::CapacityExceeded,
                format!("Only {available} of the {requested} requested units are free over the whole interval."),
            )
            .with("resource_id", resource_id.0)
            .with("capacity", capacity)
            .with("requested", requested)
            .with("available", available),
            ServiceError::CapacityBelowCommitments { peak_usage } => Problem::new(
                ProblemType::CapacityBelowCommitments,
                format!("Future bookings use up to {peak_usage} units at once; capacity cannot go below that."),
            )
            .with("peak_usage", peak_usage),
            ServiceError::HasBookings { blocking_bookings } => Problem::new(
                ProblemType::ResourceHasBookings,
                format!("It has {blocking_bookings} future blocking bookings; cancel them or deactivate instead."),
            )
            .with("blocking_bookings", blocking_bookings),
            ServiceError::IdempotencyClaimLost => Problem::new(
                ProblemType::IdempotencyKeyInUse,
                "Another request with this Idempotency-Key took over; nothing was changed by this one.",
            ),
            ServiceError::Unavailable(source) => {
                tracing::warn!(error = %source, "answering 503: database unavailable or contended");
                Problem::unavailable("The database is busy or unreachable. Nothing was changed; retry later.")
            }
            ServiceError::Internal(source) => {
                tracing::error!(error = ?source, "internal error");
                Problem::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_unique_and_round_trip() {
        for kind in ProblemType::ALL {
            assert_eq!(ProblemType::from_slug(kind.slug()), Some(kind));
        }
        let mut slugs: Vec<_> = ProblemType::ALL.iter().map(|k| k.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), ProblemType::ALL.len());
    }

    #[test]
    fn examples_carry_their_declared_members_and_status() {
        for kind in ProblemType::ALL {
            let example = kind.example();
            assert_eq!(example["status"], kind.info().status, "{}", kind.slug());
            for (member, _) in kind.info().members {
                assert!(example.get(member).is_some(), "{} example lacks {member}", kind.slug());
            }
        }
    }

    #[test]
    fn body_has_the_standard_members() {
        let body = Problem::new(ProblemType::AlreadyExists, "taken")
            .with("field", "name")
            .body("https://berth.example", Some("urn:uuid:x"));
        assert_eq!(body["type"], "https://berth.example/problems/already-exists");
        assert_eq!(body["status"], 409);
        assert_eq!(body["title"], "Already exists");
        assert_eq!(body["detail"], "taken");
        assert_eq!(body["instance"], "urn:uuid:x");
        assert_eq!(body["field"], "name");
    }
}
