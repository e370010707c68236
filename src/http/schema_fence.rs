//! The schema fence at the HTTP edge (docs/design.md §22): while the
//! database has migrations this binary does not know
//! (`service::schema`), every `/v1` write answers 503
//! `schema-ahead-of-binary` and changes nothing; reads are served.
//! `/readyz` fails too, so a load balancer takes the instance out.
//! `SchemaFenceDocs` documents it on every write operation and `/readyz`.

use axum::{
    extract::{Request, State},
    http::Method,
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::problem::{Problem, ProblemType, add_problem_responses};
use crate::service::Db;

/// Seconds a refused write is told to wait: long enough for a load balancer
/// to have noticed the failed readiness probe.
const RETRY_AFTER_SECONDS: u64 = 30;

/// The refusal.
pub fn fenced() -> Problem {
    Problem::new(
        ProblemType::SchemaAheadOfBinary,
        "The database has migrations this instance does not know; it accepts no writes until it is replaced.",
    )
    .with_retry_after(RETRY_AFTER_SECONDS)
}

fn writes(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses `/v1` writes while the fence is closed.
pub async fn refuse_writes(State(db): State<Db>, request: Request, next: Next) -> Response {
    if writes(request.method()) && db.schema_ahead() {
        return fenced().into_response();
    }
    next.run(request).await
}

/// Adds `schema-ahead-of-binary` to the 503 of every `/v1` write and of
/// `/readyz`.
pub struct SchemaFenceDocs;

impl utoipa::Modify for SchemaFenceDocs {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = if path.starts_with("/v1/") {
                vec![item.post.as_mut(), item.patch.as_mut(), item.delete.as_mut(), item.put.as_mut()]
            } else if path == "/readyz" {
                vec![item.get.as_mut()]
            } else {
                continue;
            };
            for operation in operations.into_iter().flatten() {
                add_problem_responses(operation, &[ProblemType::SchemaAheadOfBinary]);
            }
        }
    }
}
