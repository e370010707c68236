//! Authentication and authorization at the HTTP edge.
//!
//! `authenticate` (a route layer on `/v1`) turns the `Authorization` header
//! into a `Principal` in the request's extensions: no header is
//! `Anonymous`, a bad token is a 401 right there, on public routes too (a
//! client sending a broken token should hear about it). Handlers then ask
//! the `SignedIn` or `Admin` extractor (first in line) for the role they
//! need: 401 for anonymous callers of protected operations, 403 for a role
//! that may not, always before the body, the query or the target is looked
//! at.

use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::problem::{Problem, ProblemType};
use crate::auth::{Authenticator, Principal};
use crate::domain::ids::CustomerId;
use crate::service::Context;

/// Middleware: authenticates the bearer token, if any.
pub async fn authenticate(State(auth): State<Arc<Authenticator>>, mut request: Request, next: Next) -> Response {
    let principal = match bearer_token(&request) {
        None => Principal::Anonymous,
        Some(Err(())) => return invalid_token("The Authorization header must be `Bearer <token>`.").into_response(),
        Some(Ok(token)) => match auth.verify(token) {
            Ok(principal) => principal,
            Err(err) => return invalid_token(&err.to_string()).into_response(),
        },
    };
    let authenticated = principal != Principal::Anonymous;
    let caller = principal.subject().unwrap_or_else(|| "anonymous".to_owned());
    request.extensions_mut().insert(principal);
    let mut response = next.run(request).await;
    response.extensions_mut().insert(super::observe::CallerName(caller));
    if authenticated {
        // Responses to authenticated requests are personal: never cache them.
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn bearer_token(request: &Request) -> Option<Result<&str, ()>> {
    let value = request.headers().get(header::AUTHORIZATION)?;
    let text = value.to_str().map_err(|_| ());
    Some(text.and_then(|t| {
        let (scheme, token) = t.split_once(' ').ok_or(())?;
        let token = token.trim();
        if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() { Ok(token) } else { Err(()) }
    }))
}

/// 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3.1).
fn invalid_token(description: &str) -> Problem {
    let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{}\"", description.replace('"', "'"));
    let mut problem =
        Problem::new(ProblemType::Unauthenticated, format!("The bearer token was refused: {description}"));
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        problem.headers.retain(|(name, _)| name != header::WWW_AUTHENTICATE);
        problem.headers.push((header::WWW_AUTHENTICATE, value));
    }
    problem
}

fn unauthenticated() -> Problem {
    Problem::new(ProblemType::Unauthenticated, "This operation needs a bearer token.")
}

fn forbidden(detail: &str) -> Problem {
    Problem::new(ProblemType::Forbidden, detail)
}

fn principal(parts: &Parts) -> Principal {
    parts.extensions.get::<Principal>().cloned().unwrap_or(Principal::Anonymous)
}

/// An authenticated caller. As the first extractor of a protected handler
/// it answers 401 before the body, the query or the target is looked at.
pub struct SignedIn(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match principal(parts) {
            Principal::Anonymous => Err(unauthenticated()),
            signed_in => Ok(SignedIn(signed_in)),
        }
    }
}

impl SignedIn {
    /// Admins only: 403 for customers.
    pub fn admin(&self) -> Result<(), Problem> {
        match &self.0 {
            Principal::Admin { .. } => Ok(()),
            _ => Err(forbidden("Only admins may do this.")),
        }
    }

    /// Admins, or the customer `id` itself.
    pub fn admin_or_self(&self, id: CustomerId) -> Result<(), Problem> {
        match &self.0 {
            Principal::Admin { .. } => Ok(()),
            Principal::Customer { id: own } if *own == id => Ok(()),
            _ => Err(forbidden("Customers may only see and change their own record.")),
        }
    }

    /// Whose bookings the caller may see: `None` for all (admins), or the
    /// customer's own.
    pub fn booking_owner(&self) -> Option<CustomerId> {
        match &self.0 {
            Principal::Customer { id } => Some(*id),
            _ => None,
        }
    }
}

/// Whoever calls a public operation: signed in or anonymous.
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller(principal(parts)))
    }
}

/// An admin: 401 without a token, 403 for customers, before anything else.
/// Carries who it is and the request's id, for the events it causes.
pub struct Admin(pub Context);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let admin = SignedIn::from_request_parts(parts, state).await?;
        admin.admin()?;
        Ok(Admin(request_context(&admin.0, &parts.headers, None)))
    }
}

/// Who asks and the request's id (`X-Request-Id`), for history and events.
pub fn request_context(principal: &Principal, headers: &HeaderMap, reason: Option<String>) -> Context {
    Context {
        actor: principal.actor(),
        request_id: headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned),
        reason,
    }
}
