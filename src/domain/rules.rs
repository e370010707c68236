//! THE predicate: may this booking happen now? One pure function over the
//! resource (its capacity, state, time zone, schedule and policy), the
//! request, the clock and what is already booked. The write path calls it
//! inside the decision's transaction; slot search calls it for every
//! candidate; so what is offered and what is accepted cannot disagree.
//!
//! Refusals come in the order of docs/design.md §3: (state transition,
//! checked by the caller on the booking) resource state, cut-off, notice,
//! horizon, opening hours, slot grid, booking limit, duplicate, capacity.
//! Values that are wrong whatever the data are `check_values`' 422s, which
//! come before all of these. An admin's `override_policy` skips the policy
//! rules (cut-off to limit, and the minimum duration); resource state,
//! duplicate and capacity always apply, and so do buffers: they are time
//! the resource is really busy.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::{
    booking::Action,
    capacity::{self, Usage},
    field::Invalid,
    ids::{BookingId, ResourceId},
    policy::{Buffers, cutoff_at},
    resource::Resource,
    schedule::{self, local_date},
    time_range::TimeRange,
};

/// Why a booking may not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    ResourceInactive {
        resource_id: ResourceId,
    },
    CutoffPassed {
        action: Action,
        cutoff_at: DateTime<Utc>,
    },
    NoticeTooShort {
        min_notice_seconds: i64,
        earliest_start_at: DateTime<Utc>,
    },
    BeyondHorizon {
        max_advance_seconds: i64,
        latest_start_at: DateTime<Utc>,
    },
    /// `open_intervals`: the open time of the local date the request starts on.
    OutsideOpeningHours {
        time_zone: Tz,
        open_intervals: Vec<TimeRange>,
    },
    NotOnSlotGrid {
        slot_step_seconds: i64,
    },
    BookingLimitReached {
        limit: i64,
        active_bookings: i64,
    },
    Duplicate {
        existing: BookingId,
    },
    CapacityExceeded {
        resource_id: ResourceId,
        capacity: i64,
        requested: i64,
        available: i64,
    },
}

/// What is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub range: TimeRange,
    pub quantity: i64,
}

/// One of the customer's own active bookings of the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnBooking {
    pub id: BookingId,
    pub range: TimeRange,
}

/// What the other blocking bookings occupy around the request.
#[derive(Clone, Copy, Debug)]
pub enum Occupancy<'a> {
    /// Their occupied intervals (buffers included) that overlap the
    /// request's occupied interval.
    Intervals(&'a [Usage]),
    /// Only the sum of their quantities: an upper bound of their peak, so
    /// it decides a request it leaves room for and nothing else.
    AtMost(i64),
}

impl Occupancy<'_> {
    /// The most units that fit over `window` (for `AtMost`, a lower bound).
    fn available(&self, capacity: i64, window: &TimeRange) -> i64 {
        match self {
            Occupancy::Intervals(usages) => capacity::available(capacity, usages, window),
            Occupancy::AtMost(total) => (capacity - total).max(0),
        }
    }
}

/// Everything besides the resource and the request that the decision reads.
#[derive(Clone, Copy, Debug)]
pub struct Situation<'a> {
    /// The decision clock.
    pub now: DateTime<Utc>,
    /// `false` when an admin overrides the policy.
    pub apply_policy: bool,
    /// A customer moving a booking: its current start, from which the
    /// reschedule cut-off is measured.
    pub rescheduled_from: Option<DateTime<Utc>>,
    /// The customer's other active bookings of this resource (blocking,
    /// ending after `now`), in start order; `None` for nobody in
    /// particular (slot search without a customer).
    pub own_bookings: Option<&'a [OwnBooking]>,
    pub occupancy: Occupancy<'a>,
}

/// The interval a booking occupies: its own, widened by its buffers.
pub fn occupied(range: &TimeRange, buffers: Buffers) -> TimeRange {
    let start = range.start().checked_sub_signed(Duration::seconds(buffers.before_seconds));
    let end = range.end().checked_add_signed(Duration::seconds(buffers.after_seconds));
    start.zip(end).and_then(|(start, end)| TimeRange::new(start, end)).unwrap_or(*range)
}

/// The 422s: values that are wrong whatever is booked. Not in the past,
/// not longer than the resource allows, not more than its capacity, and
/// (unless the policy is overridden) not shorter than its minimum.
pub fn check_values(
    resource: &Resource,
    request: &Request,
    now: DateTime<Utc>,
    apply_policy: bool,
) -> Result<(), Invalid> {
    let range = &request.range;
    if range.start() < now {
        return Err(Invalid::new("start_at", "must not be in the past"));
    }
    if range.duration_seconds() > resource.max_booking_duration_seconds {
        return Err(Invalid::new(
            "end_at",
            format!("the interval is longer than this resource allows ({} s)", resource.max_booking_duration_seconds),
        ));
    }
    if request.quantity > i64::from(resource.capacity) {
        return Err(Invalid::new(
            "quantity",
            format!("must not exceed the resource's capacity ({})", resource.capacity),
        ));
    }
    if let Some(min) = resource.policy.min_duration_seconds.filter(|_| apply_policy)
        && range.end() - range.start() < Duration::seconds(min)
    {
        return Err(Invalid::new("end_at", format!("the booking must last at least {min} s")));
    }
    Ok(())
}

