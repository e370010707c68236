//! The `/v1/bookings` operations but the state-machine actions
//! (`actions`): book, list, read, reschedule, the history. Each handler
//! extracts, builds the service command and calls one use case; writes go
//! through `Keyed::write` so an Idempotency-Key stores the answer with the
//! effect.

use axum::{Json, extract::State, http::HeaderMap, response::Response};
use uuid::Uuid;

use super::dto::{
    BookingEventList, BookingListQuery, BookingPage, BookingResponse, CreateBookingRequest, RescheduleRequest,
};
use crate::domain::{
    booking::{Booking, BookingFilter},
    ids::{BookingId, CustomerId, GroupId, ResourceId, SeriesId},
};
use crate::http::{
    AppState,
    auth::{SignedIn, request_context},
    extract::{ApiJson, ApiPath, ApiQuery, RawBody, parse_json},
    idempotency::Keyed,
    pagination::{PageQuery, paginate},
    precondition::IfMatch,
    problem::{Problem, ProblemType},
    reply,
    time::{instant, time_range},
};
use crate::problems;
use crate::service::bookings::{self as service, Context, NewBooking, Reschedule, Target};
use crate::service::{Expected, idempotency::StoredResponse};

pub(super) fn context(who: &SignedIn, headers: &HeaderMap, reason: Option<String>) -> Context {
    request_context(&who.0, headers, reason)
}

/// A booking as answered (200), and as stored for Idempotency-Key replays.
pub(super) fn answer(booking: &Booking) -> StoredResponse {
    reply::object(booking.version, &BookingResponse::from(booking))
}

problems!(CreateBookingErrors, api: Forbidden, MalformedRequest, UnsupportedMediaType, PayloadTooLarge, ValidationError, ResourceInactive, NoticeTooShort, BeyondBookingHorizon, OutsideOpeningHours, NotOnSlotGrid, BookingLimitReached, DuplicateBooking, CapacityExceeded, NoResourceAvailable);
problems!(ListBookingsErrors, api: ValidationError);
problems!(GetBookingErrors, api: NotFound);
problems!(RescheduleErrors, api: Forbidden, MalformedRequest, NotFound, PreconditionFailed, UnsupportedMediaType, PayloadTooLarge, ValidationError, InvalidStateTransition, HoldExpired, ResourceInactive, CutoffPassed, NoticeTooShort, BeyondBookingHorizon, OutsideOpeningHours, NotOnSlotGrid, BookingLimitReached, DuplicateBooking, CapacityExceeded, NoResourceAvailable);
problems!(ListBookingEventsErrors, api: NotFound);

/// Book
///
/// Books `quantity` units of a resource for `[start_at, end_at)`: confirmed
/// at once, or held (`hold: true`) until `hold_expires_at`; a customer's on
/// a resource whose policy has `approval_required` is `pending` (it holds
/// its units) until an admin approves it or `approval_expires_at`. Refused with a
/// 409 when the resource is inactive, a rule of its booking policy or its
/// opening hours is broken (notice, horizon, hours, slot grid, booking
/// limit, in that order), the customer already has an overlapping booking
/// of it, or the units do not fit at some instant of what the booking
/// occupies (its interval and the policy's buffers; `available` says how
/// many would).
#[utoipa::path(
    post, path = "/v1/bookings", tag = "bookings", security(("bearer_auth" = [])),
    request_body = CreateBookingRequest,
    responses(
        (status = 201, description = "Booked (confirmed or held)", body = BookingResponse,
            headers(("Location" = String, description = "URL of the booking"), ("ETag" = String, description = "Strong validator of this version"))),
        CreateBookingErrors,
    )
)]
pub async fn create_booking(
    State(state): State<AppState>,
    who: SignedIn,
    keyed: Keyed,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreateBookingRequest>,
) -> Result<Response, Problem> {
    let customer_id = booking_customer(&who, request.customer_id, request.override_policy)?;
    let range = time_range(request.start_at, request.end_at)?;
    let ctx = context(&who, &headers, None);
    let target = target(request.resource_id, request.group_id, "")?;
    let new = NewBooking {
        target,
        customer_id,
        range,
        quantity: request.quantity,
        hold: request.hold,
        notes: request.notes,
        fields: request.fields,
        override_policy: request.override_policy,
    };
    let created = |b: &Booking| {
        reply::created(state.location(&format!("/v1/bookings/{}", b.id)), b.version, &BookingResponse::from(b))
    };
    keyed.write(created, async |seal| service::create(&state.db, new, &ctx, seal).await).await
}

