//! `/v1/waitlist`: waiting lists (docs/design.md §24). Join the queue of a
//! full interval of a resource or a group, read an entry (with its
//! position) or a page of them in queue order, leave. An offer arrives as a
//! held booking for the entry's customer (its `waitlist_entry_id` names
//! the entry): confirming it is accepting the offer.

use axum::{Json, extract::State, http::HeaderMap, response::Response};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

use super::{
    AppState,
    auth::{SignedIn, request_context},
    bookings::handlers::{booking_customer, target},
    extract::{ApiJson, ApiPath, ApiQuery, RawBody, optional_json},
    fields::no_nul,
    idempotency::Keyed,
    pagination::{DEFAULT_LIMIT, cut},
    precondition::IfMatch,
    problem::Problem,
    reply,
    time::{bounded, time_range},
};
use crate::domain::{
    ids::{CustomerId, GroupId, ResourceId, WaitlistEntryId},
    waitlist::{Entry, EntryFilter, EntryStatus},
};
use crate::problems;
use crate::service::{
    Expected,
    idempotency::StoredResponse,
    waitlist::{self as service, NewEntry, Placed},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(join_waitlist, list_waitlist))
        .routes(routes!(get_waitlist_entry))
        .routes(routes!(leave_waitlist))
}

/// Where an entry stands in its queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaitlistStatusDto {
    /// In the queue; `position` says where.
    Waiting,
    /// A held booking (`booking_id`) waits for its customer until
    /// `offer_expires_at`: confirm it to accept.
    Offered,
    /// The offer was confirmed.
    Accepted,
    /// The offer was cancelled.
    Declined,
    /// The offer ran out.
    Expired,
    /// The customer left the queue.
    Left,
    /// The interval can no longer be booked (its start passed, or notice,
    /// horizon, hours or cut-off rule it out).
    Lapsed,
}

impl From<EntryStatus> for WaitlistStatusDto {
    fn from(s: EntryStatus) -> Self {
        match s {
            EntryStatus::Waiting => Self::Waiting,
            EntryStatus::Offered => Self::Offered,
            EntryStatus::Accepted => Self::Accepted,
            EntryStatus::Declined => Self::Declined,
            EntryStatus::Expired => Self::Expired,
            EntryStatus::Left => Self::Left,
            EntryStatus::Lapsed => Self::Lapsed,
        }
    }
}

impl From<WaitlistStatusDto> for EntryStatus {
    fn from(s: WaitlistStatusDto) -> Self {
        match s {
            WaitlistStatusDto::Waiting => Self::Waiting,
            WaitlistStatusDto::Offered => Self::Offered,
            WaitlistStatusDto::Accepted => Self::Accepted,
            WaitlistStatusDto::Declined => Self::Declined,
            WaitlistStatusDto::Expired => Self::Expired,
            WaitlistStatusDto::Left => Self::Left,
            WaitlistStatusDto::Lapsed => Self::Lapsed,
        }
    }
}

fn default_quantity() -> i32 {
    1
}

/// A request to wait for `quantity` units of a full interval.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinWaitlistRequest {
    /// The resource to wait for; or give `group_id` instead.
    #[serde(default)]
    #[schema(required = false)]
    pub resource_id: Option<Uuid>,
    /// Wait for any one member of this group; the offer names the member.
    #[serde(default)]
    #[schema(required = false)]
    pub group_id: Option<Uuid>,
    /// Who waits. A customer's token waits for that customer and may leave
    /// it out (another customer's id is 403); admins must name one.
    #[serde(default)]
    #[schema(required = false)]
    pub customer_id: Option<Uuid>,
    /// RFC 3339 with an explicit offset; not in the past.
    #[serde(deserialize_with = "bounded")]
    #[schema(example = "2030-05-01T09:00:00+02:00")]
    pub start_at: DateTime<FixedOffset>,
    #[serde(deserialize_with = "bounded")]
    #[schema(example = "2030-05-01T10:00:00+02:00")]
    pub end_at: DateTime<FixedOffset>,
    /// Units wanted: the offer is for all of them or none.
    #[serde(default = "default_quantity")]
    #[validate(range(min = 1, max = 1_000_000, message = "must be between 1 and 1000000"))]
    #[schema(required = false, minimum = 1, maximum = 1_000_000, default = 1)]
    pub quantity: i32,
}

