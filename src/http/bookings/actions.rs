//! The state-machine actions on `/v1/bookings/{id}`: confirm, approve,
//! decline, cancel, check-in, complete, no-show. One handler per action (so each has its
//! own operation in the OpenAPI document), all through `run_action`.

use axum::{extract::State, http::HeaderMap, response::Response};
use uuid::Uuid;

use super::dto::{ActionRequest, BookingResponse};
use super::handlers::{answer, context, visible_and_current};
use crate::domain::{booking::Action, ids::BookingId};
use crate::http::{
    AppState,
    auth::SignedIn,
    extract::{ApiPath, RawBody, optional_json},
    idempotency::Keyed,
    problem::Problem,
};
use crate::problems;
use crate::service::bookings as service;

problems!(CancelErrors, api: MalformedRequest, NotFound, PreconditionFailed, UnsupportedMediaType, PayloadTooLarge, ValidationError, InvalidStateTransition, CutoffPassed);
problems!(AdminActionErrors, api: Forbidden, MalformedRequest, NotFound, PreconditionFailed, UnsupportedMediaType, PayloadTooLarge, ValidationError, InvalidStateTransition);
problems!(ConfirmErrors, api: MalformedRequest, NotFound, PreconditionFailed, UnsupportedMediaType, PayloadTooLarge, ValidationError, InvalidStateTransition, HoldExpired);

