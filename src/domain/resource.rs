//! A bookable resource: what can be booked and how much of it at once.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{
    attributes::Attributes,
    field::{Field, Invalid},
    ids::ResourceId,
    policy::Policy,
    schedule::Schedule,
};

pub const DEFAULT_TIME_ZONE: Tz = Tz::UTC;
pub const DEFAULT_HOLD_TTL_SECONDS: i32 = 600;
pub const DEFAULT_MAX_BOOKING_DURATION_SECONDS: i64 = 86_400 * 31;
pub const MAX_CAPACITY: i32 = 1_000_000;
pub const MIN_HOLD_TTL_SECONDS: i32 = 30;
pub const MAX_HOLD_TTL_SECONDS: i32 = 86_400;
pub const MIN_BOOKING_DURATION_SECONDS: i64 = 60;
/// A year and a day: the longest booking any resource may allow. It also
/// bounds how far back the overlap query has to look.
pub const MAX_BOOKING_DURATION_SECONDS: i64 = 86_400 * 366;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub id: ResourceId,
    pub name: String,
    pub description: Option<String>,
    pub capacity: i32,
    pub time_zone: Tz,
    pub active: bool,
    pub hold_ttl_seconds: i32,
    pub max_booking_duration_seconds: i64,
    /// When it is open; `None`: always.
    pub schedule: Option<Schedule>,
    /// The booking policy; the default has no rules.
    pub policy: Policy,
    pub version: i64,
    /// Active waiting-list entries that may concern it, its own and its
    /// groups' (docs/design.md §24): 0 means there is no queue to serve;
    /// never below the truth.
    pub waitlist_active: i32,
    /// What search filters on (docs/design.md §27).
    pub attributes: Attributes,
    /// The JSON Schema a booking's `fields` must satisfy, as its text
    /// (checked where it arrives); `None`: bookings take no fields
    /// (docs/design.md §28).
    pub booking_fields: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated request to create a resource.
#[derive(Clone, Debug)]
pub struct NewResource {
    pub name: String,
    pub description: Option<String>,
    pub capacity: i32,
    pub time_zone: Tz,
    pub active: bool,
    pub hold_ttl_seconds: i32,
    pub max_booking_duration_seconds: i64,
    pub schedule: Option<Schedule>,
    pub policy: Policy,
    pub attributes: Attributes,
    pub booking_fields: Option<String>,
}

/// A validated partial update; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ResourceChanges {
    pub name: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub capacity: Option<i32>,
    pub time_zone: Option<Tz>,
    pub active: Option<bool>,
    pub hold_ttl_seconds: Option<i32>,
    pub max_booking_duration_seconds: Option<i64>,
    /// `Some(None)` removes the schedule (always open).
    pub schedule: Option<Option<Schedule>>,
    pub policy: Option<Policy>,
    /// The whole new map (a PATCH's merge is done where it arrives).
    pub attributes: Option<Attributes>,
    /// `Some(None)` removes the schema.
    pub booking_fields: Option<Option<String>>,
}

impl NewResource {
    /// The resource this request creates, at version 1.
    pub fn into_resource(self, id: ResourceId, now: DateTime<Utc>) -> Resource {
        Resource {
            id,
            name: self.name,
            description: self.description,
            capacity: self.capacity,
            time_zone: self.time_zone,
            active: self.active,
            hold_ttl_seconds: self.hold_ttl_seconds,
            max_booking_duration_seconds: self.max_booking_duration_seconds,
            schedule: self.schedule,
            policy: self.policy,
            version: 1,
            waitlist_active: 0,
            attributes: self.attributes,
            booking_fields: self.booking_fields,
            created_at: now,
            updated_at: now,
        }
    }
}

impl Resource {
    /// Applies `changes`, bumping the version and `updated_at`.
    pub fn apply(&mut self, changes: ResourceChanges, now: DateTime<Utc>) {
        if let Some(name) = changes.name {
            self.name = name;
        }
        if let Some(description) = changes.description {
            self.description = description;
        }
        if let Some(capacity) = changes.capacity {
            self.capacity = capacity;
        }
        if let Some(time_zone) = changes.time_zone {
            self.time_zone = time_zone;
        }
        if let Some(active) = changes.active {
            self.active = active;
        }
        if let Some(ttl) = changes.hold_ttl_seconds {
            self.hold_ttl_seconds = ttl;
        }
        if let Some(max) = changes.max_booking_duration_seconds {
            self.max_booking_duration_seconds = max;
        }
        if let Some(schedule) = changes.schedule {
            self.schedule = schedule;
        }
        if let Some(policy) = changes.policy {
            self.policy = policy;
        }
        if let Some(attributes) = changes.attributes {
            self.attributes = attributes;
        }
        if let Some(booking_fields) = changes.booking_fields {
            self.booking_fields = booking_fields;
        }
        self.version += 1;
        self.updated_at = now;
    }
}

impl Resource {
    /// Values that contradict each other: the minimum duration above the
    /// longest booking allowed.
    pub fn inconsistency(&self) -> Option<Invalid> {
        let min = self.policy.min_duration_seconds?;
        (min > self.max_booking_duration_seconds).then(|| {
            Invalid::new(
                Field::named("policy").then("min_duration_seconds"),
                format!("must not exceed max_booking_duration_seconds ({})", self.max_booking_duration_seconds),
            )
        })
    }
}