/// A place in a waiting list.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitlistEntryResponse {
    pub id: Uuid,
    /// The resource waited for; null for a group's entry.
    pub resource_id: Option<Uuid>,
    /// The group waited for; null for a resource's entry.
    pub group_id: Option<Uuid>,
    pub customer_id: Uuid,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub quantity: i32,
    pub status: WaitlistStatusDto,
    /// 1 for the first waiting entry of the queue of its interval (waiting
    /// entries of the same resource or group whose intervals overlap), in
    /// the order they joined; null once not waiting (and in events).
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    pub position: Option<i64>,
    /// The held booking it was offered (confirm it to accept); null until
    /// offered.
    pub booking_id: Option<Uuid>,
    /// When the offer runs out: the booking's `hold_expires_at`.
    pub offer_expires_at: Option<DateTime<Utc>>,
    /// Row version; the ETag is this number in quotes.
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WaitlistEntryResponse {
    pub fn new(entry: &Entry, position: Option<i64>) -> Self {
        let (resource_id, group_id) = entry.target.parts();
        Self {
            id: entry.id.0,
            resource_id: resource_id.map(|r| r.0),
            group_id: group_id.map(|g| g.0),
            customer_id: entry.customer_id.0,
            start_at: entry.range.start(),
            end_at: entry.range.end(),
            quantity: entry.quantity,
            status: entry.status.into(),
            position,
            booking_id: entry.booking_id.map(|b| b.0),
            offer_expires_at: entry.offer_expires_at,
            version: entry.version,
            created_at: entry.created_at,
            updated_at: entry.updated_at,
        }
    }
}

impl From<&Placed> for WaitlistEntryResponse {
    fn from(placed: &Placed) -> Self {
        Self::new(&placed.entry, placed.position)
    }
}

/// One page of entries, in queue order.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitlistPage {
    #[schema(max_items = 200)]
    pub items: Vec<WaitlistEntryResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(pattern = "^[A-Za-z0-9_-]{32}$", max_length = 32)]
    pub next_cursor: Option<String>,
}

/// Filters of `GET /v1/waitlist`.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitlistQuery {
    pub resource_id: Option<Uuid>,
    pub group_id: Option<Uuid>,
    /// Customers see only their own entries.
    pub customer_id: Option<Uuid>,
    #[param(inline)]
    pub status: Option<WaitlistStatusDto>,
    /// Page size.
    #[validate(range(min = 1, max = 200, message = "must be between 1 and 200"))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{32}$", max_length = 32)]
    pub cursor: Option<String>,
}

/// A page's cursor: where the last entry stands in queue order (its
/// `created_at` in microseconds and its id), so it needs no entry to
/// exist to be read (one that left or was deleted still marks a place).
fn encode_cursor(entry: &Entry) -> String {
    let mut bytes = entry.created_at.timestamp_micros().to_be_bytes().to_vec();
    bytes.extend_from_slice(entry.id.0.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_cursor(cursor: &str) -> Result<(DateTime<Utc>, WaitlistEntryId), Problem> {
    let bad = || Problem::invalid("/cursor", "is not a cursor returned by this list");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let (micros, id) = bytes.split_at_checked(8).ok_or_else(bad)?;
    let micros = i64::from_be_bytes(micros.try_into().map_err(|_| bad())?);
    // Any well-formed cursor marks a place: one outside the years 1 to
    // 9999 (all an entry can have) is before or after every entry.
    // (SQLite compares instants as text: year 10000 would sort first.)
    const YEAR_1: i64 = -62_135_596_800_000_000;
    const LAST_OF_9999: i64 = 253_402_300_799_999_999;
    let at = DateTime::from_timestamp_micros(micros.clamp(YEAR_1, LAST_OF_9999)).ok_or_else(bad)?;
    Ok((at, WaitlistEntryId(Uuid::from_slice(id).map_err(|_| bad())?)))
}

/// Optional body of `leave`.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaveRequest {
    /// Why; recorded with the event (and the offer's cancellation).
    #[validate(length(max = 2000, message = "must be at most 2000 characters"), custom(function = no_nul))]
    #[schema(pattern = "^[^\\u0000]*$", max_length = 2000, example = "found another court")]
    pub reason: Option<String>,
}

fn answer(placed: &Placed) -> StoredResponse {
    reply::object(placed.entry.version, &WaitlistEntryResponse::from(placed))
}

problems!(JoinWaitlistErrors, api: Forbidden, MalformedRequest, UnsupportedMediaType, PayloadTooLarge, ValidationError, ResourceInactive, NoticeTooShort, BeyondBookingHorizon, OutsideOpeningHours, NotOnSlotGrid, BookingLimitReached, DuplicateBooking, NoResourceAvailable, WaitlistNotNeeded, AlreadyOnWaitlist);
problems!(ListWaitlistErrors, api: ValidationError);
problems!(GetWaitlistEntryErrors, api: NotFound);
problems!(LeaveWaitlistErrors, api: MalformedRequest, NotFound, PreconditionFailed, UnsupportedMediaType, PayloadTooLarge, ValidationError, WaitlistEntryClosed);

/// Join a waiting list
///
/// Waits for `quantity` units of a full interval of a resource (or of any
/// member of a group). The request is judged like a booking first: a rule
/// other than capacity answers with its own 409; an interval that would be
/// booked right now answers `waitlist-not-needed` (book it instead). One
/// active entry per customer, resource (or group) and overlapping
/// interval. When units free, the first entries whose whole quantity fits
/// are offered a held booking, in the transaction that frees them: it
/// arrives as `booking.created` (held, with `waitlist_entry_id`) on the
/// feed, webhooks and the resource's change stream; confirm it before
/// `offer_expires_at` to accept.
#[utoipa::path(
    post, path = "/v1/waitlist", tag = "waitlist", security(("bearer_auth" = [])),
    request_body = JoinWaitlistRequest,
    responses(
        (status = 201, description = "In the queue", body = WaitlistEntryResponse,
            headers(("Location" = String, description = "URL of the entry"), ("ETag" = String, description = "Strong validator of this version"))),
        JoinWaitlistErrors,
    )
)]
pub async fn join_waitlist(
    State(state): State<AppState>,
    who: SignedIn,
    keyed: Keyed,
    headers: HeaderMap,
    ApiJson(request): ApiJson<JoinWaitlistRequest>,
) -> Result<Response, Problem> {
    let customer_id = booking_customer(&who, request.customer_id, false)?;
    let range = time_range(request.start_at, request.end_at)?;
    let ctx = request_context(&who.0, &headers, None);
    let new = NewEntry {
        target: target(request.resource_id, request.group_id, "")?,
        customer_id,
        range,
        quantity: request.quantity,
    };
    let created = |placed: &Placed| {
        reply::created(
            state.location(&format!("/v1/waitlist/{}", placed.entry.id)),
            placed.entry.version,
            &WaitlistEntryResponse::from(placed),
        )
    };
    keyed.write(created, async |seal| service::join(&state.db, new, &ctx, seal).await).await
}

