//! The promise, checked on data as stored (docs/design.md §23): pure checks
//! over one resource's bookings, its usage summary and its bookings'
//! histories, each naming what it found as a `Violation`. The audit use
//! case (`service::audit`) reads the data and calls these; nothing here
//! reads or writes.
//!
//! Capacity and duplicates are judged over the bookings that block at the
//! audit's `now`, the same predicate the rules decide with; capacity from
//! `now` on only, because a resource's capacity may have been lowered
//! since (it may never go below what is still to come, rule 4), and berth
//! keeps no record of the capacity a past instant had.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{
    booking::Booking,
    capacity::{self, Usage},
    ids::{BookingId, ResourceId},
    time_range::TimeRange,
    waitlist::Entry,
};

/// The most violations of one kind reported for one resource; the detail of
/// the last one says how many more there were.
pub const MAX_PER_KIND: usize = 20;

/// What was found wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// At some instant the blocking bookings take more than the capacity.
    OverCapacity,
    /// A customer holds overlapping blocking bookings of one resource.
    DuplicateBooking,
    /// The usage summary's units of an hour differ from the bookings'.
    UsageSummaryMismatch,
    /// A booking's history does not end in its status.
    HistoryMismatch,
    /// The feed would show a subject's events out of order.
    FeedOrder,
    /// A waiting-list entry was offered while an earlier one, which the
    /// same units would have fitted, still waited.
    WaitlistOrder,
    /// A booking took units an earlier waiting entry would have fitted.
    BookedPastQueue,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::OverCapacity,
        Kind::DuplicateBooking,
        Kind::UsageSummaryMismatch,
        Kind::HistoryMismatch,
        Kind::FeedOrder,
        Kind::WaitlistOrder,
        Kind::BookedPastQueue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OverCapacity => "over_capacity",
            Kind::DuplicateBooking => "duplicate_booking",
            Kind::UsageSummaryMismatch => "usage_summary_mismatch",
            Kind::HistoryMismatch => "history_mismatch",
            Kind::FeedOrder => "feed_order",
            Kind::WaitlistOrder => "waitlist_order",
            Kind::BookedPastQueue => "booked_past_queue",
        }
    }
}

/// One thing found wrong, with where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub kind: Kind,
    pub resource_id: Option<ResourceId>,
    /// The bookings involved (at most `MAX_PER_KIND`); for `feed_order`,
    /// the subjects of the events.
    pub booking_ids: Vec<uuid::Uuid>,
    /// The instant, or the start of the hour, where it was found.
    pub at: Option<DateTime<Utc>>,
    /// What the promise allows there (the capacity; the units the bookings
    /// take; the status), and what was found.
    pub expected: Option<String>,
    pub found: Option<String>,
    pub detail: String,
}

impl Violation {
    fn new(kind: Kind, resource: Option<ResourceId>, detail: String) -> Self {
        Self { kind, resource_id: resource, booking_ids: Vec::new(), at: None, expected: None, found: None, detail }
    }
}

/// Caps `found` at `MAX_PER_KIND`, saying in the last kept one how many
/// were left out.
fn capped(mut found: Vec<Violation>) -> Vec<Violation> {
    if found.len() > MAX_PER_KIND {
        let left_out = found.len() - MAX_PER_KIND;
        found.truncate(MAX_PER_KIND);
        if let Some(last) = found.last_mut() {
            last.detail.push_str(&format!(" ({left_out} more like it not listed)"));
        }
    }
    found
}

/// Every stretch from `now` on where the bookings of `resource` that block
/// at `now` occupy more than `capacity` units (buffers included), one
/// violation per stretch, with the bookings that take part in it.
pub fn over_capacity(resource: ResourceId, capacity: i64, bookings: &[Booking], now: DateTime<Utc>) -> Vec<Violation> {
    // What each takes as judged at `now` (a missed check-in up to its
    // deadline only, docs/design.md §26).
    let blocking: Vec<(&Booking, Usage)> = bookings
        .iter()
        .filter_map(|b| b.usage_at(now).map(|usage| (b, usage)))
        .filter(|(_, usage)| usage.range.end() > now)
        .collect();
    let Some(last) = blocking.iter().map(|(_, usage)| usage.range.end()).max() else { return Vec::new() };
    let Some(window) = TimeRange::new(now, last) else { return Vec::new() };
    let usages: Vec<Usage> = blocking.iter().map(|(_, usage)| *usage).collect();
    let found = capacity::timeline(&usages, &window)
        .into_iter()
        .filter(|segment| segment.used > capacity)
        .map(|segment| {
            let mut violation = Violation::new(
                Kind::OverCapacity,
                Some(resource),
                format!(
                    "From {} to {} the blocking bookings take {} units of a capacity of {capacity}.",
                    segment.range.start().to_rfc3339(),
                    segment.range.end().to_rfc3339(),
                    segment.used
                ),
            );
            let mut ids: Vec<uuid::Uuid> = blocking
                .iter()
                .filter(|(_, usage)| usage.range.overlaps(&segment.range))
                .map(|(b, _)| b.id.0)
                .collect();
            ids.sort_unstable();
            ids.truncate(MAX_PER_KIND);
            violation.booking_ids = ids;
            violation.at = Some(segment.range.start());
            violation.expected = Some(capacity.to_string());
            violation.found = Some(segment.used.to_string());
            violation
        })
        .collect();
    capped(found)
}

