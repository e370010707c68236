//! `Idempotency-Key` on every `POST` (IETF httpapi draft): the middleware
//! that looks keys up, replays stored responses and records refusals, plus
//! the extractor with which handlers store their response together with
//! their effect, in the effect's own transaction (docs/design.md §6).
//!
//! Scope of a key: the caller (token subject; anonymous callers cannot use
//! keys), the method and the request path. Fingerprint: SHA-256 of the
//! method, path and body, the body parsed and re-serialised with sorted
//! keys so that key order and whitespace do not matter.
//!
//! Stored and replayed: 2xx and 409 outcomes (the request ran and the answer
//! is final). Not stored: everything refused before it ran (400, 401, 403,
//! 404, 412, 413, 415, 422, 428) and 5xx, so the client may fix and retry
//! with the same key.

use axum::{
    Extension,
    body::{Body, Bytes, to_bytes},
    extract::{FromRequestParts, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{
    problem::{self, Problem, ProblemContext, ProblemType},
    reply,
};
use crate::auth::Principal;
use crate::service::{
    Db, ServiceError,
    idempotency::{self as service, Found, Key, Policy, Scope, Seal, StoredResponse},
};

/// What `parse_key` accepts, for the spec.
const KEY_PATTERN: &str = r#"^("[!#-~]{1,255}"|[!#-~]{1,255})$"#;

/// The one path whose use case looks its key up itself: `POST
/// /v1/bookings`, whose one-round-trip booking inserts the key's record
/// and so learns that the key was free without a look-up before it.
const LOOKED_UP_BY_THE_BOOKING: &str = "/v1/bookings";

/// The longest request path a key is kept for.
const MAX_KEYED_PATH_BYTES: usize = 512;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// What the middleware needs.
#[derive(Clone)]
pub struct IdempotencyState {
    pub db: Db,
    pub problems: ProblemContext,
    pub policy: Policy,
}

/// Marks a response that needs no recording by the middleware: stored with
/// the effect, or already what the key holds.
#[derive(Clone, Copy, Debug)]
struct Sealed;

/// The handler's side of the key: run a write with `Keyed::write`, and its
/// response is stored with its effect when the request carried a key.
pub struct Keyed(Option<Key>);

impl<S: Send + Sync> FromRequestParts<S> for Keyed {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Keyed(parts.extensions.get::<Key>().cloned()))
    }
}

impl Keyed {
    /// Runs a write: `run` calls one service use case with the `Seal`, which
    /// stores `render`'s response inside the use case's transaction. The
    /// response is rendered once and sent as stored. When a request with
    /// the same key committed first, this one's effect rolled back and the
    /// answer is what the key holds.
    pub async fn write<T>(
        self,
        render: impl Fn(&T) -> StoredResponse + Send + Sync,
        run: impl AsyncFnOnce(&Seal<'_, T>) -> Result<T, ServiceError>,
    ) -> Result<Response, Problem> {
        let seal = Seal::new(self.0.as_ref(), &render);
        let value = match run(&seal).await {
            Ok(value) => value,
            Err(ServiceError::IdempotencyKeyTaken) => {
                let found = seal.taken().unwrap_or(Found::InFlight);
                return Ok((Extension(Sealed), answer(found).unwrap_or_else(in_use)).into_response());
            }
            Err(err) => return Err(err.into()),
        };
        let keyed = seal.is_keyed();
        let response = reply::send(&seal.into_response(&value));
        Ok(if keyed { (Extension(Sealed), response).into_response() } else { response })
    }
}

/// The answer a key gives instead of running the request; `None` when it
/// gives none (the request runs).
fn answer(found: Found) -> Option<Response> {
    match found {
        Found::Nothing => None,
        Found::Replay(mut stored) => {
            stored.body = with_problem_codes(stored.body);
            let mut response = reply::send(&stored);
            response.headers_mut().insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
            crate::telemetry::idempotent_replay();
            Some(response)
        }
        Found::InFlight => Some(in_use()),
        Found::Reused => Some(
            Problem::new(
                ProblemType::IdempotencyKeyReused,
                "This Idempotency-Key was used for a different request; use a new key.",
            )
            .into_response(),
        ),
    }
}

/// A stored answer as this release writes it: an answer stored by a
/// release before problems carried `code` (design §29) gets it, in the
/// body and in each refused occurrence it lists, from the last segment of
/// `type`. Any other answer is replayed byte for byte.
fn with_problem_codes(body: Vec<u8>) -> Vec<u8> {
    fn add_code(value: &mut serde_json::Value) -> bool {
        let Some(object) = value.as_object_mut() else { return false };
        let mut changed = false;
        if !object.contains_key("code")
            && let Some(slug) = object.get("type").and_then(|t| t.as_str()).and_then(|t| t.rsplit_once("/problems/"))
        {
            let slug = slug.1.to_owned();
            object.insert("code".into(), slug.into());
            changed = true;
        }
        for list in ["occurrences", "skipped"] {
            if let Some(serde_json::Value::Array(items)) = object.get_mut(list) {
                for item in items {
                    changed |= add_code(item);
                }
            }
        }
        changed
    }
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&body) else { return body };
    if add_code(&mut value) { serde_json::to_vec(&value).unwrap_or(body) } else { body }
}