/// May `request` be booked on `resource` now? The first rule it breaks, in
/// docs/design.md §3's order, or `Ok`.
pub fn admit(resource: &Resource, request: &Request, situation: &Situation<'_>) -> Result<(), Refusal> {
    if !resource.active {
        return Err(Refusal::ResourceInactive { resource_id: resource.id });
    }
    if situation.apply_policy {
        check_policy(resource, request, situation)?;
    }
    if let Some(existing) = situation.own_bookings.into_iter().flatten().find(|own| own.range.overlaps(&request.range))
    {
        return Err(Refusal::Duplicate { existing: existing.id });
    }
    let capacity = i64::from(resource.capacity);
    let window = occupied(&request.range, resource.policy.buffers());
    let available = situation.occupancy.available(capacity, &window);
    if request.quantity > available {
        return Err(Refusal::CapacityExceeded {
            resource_id: resource.id,
            capacity,
            requested: request.quantity,
            available,
        });
    }
    Ok(())
}

/// A customer cancelling a booking that starts at `start`: refused after
/// the cancel cut-off.
pub fn check_cancel(resource: &Resource, start: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Refusal> {
    check_cutoff(resource.policy.cancel_cutoff_seconds, Action::Cancel, start, now)
}

fn check_cutoff(seconds: Option<i64>, action: Action, start: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Refusal> {
    match seconds.map(|seconds| cutoff_at(start, seconds)) {
        Some(cutoff_at) if now > cutoff_at => Err(Refusal::CutoffPassed { action, cutoff_at }),
        _ => Ok(()),
    }
}

/// The rules of the booking policy and the opening hours, in order.
fn check_policy(resource: &Resource, request: &Request, situation: &Situation<'_>) -> Result<(), Refusal> {
    let policy = &resource.policy;
    let (start, now) = (request.range.start(), situation.now);
    if let Some(current_start) = situation.rescheduled_from {
        check_cutoff(policy.reschedule_cutoff_seconds, Action::Reschedule, current_start, now)?;
    }
    if let Some(notice) = policy.min_notice_seconds {
        let earliest_start_at = now + Duration::seconds(notice);
        if start < earliest_start_at {
            return Err(Refusal::NoticeTooShort { min_notice_seconds: notice, earliest_start_at });
        }
    }
    if let Some(advance) = policy.max_advance_seconds {
        let latest_start_at = now + Duration::seconds(advance);
        if start > latest_start_at {
            return Err(Refusal::BeyondHorizon { max_advance_seconds: advance, latest_start_at });
        }
    }
    let zone = resource.time_zone;
    if let Some(schedule) = &resource.schedule
        && !schedule.is_open(zone, &request.range)
    {
        return Err(Refusal::OutsideOpeningHours { time_zone: zone, open_intervals: open_on_date_of(resource, start) });
    }
    if let Some(step) = policy.slot_step_seconds {
        let anchor = match &resource.schedule {
            Some(schedule) => schedule.grid_anchor(zone, start),
            None => Some(local_midnight(zone, start)),
        };
        let on_grid = anchor.is_some_and(|anchor| {
            let offset = (start - anchor).num_microseconds().unwrap_or(1);
            offset % (step * 1_000_000) == 0
        });
        if !on_grid {
            return Err(Refusal::NotOnSlotGrid { slot_step_seconds: step });
        }
    }
    if let (Some(limit), Some(own)) = (policy.max_active_bookings_per_customer, situation.own_bookings) {
        let active_bookings = own.len() as i64;
        if active_bookings >= limit {
            return Err(Refusal::BookingLimitReached { limit, active_bookings });
        }
    }
    Ok(())
}

fn local_midnight(zone: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
    schedule::instant(zone, local_date(zone, at).and_time(chrono::NaiveTime::MIN))
}

/// The open time of the local date `at` falls on (all of it without a
/// schedule).
pub fn open_on_date_of(resource: &Resource, at: DateTime<Utc>) -> Vec<TimeRange> {
    let zone = resource.time_zone;
    let midnight = local_midnight(zone, at);
    let next = schedule::instant(zone, (local_date(zone, at) + Duration::days(1)).and_time(chrono::NaiveTime::MIN));
    let Some(day) = TimeRange::new(midnight, next) else { return Vec::new() };
    match &resource.schedule {
        Some(schedule) => schedule.open_time(zone, &day),
        None => vec![day],
    }
}
