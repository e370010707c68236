//! The `Problem` value: an error on its way to the client, its typed
//! constructors, and its rendering as `application/problem+json`.
//!
//! `Problem::into_response` only parks the problem in the response's
//! extensions; `middleware::finish_problems` renders it, because the body
//! needs request context (the `instance` and the `type` base).

use axum::{
    body::Body,
    http::{HeaderName, HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::catalogue::ProblemType;

pub const PROBLEM_JSON: &str = "application/problem+json";
/// Seconds a client should wait before retrying a 503 or a lost race.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// The most a problem says, as the `Problem` schema states: a `detail`
/// quoting a long input is cut, and a 422 lists the first invalid values.
pub const MAX_DETAIL_CHARS: usize = 2000;
pub const MAX_FIELD_ERRORS: usize = 100;
pub const MAX_POINTER_CHARS: usize = 512;
pub const MAX_FIELD_DETAIL_CHARS: usize = 500;

/// One invalid value: where it is and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON Pointer (RFC 6901) to the value: into the body, or `/name` of a
    /// query parameter.
    #[schema(max_length = 512)]
    pub pointer: String,
    #[schema(max_length = 500)]
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
        let detail = clip(detail.into(), MAX_DETAIL_CHARS);
        let mut problem = Self { kind, detail, extensions: Vec::new(), headers: Vec::new() };
        match kind {
            ProblemType::ServiceUnavailable
            | ProblemType::SchemaAheadOfBinary
            | ProblemType::RateLimited
            | ProblemType::IdempotencyKeyInUse => {
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

    pub fn validation(mut errors: Vec<FieldError>) -> Self {
        let count = errors.len();
        errors.truncate(MAX_FIELD_ERRORS);
        for error in &mut errors {
            error.pointer = clip(std::mem::take(&mut error.pointer), MAX_POINTER_CHARS);
            error.detail = clip(std::mem::take(&mut error.detail), MAX_FIELD_DETAIL_CHARS);
        }
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
        body.insert("code".into(), Value::String(info.slug.into()));
        body.insert("title".into(), Value::String(info.title.into()));
        body.insert("status".into(), Value::from(info.status));
        body.insert("detail".into(), Value::String(self.detail.clone()));
        if let Some(instance) = instance {
            body.insert("instance".into(), Value::String(instance.into()));
        }
        for (name, value) in &self.extensions {
            let mut value = value.clone();
            rebase_nested_types(&mut value, base);
            body.insert(name.clone(), value);
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

/// Problems nested in a member (a series' refused occurrences) carry their
/// `type` relative (`/problems/<slug>`): it takes the response's base here.
fn rebase_nested_types(value: &mut Value, base: &str) {
    let Value::Array(items) = value else { return };
    for item in items {
        if let Some(Value::String(kind)) = item.get_mut("type")
            && kind.starts_with("/problems/")
        {
            *kind = format!("{base}{kind}");
        }
    }
}

/// `text`, cut to at most `max` characters (the last one `…` when cut).
fn clip(mut text: String, max: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(max.saturating_sub(1))
        && text[cut..].chars().nth(1).is_some()
    {
        text.truncate(cut);
        text.push('…');
    }
    text
}

fn display_pointer(pointer: &str) -> &str {
    if pointer.is_empty() { "the body" } else { pointer }
}

/// Parks the problem for `finish_problems`, which has the request context.
#[derive(Clone)]
pub(super) struct PendingProblem(pub(super) Problem);

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = self.kind.status().into_response();
        response.extensions_mut().insert(PendingProblem(self));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_standard_members() {
        let body = Problem::new(ProblemType::AlreadyExists, "taken")
            .with("field", "name")
            .body("https://berth.example", Some("urn:uuid:x"));
        assert_eq!(body["type"], "https://berth.example/problems/already-exists");
        assert_eq!(body["code"], "already-exists");
        assert_eq!(body["status"], 409);
        assert_eq!(body["title"], "Already exists");
        assert_eq!(body["detail"], "taken");
        assert_eq!(body["instance"], "urn:uuid:x");
        assert_eq!(body["field"], "name");
    }

    #[test]
    fn long_details_and_long_error_lists_are_cut_to_what_the_schema_states() {
        assert_eq!(clip("abc".into(), 3), "abc");
        assert_eq!(clip("abcd".into(), 3), "ab…");
        assert_eq!(clip("ééé".into(), 3), "ééé");
        assert_eq!(clip("éééé".into(), 3), "éé…");
        let long = Problem::new(ProblemType::NotFound, "x".repeat(5000));
        assert_eq!(long.detail.chars().count(), MAX_DETAIL_CHARS);
        let errors =
            (0..150).map(|i| FieldError { pointer: format!("/{}", "p".repeat(600 + i)), detail: "d".repeat(900) });
        let problem = Problem::validation(errors.collect());
        assert_eq!(problem.detail, "The request has 150 invalid values.");
        let Some((_, Value::Array(listed))) = problem.extensions.iter().find(|(name, _)| name == "errors") else {
            panic!("no errors member")
        };
        assert_eq!(listed.len(), MAX_FIELD_ERRORS);
        for error in listed {
            assert_eq!(error["pointer"].as_str().unwrap().chars().count(), MAX_POINTER_CHARS);
            assert_eq!(error["detail"].as_str().unwrap().chars().count(), MAX_FIELD_DETAIL_CHARS);
        }
    }
}