fn in_use() -> Response {
    Problem::new(
        ProblemType::IdempotencyKeyInUse,
        "A request with this Idempotency-Key is still running; retry after Retry-After seconds.",
    )
    .into_response()
}

/// A caller's name as a key's scope keeps it: a `sub` of 255 characters
/// may take 1,020 bytes, and PostgreSQL refuses index entries over 2,704
/// bytes (the path and key share the entry), so a long one is kept as its
/// SHA-256 (still one per caller).
fn bounded(principal: String) -> String {
    if principal.len() <= MAX_PRINCIPAL_BYTES {
        return principal;
    }
    format!("sha256:{}", hex::encode(Sha256::digest(principal.as_bytes())))
}

/// The longest caller name a key's scope keeps as it is.
const MAX_PRINCIPAL_BYTES: usize = 256;

/// The header's key: a quoted string or a bare token of 1..=255 visible
/// ASCII characters. `None` without the header.
fn parse_key(headers: &axum::http::HeaderMap) -> Option<Result<String, Problem>> {
    let mut values = headers.get_all(&IDEMPOTENCY_KEY).iter();
    let first = values.next()?;
    let invalid = || {
        Problem::new(
            ProblemType::IdempotencyKeyInvalid,
            "Idempotency-Key must be one value of 1 to 255 visible ASCII characters, optionally in double quotes.",
        )
    };
    if values.next().is_some() {
        return Some(Err(invalid()));
    }
    let raw = first.as_bytes();
    let inner = match raw {
        [b'"', inner @ .., b'"'] => inner,
        bare => bare,
    };
    let visible = |b: &u8| (0x21..=0x7e).contains(b) && *b != b'"';
    if inner.is_empty() || inner.len() > 255 || !inner.iter().all(visible) {
        return Some(Err(invalid()));
    }
    Some(Ok(String::from_utf8_lossy(inner).into_owned()))
}

/// JSON with object keys sorted, recursively.
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_str());
    hash.update(b"\n");
    hash.update(path);
    hash.update(b"\n");
    match serde_json::from_slice::<Value>(body) {
        Ok(json) => hash.update(canonical(json).to_string()),
        Err(_) => hash.update(body),
    }
    hex::encode(hash.finalize())
}

/// The headers worth storing with a response.
const STORED_HEADERS: [HeaderName; 4] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG, header::RETRY_AFTER];

fn keep_headers(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    STORED_HEADERS
        .iter()
        .filter_map(|name| headers.get(name).and_then(|v| v.to_str().ok()).map(|v| (name.to_string(), v.to_owned())))
        .collect()
}

fn is_final_outcome(status: StatusCode) -> bool {
    status.is_success() || status == StatusCode::CONFLICT
}

