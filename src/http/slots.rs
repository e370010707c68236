//! `GET /v1/resources/{id}/slots` and `GET /v1/groups/{id}/slots`: the
//! times a booking page offers. Every slot listed is one that booking now
//! would accept, because both are judged by the same predicate
//! (`domain::rules`).

use axum::{Json, extract::State};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

use super::{
    AppState,
    auth::Caller,
    availability::MAX_WINDOW_DAYS,
    extract::{ApiPath, ApiQuery},
    problem::{Problem, ProblemType},
    time::{bounded, instant},
};
use crate::auth::Principal;
use crate::domain::{
    ids::{CustomerId, GroupId, ResourceId},
    slots::Slot,
    time_range::TimeRange,
};
use crate::problems;
use crate::service::{
    bookings::Target,
    slots::{self as service, SlotSearch},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_slots)).routes(routes!(list_group_slots))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotsQuery {
    /// Slots starting at or after this instant (RFC 3339 with offset;
    /// encode `+` as `%2B`).
    #[serde(deserialize_with = "bounded")]
    pub from: DateTime<FixedOffset>,
    /// Slots starting before this instant; at most 31 days after `from`,
    /// and at most 2,000 grid points between them.
    #[serde(deserialize_with = "bounded")]
    pub to: DateTime<FixedOffset>,
    /// Length of each slot; at least the policy's `min_duration_seconds`,
    /// at most the resource's `max_booking_duration_seconds`.
    #[validate(range(min = 60, max = 31_622_400, message = "must be between 60 and 31622400"))]
    #[param(minimum = 60, maximum = 31_622_400, example = 3600)]
    pub duration_seconds: i64,
    /// Units wanted (default 1), at most the resource's capacity.
    #[validate(range(min = 1, max = 1_000_000, message = "must be between 1 and 1000000"))]
    #[param(minimum = 1, maximum = 1_000_000, default = 1)]
    pub quantity: Option<i64>,
    /// Admins: list what this customer could book (its duplicate and
    /// booking-limit rules apply). A customer's own token does this by
    /// itself.
    pub customer_id: Option<Uuid>,
}

/// A time that can be booked now.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotResponse {
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    /// `start_at` in the resource's time zone.
    #[schema(format = DateTime, example = "2027-03-29T09:00:00+02:00")]
    pub local_start: String,
    /// The most units a booking of this slot could take now (for a
    /// group: summed over the members that could take `quantity`).
    #[schema(minimum = 1, maximum = 50_000_000)]
    pub available: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotsResponse {
    pub resource_id: Uuid,
    /// IANA time zone name.
    #[schema(pattern = "^[A-Za-z0-9_+/-]+$", max_length = 64, example = "Europe/Berlin")]
    pub time_zone: String,
    #[schema(minimum = 60, maximum = 31_622_400)]
    pub duration_seconds: i64,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub quantity: i64,
    /// In time order; at most 2,000.
    #[schema(max_items = 2000)]
    pub slots: Vec<SlotResponse>,
}

/// A group's slots: its members' merged.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupSlotsResponse {
    pub group_id: Uuid,
    /// The first member's IANA time zone, in which `local_start` is given.
    #[schema(pattern = "^[A-Za-z0-9_+/-]+$", max_length = 64, example = "Europe/Berlin")]
    pub time_zone: String,
    #[schema(minimum = 60, maximum = 31_622_400)]
    pub duration_seconds: i64,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub quantity: i64,
    /// In time order; at most 2,000.
    #[schema(max_items = 2000)]
    pub slots: Vec<SlotResponse>,
}

problems!(ListSlotsErrors, api: Forbidden, NotFound, ValidationError);

/// Bookable slots of a resource
///
/// The grid times in `[from, to)` at which a booking of `duration_seconds`
/// and `quantity` would succeed now: inside opening hours, on the slot
/// grid (the policy's `slot_step_seconds`, else the duration, from the
/// start of each opening interval or local midnight), within notice and
/// horizon, and with the units free over the whole occupied time, buffers
/// included. With a customer's token (or `customer_id`, for admins) the
/// customer's own duplicate and booking-limit rules apply too. Decided by
/// the same rules as `POST /v1/bookings`: a listed slot books when nothing
/// changes in between. Public.
#[utoipa::path(
    get, path = "/v1/resources/{id}/slots", tag = "resources", security((), ("bearer_auth" = [])),
    params(("id" = Uuid, Path, description = "Resource id"), SlotsQuery),
    responses((status = 200, description = "The bookable slots", body = SlotsResponse), ListSlotsErrors)
)]
pub async fn list_slots(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<SlotsQuery>,
) -> Result<Json<SlotsResponse>, Problem> {
    let (search, found) = search(&state, &caller, Target::Resource(ResourceId(id)), query).await?;
    Ok(Json(SlotsResponse {
        resource_id: id,
        time_zone: found.time_zone.name().to_owned(),
        duration_seconds: search.duration_seconds,
        quantity: search.quantity,
        slots: slot_responses(&found),
    }))
}

