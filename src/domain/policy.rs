//! A resource's booking policy: notice, horizon, slot grid, minimum
//! duration, buffers, cut-offs, a per-customer limit, the waiting list's
//! offer time, approval and the check-in window. Every value is
//! optional; an absent one is no rule. The checks live in `rules`.

use chrono::{DateTime, Duration, Utc};

use super::time_range::TimeRange;

/// Bounds the rules rely on. (Each value's accepted range is validated and
/// documented with the request body, `http::resources::settings`.)
pub mod limits {
    /// A buffer of at most a day on either side; the overlap reads rely on
    /// it as a bound (docs/design.md §5).
    pub const MAX_BUFFER_SECONDS: i64 = 86_400;
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// A booking starts at least this long after it is made.
    pub min_notice_seconds: Option<i64>,
    /// A booking starts at most this long after it is made.
    pub max_advance_seconds: Option<i64>,
    /// Starts lie on a grid of this step from the start of the open
    /// interval (local midnight without a schedule).
    pub slot_step_seconds: Option<i64>,
    /// The shortest booking.
    pub min_duration_seconds: Option<i64>,
    /// Occupied before the start, for the capacity rule.
    pub buffer_before_seconds: Option<i64>,
    /// Occupied after the end, for the capacity rule.
    pub buffer_after_seconds: Option<i64>,
    /// Customers may not cancel later than this before the start.
    pub cancel_cutoff_seconds: Option<i64>,
    /// Customers may not reschedule later than this before the start.
    pub reschedule_cutoff_seconds: Option<i64>,
    /// Active bookings (blocking, ending in the future) one customer may
    /// hold on the resource.
    pub max_active_bookings_per_customer: Option<i64>,
    /// How long a waiting-list offer is held (`DEFAULT_WAITLIST_OFFER_SECONDS`
    /// when absent).
    pub waitlist_offer_seconds: Option<i64>,
    /// A customer's booking awaits an admin's approval (docs/design.md §26).
    pub approval_required: bool,
    /// How long a request awaits approval (`DEFAULT_APPROVAL_TIMEOUT_SECONDS`
    /// when absent), never past its start.
    pub approval_timeout_seconds: Option<i64>,
    /// A confirmed booking not checked in this long after its start stops
    /// taking the rest of its interval.
    pub check_in_window_seconds: Option<i64>,
}

/// How long a waiting-list offer is held when the policy does not say.
pub const DEFAULT_WAITLIST_OFFER_SECONDS: i64 = 900;

/// How long a request awaits approval when the policy does not say.
pub const DEFAULT_APPROVAL_TIMEOUT_SECONDS: i64 = 172_800;

/// The buffers a booking is made with, kept with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Buffers {
    pub before_seconds: i64,
    pub after_seconds: i64,
}

impl Policy {
    pub fn buffers(&self) -> Buffers {
        Buffers {
            before_seconds: self.buffer_before_seconds.unwrap_or(0),
            after_seconds: self.buffer_after_seconds.unwrap_or(0),
        }
    }

    /// When a request made at `now` for a booking starting at `start`
    /// runs out, if `customer`'s requests here await approval: the timeout
    /// later, never past the start. Admins' are not affected.
    pub fn approval_until(&self, customer: bool, now: DateTime<Utc>, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let timeout = self.approval_timeout_seconds.unwrap_or(DEFAULT_APPROVAL_TIMEOUT_SECONDS);
        (self.approval_required && customer)
            .then(|| now.checked_add_signed(Duration::seconds(timeout)).map_or(start, |at| at.min(start)))
    }

    /// The check-in deadline of a booking starting at `start`, if there is
    /// a window.
    pub fn check_in_deadline(&self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.check_in_window_seconds.and_then(|window| start.checked_add_signed(Duration::seconds(window)))
    }
}

/// The last instant a customer may still act on a booking starting at
/// `start` under a cut-off of `seconds`.
pub fn cutoff_at(start: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    start.checked_sub_signed(Duration::seconds(seconds)).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The interval a booking occupies: its own, widened by its buffers.
pub fn occupied(range: &TimeRange, buffers: Buffers) -> TimeRange {
    let start = range.start().checked_sub_signed(Duration::seconds(buffers.before_seconds));
    let end = range.end().checked_add_signed(Duration::seconds(buffers.after_seconds));
    start.zip(end).and_then(|(start, end)| TimeRange::new(start, end)).unwrap_or(*range)
}
