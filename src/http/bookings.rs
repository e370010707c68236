//! `/v1/bookings`: book (confirmed, or held for the resource's hold TTL),
//! list, read, the state-machine actions, reschedule, and the history.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
};
use chrono::{DateTime, Datelike, FixedOffset, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

use super::{
    AppState,
    auth::SignedIn,
    extract::{ApiJson, ApiPath, ApiQuery, OrNull, RawBody, parse_json},
    fields::no_nul,
    idempotency::{IdempotencyClaim, respond, stored_json},
    pagination::{PageQuery, paginate},
    precondition::{IfMatch, etag_header},
    problem::{Problem, ProblemType},
};
use crate::domain::{
    booking::{Action, Booking, BookingEvent, BookingStatus},
    ids::{BookingId, CustomerId, ResourceId},
    time_range::TimeRange,
};
use crate::problems;
use crate::service::bookings::{self as service, Context, NewBooking, Reschedule};
use crate::service::idempotency::Seal;
use crate::store::bookings::BookingFilter;
use crate::store::idempotency::StoredResponse;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_booking, list_bookings))
        .routes(routes!(get_booking))
        .routes(routes!(confirm_booking))
        .routes(routes!(cancel_booking))
        .routes(routes!(check_in_booking))
        .routes(routes!(complete_booking))
        .routes(routes!(no_show_booking))
        .routes(routes!(reschedule_booking))
        .routes(routes!(list_booking_events))
}

/// A booking's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatusDto {
    Held,
    Confirmed,
    CheckedIn,
    Completed,
    Cancelled,
    Expired,
    NoShow,
}

impl From<BookingStatus> for BookingStatusDto {
    fn from(s: BookingStatus) -> Self {
        match s {
            BookingStatus::Held => Self::Held,
            BookingStatus::Confirmed => Self::Confirmed,
            BookingStatus::CheckedIn => Self::CheckedIn,
            BookingStatus::Completed => Self::Completed,
            BookingStatus::Cancelled => Self::Cancelled,
            BookingStatus::Expired => Self::Expired,
            BookingStatus::NoShow => Self::NoShow,
        }
    }
}

impl From<BookingStatusDto> for BookingStatus {
    fn from(s: BookingStatusDto) -> Self {
        match s {
            BookingStatusDto::Held => Self::Held,
            BookingStatusDto::Confirmed => Self::Confirmed,
            BookingStatusDto::CheckedIn => Self::CheckedIn,
            BookingStatusDto::Completed => Self::Completed,
            BookingStatusDto::Cancelled => Self::Cancelled,
            BookingStatusDto::Expired => Self::Expired,
            BookingStatusDto::NoShow => Self::NoShow,
        }
    }
}

fn default_quantity() -> i32 {
    1
}

/// A request to book `quantity` units of a resource over `[start_at, end_at)`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBookingRequest {
    pub resource_id: Uuid,
    pub customer_id: Uuid,
    /// RFC 3339 with an explicit offset; not in the past.
    #[schema(example = "2030-05-01T09:00:00+02:00")]
    pub start_at: DateTime<FixedOffset>,
    /// Exclusive end; after `start_at`, at most the resource's
    /// `max_booking_duration_seconds` later.
    #[schema(example = "2030-05-01T10:00:00+02:00")]
    pub end_at: DateTime<FixedOffset>,
    /// Units of the resource, at most its capacity.
    #[serde(default = "default_quantity")]
    #[validate(range(min = 1, max = 1_000_000, message = "must be between 1 and 1000000"))]
    #[schema(required = false, minimum = 1, maximum = 1_000_000, default = 1)]
    pub quantity: i32,
    /// Hold the units for the resource's `hold_ttl_seconds` instead of
    /// confirming now; confirm before the hold runs out.
    #[serde(default)]
    #[schema(required = false, default = false)]
    pub hold: bool,
    #[validate(length(max = 2000, message = "must be at most 2000 characters"), custom(function = no_nul))]
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
}

/// Optional body of the action endpoints.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// Why; recorded in the booking's history.
    #[validate(length(max = 2000, message = "must be at most 2000 characters"), custom(function = no_nul))]
    #[schema(max_length = 2000, example = "customer called")]
    pub reason: Option<String>,
}