/// Every pair of blocking bookings of one customer on `resource` whose
/// booked intervals overlap (buffers are not compared, as the rule does
/// not).
pub fn duplicates(resource: ResourceId, bookings: &[Booking], now: DateTime<Utc>) -> Vec<Violation> {
    let mut by_customer: BTreeMap<uuid::Uuid, Vec<&Booking>> = BTreeMap::new();
    // A booking released at a missed check-in deadline leaves the rest of
    // its interval to anyone, its customer too.
    for booking in bookings.iter().filter(|b| b.blocks_at(now) && !b.missed_check_in(now)) {
        by_customer.entry(booking.customer_id.0).or_default().push(booking);
    }
    let mut found = Vec::new();
    for (customer, mut mine) in by_customer {
        mine.sort_by_key(|b| (b.range.start(), b.id));
        // The booking reaching furthest so far: any later start before its
        // end overlaps it.
        let mut furthest: Option<&Booking> = None;
        for booking in mine {
            if let Some(earlier) = furthest.filter(|e| e.range.end() > booking.range.start()) {
                let mut violation = Violation::new(
                    Kind::DuplicateBooking,
                    Some(resource),
                    format!(
                        "Customer {customer} holds bookings {} and {} whose intervals overlap.",
                        earlier.id, booking.id
                    ),
                );
                violation.booking_ids = vec![earlier.id.0, booking.id.0];
                violation.at = Some(booking.range.start());
                found.push(violation);
            }
            if furthest.is_none_or(|f| booking.range.end() > f.range.end()) {
                furthest = Some(booking);
            }
        }
    }
    capped(found)
}

/// What the usage summary of one resource must hold: per UTC hour, the
/// units of the held, confirmed and checked-in bookings whose occupied
/// time touches it (docs/design.md §21).
pub fn expected_usage(bookings: &[Booking]) -> BTreeMap<i64, i64> {
    let mut units = BTreeMap::new();
    for booking in bookings.iter().filter(|b| !b.status.is_terminal()) {
        for hour in booking.occupied().hours() {
            *units.entry(hour).or_default() += i64::from(booking.quantity);
        }
    }
    units
}

/// The start of hour number `hour` since the epoch.
pub fn hour_start(hour: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(hour.checked_mul(3_600)?, 0)
}

/// Every hour where `recorded` (the summary's rows; a missing row is 0)
/// differs from `expected`, one violation per hour, with the bookings
/// touching it that the summary may not hold (`Booking::counted` false).
pub fn usage_mismatches(
    resource: ResourceId,
    expected: &BTreeMap<i64, i64>,
    recorded: &BTreeMap<i64, i64>,
    bookings: &[Booking],
) -> Vec<Violation> {
    let hours: std::collections::BTreeSet<i64> = expected.keys().chain(recorded.keys()).copied().collect();
    let found = hours
        .into_iter()
        .filter_map(|hour| {
            let (want, have) = (expected.get(&hour).copied().unwrap_or(0), recorded.get(&hour).copied().unwrap_or(0));
            (want != have).then_some((hour, want, have))
        })
        .map(|(hour, want, have)| {
            let at = hour_start(hour);
            let direction = if have < want { "below (the dangerous direction)" } else { "above" };
            let mut violation = Violation::new(
                Kind::UsageSummaryMismatch,
                Some(resource),
                format!(
                    "The usage summary holds {have} units for the hour from {}, the bookings take {want}: {direction}. \
`berth repair-usage` rebuilds it.",
                    at.map(|at| at.to_rfc3339()).unwrap_or_default()
                ),
            );
            violation.booking_ids = bookings
                .iter()
                .filter(|b| !b.counted && !b.status.is_terminal() && b.occupied().hours().contains(&hour))
                .map(|b| b.id.0)
                .take(MAX_PER_KIND)
                .collect();
            violation.at = at;
            violation.expected = Some(want.to_string());
            violation.found = Some(have.to_string());
            violation
        })
        .collect();
    capped(found)
}

