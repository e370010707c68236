//! `GET /v1/audit`: the promise checked on live data (admins;
//! docs/design.md §23). One call is bounded: it checks a page of resources
//! (or one), stops early past a budget of bookings, and says where to go
//! on (`next_cursor`). Read-only; on PostgreSQL it never blocks a booking.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

use super::{AppState, auth::Admin, extract::ApiQuery, pagination, problem::Problem};
use crate::domain::{audit, ids::ResourceId};
use crate::problems;
use crate::service::audit::{self as service, Report, Scope};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_audit))
}

/// The bookings one call reads at most (it finishes the resource it is on).
pub const BOOKINGS_PER_CALL: u64 = 100_000;

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this resource (the feed's order is then not checked).
    pub resource_id: Option<Uuid>,
    /// Resources per call.
    #[validate(range(min = 1, max = 200, message = "must be between 1 and 200"))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous call.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$", max_length = 22)]
    pub cursor: Option<String>,
}

/// How much one call looked at.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditChecked {
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub resources: u64,
    /// Bookings of those resources, in any status.
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub bookings: u64,
    /// Hours of the usage summary compared with the bookings.
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub usage_hours: u64,
    /// Events whose feed order was checked (first call of a whole-database
    /// audit only).
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub events: u64,
}

/// What kind of promise a violation breaks.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    OverCapacity,
    DuplicateBooking,
    UsageSummaryMismatch,
    HistoryMismatch,
    FeedOrder,
    WaitlistOrder,
    BookedPastQueue,
}

impl From<audit::Kind> for ViolationKind {
    fn from(kind: audit::Kind) -> Self {
        match kind {
            audit::Kind::OverCapacity => ViolationKind::OverCapacity,
            audit::Kind::DuplicateBooking => ViolationKind::DuplicateBooking,
            audit::Kind::UsageSummaryMismatch => ViolationKind::UsageSummaryMismatch,
            audit::Kind::HistoryMismatch => ViolationKind::HistoryMismatch,
            audit::Kind::FeedOrder => ViolationKind::FeedOrder,
            audit::Kind::WaitlistOrder => ViolationKind::WaitlistOrder,
            audit::Kind::BookedPastQueue => ViolationKind::BookedPastQueue,
        }
    }
}

/// One broken promise, with where it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViolationResponse {
    /// `over_capacity`: an instant (from now on) where the blocking
    /// bookings take more than the capacity; `duplicate_booking`: a
    /// customer with overlapping blocking bookings of one resource;
    /// `usage_summary_mismatch`: an hour whose summary differs from the
    /// bookings; `history_mismatch`: a booking whose history does not end
    /// in its status; `feed_order`: a subject's events out of order in the
    /// feed; `waitlist_order`: a waiting-list entry offered while an
    /// earlier one the same units would have fitted still waited;
    /// `booked_past_queue`: a booking made while a waiting entry its units
    /// would have fitted waited (both over the resource's own entries for
    /// intervals not yet ended).
    pub kind: ViolationKind,
    /// The resource (none for `feed_order`).
    pub resource_id: Option<Uuid>,
    /// The bookings involved (for `feed_order`, the events' subjects; for
    /// the waiting-list kinds, the entry or booking that went first, then
    /// the entry passed over).
    #[schema(max_items = 20)]
    pub booking_ids: Vec<Uuid>,
    /// The instant (or the hour's start) where it was found.
    pub at: Option<DateTime<Utc>>,
    /// What the promise allows there: the capacity, the units the bookings
    /// take, the status the history ends in.
    #[schema(pattern = "^(> )?[0-9a-z_]{1,30}$", max_length = 40, example = "1")]
    pub expected: Option<String>,
    /// What was found.
    #[schema(pattern = "^[0-9a-z_]{1,30}$", max_length = 40, example = "2")]
    pub found: Option<String>,
    /// What was found, for people.
    #[schema(pattern = "^[^\\u0000]*$", max_length = 500)]
    pub detail: String,
}

impl From<audit::Violation> for ViolationResponse {
    fn from(v: audit::Violation) -> Self {
        Self {
            kind: v.kind.into(),
            resource_id: v.resource_id.map(|r| r.0),
            booking_ids: v.booking_ids,
            at: v.at,
            expected: v.expected,
            found: v.found,
            detail: v.detail,
        }
    }
}

/// The audit's report.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditResponse {
    /// No violation in what this call checked.
    pub ok: bool,
    /// Whether this call got to the end (else `next_cursor` goes on).
    pub complete: bool,
    /// Pass as `cursor` to check the next resources.
    #[schema(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$", max_length = 22)]
    pub next_cursor: Option<String>,
    pub checked: AuditChecked,
    /// At most 20 of each kind per resource.
    #[schema(max_items = 100_000)]
    pub violations: Vec<ViolationResponse>,
}

impl From<Report> for AuditResponse {
    fn from(report: Report) -> Self {
        Self {
            ok: report.ok(),
            complete: report.next.is_none(),
            next_cursor: report.next.map(|r| pagination::encode_cursor(r.0)),
            checked: AuditChecked {
                resources: report.checked.resources,
                bookings: report.checked.bookings,
                usage_hours: report.checked.usage_hours,
                events: report.checked.events,
            },
            violations: report.violations.into_iter().map(Into::into).collect(),
        }
    }
}

problems!(GetAuditErrors, api: Forbidden, NotFound, ValidationError);

/// Audit the promise
///
/// Checks the data as stored: no instant from now on where a resource's
/// blocking bookings exceed its capacity, no customer with overlapping
/// blocking bookings of one resource, the usage summary equal to the
/// bookings hour by hour, every booking's history ending in its status,
/// and the event feed in order. Read-only and bounded: one call checks up
/// to `limit` resources (stopping early after 100,000 bookings) and gives
/// `next_cursor` to go on; `berth audit` runs them all. On a violation see
/// the README ("When the audit finds something"). Admins only.
#[utoipa::path(
    get, path = "/v1/audit", tag = "operations", security(("bearer_auth" = [])),
    params(AuditQuery),
    responses((status = 200, description = "What was checked and what was found", body = AuditResponse), GetAuditErrors)
)]
pub async fn get_audit(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditResponse>, Problem> {
    let page = pagination::PageQuery { limit: query.limit, cursor: query.cursor };
    let scope = Scope {
        resource: query.resource_id.map(ResourceId),
        after: page.after()?.map(ResourceId),
        max_resources: u64::from(page.limit()),
        max_bookings: BOOKINGS_PER_CALL,
    };
    let report = service::audit(&state.db, &scope).await?;
    Ok(Json(report.into()))
}