/// Where to move a booking.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    #[schema(example = "2030-05-01T11:00:00+02:00")]
    pub start_at: DateTime<FixedOffset>,
    #[schema(example = "2030-05-01T12:00:00+02:00")]
    pub end_at: DateTime<FixedOffset>,
    /// New quantity; unchanged when absent.
    #[validate(range(min = 1, max = 1_000_000, message = "must be between 1 and 1000000"))]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub quantity: Option<i32>,
    #[validate(length(max = 2000, message = "must be at most 2000 characters"), custom(function = no_nul))]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookingResponse {
    pub id: Uuid,
    pub resource_id: Uuid,
    pub customer_id: Uuid,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub quantity: i32,
    pub status: BookingStatusDto,
    /// When the hold runs out (held), or ran out (expired); null otherwise.
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    /// Row version; the ETag is this number in quotes.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Booking> for BookingResponse {
    fn from(b: Booking) -> Self {
        Self {
            id: b.id.0,
            resource_id: b.resource_id.0,
            customer_id: b.customer_id.0,
            start_at: b.range.start(),
            end_at: b.range.end(),
            quantity: b.quantity,
            status: b.status.into(),
            hold_expires_at: b.hold_expires_at,
            notes: b.notes,
            version: b.version,
            created_at: b.created_at,
            updated_at: b.updated_at,
        }
    }
}

/// One page of bookings.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingPage {
    pub items: Vec<BookingResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Who did something to a booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorResponse {
    /// Token subject; `berth` for the engine itself.
    pub sub: String,
    /// `admin`, `customer`, `anonymous`, or `system` for the engine.
    pub role: String,
}

/// One transition in a booking's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingEventResponse {
    pub id: Uuid,
    /// Null for the creation.
    pub from_status: Option<BookingStatusDto>,
    pub to_status: BookingStatusDto,
    /// `create`, `confirm`, `cancel`, `check-in`, `complete`, `no-show`,
    /// `reschedule` or `expire`.
    pub action: String,
    pub actor: ActorResponse,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<BookingEvent> for BookingEventResponse {
    fn from(e: BookingEvent) -> Self {
        Self {
            id: e.id,
            from_status: e.from.map(Into::into),
            to_status: e.to.into(),
            action: e.action,
            actor: ActorResponse { sub: e.actor.sub, role: e.actor.role },
            reason: e.reason,
            request_id: e.request_id,
            at: e.at,
        }
    }
}

/// A booking's history, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingEventList {
    pub items: Vec<BookingEventResponse>,
}

/// Filters of `GET /v1/bookings`.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BookingListQuery {
    pub resource_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    #[param(inline)]
    pub status: Option<BookingStatusDto>,
    /// Only bookings that end after this instant (RFC 3339; encode `+` as `%2B`).
    pub from: Option<DateTime<FixedOffset>>,
    /// Only bookings that start before this instant.
    pub to: Option<DateTime<FixedOffset>>,
    /// Page size.
    #[validate(range(min = 1, max = 200, message = "must be between 1 and 200"))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
}

/// A client time in UTC, if its year is 1 to 9999: RFC 3339's range, and
/// what both databases can store and compare (chrono would parse more).
/// Digits below the microsecond are dropped, as PostgreSQL would drop them
/// on write: what berth decides on, answers and stores is the same instant.
pub(super) fn instant(time: DateTime<FixedOffset>, pointer: &str) -> Result<DateTime<Utc>, Problem> {
    let utc = time.with_timezone(&Utc).trunc_subsecs(6);
    if (1..=9999).contains(&utc.year()) {
        Ok(utc)
    } else {
        Err(Problem::invalid(pointer, "must be between the years 0001 and 9999"))
    }
}

/// Turns client times into a range; `end_at <= start_at` is a 422 at `/end_at`.
pub(super) fn time_range(start: DateTime<FixedOffset>, end: DateTime<FixedOffset>) -> Result<TimeRange, Problem> {
    TimeRange::new(instant(start, "/start_at")?, instant(end, "/end_at")?)
        .ok_or_else(|| Problem::invalid("/end_at", "must be after start_at"))
}

fn context(who: &SignedIn, headers: &HeaderMap, reason: Option<String>) -> Context {
    Context {
        actor: who.0.actor(),
        request_id: headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned),
        reason,
    }
}

/// The response for one booking, as sent and as stored for Idempotency-Key replays.
fn stored(status: StatusCode, state: &AppState, booking: &Booking) -> StoredResponse {
    let mut headers = vec![(header::ETAG, etag_header(booking.version))];
    if status == StatusCode::CREATED {
        headers.push((header::LOCATION, state.location(&format!("/v1/bookings/{}", booking.id))));
    }
    stored_json(status, headers, &BookingResponse::from(booking.clone()))
}