/// Whom a booking is for: a customer's token books for itself (another
/// customer's id is 403); an admin names the customer. Only admins may
/// override the policy.
pub(crate) fn booking_customer(
    who: &SignedIn,
    asked: Option<Uuid>,
    override_policy: bool,
) -> Result<CustomerId, Problem> {
    let customer = match (who.booking_owner(), asked.map(CustomerId)) {
        (Some(own), Some(asked)) if own != asked => {
            return Err(Problem::new(ProblemType::Forbidden, "Customers may only book for themselves."));
        }
        (Some(own), _) => own,
        (None, Some(asked)) => asked,
        (None, None) => return Err(Problem::invalid("/customer_id", "admins must name the customer to book for")),
    };
    if override_policy {
        who.admin()?;
    }
    Ok(customer)
}

/// What a booking (or an item of a bundle, under `at`) is for: a resource
/// or a group, exactly one of them.
pub(crate) fn target(resource: Option<Uuid>, group: Option<Uuid>, at: &str) -> Result<Target, Problem> {
    match (resource, group) {
        (Some(resource), None) => Ok(Target::Resource(ResourceId(resource))),
        (None, Some(group)) => Ok(Target::Group(GroupId(group))),
        (None, None) => Err(Problem::invalid(format!("{at}/resource_id"), "give resource_id or group_id")),
        (Some(_), Some(_)) => Err(Problem::invalid(format!("{at}/group_id"), "give resource_id or group_id, not both")),
    }
}

/// List bookings
///
/// Bookings in creation order, filtered. `from`/`to` keep the bookings whose
/// interval overlaps `[from, to)`.
#[utoipa::path(
    get, path = "/v1/bookings", tag = "bookings", security(("bearer_auth" = [])),
    params(BookingListQuery),
    responses((status = 200, description = "A page of bookings", body = BookingPage), ListBookingsErrors,
    )
)]
pub async fn list_bookings(
    State(state): State<AppState>,
    who: SignedIn,
    ApiQuery(query): ApiQuery<BookingListQuery>,
) -> Result<Json<BookingPage>, Problem> {
    let owner = who.booking_owner();
    let page = PageQuery { limit: query.limit, cursor: query.cursor.clone() };
    let requested = query.customer_id.map(CustomerId);
    let filter = BookingFilter {
        resource_id: query.resource_id.map(ResourceId),
        customer_id: owner.or(requested),
        status: query.status.map(Into::into),
        series_id: query.series_id.map(SeriesId),
        from: query.from.map(|t| instant(t, "/from")).transpose()?,
        to: query.to.map(|t| instant(t, "/to")).transpose()?,
    };
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from >= to
    {
        return Err(Problem::invalid("/to", "must be after `from`"));
    }
    let after = page.after()?.map(BookingId);
    if owner.is_some() && requested.is_some_and(|r| Some(r) != owner) {
        // A customer asking for someone else's bookings sees none.
        return Ok(Json(BookingPage { items: Vec::new(), next_cursor: None }));
    }
    let rows = service::list(&state.db, &filter, after, u64::from(page.limit()) + 1).await?;
    let (rows, next_cursor) = paginate(rows, page.limit(), |b| b.id.0);
    Ok(Json(BookingPage { items: rows.iter().map(Into::into).collect(), next_cursor }))
}

