//! What handlers answer with: one object as JSON with its strong ETag (plus
//! `Location` when it was just created), shaped once as a `StoredResponse`
//! so that the same bytes go to the client and, for a keyed write, into the
//! Idempotency-Key record.

use axum::{
    body::Body,
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::Response,
};
use serde::Serialize;

use super::precondition::etag_header;
use crate::service::idempotency::StoredResponse;

/// A JSON response with the given headers.
fn json(status: StatusCode, headers: Vec<(HeaderName, HeaderValue)>, body: &impl Serialize) -> StoredResponse {
    let mut kept = vec![(header::CONTENT_TYPE.to_string(), "application/json".to_owned())];
    kept.extend(headers.iter().filter_map(|(n, v)| v.to_str().ok().map(|v| (n.to_string(), v.to_owned()))));
    StoredResponse { status: status.as_u16(), headers: kept, body: serde_json::to_vec(body).unwrap_or_default() }
}

/// 200 with one object at `version` (its ETag).
pub fn object(version: i64, body: &impl Serialize) -> StoredResponse {
    json(StatusCode::OK, vec![(header::ETAG, etag_header(version))], body)
}

/// 201 with a new object at `version`, and where it lives.
pub fn created(location: HeaderValue, version: i64, body: &impl Serialize) -> StoredResponse {
    json(StatusCode::CREATED, vec![(header::ETAG, etag_header(version)), (header::LOCATION, location)], body)
}

/// 201 with something new that has no version of its own (a bundle), and
/// where it lives.
pub fn created_at(location: HeaderValue, body: &impl Serialize) -> StoredResponse {
    json(StatusCode::CREATED, vec![(header::LOCATION, location)], body)
}

/// The HTTP response for a stored one, byte for byte.
pub fn send(stored: &StoredResponse) -> Response {
    let mut response = Response::new(Body::from(stored.body.clone()));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(value)) {
            response.headers_mut().append(name, value);
        }
    }
    response
}