/// List waiting-list entries
///
/// Entries in queue order (the order they joined), filtered; customers see
/// only their own.
#[utoipa::path(
    get, path = "/v1/waitlist", tag = "waitlist", security(("bearer_auth" = [])),
    params(WaitlistQuery),
    responses((status = 200, description = "A page of entries", body = WaitlistPage), ListWaitlistErrors)
)]
pub async fn list_waitlist(
    State(state): State<AppState>,
    who: SignedIn,
    ApiQuery(query): ApiQuery<WaitlistQuery>,
) -> Result<Json<WaitlistPage>, Problem> {
    let owner = who.booking_owner();
    let requested = query.customer_id.map(CustomerId);
    if owner.is_some() && requested.is_some_and(|r| Some(r) != owner) {
        // A customer asking for someone else's entries sees none.
        return Ok(Json(WaitlistPage { items: Vec::new(), next_cursor: None }));
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    let filter = EntryFilter {
        resource_id: query.resource_id.map(ResourceId),
        group_id: query.group_id.map(GroupId),
        customer_id: owner.or(requested),
        status: query.status.map(Into::into),
    };
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let rows = service::list(&state.db, &filter, after, u64::from(limit) + 1).await?;
    let (rows, next_cursor) = cut(rows, limit, |p| encode_cursor(&p.entry));
    Ok(Json(WaitlistPage { items: rows.iter().map(Into::into).collect(), next_cursor }))
}

/// Get a waiting-list entry
///
/// The entry, with its `position` while it waits (the owner or an admin).
#[utoipa::path(
    get, path = "/v1/waitlist/{id}", tag = "waitlist", security(("bearer_auth" = [])),
    params(("id" = Uuid, Path, description = "Entry id")),
    responses(
        (status = 200, description = "The entry", body = WaitlistEntryResponse,
            headers(("ETag" = String, description = "Strong validator of this version"))),
        GetWaitlistEntryErrors,
    )
)]
pub async fn get_waitlist_entry(
    State(state): State<AppState>,
    who: SignedIn,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, Problem> {
    let placed = service::get(&state.db, WaitlistEntryId(id), who.booking_owner()).await?;
    Ok(reply::send(&answer(&placed)))
}

/// Leave a waiting list
///
/// `waiting` or `offered` → `left`. An offer the entry holds is cancelled
/// and its units go to the next entries in the same transaction.
#[utoipa::path(
    post, path = "/v1/waitlist/{id}/leave", tag = "waitlist", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Entry id"),
        ("If-Match" = Option<String>, Header, description = "Act only if the entry is still at this ETag"),
    ),
    request_body(content = Option<LeaveRequest>, description = "Optional: a reason"),
    responses(
        (status = 200, description = "Left", body = WaitlistEntryResponse,
            headers(("ETag" = String, description = "Strong validator of the new version"))),
        LeaveWaitlistErrors,
    )
)]
pub async fn leave_waitlist(
    State(state): State<AppState>,
    who: SignedIn,
    keyed: Keyed,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, Problem> {
    let id = WaitlistEntryId(id);
    let owner = who.booking_owner();
    let if_match = IfMatch::from_headers(&headers)?;
    let current = service::get(&state.db, id, owner).await?;
    if_match.check(current.entry.version)?;
    let expected: Expected = if_match.expected();
    let request: LeaveRequest = optional_json(&headers, &body)?;
    let ctx = request_context(&who.0, &headers, request.reason);
    keyed.write(answer, async |seal| service::leave(&state.db, id, &expected, owner, &ctx, seal).await).await
}
