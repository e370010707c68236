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
    capacity::{self, Segment, Usage},
    field::Invalid,
    ids::{BookingId, ResourceId},
    policy::cutoff_at,
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
        /// Entries waiting on overlapping intervals (docs/design.md §24):
        /// filled in by a booking's create, `None` from the rules.
        waitlist_length: Option<i64>,
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

/// A customer's other active bookings of the resource (blocking, ending
/// after now), as far as the duplicate and limit rules need them.
#[derive(Clone, Copy, Debug)]
pub struct OwnBookings<'a> {
    /// How many there are (a count may stop at the policy's limit).
    pub active: i64,
    /// Those that may overlap the request, in start order: at least every
    /// one that does (the rule checks the overlap itself).
    pub nearby: &'a [OwnBooking],
}

/// What the other blocking bookings occupy around the request.
#[derive(Clone, Copy, Debug)]
pub enum Occupancy<'a> {
    /// Their occupied intervals (buffers included) that overlap the
    /// request's occupied interval.
    Intervals(&'a [Usage]),
    /// Only an upper bound of their peak (the usage summary's busiest
    /// hour), so it decides a request it leaves room for and nothing else.
    AtMost(i64),
    /// The usage timeline (`capacity::timeline`) of a stretch that covers
    /// the request's occupied interval: slot search judges many candidates
    /// against one sweep.
    Timeline(&'a [Segment]),
}

impl Occupancy<'_> {
    /// The most units that fit over `window` (for `AtMost`, a lower bound).
    fn available(&self, capacity: i64, window: &TimeRange) -> i64 {
        match self {
            Occupancy::Intervals(usages) => capacity::available(capacity, usages, window),
            Occupancy::AtMost(total) => (capacity - total).max(0),
            Occupancy::Timeline(segments) => (capacity - capacity::peak_in(segments, window)).max(0),
        }
    }
}

/// The most units a booking of `range` could take on `resource`, given
/// what the others occupy: its occupied interval (buffers included) must
/// fit at every instant.
fn room(resource: &Resource, range: &TimeRange, occupancy: &Occupancy<'_>) -> i64 {
    occupancy.available(i64::from(resource.capacity), &occupied(range, resource.policy.buffers()))
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
    /// The customer's other active bookings of this resource; `None` for
    /// nobody in particular (slot search without a customer).
    pub own_bookings: Option<OwnBookings<'a>>,
    pub occupancy: Occupancy<'a>,
}