/// Runs one state-machine action: 404, then `If-Match` (optional), then the
/// optional body, then the transition.
async fn run_action(
    state: &AppState,
    who: &SignedIn,
    keyed: Keyed,
    id: Uuid,
    action: Action,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Problem> {
    // Front-desk actions are for admins; a customer hears 403 before
    // anything about the booking is revealed.
    if matches!(action, Action::Approve | Action::Decline | Action::CheckIn | Action::Complete | Action::NoShow) {
        who.admin()?;
    }
    let id = BookingId(id);
    let expected = visible_and_current(state, who, id, headers).await?;
    let request: ActionRequest = optional_json(headers, body)?;
    let ctx = context(who, headers, request.reason);
    keyed.write(answer, async |seal| service::act(&state.db, id, action, &expected, &ctx, seal).await).await
}

/// Confirm a hold
///
/// `held` → `confirmed`; a customer's on a resource whose policy has
/// `approval_required` → `pending` (it awaits an admin's approval until
/// `approval_expires_at`). A hold that ran out answers 409 `hold-expired`
/// and the booking becomes `expired`.
#[utoipa::path(
    post, path = "/v1/bookings/{id}/confirm", tag = "bookings", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Booking id"),
        ("If-Match" = Option<String>, Header, description = "Act only if the booking is still at this ETag"),
    ),
    request_body(content = Option<ActionRequest>, description = "Optional: a reason for the history"),
    responses(
        (status = 200, description = "Done", body = BookingResponse,
            headers(("ETag" = String, description = "Strong validator of the new version"))),
        ConfirmErrors,
    )
)]
pub async fn confirm_booking(
    State(state): State<AppState>,
    who: SignedIn,
    keyed: Keyed,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, Problem> {
    run_action(&state, &who, keyed, id, Action::Confirm, &headers, &body).await
}

/// Cancel a booking
///
/// `held`, `pending` or `confirmed` → `cancelled`; the units are free at
/// once (and offered to the resource's waiting list). A
/// customer may cancel only until the resource's cancel cut-off before the
/// start (409 `cutoff-passed`); an admin may always.
#[utoipa::path(
    post, path = "/v1/bookings/{id}/cancel", tag = "bookings", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Booking id"),
        ("If-Match" = Option<String>, Header, description = "Act only if the booking is still at this ETag"),
    ),
    request_body(content = Option<ActionRequest>, description = "Optional: a reason for the history"),
    responses(
        (status = 200, description = "Done", body = BookingResponse,
            headers(("ETag" = String, description = "Strong validator of the new version"))),
        CancelErrors,
    )
)]
pub async fn cancel_booking(
    State(state): State<AppState>,
    who: SignedIn,
    keyed: Keyed,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, Problem> {
    run_action(&state, &who, keyed, id, Action::Cancel, &headers, &body).await
}

/// Check in
///
/// `confirmed` → `checked_in`, until the booking's `check_in_deadline_at`:
/// from then on it is a no-show (the rest of its time was released), and
/// checking in is 409 `invalid-state-transition`.
#[utoipa::path(
    post, path = "/v1/bookings/{id}/check-in", tag = "bookings", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Booking id"),
        ("If-Match" = Option<String>, Header, description = "Act only if the booking is still at this ETag"),
    ),
    request_body(content = Option<ActionRequest>, description = "Optional: a reason for the history"),
    responses(
        (status = 200, description = "Done", body = BookingResponse,
            headers(("ETag" = String, description = "Strong validator of the new version"))),
        AdminActionErrors,
    )
)]
pub async fn check_in_booking(
    State(state): State<AppState>,
    who: SignedIn,
    keyed: Keyed,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, Problem> {
    run_action(&state, &who, keyed, id, Action::CheckIn, &headers, &body).await
}

/// Complete
///
/// `checked_in` → `completed`.
#[utoipa::path(
    post, path = "/v1/bookings/{id}/complete", tag = "bookings", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Booking id"),
        ("If-Match" = Option<String>, Header, description = "Act only if the booking is still at this ETag"),
    ),
    request_body(content = Option<ActionRequest>, description = "Optional: a reason for the history"),
    responses(
        (status = 200, description = "Done", body = BookingResponse,
            headers(("ETag" = String, description = "Strong validator of the new version"))),
        AdminActionErrors,
    )
)]
pub async fn complete_booking(
    State(state): State<AppState>,
    who: SignedIn,
    keyed: Keyed,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, Problem> {
    run_action(&state, &who, keyed, id, Action::Complete, &headers, &body).await
}

/// Mark a no-show
///
/// `confirmed` → `no_show`; the rest of its time is free at once. The
/// sweeper does this itself at a missed `check_in_deadline_at`.
#[utoipa::path(
    post, path = "/v1/bookings/{id}/no-show", tag = "bookings", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Booking id"),
        ("If-Match" = Option<String>, Header, description = "Act only if the booking is still at this ETag"),
    ),
    request_body(content = Option<ActionRequest>, description = "Optional: a reason for the history"),
    responses(
        (status = 200, description = "Done", body = BookingResponse,
            headers(("ETag" = String, description = "Strong validator of the new version"))),
        AdminActionErrors,
    )
)]
pub async fn no_show_booking(
    State(state): State<AppState>,
    who: SignedIn,
    keyed: Keyed,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, Problem> {
    run_action(&state, &who, keyed, id, Action::NoShow, &headers, &body).await
}

/// Approve a pending booking
///
/// `pending` → `confirmed` (admins). It keeps the units it held while it
/// waited. One whose `approval_expires_at` passed answers 409
/// `invalid-state-transition` and becomes `declined`.
#[utoipa::path(
    post, path = "/v1/bookings/{id}/approve", tag = "bookings", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Booking id"),
        ("If-Match" = Option<String>, Header, description = "Act only if the booking is still at this ETag"),
    ),
    request_body(content = Option<ActionRequest>, description = "Optional: a reason for the history"),
    responses(
        (status = 200, description = "Done", body = BookingResponse,
            headers(("ETag" = String, description = "Strong validator of the new version"))),
        AdminActionErrors,
    )
)]
pub async fn approve_booking(
    State(state): State<AppState>,
    who: SignedIn,
    keyed: Keyed,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, Problem> {
    run_action(&state, &who, keyed, id, Action::Approve, &headers, &body).await
}

/// Decline a pending booking
///
/// `pending` → `declined` (admins). Its units are free at once, and
/// offered to the resource's waiting list in the same write.
#[utoipa::path(
    post, path = "/v1/bookings/{id}/decline", tag = "bookings", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Booking id"),
        ("If-Match" = Option<String>, Header, description = "Act only if the booking is still at this ETag"),
    ),
    request_body(content = Option<ActionRequest>, description = "Optional: a reason for the history"),
    responses(
        (status = 200, description = "Done", body = BookingResponse,
            headers(("ETag" = String, description = "Strong validator of the new version"))),
        AdminActionErrors,
    )
)]
pub async fn decline_booking(
    State(state): State<AppState>,
    who: SignedIn,
    keyed: Keyed,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, Problem> {
    run_action(&state, &who, keyed, id, Action::Decline, &headers, &body).await
}
