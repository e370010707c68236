//! The wire shapes of `/v1/bookings`: request bodies, responses and the
//! list filters, and their conversions from domain types.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::domain::booking::{Booking, BookingEvent, BookingStatus};
use crate::http::{
    fields::no_nul,
    time::{bounded, bounded_option},
};

/// A booking's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatusDto {
    Held,
    Pending,
    Confirmed,
    CheckedIn,
    Completed,
    Cancelled,
    Expired,
    Declined,
    NoShow,
}

impl From<BookingStatus> for BookingStatusDto {
    fn from(s: BookingStatus) -> Self {
        match s {
            BookingStatus::Held => Self::Held,
            BookingStatus::Pending => Self::Pending,
            BookingStatus::Declined => Self::Declined,
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
            BookingStatusDto::Pending => Self::Pending,
            BookingStatusDto::Declined => Self::Declined,
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
    /// The resource to book; or give `group_id` instead.
    #[serde(default)]
    #[schema(required = false)]
    pub resource_id: Option<Uuid>,
    /// Book any one member of this group (a pool): berth picks one for
    /// which every rule passes and answers with its `resource_id`. Give
    /// this or `resource_id`, not both.
    #[serde(default)]
    #[schema(required = false)]
    pub group_id: Option<Uuid>,
    /// Who books. A customer's token books for that customer and may leave
    /// it out (another customer's id is 403); admins must name one.
    #[serde(default)]
    #[schema(required = false)]
    pub customer_id: Option<Uuid>,
    /// RFC 3339 with an explicit offset; not in the past.
    #[serde(deserialize_with = "bounded")]
    #[schema(example = "2030-05-01T09:00:00+02:00")]
    pub start_at: DateTime<FixedOffset>,
    /// Exclusive end; after `start_at`, at most the resource's
    /// `max_booking_duration_seconds` later.
    #[serde(deserialize_with = "bounded")]
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
    #[schema(pattern = "^[^\\u0000]*$", max_length = 2000)]
    pub notes: Option<String>,
    /// Answers to the resource's `booking_fields` (checked against that
    /// schema: 422 per failing field at `/fields/<name>`; at most 8 KiB).
    /// A resource without a schema takes none.
    #[serde(default)]
    #[schema(required = false, value_type = Option<Object>, example = json!({"party_size": 4}))]
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// Admins only: skip the resource's opening hours and booking policy
    /// (capacity, duplicates and the resource's state still apply);
    /// recorded in the history.
    #[serde(default)]
    #[schema(required = false, default = false)]
    pub override_policy: bool,
}

/// Optional body of the action endpoints.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// Why; recorded in the booking's history.
    #[validate(length(max = 2000, message = "must be at most 2000 characters"), custom(function = no_nul))]
    #[schema(pattern = "^[^\\u0000]*$", max_length = 2000, example = "customer called")]
    pub reason: Option<String>,
}

/// Where to move a booking.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    #[serde(deserialize_with = "bounded")]
    #[schema(example = "2030-05-01T11:00:00+02:00")]
    pub start_at: DateTime<FixedOffset>,
    #[serde(deserialize_with = "bounded")]
    #[schema(example = "2030-05-01T12:00:00+02:00")]
    pub end_at: DateTime<FixedOffset>,
    /// New quantity; unchanged when absent.
    #[validate(range(min = 1, max = 1_000_000, message = "must be between 1 and 1000000"))]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub quantity: Option<i32>,
    /// New answers to the (new) resource's `booking_fields`, checked as on
    /// create; unchanged when absent.
    #[serde(default)]
    #[schema(required = false, value_type = Option<Object>)]
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
    #[validate(length(max = 2000, message = "must be at most 2000 characters"), custom(function = no_nul))]
    #[schema(pattern = "^[^\\u0000]*$", max_length = 2000)]
    pub reason: Option<String>,
    /// Admins only: skip the resource's opening hours and booking policy,
    /// as on create.
    #[serde(default)]
    #[schema(required = false, default = false)]
    pub override_policy: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookingResponse {
    pub id: Uuid,
    pub resource_id: Uuid,
    /// The group it was booked through, which picked `resource_id`; null
    /// for a booking of one resource.
    pub group_id: Option<Uuid>,
    /// The bundle it belongs to (booked, moved and cancelled with the
    /// others); null for a booking on its own.
    pub bundle_id: Option<Uuid>,
    /// The waiting-list entry this hold was offered to (confirm it to
    /// accept the offer); null for a booking made directly.
    pub waitlist_entry_id: Option<Uuid>,
    /// The recurring series it is an occurrence of; null for a booking on
    /// its own.
    pub series_id: Option<Uuid>,
    pub customer_id: Uuid,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub quantity: i32,
    pub status: BookingStatusDto,
    /// When the hold runs out (held), or ran out (expired); null otherwise.
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// When the request awaiting approval runs out and is declined
    /// (pending), or ran out (declined by the engine); null otherwise.
    pub approval_expires_at: Option<DateTime<Utc>>,
    /// From this instant a confirmed booking not checked in no longer
    /// takes the rest of its interval, and becomes `no_show`; null when
    /// its resource has no check-in window.
    pub check_in_deadline_at: Option<DateTime<Utc>>,
    #[schema(pattern = "^[^\\u0000]*$", max_length = 2000)]
    pub notes: Option<String>,
    /// Its answers to the resource's `booking_fields`; null when none.
    #[schema(value_type = Option<Object>)]
    pub fields: Option<serde_json::Value>,
    /// Time the resource is kept free before the booking (the policy's
    /// buffer when it was made or last moved).
    #[schema(minimum = 0, maximum = 86_400)]
    pub buffer_before_seconds: i64,
    /// Time the resource is kept free after the booking.
    #[schema(minimum = 0, maximum = 86_400)]
    pub buffer_after_seconds: i64,
    /// Row version; the ETag is this number in quotes.
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Booking> for BookingResponse {
    fn from(b: &Booking) -> Self {
        Self {
            id: b.id.0,
            resource_id: b.resource_id.0,
            group_id: b.group_id.map(|g| g.0),
            bundle_id: b.bundle.map(|(bundle, _)| bundle.0),
            waitlist_entry_id: b.waitlist_entry.map(|e| e.0),
            series_id: b.series.map(|s| s.0),
            customer_id: b.customer_id.0,
            start_at: b.range.start(),
            end_at: b.range.end(),
            quantity: b.quantity,
            status: b.status.into(),
            hold_expires_at: b.hold_ends_at(),
            approval_expires_at: b.approval_expires_at(),
            check_in_deadline_at: b.check_in_deadline_at,
            notes: b.notes.clone(),
            fields: b.fields.as_deref().and_then(|text| serde_json::from_str(text).ok()),
            buffer_before_seconds: b.buffers.before_seconds,
            buffer_after_seconds: b.buffers.after_seconds,
            version: b.version,
            created_at: b.created_at,
            updated_at: b.updated_at,
        }
    }
}

/// One page of bookings.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingPage {
    #[schema(max_items = 200)]
    pub items: Vec<BookingResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$", max_length = 22)]
    pub next_cursor: Option<String>,
}

/// Who did something to a booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorResponse {
    /// Token subject; `berth` for the engine itself.
    #[schema(max_length = 255)]
    pub sub: String,
    /// `admin`, `customer`, `anonymous`, or `system` for the engine.
    #[schema(pattern = "^(admin|customer|anonymous|system)$", max_length = 9)]
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
    #[schema(pattern = "^(create|confirm|cancel|check-in|complete|no-show|reschedule|expire)$", max_length = 10)]
    pub action: String,
    pub actor: ActorResponse,
    #[schema(pattern = "^[^\\u0000]*$", max_length = 2000)]
    pub reason: Option<String>,
    /// The `X-Request-Id` of the request that did it.
    #[schema(format = Uuid)]
    pub request_id: Option<String>,
    /// An admin skipped the resource's opening hours and booking policy.
    pub policy_overridden: bool,
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
            policy_overridden: e.policy_overridden,
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
    /// Only the occurrences of this series.
    pub series_id: Option<Uuid>,
    /// Only bookings that end after this instant (RFC 3339; encode `+` as `%2B`).
    #[serde(default, deserialize_with = "bounded_option")]
    pub from: Option<DateTime<FixedOffset>>,
    /// Only bookings that start before this instant.
    #[serde(default, deserialize_with = "bounded_option")]
    pub to: Option<DateTime<FixedOffset>>,
    /// Page size.
    #[validate(range(min = 1, max = 200, message = "must be between 1 and 200"))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$", max_length = 22)]
    pub cursor: Option<String>,
}