/// A booking whose last history event does not move it to its status
/// (`last`: that event's status, `None` when it has no history).
pub fn history_mismatch(
    resource: ResourceId,
    booking: BookingId,
    status: &str,
    last: Option<&str>,
) -> Option<Violation> {
    if last == Some(status) {
        return None;
    }
    let detail = match last {
        Some(last) => format!("Booking {booking} is {status}, but its history ends in {last}."),
        None => format!("Booking {booking} is {status}, but it has no history."),
    };
    let mut violation = Violation::new(Kind::HistoryMismatch, Some(resource), detail);
    violation.booking_ids = vec![booking.0];
    violation.expected = last.map(str::to_owned);
    violation.found = Some(status.to_owned());
    Some(violation)
}

/// An event of `subject` at feed `position`, not after the subject's event
/// written before it (at `previous`).
pub fn feed_order(subject: uuid::Uuid, position: i64, previous: i64) -> Violation {
    let detail =
        format!("An event of {subject} is at feed position {position}, not after its earlier event at {previous}.");
    let mut violation = Violation::new(Kind::FeedOrder, None, detail);
    violation.booking_ids = vec![subject];
    violation.expected = Some(format!("> {previous}"));
    violation.found = Some(position.to_string());
    violation
}

/// Whether `entry` was waiting (joined, not yet offered or closed) at `at`.
fn waiting_at(entry: &Entry, at: DateTime<Utc>) -> bool {
    entry.created_at < at && entry.offered_at.is_none_or(|o| o > at) && entry.closed_at.is_none_or(|c| c > at)
}

/// Whether units that `taker` got (its interval and quantity) would have
/// fitted `entry` whole: its interval inside, its quantity no more.
fn would_have_fitted(entry: &Entry, range: &TimeRange, quantity: i32) -> bool {
    entry.range.start() >= range.start() && entry.range.end() <= range.end() && entry.quantity <= quantity
}

/// Whether `entry`'s customer held a booking of the resource over its
/// interval made before `at`: the duplicate rule may have skipped it then.
fn skipped_for_own_booking(entry: &Entry, bookings: &[Booking], at: DateTime<Utc>) -> bool {
    bookings.iter().any(|b| b.customer_id == entry.customer_id && b.created_at < at && b.range.overlaps(&entry.range))
}

/// Offers made out of queue order on `resource`: an entry offered at `t`
/// while an earlier entry, which the offered units would have fitted
/// whole, still waited (and its customer held no booking of the resource
/// over its interval, which the duplicate rule would have skipped it for).
/// `entries`: the resource's own entries (any status); `bookings`: its
/// held, confirmed and checked-in bookings.
pub fn waitlist_order(resource: ResourceId, entries: &[Entry], bookings: &[Booking]) -> Vec<Violation> {
    let mut found = Vec::new();
    for offered in entries {
        let Some(at) = offered.offered_at else { continue };
        let passed_over = entries.iter().find(|earlier| {
            (earlier.created_at, earlier.id) < (offered.created_at, offered.id)
                && waiting_at(earlier, at)
                && would_have_fitted(earlier, &offered.range, offered.quantity)
                && !skipped_for_own_booking(earlier, bookings, at)
        });
        if let Some(earlier) = passed_over {
            let mut violation = Violation::new(
                Kind::WaitlistOrder,
                Some(resource),
                format!(
                    "Entry {} was offered at {} while entry {}, earlier in the queue and fitted by the same units, waited.",
                    offered.id,
                    at.to_rfc3339(),
                    earlier.id
                ),
            );
            violation.booking_ids = vec![offered.id.0, earlier.id.0];
            violation.at = Some(at);
            found.push(violation);
        }
    }
    capped(found)
}

