//! The shared types of the booking use cases: what a request to book or to
//! move asks for (`NewBooking`, `Reschedule`, `Target`), and what a change
//! to a booking was (`Change`). Every use case of this folder, bundles and
//! events import them from here, never from a use case.

use chrono::{DateTime, Utc};

use crate::domain::{resource::Resource, rules::Request};
use crate::service::decision::Decision;

pub use crate::domain::booking::Target;
use crate::domain::{
    booking::{Action, Booking},
    ids::{BundleId, CustomerId},
    time_range::TimeRange,
};

/// A validated request to book.
#[derive(Clone, Debug)]
pub struct NewBooking {
    pub target: Target,
    pub customer_id: CustomerId,
    pub range: TimeRange,
    pub quantity: i32,
    pub hold: bool,
    pub notes: Option<String>,
    /// Answers to the resource's booking fields (docs/design.md §28).
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// An admin skips the booking policy and opening hours.
    pub override_policy: bool,
}

impl NewBooking {
    /// The decision about booking this on `resource` at `now`.
    pub(in crate::service) fn decision<'r>(&self, resource: &'r Resource, now: DateTime<Utc>) -> Decision<'r> {
        Decision {
            resource,
            customer: self.customer_id,
            request: Request { range: self.range, quantity: i64::from(self.quantity) },
            now,
            apply_policy: !self.override_policy,
            rescheduled_from: None,
            exclude: None,
        }
    }
}

/// A validated request to move a booking.
#[derive(Clone, Debug)]
pub struct Reschedule {
    pub range: TimeRange,
    pub quantity: Option<i32>,
    /// New answers to the resource's booking fields; unchanged when `None`.
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// An admin skips the booking policy and opening hours.
    pub override_policy: bool,
}

/// What a change to a booking was: for its events and for the usage
/// summary, the booking as it was before.
pub(in crate::service) struct Change {
    pub before: Booking,
    pub action: Action,
    pub at: DateTime<Utc>,
    pub policy_overridden: bool,
}

impl Change {
    /// `action` on `booking`, still as it is.
    pub(in crate::service) fn new(booking: &Booking, action: Action, at: DateTime<Utc>) -> Self {
        Self { before: booking.clone(), action, at, policy_overridden: false }
    }

    /// Moving `booking`, still as it is.
    pub(in crate::service) fn moving(booking: &Booking, at: DateTime<Utc>, policy_overridden: bool) -> Self {
        Self { policy_overridden, ..Self::new(booking, Action::Reschedule, at) }
    }
}

/// A change decided here, or a booking of a bundle, which `bundles`
/// decides (found under the booking's lock, so no extra read routes it).
pub(super) enum Routed {
    Done(Box<Booking>),
    Bundle(BundleId),
    /// The change must be decided under the resource's whole lock (it has
    /// a queue to serve, or the change keeps units): run it again so.
    LockResource,
}
