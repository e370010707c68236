//! A request's own copy of what hyper parsed as slices of its
//! connection's 8 KiB read buffer: the target, the header values
//! (`own_head`, as hyper hands the request over, before any middleware
//! can keep a slice) and a small body (`own_small_body`, a middleware).
//!
//! hyper reads on for the connection's end as soon as a request's body is
//! in. While the request still holds slices of the read buffer, that read
//! takes a second buffer. Copied before the request can wait (at the
//! admission gate, for a database connection), a waiting request costs
//! 8 KiB less: 7-9 MiB of a rush of 2,000 at once (BENCHMARKS.md "#32,
//! eleventh part"). The body is read inside the request timeout (a body
//! that trickles in is the 503 it was) and outside the body limit (which
//! sees the same length, announced and read).

use axum::{
    body::{Body, Bytes},
    extract::Request,
    http::{HeaderValue, Uri, header::EXPECT, request},
};
use http_body_util::BodyExt;
use hyper::body::Body as _;

/// The largest body read and copied here; a booking's is a few hundred
/// bytes. Larger ones (long series, bulk changes) are read by their
/// handler as they come.
const SMALL_BODY: u64 = 16 * 1024;

/// `request` with its small body its own.
pub async fn own_small_body(request: Request) -> Request {
    let (head, body) = request.into_parts();
    // A client that waits for `100 Continue` is answered only once the
    // body is asked for, which the handler does (after auth, the limit).
    let body = if head.headers.contains_key(EXPECT) { body } else { own_body(body).await };
    Request::from_parts(head, body)
}

/// `head` with its target and header values its own.
pub fn own_head(head: &mut request::Parts) {
    if let Ok(target) = head.uri.to_string().parse::<Uri>() {
        head.uri = target;
    }
    for value in head.headers.values_mut() {
        if let Ok(mut copied) = HeaderValue::from_bytes(value.as_bytes()) {
            copied.set_sensitive(value.is_sensitive());
            *value = copied;
        }
    }
}

/// A body of a known length up to `SMALL_BODY` read and copied; any other
/// as it is. A body that fails to arrive fails the same way when read.
async fn own_body(body: Body) -> Body {
    match body.size_hint().exact() {
        Some(length) if length <= SMALL_BODY => match body.collect().await {
            Ok(read) => Body::from(Bytes::copy_from_slice(&read.to_bytes())),
            Err(err) => Body::from_stream(futures_util::stream::iter([Err::<Bytes, _>(err)])),
        },
        _ => body,
    }
}