/// Bookings made past the queue on `resource`: a booking not offered from
/// the waiting list, made at `t` while an entry waited that its units
/// would have fitted whole (for another customer, who held no booking of
/// the resource over that interval).
pub fn booked_past_queue(resource: ResourceId, entries: &[Entry], bookings: &[Booking]) -> Vec<Violation> {
    let mut found = Vec::new();
    for booking in bookings.iter().filter(|b| b.waitlist_entry.is_none()) {
        let at = booking.created_at;
        let passed_over = entries.iter().find(|entry| {
            entry.customer_id != booking.customer_id
                && waiting_at(entry, at)
                && would_have_fitted(entry, &booking.range, booking.quantity)
                && !skipped_for_own_booking(entry, bookings, at)
        });
        if let Some(entry) = passed_over {
            let mut violation = Violation::new(
                Kind::BookedPastQueue,
                Some(resource),
                format!(
                    "Booking {} was made at {} while entry {}, which its units would have fitted, waited.",
                    booking.id,
                    at.to_rfc3339(),
                    entry.id
                ),
            );
            violation.booking_ids = vec![booking.id.0, entry.id.0];
            violation.at = Some(at);
            found.push(violation);
        }
    }
    capped(found)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::domain::{booking::BookingStatus, ids::CustomerId, policy::Buffers};

    fn at(hour: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + Duration::hours(hour)
    }

    fn booking(customer: u128, from: i64, to: i64, quantity: i32) -> Booking {
        Booking {
            id: BookingId(uuid::Uuid::now_v7()),
            resource_id: ResourceId(uuid::Uuid::nil()),
            group_id: None,
            bundle: None,
            customer_id: CustomerId(uuid::Uuid::from_u128(customer)),
            range: TimeRange::new(at(from), at(to)).unwrap(),
            quantity,
            status: BookingStatus::Confirmed,
            hold_expires_at: None,
            notes: None,
            buffers: Buffers::default(),
            version: 1,
            counted: true,
            waitlist_entry: None,
            series: None,
            check_in_deadline_at: None,
            fields: None,
            created_at: at(-100),
            updated_at: at(-100),
        }
    }

    #[test]
    fn a_missed_check_in_leaves_the_rest_of_its_time_to_others() {
        let resource = ResourceId(uuid::Uuid::nil());
        let missed = Booking { check_in_deadline_at: Some(at(10)), ..booking(1, 9, 13, 1) };
        let after = booking(2, 11, 12, 1);
        let own_rest = booking(1, 12, 13, 1);
        let bookings = [missed.clone(), after, own_rest];
        assert!(over_capacity(resource, 1, &bookings, at(10)).is_empty());
        assert!(duplicates(resource, &bookings, at(10)).is_empty());
        // Before the deadline it still takes all of its time.
        assert_eq!(over_capacity(resource, 1, &bookings, at(9)).len(), 1);
        assert_eq!(duplicates(resource, &bookings, at(9)).len(), 1);
    }

    #[test]
    fn over_capacity_names_the_stretch_and_the_bookings_in_it() {
        let resource = ResourceId(uuid::Uuid::nil());
        let bookings = [booking(1, 9, 11, 1), booking(2, 10, 12, 1), booking(3, 12, 13, 2)];
        assert!(over_capacity(resource, 2, &bookings, at(0)).is_empty());
        let found = over_capacity(resource, 1, &bookings, at(0));
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].at, Some(at(10)));
        assert_eq!(found[0].found.as_deref(), Some("2"));
        assert_eq!(found[0].booking_ids, vec![bookings[0].id.0, bookings[1].id.0]);
        assert_eq!(found[1].at, Some(at(12)));
        assert!(over_capacity(resource, 1, &bookings, at(13)).is_empty(), "only from now on");
    }

    #[test]
    fn a_hold_that_ran_out_and_a_cancelled_booking_do_not_count() {
        let resource = ResourceId(uuid::Uuid::nil());
        let mut held = booking(1, 9, 11, 1);
        held.status = BookingStatus::Held;
        held.hold_expires_at = Some(at(1));
        let mut cancelled = booking(2, 9, 11, 1);
        cancelled.status = BookingStatus::Cancelled;
        let bookings = [held, cancelled, booking(3, 9, 11, 1)];
        assert!(over_capacity(resource, 1, &bookings, at(2)).is_empty());
        assert_eq!(over_capacity(resource, 1, &bookings, at(0)).len(), 1, "the hold still blocks at 0");
    }

    #[test]
    fn duplicates_are_overlapping_intervals_of_one_customer() {
        let resource = ResourceId(uuid::Uuid::nil());
        let (a, b, c) = (booking(1, 9, 12, 1), booking(1, 10, 11, 1), booking(1, 12, 13, 1));
        let other = booking(2, 9, 12, 1);
        let found = duplicates(resource, &[a.clone(), b.clone(), c, other], at(0));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].booking_ids, vec![a.id.0, b.id.0]);
    }

    #[test]
    fn the_summary_is_compared_hour_by_hour_both_ways() {
        let resource = ResourceId(uuid::Uuid::nil());
        let mut uncounted = booking(1, 9, 11, 1);
        uncounted.counted = false;
        let bookings = [uncounted.clone(), booking(2, 10, 11, 2)];
        let expected = expected_usage(&bookings);
        let hour = |h: i64| at(h).timestamp() / 3_600;
        assert_eq!(expected, BTreeMap::from([(hour(9), 1), (hour(10), 3)]));
        let recorded = BTreeMap::from([(hour(10), 2), (hour(14), 1)]);
        let found = usage_mismatches(resource, &expected, &recorded, &bookings);
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[0].at, Some(at(9)));
        assert_eq!(found[0].booking_ids, vec![uncounted.id.0]);
        assert!(found[0].detail.contains("below"));
        assert!(found[2].detail.contains("above"));
        assert!(usage_mismatches(resource, &expected, &expected, &bookings).is_empty());
    }

    #[test]
    fn many_violations_are_capped_and_say_so() {
        let resource = ResourceId(uuid::Uuid::nil());
        let bookings: Vec<Booking> =
            (0..30).flat_map(|h| [booking(1, 2 * h, 2 * h + 1, 1), booking(2, 2 * h, 2 * h + 1, 1)]).collect();
        let found = over_capacity(resource, 1, &bookings, at(0));
        assert_eq!(found.len(), MAX_PER_KIND);
        assert!(found[MAX_PER_KIND - 1].detail.contains("10 more"), "{}", found[MAX_PER_KIND - 1].detail);
    }

    fn entry(customer: u128, joined: i64, from: i64, to: i64, quantity: i32) -> Entry {
        let resource = crate::domain::booking::Target::Resource(ResourceId(uuid::Uuid::nil()));
        let range = TimeRange::new(at(from), at(to)).unwrap();
        Entry::new(resource, CustomerId(uuid::Uuid::from_u128(customer)), range, quantity, at(joined))
    }

    #[test]
    fn an_offer_past_an_earlier_entry_that_fitted_is_out_of_order() {
        let resource = ResourceId(uuid::Uuid::nil());
        let (mut first, mut second) = (entry(1, -10, 9, 10, 1), entry(2, -9, 9, 10, 1));
        second.offer(BookingId::generate(), at(-4), at(-5));
        let found = waitlist_order(resource, &[first.clone(), second.clone()], &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].booking_ids, vec![second.id.0, first.id.0]);
        // Not when the earlier one wants more than was freed, was offered
        // first, or its customer held a booking there (the duplicate rule).
        let pair = Entry { quantity: 2, ..first.clone() };
        assert!(waitlist_order(resource, &[pair, second.clone()], &[]).is_empty());
        let own = Booking { customer_id: first.customer_id, ..booking(1, 9, 10, 1) };
        assert!(waitlist_order(resource, &[first.clone(), second.clone()], &[own]).is_empty());
        first.offer(BookingId::generate(), at(-5), at(-6));
        assert!(waitlist_order(resource, &[first, second], &[]).is_empty());
    }

    #[test]
    fn a_booking_made_while_a_fitting_entry_waited_is_past_the_queue() {
        let resource = ResourceId(uuid::Uuid::nil());
        let waiting = entry(1, -200, 9, 10, 1);
        let walk_in = booking(2, 9, 11, 1);
        let found = booked_past_queue(resource, std::slice::from_ref(&waiting), std::slice::from_ref(&walk_in));
        assert_eq!(found.len(), 1, "{found:?}");
        // Not a booking from an offer, one made before the entry joined, or
        // one whose units the entry would not have fitted.
        let offered = Booking { waitlist_entry: Some(waiting.id), ..walk_in.clone() };
        assert!(booked_past_queue(resource, std::slice::from_ref(&waiting), &[offered]).is_empty());
        let earlier = entry(1, -50, 9, 10, 1);
        assert!(booked_past_queue(resource, &[earlier], std::slice::from_ref(&walk_in)).is_empty());
        let longer = entry(1, -200, 9, 12, 1);
        assert!(booked_past_queue(resource, &[longer], &[walk_in]).is_empty());
    }
}