/// Bookable slots of a group
///
/// Like the slots of a resource, over the group's members: a time is
/// listed when some member could take a booking of `duration_seconds` and
/// `quantity` then, so `POST /v1/bookings` with this `group_id` would
/// succeed; `available` sums the units of the members that could.
/// `local_start` is in the first member's time zone. Public.
#[utoipa::path(
    get, path = "/v1/groups/{id}/slots", tag = "groups", security((), ("bearer_auth" = [])),
    params(("id" = Uuid, Path, description = "Group id"), SlotsQuery),
    responses((status = 200, description = "The bookable slots", body = GroupSlotsResponse), ListSlotsErrors)
)]
pub async fn list_group_slots(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<SlotsQuery>,
) -> Result<Json<GroupSlotsResponse>, Problem> {
    let (search, found) = search(&state, &caller, Target::Group(GroupId(id)), query).await?;
    Ok(Json(GroupSlotsResponse {
        group_id: id,
        time_zone: found.time_zone.name().to_owned(),
        duration_seconds: search.duration_seconds,
        quantity: search.quantity,
        slots: slot_responses(&found),
    }))
}

/// Whose duplicate and booking-limit rules a slot search applies: a
/// customer's own; an admin's `asked` customer's; nobody's.
pub(super) fn whose_rules(caller: &Principal, asked: Option<Uuid>) -> Result<Option<CustomerId>, Problem> {
    match (caller, asked.map(CustomerId)) {
        (Principal::Customer { id }, Some(other)) if *id != other => {
            Err(Problem::new(ProblemType::Forbidden, "Customers may only list slots for themselves."))
        }
        (Principal::Customer { id }, _) => Ok(Some(*id)),
        (Principal::Anonymous, Some(_)) => {
            Err(Problem::new(ProblemType::Unauthenticated, "customer_id needs an admin token."))
        }
        (_, asked) => Ok(asked),
    }
}

/// `[from, to)`, at most `max_days` long.
pub(super) fn window(
    from: DateTime<FixedOffset>,
    to: DateTime<FixedOffset>,
    max_days: i64,
) -> Result<TimeRange, Problem> {
    let (from, to) = (instant(from, "/from")?, instant(to, "/to")?);
    let window = TimeRange::new(from, to).ok_or_else(|| Problem::invalid("/to", "must be after from"))?;
    if window.duration_seconds() > max_days * 86_400 {
        return Err(Problem::invalid("/to", format!("the window may span at most {max_days} days")));
    }
    Ok(window)
}

/// Whose rules apply, the window checked, and the search run.
async fn search(
    state: &AppState,
    caller: &Principal,
    target: Target,
    query: SlotsQuery,
) -> Result<(SlotSearch, service::Found), Problem> {
    let customer = whose_rules(caller, query.customer_id)?;
    let window = window(query.from, query.to, MAX_WINDOW_DAYS)?;
    let search = SlotSearch {
        target,
        window,
        duration_seconds: query.duration_seconds,
        quantity: query.quantity.unwrap_or(1),
        customer,
    };
    let found = service::search(&state.db, &search).await?;
    Ok((search, found))
}

fn slot_responses(found: &service::Found) -> Vec<SlotResponse> {
    found.slots.iter().map(|slot| SlotResponse::new(slot, found.time_zone)).collect()
}

impl SlotResponse {
    /// `slot`, its start shown in `time_zone`.
    pub fn new(slot: &Slot, time_zone: chrono_tz::Tz) -> Self {
        Self {
            start_at: slot.range.start(),
            end_at: slot.range.end(),
            local_start: slot.range.start().with_timezone(&time_zone).to_rfc3339(),
            available: slot.available,
        }
    }
}