/// Get a booking
#[utoipa::path(
    get, path = "/v1/bookings/{id}", tag = "bookings", security(("bearer_auth" = [])),
    params(("id" = Uuid, Path, description = "Booking id")),
    responses(
        (status = 200, description = "The booking", body = BookingResponse,
            headers(("ETag" = String, description = "Strong validator of this version"))),
        GetBookingErrors,
    )
)]
pub async fn get_booking(
    State(state): State<AppState>,
    who: SignedIn,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, Problem> {
    let booking = service::get(&state.db, BookingId(id), who.booking_owner()).await?;
    Ok(reply::send(&answer(&booking)))
}

/// The checks before a change, in docs/design.md §4's order: `If-Match` syntax
/// (400), the booking exists and is the caller's (404), `If-Match` matches
/// (412). Returns the condition the change checks again under the
/// booking's lock: `*` and an absent header hold for any version.
pub(super) async fn visible_and_current(
    state: &AppState,
    who: &SignedIn,
    id: BookingId,
    headers: &HeaderMap,
) -> Result<Expected, Problem> {
    let if_match = IfMatch::from_headers(headers)?;
    let current = service::get(&state.db, id, who.booking_owner()).await?;
    if_match.check(current.version)?;
    Ok(if_match.expected())
}

/// Reschedule a booking
///
/// Moves a `held`, `pending` or `confirmed` booking to a new interval (and
/// quantity), re-checking the resource state, the booking policy and
/// opening hours (a customer only until the reschedule cut-off), duplicates
/// and capacity while its own old interval does not count. All or nothing:
/// when refused, the booking is untouched. A hold keeps its expiry; the
/// booking takes the policy's buffers and check-in window as they are now;
/// a customer's move on a resource whose policy has `approval_required` is
/// a new request (`pending`).
#[utoipa::path(
    post, path = "/v1/bookings/{id}/reschedule", tag = "bookings", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Booking id"),
        ("If-Match" = Option<String>, Header, description = "Act only if the booking is still at this ETag"),
    ),
    request_body = RescheduleRequest,
    responses(
        (status = 200, description = "Moved", body = BookingResponse,
            headers(("ETag" = String, description = "Strong validator of the new version"))),
        RescheduleErrors,
    )
)]
pub async fn reschedule_booking(
    State(state): State<AppState>,
    who: SignedIn,
    keyed: Keyed,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, Problem> {
    let id = BookingId(id);
    let expected = visible_and_current(&state, &who, id, &headers).await?;
    let request: RescheduleRequest = parse_json(&headers, &body)?;
    if request.override_policy {
        who.admin()?;
    }
    let change = Reschedule {
        range: time_range(request.start_at, request.end_at)?,
        quantity: request.quantity,
        fields: request.fields,
        override_policy: request.override_policy,
    };
    let ctx = context(&who, &headers, request.reason);
    keyed
        .write(answer, async |seal| service::reschedule(&state.db, id, change, &expected, &ctx, seal).await)
        .await
        .map_err(nothing_else_to_offer)
}

/// A reschedule refused for the booking's own state (`invalid-state-
/// transition`, `hold-expired`) can offer no other time either: like every
/// refusal of create and reschedule, it says so with `alternatives: []`.
fn nothing_else_to_offer(problem: Problem) -> Problem {
    match problem.kind {
        ProblemType::InvalidStateTransition | ProblemType::HoldExpired => {
            problem.with("alternatives", Vec::<()>::new())
        }
        _ => problem,
    }
}

/// A booking's history
///
/// Every transition of the booking, oldest first: creation, actions,
/// reschedules and expiry, with who did it and why.
#[utoipa::path(
    get, path = "/v1/bookings/{id}/events", tag = "bookings", security(("bearer_auth" = [])),
    params(("id" = Uuid, Path, description = "Booking id")),
    responses((status = 200, description = "The history", body = BookingEventList), ListBookingEventsErrors,
    )
)]
pub async fn list_booking_events(
    State(state): State<AppState>,
    who: SignedIn,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<BookingEventList>, Problem> {
    let events = service::history(&state.db, BookingId(id), who.booking_owner()).await?;
    Ok(Json(BookingEventList { items: events.into_iter().map(Into::into).collect() }))
}