/// The interval a booking occupies (`policy::occupied`), for the rules'
/// callers.
pub use super::policy::occupied;

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
    // RFC 3339 (and so the API) cannot write a year past 9999: an interval
    // ending at 10000-01-01 could be offered but never booked.
    if chrono::Datelike::year(&range.end()) > 9999 {
        return Err(Invalid::new("end_at", "must be between the years 0001 and 9999"));
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
/// docs/design.md §3's order, or the most units that would fit (at least
/// the quantity asked for).
pub fn admit(resource: &Resource, request: &Request, situation: &Situation<'_>) -> Result<i64, Refusal> {
    if !resource.active {
        return Err(Refusal::ResourceInactive { resource_id: resource.id });
    }
    if situation.apply_policy {
        check_policy(resource, request, situation)?;
    }
    let nearby = situation.own_bookings.map_or(&[][..], |own| own.nearby);
    if let Some(existing) = nearby.iter().find(|own| own.range.overlaps(&request.range)) {
        return Err(Refusal::Duplicate { existing: existing.id });
    }
    let available = room(resource, &request.range, &situation.occupancy);
    if request.quantity > available {
        return Err(Refusal::CapacityExceeded {
            resource_id: resource.id,
            capacity: i64::from(resource.capacity),
            requested: request.quantity,
            available,
            waitlist_length: None,
        });
    }
    Ok(available)
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
    if let (Some(limit), Some(own)) = (policy.max_active_bookings_per_customer, situation.own_bookings)
        && own.active >= limit
    {
        return Err(Refusal::BookingLimitReached { limit, active_bookings: own.active });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        policy::Policy,
        resource::NewResource,
        schedule::{Hours, Schedule, WallTime, WeeklyHours},
    };
    use chrono::{TimeZone, Weekday};

    const MICRO: Duration = Duration::microseconds(1);

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn resource(policy: Policy, schedule: Option<Schedule>) -> Resource {
        NewResource {
            name: "Court".into(),
            description: None,
            capacity: 1,
            time_zone: Tz::UTC,
            active: true,
            hold_ttl_seconds: 600,
            max_booking_duration_seconds: 86_400,
            schedule,
            policy,
            attributes: Default::default(),
            booking_fields: None,
        }
        .into_resource(ResourceId::generate(), utc(2027, 1, 1, 0, 0))
    }

    fn weekdays_nine_to_five() -> Schedule {
        let hours = Hours { from: WallTime::parse("09:00").unwrap(), to: WallTime::parse("17:00").unwrap() };
        let days = vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];
        Schedule { weekly: vec![WeeklyHours { days, hours }], exceptions: vec![] }
    }

    fn request(start: DateTime<Utc>, end: DateTime<Utc>) -> Request {
        Request { range: TimeRange::new(start, end).unwrap(), quantity: 1 }
    }

    fn situation<'a>(now: DateTime<Utc>) -> Situation<'a> {
        Situation {
            now,
            apply_policy: true,
            rescheduled_from: None,
            own_bookings: Some(OwnBookings { active: 0, nearby: &[] }),
            occupancy: Occupancy::Intervals(&[]),
        }
    }

    /// 2027-01-04 is a Monday.
    fn monday(h: u32, mi: u32) -> DateTime<Utc> {
        utc(2027, 1, 4, h, mi)
    }

    #[test]
    fn notice_admits_its_boundary_and_refuses_a_microsecond_before() {
        let court = resource(Policy { min_notice_seconds: Some(3600), ..Policy::default() }, None);
        let now = monday(8, 0);
        let on_time = request(monday(9, 0), monday(10, 0));
        assert_eq!(admit(&court, &on_time, &situation(now)), Ok(1));
        let early = request(monday(9, 0) - MICRO, monday(10, 0));
        assert_eq!(
            admit(&court, &early, &situation(now)),
            Err(Refusal::NoticeTooShort { min_notice_seconds: 3600, earliest_start_at: monday(9, 0) })
        );
    }

    #[test]
    fn the_horizon_admits_its_boundary_and_refuses_a_microsecond_past() {
        let court = resource(Policy { max_advance_seconds: Some(86_400), ..Policy::default() }, None);
        let now = monday(9, 0);
        let last = request(utc(2027, 1, 5, 9, 0), utc(2027, 1, 5, 10, 0));
        assert_eq!(admit(&court, &last, &situation(now)), Ok(1));
        let late = request(utc(2027, 1, 5, 9, 0) + MICRO, utc(2027, 1, 5, 10, 0));
        assert!(matches!(admit(&court, &late, &situation(now)), Err(Refusal::BeyondHorizon { .. })));
    }

    #[test]
    fn hours_admit_a_booking_ending_at_closing_and_refuse_one_a_microsecond_longer() {
        let court = resource(Policy::default(), Some(weekdays_nine_to_five()));
        let now = monday(0, 0);
        assert_eq!(admit(&court, &request(monday(16, 0), monday(17, 0)), &situation(now)), Ok(1));
        let refused = admit(&court, &request(monday(16, 0), monday(17, 0) + MICRO), &situation(now));
        let Err(Refusal::OutsideOpeningHours { time_zone, open_intervals }) = refused else { panic!("{refused:?}") };
        assert_eq!(time_zone, Tz::UTC);
        assert_eq!(open_intervals, [TimeRange::new(monday(9, 0), monday(17, 0)).unwrap()]);
        // A Saturday: closed all day, and the refusal says so.
        let saturday = admit(&court, &request(utc(2027, 1, 9, 10, 0), utc(2027, 1, 9, 11, 0)), &situation(now));
        assert_eq!(saturday, Err(Refusal::OutsideOpeningHours { time_zone: Tz::UTC, open_intervals: vec![] }));
    }

    #[test]
    fn the_grid_starts_at_the_opening_or_at_local_midnight() {
        let policy = Policy { slot_step_seconds: Some(45 * 60), ..Policy::default() };
        let now = monday(0, 0);
        let scheduled = resource(policy, Some(weekdays_nine_to_five()));
        assert_eq!(admit(&scheduled, &request(monday(10, 30), monday(11, 0)), &situation(now)), Ok(1));
        assert_eq!(
            admit(&scheduled, &request(monday(10, 30) + MICRO, monday(11, 0)), &situation(now)),
            Err(Refusal::NotOnSlotGrid { slot_step_seconds: 2700 })
        );
        // Without a schedule, from local midnight: 00:45, 01:30, ..., 10:30.
        let always = resource(policy, None);
        assert_eq!(admit(&always, &request(monday(10, 30), monday(11, 0)), &situation(now)), Ok(1));
        assert!(admit(&always, &request(monday(10, 0), monday(11, 0)), &situation(now)).is_err());
    }

    #[test]
    fn the_limit_admits_one_below_and_refuses_at_it() {
        let court = resource(Policy { max_active_bookings_per_customer: Some(2), ..Policy::default() }, None);
        let now = monday(0, 0);
        let own = |hour| OwnBooking {
            id: BookingId::generate(),
            range: TimeRange::new(monday(hour, 0), monday(hour + 1, 0)).unwrap(),
        };
        let (one, two) = ([own(8)], [own(8), own(12)]);
        let with = |own: &[OwnBooking]| {
            let situation = Situation {
                own_bookings: Some(OwnBookings { active: own.len() as i64, nearby: own }),
                ..situation(now)
            };
            admit(&court, &request(monday(10, 0), monday(11, 0)), &situation)
        };
        assert_eq!(with(&one), Ok(1));
        assert_eq!(with(&two), Err(Refusal::BookingLimitReached { limit: 2, active_bookings: 2 }));
    }

    #[test]
    fn the_cutoffs_admit_their_boundary_and_refuse_a_microsecond_past() {
        let court = resource(Policy { reschedule_cutoff_seconds: Some(86_400), ..Policy::default() }, None);
        let current_start = utc(2027, 1, 5, 10, 0);
        let moving = |now| Situation { rescheduled_from: Some(current_start), ..situation(now) };
        let target = request(utc(2027, 1, 6, 10, 0), utc(2027, 1, 6, 11, 0));
        assert_eq!(admit(&court, &target, &moving(monday(10, 0))), Ok(1));
        assert_eq!(
            admit(&court, &target, &moving(monday(10, 0) + MICRO)),
            Err(Refusal::CutoffPassed { action: Action::Reschedule, cutoff_at: monday(10, 0) })
        );
        let cancel_court = resource(Policy { cancel_cutoff_seconds: Some(3600), ..Policy::default() }, None);
        assert_eq!(check_cancel(&cancel_court, monday(10, 0), monday(9, 0)), Ok(()));
        assert!(check_cancel(&cancel_court, monday(10, 0), monday(9, 0) + MICRO).is_err());
    }

    #[test]
    fn buffers_widen_what_a_booking_needs_free() {
        let court = resource(Policy { buffer_after_seconds: Some(600), ..Policy::default() }, None);
        let booked = [Usage {
            range: occupied(&TimeRange::new(monday(10, 0), monday(11, 0)).unwrap(), court.policy.buffers()),
            quantity: 1,
        }];
        let with_booked = Situation { occupancy: Occupancy::Intervals(&booked), ..situation(monday(0, 0)) };
        let right_after = admit(&court, &request(monday(11, 0), monday(12, 0)), &with_booked);
        assert!(matches!(right_after, Err(Refusal::CapacityExceeded { available: 0, .. })), "{right_after:?}");
        assert_eq!(admit(&court, &request(monday(11, 10), monday(12, 0)), &with_booked), Ok(1));
        // The new booking's own buffer counts too: 09:00-09:51 would run
        // into 10:00 with its 10 minutes after.
        assert!(admit(&court, &request(monday(9, 0), monday(9, 51)), &with_booked).is_err());
        assert_eq!(admit(&court, &request(monday(9, 0), monday(9, 50)), &with_booked), Ok(1));
    }

    #[test]
    fn refusals_come_in_the_documented_order_and_an_override_skips_the_policy() {
        let policy = Policy {
            min_notice_seconds: Some(7200),
            slot_step_seconds: Some(3600),
            max_active_bookings_per_customer: Some(1),
            ..Policy::default()
        };
        let court = resource(policy, Some(weekdays_nine_to_five()));
        let now = monday(8, 0);
        let own =
            [OwnBooking { id: BookingId::generate(), range: TimeRange::new(monday(8, 30), monday(9, 30)).unwrap() }];
        let full = [Usage { range: TimeRange::new(monday(0, 0), monday(23, 0)).unwrap(), quantity: 1 }];
        let everything = Situation {
            own_bookings: Some(OwnBookings { active: 1, nearby: &own }),
            occupancy: Occupancy::Intervals(&full),
            ..situation(now)
        };
        // Too soon, outside hours, off the grid, over the limit, a duplicate
        // and full: notice answers first.
        let bad = request(monday(8, 15), monday(9, 15));
        assert!(matches!(admit(&court, &bad, &everything), Err(Refusal::NoticeTooShort { .. })));
        let mut inactive = court.clone();
        inactive.active = false;
        assert!(matches!(admit(&inactive, &bad, &everything), Err(Refusal::ResourceInactive { .. })));
        let later = request(monday(17, 15), monday(18, 15));
        assert!(matches!(admit(&court, &later, &everything), Err(Refusal::OutsideOpeningHours { .. })));
        let off_grid = request(monday(10, 15), monday(11, 15));
        assert!(matches!(admit(&court, &off_grid, &everything), Err(Refusal::NotOnSlotGrid { .. })));
        let on_grid = request(monday(10, 0), monday(11, 0));
        assert!(matches!(admit(&court, &on_grid, &everything), Err(Refusal::BookingLimitReached { .. })));
        // Overridden: the policy and the hours are skipped; duplicate and
        // capacity are not.
        let overridden = Situation { apply_policy: false, ..everything };
        assert!(matches!(admit(&court, &bad, &overridden), Err(Refusal::Duplicate { .. })));
        let no_duplicate = Situation { own_bookings: Some(OwnBookings { active: 1, nearby: &[] }), ..overridden };
        assert!(matches!(admit(&court, &bad, &no_duplicate), Err(Refusal::CapacityExceeded { .. })));
    }

    #[test]
    fn values_refuse_short_bookings_unless_overridden() {
        let court = resource(Policy { min_duration_seconds: Some(1800), ..Policy::default() }, None);
        let now = monday(0, 0);
        assert_eq!(check_values(&court, &request(monday(9, 0), monday(9, 30)), now, true), Ok(()));
        let short = request(monday(9, 0), monday(9, 30) - MICRO);
        assert_eq!(check_values(&court, &short, now, true).unwrap_err().field.to_string(), "end_at");
        assert_eq!(check_values(&court, &short, now, false), Ok(()));
    }
}