problems!(CreateBookingErrors, api: Forbidden, MalformedRequest, UnsupportedMediaType, PayloadTooLarge, ValidationError, ResourceInactive, DuplicateBooking, CapacityExceeded);
problems!(ListBookingsErrors, api: ValidationError);
problems!(GetBookingErrors, api: NotFound);
problems!(OwnerActionErrors, api: MalformedRequest, NotFound, PreconditionFailed, UnsupportedMediaType, PayloadTooLarge, ValidationError, InvalidStateTransition);
problems!(AdminActionErrors, api: Forbidden, MalformedRequest, NotFound, PreconditionFailed, UnsupportedMediaType, PayloadTooLarge, ValidationError, InvalidStateTransition);
problems!(ConfirmErrors, api: MalformedRequest, NotFound, PreconditionFailed, UnsupportedMediaType, PayloadTooLarge, ValidationError, InvalidStateTransition, HoldExpired);
problems!(RescheduleErrors, api: MalformedRequest, NotFound, PreconditionFailed, UnsupportedMediaType, PayloadTooLarge, ValidationError, InvalidStateTransition, HoldExpired, ResourceInactive, DuplicateBooking, CapacityExceeded);
problems!(ListBookingEventsErrors, api: NotFound);

/// Book
///
/// Books `quantity` units of a resource for `[start_at, end_at)`: confirmed
/// at once, or held (`hold: true`) until `hold_expires_at`. Refused with a
/// 409 when the resource is inactive, the customer already has an
/// overlapping booking of it, or the units do not fit at some instant of the
/// interval (`available` says how many would).
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
    IdempotencyClaim(claim): IdempotencyClaim,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreateBookingRequest>,
) -> Result<impl IntoResponse, Problem> {
    if let Some(own) = who.booking_owner()
        && own.0 != request.customer_id
    {
        return Err(Problem::new(ProblemType::Forbidden, "Customers may only book for themselves."));
    }
    let new = NewBooking {
        resource_id: ResourceId(request.resource_id),
        customer_id: CustomerId(request.customer_id),
        range: time_range(request.start_at, request.end_at)?,
        quantity: request.quantity,
        hold: request.hold,
        notes: request.notes,
    };
    let render = |b: &Booking| stored(StatusCode::CREATED, &state, b);
    let seal = Seal::new(claim, &render);
    let booking = service::create(&state.db, new, &context(&who, &headers, None), &seal).await?;
    Ok(respond(seal.render(&booking), seal.is_keyed()))
}

/// List bookings
///
/// Bookings in creation order, filtered. `from`/`to` keep the bookings whose
/// interval overlaps `[from, to)`.
#[utoipa::path(
    get, path = "/v1/bookings", tag = "bookings", security(("bearer_auth" = [])),
    params(BookingListQuery),
    responses((status = 200, description = "A page of bookings", body = BookingPage), ListBookingsErrors)
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
    Ok(Json(BookingPage { items: rows.into_iter().map(Into::into).collect(), next_cursor }))
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
) -> Result<impl IntoResponse, Problem> {
    let booking = service::get(&state.db, BookingId(id), who.booking_owner()).await?;
    Ok(respond(stored(StatusCode::OK, &state, &booking), false))
}

/// The checks before a change, in DESIGN §4's order: `If-Match` syntax
/// (400), the booking exists and is the caller's (404), `If-Match` matches
/// (412). Returns the version the change must still find, when `If-Match`
/// was sent.
async fn visible_and_current(
    state: &AppState,
    who: &SignedIn,
    id: BookingId,
    headers: &HeaderMap,
) -> Result<Option<i64>, Problem> {
    let if_match = IfMatch::from_headers(headers)?;
    let current = service::get(&state.db, id, who.booking_owner()).await?;
    if_match.check(current.version)?;
    Ok((if_match != IfMatch::Absent).then_some(current.version))
}

