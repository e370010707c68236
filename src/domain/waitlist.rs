//! Waiting lists (docs/design.md §24): a place in the queue for an interval
//! that is full, its statuses, and the pure parts of serving a queue: which
//! refusals mean the interval can no longer be booked (`lapses`), how long
//! an offer holds (`offer_expires_at`), and which entries a queue would
//! take from the room there is (`take_in_order`: first fit, by whole
//! quantity, in queue order).

use std::fmt;

use chrono::{DateTime, Duration, Utc};

use super::{
    booking::Target,
    capacity::{self, Usage},
    ids::{BookingId, CustomerId, GroupId, ResourceId, WaitlistEntryId},
    policy::{DEFAULT_WAITLIST_OFFER_SECONDS, Policy},
    rules::Refusal,
    time_range::TimeRange,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryStatus {
    Waiting,
    Offered,
    Accepted,
    Declined,
    Expired,
    Left,
    Lapsed,
}

impl EntryStatus {
    pub const ALL: [EntryStatus; 7] =
        [Self::Waiting, Self::Offered, Self::Accepted, Self::Declined, Self::Expired, Self::Left, Self::Lapsed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Offered => "offered",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Expired => "expired",
            Self::Left => "left",
            Self::Lapsed => "lapsed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Waiting or offered: still in the queue.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Waiting | Self::Offered)
    }
}

impl fmt::Display for EntryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A place in a waiting list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: WaitlistEntryId,
    pub target: Target,
    pub customer_id: CustomerId,
    pub range: TimeRange,
    pub quantity: i32,
    pub status: EntryStatus,
    /// The held booking it was offered (kept once the offer is settled).
    pub booking_id: Option<BookingId>,
    pub offer_expires_at: Option<DateTime<Utc>>,
    pub offered_at: Option<DateTime<Utc>>,
    /// When it stopped being active.
    pub closed_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Entry {
    /// A new entry, waiting, at version 1.
    pub fn new(target: Target, customer_id: CustomerId, range: TimeRange, quantity: i32, now: DateTime<Utc>) -> Self {
        Self {
            id: WaitlistEntryId::generate(),
            target,
            customer_id,
            range,
            quantity,
            status: EntryStatus::Waiting,
            booking_id: None,
            offer_expires_at: None,
            offered_at: None,
            closed_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// It was offered `booking`, held until `expires_at`.
    pub fn offer(&mut self, booking: BookingId, expires_at: DateTime<Utc>, now: DateTime<Utc>) {
        self.status = EntryStatus::Offered;
        self.booking_id = Some(booking);
        self.offer_expires_at = Some(expires_at);
        self.offered_at = Some(now);
        self.touch(now);
    }

    /// It leaves the queue as `status` (accepted, declined, expired, left or
    /// lapsed).
    pub fn close(&mut self, status: EntryStatus, now: DateTime<Utc>) {
        self.status = status;
        self.closed_at = Some(now);
        self.touch(now);
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.version += 1;
        self.updated_at = now;
    }
}

/// What a list of entries is filtered on.
#[derive(Clone, Debug, Default)]
pub struct EntryFilter {
    pub resource_id: Option<ResourceId>,
    pub group_id: Option<GroupId>,
    pub customer_id: Option<CustomerId>,
    pub status: Option<EntryStatus>,
}

/// Whether a refusal of an entry's interval means it can no longer be
/// booked by anyone (its start is too near or passed, it lies beyond the
/// horizon, outside the hours or off the grid): the entry lapses. A full
/// interval, an inactive resource or the customer's own rules (a duplicate,
/// the booking limit) keep it waiting: they can change.
pub fn lapses(refusal: &Refusal) -> bool {
    match refusal {
        Refusal::CutoffPassed { .. }
        | Refusal::NoticeTooShort { .. }
        | Refusal::BeyondHorizon { .. }
        | Refusal::OutsideOpeningHours { .. }
        | Refusal::NotOnSlotGrid { .. } => true,
        Refusal::ResourceInactive { .. }
        | Refusal::BookingLimitReached { .. }
        | Refusal::Duplicate { .. }
        | Refusal::CapacityExceeded { .. } => false,
    }
}

/// When an offer made at `now` of a booking starting at `start` runs out:
/// the policy's offer time later, never past the start.
pub fn offer_expires_at(policy: &Policy, now: DateTime<Utc>, start: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = policy.waitlist_offer_seconds.unwrap_or(DEFAULT_WAITLIST_OFFER_SECONDS);
    now.checked_add_signed(Duration::seconds(seconds)).unwrap_or(start).min(start)
}

/// Which of `queue` (in queue order: each its occupied interval and
/// quantity) the queue would take from a resource of `capacity` on which
/// `usages` are booked: each whose whole quantity fits what the ones before
/// left, first fit (a later, smaller entry may fit where an earlier one
/// does not; never a part of a quantity).
pub fn take_in_order(capacity: i64, usages: &[Usage], queue: &[Usage]) -> Vec<bool> {
    let mut booked = usages.to_vec();
    queue
        .iter()
        .map(|entry| {
            let fits = capacity::available(capacity, &booked, &entry.range) >= entry.quantity;
            if fits {
                booked.push(*entry);
            }
            fits
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, hour, 0, 0).unwrap()
    }

    fn usage(from: u32, to: u32, quantity: i64) -> Usage {
        Usage { range: TimeRange::new(at(from), at(to)).unwrap(), quantity }
    }

    #[test]
    fn the_queue_takes_whole_quantities_first_fit_in_order() {
        // Capacity 3, 2 booked 9-11: one unit free.
        let booked = [usage(9, 11, 2)];
        let queue = [usage(9, 10, 2), usage(9, 10, 1), usage(10, 11, 1), usage(9, 11, 1)];
        // The pair does not fit, the single after it does; 10-11 still has a
        // unit; 9-11 has none left at 9-10.
        assert_eq!(take_in_order(3, &booked, &queue), [false, true, true, false]);
    }

    #[test]
    fn an_empty_queue_takes_nothing_and_a_free_resource_serves_everyone_who_fits() {
        assert!(take_in_order(1, &[], &[]).is_empty());
        assert_eq!(take_in_order(2, &[], &[usage(9, 10, 1), usage(9, 10, 1), usage(9, 10, 1)]), [true, true, false]);
    }

    #[test]
    fn an_offer_holds_for_the_policys_time_but_never_past_the_start() {
        let policy = Policy::default();
        assert_eq!(offer_expires_at(&policy, at(9), at(12)), at(9) + Duration::seconds(900));
        assert_eq!(offer_expires_at(&policy, at(9), at(9) + Duration::seconds(60)), at(9) + Duration::seconds(60));
        let long = Policy { waitlist_offer_seconds: Some(7200), ..Policy::default() };
        assert_eq!(offer_expires_at(&long, at(9), at(12)), at(11));
    }

    #[test]
    fn only_rules_of_the_interval_lapse_an_entry() {
        let full = Refusal::CapacityExceeded {
            resource_id: ResourceId::generate(),
            capacity: 1,
            requested: 1,
            available: 0,
            waitlist_length: None,
        };
        assert!(!lapses(&full));
        assert!(!lapses(&Refusal::Duplicate { existing: BookingId::generate() }));
        assert!(!lapses(&Refusal::BookingLimitReached { limit: 1, active_bookings: 1 }));
        assert!(lapses(&Refusal::NotOnSlotGrid { slot_step_seconds: 900 }));
        assert!(lapses(&Refusal::NoticeTooShort { min_notice_seconds: 60, earliest_start_at: at(9) }));
    }

    #[test]
    fn statuses_round_trip_and_only_waiting_and_offered_are_active() {
        for status in EntryStatus::ALL {
            assert_eq!(EntryStatus::parse(status.as_str()), Some(status));
            assert_eq!(status.is_active(), matches!(status, EntryStatus::Waiting | EntryStatus::Offered));
        }
    }
}
