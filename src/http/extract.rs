//! Extractors whose every rejection is a problem: the JSON body (content
//! type, syntax, shape, then `validator` rules), the query string and path
//! ids. JSON is parsed in two steps, syntax first (400 `malformed-request`),
//! then shape through `serde_path_to_error` so that a wrong type answers 422
//! with a JSON Pointer to the value.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Request},
    http::{HeaderMap, header, request::Parts},
};
use serde::{Deserialize, de::DeserializeOwned};
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use super::{
    problem::{FieldError, Problem, ProblemType},
    strict_json::Strict,
};

/// A JSON body, deserialised and validated.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let body = RawBody::from_request(req, state).await?;
        parse_json(&headers, &body.0).map(ApiJson)
    }
}

/// The raw body, for handlers that must check preconditions before they look
/// at the body (docs/design.md §4's order). A body over the limit is a 413 problem.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state).await.map(RawBody).map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(ProblemType::PayloadTooLarge, "The request body is larger than the limit.")
            } else {
                Problem::malformed("The request body could not be read.")
            }
        })
    }
}

/// Checks the content type, parses, deserialises and validates a JSON body.
pub fn parse_json<T: DeserializeOwned + Validate>(headers: &HeaderMap, body: &[u8]) -> Result<T, Problem> {
    if !is_json(headers) {
        return Err(Problem::new(
            ProblemType::UnsupportedMediaType,
            "Send the body as Content-Type: application/json.",
        ));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| Problem::malformed(format!("The body is not valid JSON: {e}.")))?;
    parse_value(value, "")
}

/// An optional body (an action's reason): empty or `null` is `T`'s
/// default; anything else is parsed like `parse_json`.
pub fn optional_json<T: DeserializeOwned + Validate + Default>(headers: &HeaderMap, body: &[u8]) -> Result<T, Problem> {
    if body.is_empty() {
        return Ok(T::default());
    }
    Ok(parse_json::<OrNull<T>>(headers, body)?.0.unwrap_or_default())
}

/// Deserialises and validates a JSON value found at `prefix` of the body;
/// errors point into the body.
pub fn parse_value<T: DeserializeOwned + Validate>(value: serde_json::Value, prefix: &str) -> Result<T, Problem> {
    let parsed: T = serde_path_to_error::deserialize(Strict(integral_numbers(value)))
        .map_err(|error| deserialize_problem(error, prefix))?;
    parsed.validate().map_err(|errors| Problem::validation(field_errors(&errors, prefix)))?;
    Ok(parsed)
}

/// A body that may be JSON `null` (documented as `oneOf [T, null]`).
#[derive(Deserialize)]
#[serde(transparent)]
pub struct OrNull<T>(pub Option<T>);

impl<T: Validate> Validate for OrNull<T> {
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        self.0.as_ref().map_or(Ok(()), Validate::validate)
    }
}

/// JSON Schema counts `3.0` as an integer; serde would refuse it for an
/// `i32`. Numbers with nothing after the point become integers here, so
/// every body the spec calls valid is read as the spec means it.
fn integral_numbers(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(integral_numbers).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, integral_numbers(v))).collect()),
        other => other,
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A serde path (`a.b[0]`) as a JSON Pointer (`/a/b/0`).
fn pointer_from_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        pointer.push('/');
        match segment {
            Segment::Seq { index } => pointer.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"))
            }
            Segment::Unknown => pointer.push('?'),
        }
    }
    // serde reports a missing field at the object holding it (".").
    pointer.strip_suffix("/?").map(str::to_owned).unwrap_or(pointer)
}

/// A deserialisation error as a 422 at the field it is about. serde reports
/// a missing field at the object holding it, but its message names the
/// field (``missing field `from` ``), so the pointer names it too: a
/// frontend maps the error to its input without reading the message.
fn deserialize_problem<E: std::fmt::Display>(error: serde_path_to_error::Error<E>, prefix: &str) -> Problem {
    let detail = error.inner().to_string();
    let mut pointer = format!("{prefix}{}", pointer_from_path(error.path()));
    let missing = detail.strip_prefix("missing field `").and_then(|rest| rest.split_once('`'));
    if let Some((field, _)) = missing {
        pointer.push('/');
        pointer.push_str(&field.replace('~', "~0").replace('/', "~1"));
    }
    Problem::invalid(pointer, detail)
}

/// Flattens validator's errors into pointers, sorted for stable output.
pub fn field_errors(errors: &ValidationErrors, prefix: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    for (field, kind) in errors.errors() {
        let pointer = format!("{prefix}/{field}");
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    let detail = error
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| format!("is invalid ({})", error.code));
                    out.push(FieldError { pointer: pointer.clone(), detail });
                }
            }
            ValidationErrorsKind::Struct(inner) => out.extend(field_errors(inner, &pointer)),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    out.extend(field_errors(inner, &format!("{pointer}/{index}")));
                }
            }
        }
    }
    out.sort_by(|a, b| a.pointer.cmp(&b.pointer));
    out
}

/// A query string, deserialised and validated; errors point at `/<param>`.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

/// `query` (a query string) deserialised and validated, as `ApiQuery`
/// reads it; errors point at `/<param>`.
pub fn parse_query<T: DeserializeOwned + Validate>(query: &str) -> Result<T, Problem> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    let parsed: T = serde_path_to_error::deserialize(deserializer).map_err(|e| deserialize_problem(e, ""))?;
    parsed.validate().map_err(|errors| Problem::validation(field_errors(&errors, "")))?;
    Ok(parsed)
}

/// A path id. An id that is not a UUID cannot name anything: 404, like an
/// unknown id.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|_| Problem::new(ProblemType::NotFound, "No object with this id."))
    }
}