/// Runs one state-machine action: 404, then `If-Match` (optional), then the
/// optional body, then the transition.
async fn run_action(
    state: &AppState,
    who: &SignedIn,
    claim: Option<Uuid>,
    id: Uuid,
    action: Action,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<impl IntoResponse + use<>, Problem> {
    // Front-desk actions are for admins; a customer hears 403 before
    // anything about the booking is revealed.
    if matches!(action, Action::CheckIn | Action::Complete | Action::NoShow) {
        who.admin()?;
    }
    let id = BookingId(id);
    let expected = visible_and_current(state, who, id, headers).await?;
    let request = if body.is_empty() {
        ActionRequest::default()
    } else {
        parse_json::<OrNull<ActionRequest>>(headers, body)?.0.unwrap_or_default()
    };
    let render = |b: &Booking| stored(StatusCode::OK, state, b);
    let seal = Seal::new(claim, &render);
    let booking = service::act(&state.db, id, action, expected, &context(who, headers, request.reason), &seal).await?;
    Ok(respond(seal.render(&booking), seal.is_keyed()))
}

macro_rules! action_handler {
    ($name:ident, $path:literal, $action:expr, $errors:ident, $summary:literal, $description:literal) => {
        #[doc = $summary]
        #[doc = ""]
        #[doc = $description]
        #[utoipa::path(
            post, path = $path, tag = "bookings", security(("bearer_auth" = [])),
            params(
                ("id" = Uuid, Path, description = "Booking id"),
                ("If-Match" = Option<String>, Header, description = "Act only if the booking is still at this ETag"),
            ),
            request_body(content = Option<ActionRequest>, description = "Optional: a reason for the history"),
            responses(
                (status = 200, description = "Done", body = BookingResponse,
                    headers(("ETag" = String, description = "Strong validator of the new version"))),
                $errors,
            )
        )]
        pub async fn $name(
            State(state): State<AppState>,
            who: SignedIn,
            IdempotencyClaim(claim): IdempotencyClaim,
            ApiPath(id): ApiPath<Uuid>,
            headers: HeaderMap,
            RawBody(body): RawBody,
        ) -> Result<impl IntoResponse, Problem> {
            run_action(&state, &who, claim, id, $action, &headers, &body).await
        }
    };
}

action_handler!(
    confirm_booking,
    "/v1/bookings/{id}/confirm",
    Action::Confirm,
    ConfirmErrors,
    "Confirm a hold",
    "`held` → `confirmed`. A hold that ran out answers 409 `hold-expired` and the booking becomes `expired`."
);
action_handler!(
    cancel_booking,
    "/v1/bookings/{id}/cancel",
    Action::Cancel,
    OwnerActionErrors,
    "Cancel a booking",
    "`held` or `confirmed` → `cancelled`; the units are free at once."
);
action_handler!(
    check_in_booking,
    "/v1/bookings/{id}/check-in",
    Action::CheckIn,
    AdminActionErrors,
    "Check in",
    "`confirmed` → `checked_in`."
);
action_handler!(
    complete_booking,
    "/v1/bookings/{id}/complete",
    Action::Complete,
    AdminActionErrors,
    "Complete",
    "`checked_in` → `completed`."
);
action_handler!(
    no_show_booking,
    "/v1/bookings/{id}/no-show",
    Action::NoShow,
    AdminActionErrors,
    "Mark a no-show",
    "`confirmed` → `no_show`."
);

/// Reschedule a booking
///
/// Moves a `held` or `confirmed` booking to a new interval (and quantity),
/// re-checking the resource state, duplicates and capacity while its own old
/// interval does not count. All or nothing: when refused, the booking is
/// untouched. A hold keeps its expiry.
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
    IdempotencyClaim(claim): IdempotencyClaim,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse, Problem> {
    let id = BookingId(id);
    let expected = visible_and_current(&state, &who, id, &headers).await?;
    let request: RescheduleRequest = parse_json(&headers, &body)?;
    let change = Reschedule { range: time_range(request.start_at, request.end_at)?, quantity: request.quantity };
    let render = |b: &Booking| stored(StatusCode::OK, &state, b);
    let seal = Seal::new(claim, &render);
    let ctx = context(&who, &headers, request.reason);
    let booking = service::reschedule(&state.db, id, change, expected, &ctx, &seal).await?;
    Ok(respond(seal.render(&booking), seal.is_keyed()))
}

/// A booking's history
///
/// Every transition of the booking, oldest first: creation, actions,
/// reschedules and expiry, with who did it and why.
#[utoipa::path(
    get, path = "/v1/bookings/{id}/events", tag = "bookings", security(("bearer_auth" = [])),
    params(("id" = Uuid, Path, description = "Booking id")),
    responses((status = 200, description = "The history", body = BookingEventList), ListBookingEventsErrors)
)]
pub async fn list_booking_events(
    State(state): State<AppState>,
    who: SignedIn,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<BookingEventList>, Problem> {
    let events = service::history(&state.db, BookingId(id), who.booking_owner()).await?;
    Ok(Json(BookingEventList { items: events.into_iter().map(Into::into).collect() }))
}