/// Middleware (on `/v1`, inside authentication): looks up, replays,
/// records refusals.
pub async fn idempotency(State(state): State<IdempotencyState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    // Anonymous callers cannot use keys (they are refused with 401 anyway).
    let Some(principal) = request.extensions().get::<Principal>().and_then(Principal::subject) else {
        return next.run(request).await;
    };
    let principal = bounded(principal);
    let key = match parse_key(request.headers()) {
        None => return next.run(request).await,
        Some(Err(problem)) => return problem.into_response(),
        Some(Ok(key)) => key,
    };
    // No path of berth's is this long (ids are UUIDs): the request names
    // nothing and its handler answers 404. Keeping the key would only store
    // an oversized scope (PostgreSQL refuses index entries over 2,704 bytes).
    if request.uri().path().len() > MAX_KEYED_PATH_BYTES {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let body = match to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return Problem::new(ProblemType::PayloadTooLarge, "The request body is larger than the limit.")
                .into_response();
        }
    };
    let path = parts.uri.path().to_owned();
    let scope = Scope { principal, key, method: parts.method.to_string(), route: path.clone() };
    // A new booking looks its key up itself, and only when it cannot prove
    // the look-up needless (docs/design.md §30).
    let looked_up = path != LOOKED_UP_BY_THE_BOOKING;
    let key = Key { fingerprint: fingerprint(&parts.method, &path, &body), scope, policy: state.policy, looked_up };
    if looked_up {
        match service::look_up(&state.db, &key).await {
            Err(err) => return Problem::from(err).into_response(),
            Ok(found) => {
                if let Some(response) = answer(found) {
                    return response;
                }
            }
        }
    }
    parts.extensions.insert(key.clone());
    let instance = problem::instance_of(&parts.headers);
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    if response.extensions().get::<Sealed>().is_some() || !is_final_outcome(response.status()) {
        return response;
    }
    if response.status().is_success() {
        tracing::error!(path, "a keyed write answered without storing its response with its effect");
    }
    // A refusal that changed nothing: store it as the client will see it.
    let response = problem::finalize(response, &state.problems, instance.as_deref(), &path);
    let (parts, body) = response.into_parts();
    let bytes: Bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let stored =
        StoredResponse { status: parts.status.as_u16(), headers: keep_headers(&parts.headers), body: bytes.to_vec() };
    match service::record_refusal(&state.db, &key, &stored).await {
        // The key holds another answer by now (a request with the same key
        // committed first): every retry will get that one, so this one too.
        Ok(found) => {
            if let Some(response) = answer(found) {
                return response;
            }
        }
        Err(err) => tracing::warn!(error = %err, "could not store a refusal under its idempotency key"),
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Documents the key on every `POST` of the spec: the request header, the
/// `Idempotent-Replayed` response header on replayable outcomes, and the
/// 400/409/422 problems the middleware itself answers with. One place, like
/// the middleware, rather than a copy in every handler's annotation.
pub struct IdempotencyDocs;

impl utoipa::Modify for IdempotencyDocs {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{
            HeaderBuilder, ObjectBuilder, RefOr, Required,
            path::{ParameterBuilder, ParameterIn},
            schema::Type,
        };
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let extra =
            [ProblemType::IdempotencyKeyInvalid, ProblemType::IdempotencyKeyInUse, ProblemType::IdempotencyKeyReused];
        for (path, item) in openapi.paths.paths.iter_mut() {
            let Some(operation) = item.post.as_mut().filter(|_| path.starts_with("/v1/")) else { continue };
            operation.parameters.get_or_insert_with(Vec::new).push(RefOr::T(
                ParameterBuilder::new()
                    .name("Idempotency-Key")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(
                        "Makes retries safe: the same key with the same request replays the first outcome \
(`Idempotent-Replayed: true`) instead of running it again. 1 to 255 visible ASCII characters, optionally quoted; \
kept 24 hours, per caller.",
                    ))
                    .schema(Some(string().pattern(Some(KEY_PATTERN)).max_length(Some(257))))
                    .build(),
            ));
            for (status, response) in operation.responses.responses.iter_mut() {
                let RefOr::T(response) = response else { continue };
                if status.starts_with('2') || status == "409" {
                    response.headers.insert(
                        IDEMPOTENT_REPLAYED.to_string(),
                        RefOr::T(
                            HeaderBuilder::new()
                                .schema(Some(string()))
                                .description(Some("`true` when this is the stored outcome of an earlier request with the same Idempotency-Key"))
                                .build(),
                        ),
                    );
                }
            }
            problem::add_problem_responses(operation, &extra);
        }
    }
}

/// Adds `addition`'s examples, headers and description to `existing`.
#[cfg(test)]
mod tests {
    use super::*;

    fn key(value: &str) -> Option<Result<String, Problem>> {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(IDEMPOTENCY_KEY, HeaderValue::from_str(value).unwrap());
        parse_key(&headers)
    }

    #[test]
    fn answers_stored_before_problems_had_a_code_are_replayed_with_it() {
        let old = br#"{"type":"https://b.example/problems/series-conflict","status":409,"occurrences":[{"type":"/problems/capacity-exceeded"}]}"#;
        let replayed: serde_json::Value = serde_json::from_slice(&with_problem_codes(old.to_vec())).unwrap();
        assert_eq!(replayed["code"], "series-conflict");
        assert_eq!(replayed["occurrences"][0]["code"], "capacity-exceeded");
        let series = br#"{"id":"x","skipped":[{"type":"/problems/outside-opening-hours"}]}"#;
        let replayed: serde_json::Value = serde_json::from_slice(&with_problem_codes(series.to_vec())).unwrap();
        assert_eq!(replayed["skipped"][0]["code"], "outside-opening-hours");
        assert!(replayed.get("code").is_none());
        // Anything else, byte for byte.
        for same in [&br#"{"type":"/problems/not-found","code":"not-found"}"#[..], br#"{"id": 1}"#, b"not json"] {
            assert_eq!(with_problem_codes(same.to_vec()), same);
        }
    }

    #[test]
    fn keys_may_be_quoted_or_bare_visible_ascii() {
        assert_eq!(key("\"abc-123\"").unwrap().unwrap(), "abc-123");
        assert_eq!(key("abc_123:x").unwrap().unwrap(), "abc_123:x");
        assert!(key("\"\"").unwrap().is_err());
        assert!(key("has space").unwrap().is_err());
        assert!(key(&"k".repeat(256)).unwrap().is_err());
        assert!(key(&"k".repeat(255)).unwrap().is_ok());
    }

    #[test]
    fn fingerprints_ignore_key_order_and_whitespace_but_not_values_or_paths() {
        let a = fingerprint(&Method::POST, "/v1/bookings", br#"{"a":1,"b":{"c":2,"d":3}}"#);
        let b = fingerprint(&Method::POST, "/v1/bookings", b"{ \"b\": {\"d\":3, \"c\":2}, \"a\": 1 }");
        assert_eq!(a, b);
        assert_ne!(a, fingerprint(&Method::POST, "/v1/bookings", br#"{"a":2,"b":{"c":2,"d":3}}"#));
        assert_ne!(a, fingerprint(&Method::POST, "/v1/customers", br#"{"a":1,"b":{"c":2,"d":3}}"#));
    }
}
