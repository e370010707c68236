//! Bookings and their state machine.
//!
//! The transition table of docs/design.md §2 is one exhaustive `match`: adding a
//! status or an action does not compile until every pair is decided.

use std::fmt;

use chrono::{DateTime, Utc};

use super::ids::{BookingId, BundleId, CustomerId, GroupId, ResourceId, SeriesId, WaitlistEntryId};
use super::policy::Buffers;
use super::time_range::TimeRange;

/// What a booking (or a place in a waiting list) is for: one resource, or
/// any one member of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Resource(ResourceId),
    Group(GroupId),
}

impl Target {
    /// As the pair of columns (and API members) that store it: exactly one
    /// is set.
    pub fn parts(self) -> (Option<ResourceId>, Option<GroupId>) {
        match self {
            Target::Resource(id) => (Some(id), None),
            Target::Group(id) => (None, Some(id)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BookingStatus {
    Held,
    /// Awaiting an admin's approval (docs/design.md §26).
    Pending,
    Confirmed,
    CheckedIn,
    Completed,
    Cancelled,
    Expired,
    /// Not approved: declined by an admin, or the request ran out.
    Declined,
    NoShow,
}

impl BookingStatus {
    pub const ALL: [BookingStatus; 9] = [
        Self::Held,
        Self::Pending,
        Self::Confirmed,
        Self::CheckedIn,
        Self::Completed,
        Self::Cancelled,
        Self::Expired,
        Self::Declined,
        Self::NoShow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::CheckedIn => "checked_in",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Declined => "declined",
            Self::NoShow => "no_show",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Terminal statuses allow no action at all.
    pub fn is_terminal(self) -> bool {
        allowed_actions(self).is_empty()
    }

    /// Whether it takes its units until `hold_expires_at` and then lapses
    /// (a hold, a request awaiting approval).
    pub fn lapses(self) -> bool {
        matches!(self, Self::Held | Self::Pending)
    }
}

impl fmt::Display for BookingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can happen to a booking. `Expire` is the engine's (a hold or a
/// request that ran out); the others are endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Confirm,
    Approve,
    Decline,
    Cancel,
    CheckIn,
    Complete,
    NoShow,
    Reschedule,
    Expire,
}

impl Action {
    /// The actions a client can ask for, in the order they are listed.
    pub const REQUESTABLE: [Action; 8] = [
        Self::Confirm,
        Self::Approve,
        Self::Decline,
        Self::Cancel,
        Self::CheckIn,
        Self::Complete,
        Self::NoShow,
        Self::Reschedule,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::Approve => "approve",
            Self::Decline => "decline",
            Self::Cancel => "cancel",
            Self::CheckIn => "check-in",
            Self::Complete => "complete",
            Self::NoShow => "no-show",
            Self::Reschedule => "reschedule",
            Self::Expire => "expire",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The action is not allowed from the current status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidTransition {
    pub current: BookingStatus,
    pub action: Action,
    pub allowed: Vec<Action>,
}

/// The status `action` leads to from `status`, or why it cannot happen.
pub fn transition(status: BookingStatus, action: Action) -> Result<BookingStatus, InvalidTransition> {
    next_status(status, action).ok_or_else(|| InvalidTransition {
        current: status,
        action,
        allowed: allowed_actions(status),
    })
}

/// The requestable actions allowed from `status`.
pub fn allowed_actions(status: BookingStatus) -> Vec<Action> {
    Action::REQUESTABLE.into_iter().filter(|action| next_status(status, *action).is_some()).collect()
}

/// docs/design.md §2's table (with §26's rows). No wildcards: every
/// (status, action) pair is decided here.
fn next_status(status: BookingStatus, action: Action) -> Option<BookingStatus> {
    use Action as A;
    use BookingStatus as S;
    match status {
        S::Held => match action {
            A::Confirm => Some(S::Confirmed),
            A::Cancel => Some(S::Cancelled),
            A::Expire => Some(S::Expired),
            A::Reschedule => Some(S::Held),
            A::Approve | A::Decline | A::CheckIn | A::Complete | A::NoShow => None,
        },
        S::Pending => match action {
            A::Approve => Some(S::Confirmed),
            A::Decline | A::Expire => Some(S::Declined),
            A::Cancel => Some(S::Cancelled),
            A::Reschedule => Some(S::Pending),
            A::Confirm | A::CheckIn | A::Complete | A::NoShow => None,
        },
        S::Confirmed => match action {
            A::Cancel => Some(S::Cancelled),
            A::CheckIn => Some(S::CheckedIn),
            A::NoShow => Some(S::NoShow),
            A::Reschedule => Some(S::Confirmed),
            A::Confirm | A::Approve | A::Decline | A::Complete | A::Expire => None,
        },
        S::CheckedIn => match action {
            A::Complete => Some(S::Completed),
            A::Confirm | A::Approve | A::Decline | A::Cancel | A::CheckIn | A::NoShow | A::Reschedule | A::Expire => {
                None
            }
        },
        S::Completed | S::Cancelled | S::Expired | S::Declined | S::NoShow => None,
    }
}

/// The status a move leaves a booking in: `to` (the table's), but a
/// customer's request moved where nobody must approve (`approval` is none)
/// is confirmed, since what kept it pending was the resource it left
/// (docs/design.md §26).
pub fn moved_into(to: BookingStatus, by_customer: bool, approval: Option<DateTime<Utc>>) -> BookingStatus {
    if to == BookingStatus::Pending && by_customer && approval.is_none() { BookingStatus::Confirmed } else { to }
}

/// A booking as the rules see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booking {
    pub id: BookingId,
    pub resource_id: ResourceId,
    /// The group it was booked through, which picked `resource_id`.
    pub group_id: Option<GroupId>,
    /// The bundle it belongs to, and its item's index in the request.
    pub bundle: Option<(BundleId, i16)>,
    pub customer_id: CustomerId,
    pub range: TimeRange,
    pub quantity: i32,
    pub status: BookingStatus,
    /// When it lapses unless its next step comes: set while held (the
    /// hold) or pending (the request, shown as `approval_expires_at`), and
    /// kept when it lapsed (when it ran out).
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// When a confirmed booking not checked in stops taking the rest of
    /// its interval (docs/design.md §26): the resource's check-in window
    /// after the start, as the policy was when it was made or last moved.
    pub check_in_deadline_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    /// Its answers to its resource's booking fields, as a JSON object's
    /// text (docs/design.md §28).
    pub fields: Option<String>,
    /// The buffers it was made with; a later policy change never moves them.
    pub buffers: Buffers,
    pub version: i64,
    /// Whether the usage summary holds this booking as it is (docs/design.md
    /// §22): true for every row berth writes; false for one written by an
    /// older release or by hand, which the summary may not hold.
    pub counted: bool,
    /// The waiting-list entry this hold was offered to (docs/design.md §24).
    pub waitlist_entry: Option<WaitlistEntryId>,
    /// The recurring series it is an occurrence of (docs/design.md §25).
    pub series: Option<SeriesId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Booking {
    /// What it occupies for the capacity rule: its interval and buffers.
    pub fn occupied(&self) -> TimeRange {
        super::policy::occupied(&self.range, self.buffers)
    }

    /// What it takes of the capacity as judged at `now`: all it occupies
    /// when confirmed or checked in, or held or pending with time left; a
    /// confirmed booking past its check-in deadline only what it occupied
    /// before the deadline (the rest is free from that instant, marked or
    /// not); nothing otherwise. A hold or a request that ran out stops
    /// blocking at its expiry instant, whether or not anything marked it.
    pub fn blocked_at(&self, now: DateTime<Utc>) -> Option<TimeRange> {
        let occupied = self.occupied();
        match self.status {
            BookingStatus::CheckedIn => Some(occupied),
            BookingStatus::Confirmed => match self.check_in_deadline_at.filter(|at| *at <= now) {
                Some(deadline) => TimeRange::new(occupied.start(), deadline.min(occupied.end())),
                None => Some(occupied),
            },
            BookingStatus::Held | BookingStatus::Pending => {
                self.hold_expires_at.is_some_and(|at| at > now).then_some(occupied)
            }
            _ => None,
        }
    }

    /// Whether it takes any capacity as judged at `now` (`blocked_at`).
    pub fn blocks_at(&self, now: DateTime<Utc>) -> bool {
        self.blocked_at(now).is_some()
    }

    /// What it takes at `now` as a usage of the capacity rule.
    pub fn usage_at(&self, now: DateTime<Utc>) -> Option<super::capacity::Usage> {
        self.blocked_at(now).map(|range| super::capacity::Usage { range, quantity: i64::from(self.quantity) })
    }

    /// A hold or a request whose time ran out (it may not be marked yet).
    pub fn has_lapsed(&self, now: DateTime<Utc>) -> bool {
        self.status.lapses() && self.hold_expires_at.is_none_or(|at| at <= now)
    }

    /// A confirmed booking nobody checked in by its deadline (it may not
    /// be marked `no_show` yet).
    pub fn missed_check_in(&self, now: DateTime<Utc>) -> bool {
        self.status == BookingStatus::Confirmed && self.check_in_deadline_at.is_some_and(|at| at <= now)
    }

    /// Whether confirming it at `now` would keep nothing: its check-in
    /// deadline passed, or (a request that would run out at `approval`) no
    /// one could approve it before it runs out. Such a hold ends instead.
    pub fn too_late_to_confirm(&self, now: DateTime<Utc>, approval: Option<DateTime<Utc>>) -> bool {
        self.check_in_deadline_at.is_some_and(|at| at <= now) || approval.is_some_and(|until| until <= now)
    }

    /// When the request awaiting approval runs out (or ran out).
    pub fn approval_expires_at(&self) -> Option<DateTime<Utc>> {
        matches!(self.status, BookingStatus::Pending | BookingStatus::Declined)
            .then_some(self.hold_expires_at)
            .flatten()
    }

    /// When the hold runs out (or ran out).
    pub fn hold_ends_at(&self) -> Option<DateTime<Utc>> {
        matches!(self.status, BookingStatus::Held | BookingStatus::Expired).then_some(self.hold_expires_at).flatten()
    }

    /// Moves it to `to` (a transition's target), or, where a person must
    /// approve what would be confirmed (`approval`: the request's expiry),
    /// to `pending` until then. A hold keeps its expiry, a request its own
    /// (capped at its start); any other status has none.
    pub fn enter(&mut self, to: BookingStatus, approval: Option<DateTime<Utc>>) {
        match (to, approval) {
            (BookingStatus::Confirmed | BookingStatus::Pending, Some(until)) => {
                self.status = BookingStatus::Pending;
                self.hold_expires_at = Some(until);
            }
            (BookingStatus::Held, _) => self.status = to,
            // A request moved by an admin keeps its expiry, never past its
            // (new) start.
            (BookingStatus::Pending, None) => {
                self.status = to;
                self.hold_expires_at = self.hold_expires_at.map(|at| at.min(self.range.start()));
            }
            _ => {
                self.status = to;
                self.hold_expires_at = None;
            }
        }
    }
}

/// What a list of bookings is filtered on.
#[derive(Clone, Debug, Default)]
pub struct BookingFilter {
    pub resource_id: Option<ResourceId>,
    pub customer_id: Option<CustomerId>,
    pub status: Option<BookingStatus>,
    pub series_id: Option<SeriesId>,
    /// Only bookings overlapping `[from, to)`; either bound may be open.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One line of a booking's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookingEvent {
    pub id: uuid::Uuid,
    pub booking_id: BookingId,
    pub from: Option<BookingStatus>,
    pub to: BookingStatus,
    /// `create`, `expire`, or a requestable action.
    pub action: String,
    pub actor: Actor,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    /// An admin skipped the booking policy.
    pub policy_overridden: bool,
    pub at: DateTime<Utc>,
}

/// Who did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub sub: String,
    pub role: String,
}

impl Actor {
    /// The engine itself (hold expiry).
    pub fn engine() -> Self {
        Self { sub: "berth".into(), role: "system".into() }
    }

    /// Customers are held to cut-offs; admins and the engine are not.
    pub fn is_customer(&self) -> bool {
        self.role == "customer"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;
    use BookingStatus as S;

    /// docs/design.md §2's table, written out as data, against the match.
    #[test]
    fn the_whole_transition_table() {
        let allowed = [
            (S::Held, A::Confirm, S::Confirmed),
            (S::Held, A::Cancel, S::Cancelled),
            (S::Confirmed, A::Cancel, S::Cancelled),
            (S::Confirmed, A::CheckIn, S::CheckedIn),
            (S::CheckedIn, A::Complete, S::Completed),
            (S::Confirmed, A::NoShow, S::NoShow),
            (S::Held, A::Expire, S::Expired),
            (S::Held, A::Reschedule, S::Held),
            (S::Confirmed, A::Reschedule, S::Confirmed),
            (S::Pending, A::Approve, S::Confirmed),
            (S::Pending, A::Decline, S::Declined),
            (S::Pending, A::Expire, S::Declined),
            (S::Pending, A::Cancel, S::Cancelled),
            (S::Pending, A::Reschedule, S::Pending),
        ];
        let every_action = [
            A::Confirm,
            A::Approve,
            A::Decline,
            A::Cancel,
            A::CheckIn,
            A::Complete,
            A::NoShow,
            A::Reschedule,
            A::Expire,
        ];
        for status in S::ALL {
            for action in every_action {
                let expected = allowed.iter().find(|(s, a, _)| *s == status && *a == action).map(|(_, _, to)| *to);
                match (transition(status, action), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{status} {action}"),
                    (Err(err), None) => {
                        assert_eq!(err.current, status);
                        assert_eq!(err.action, action);
                        assert_eq!(err.allowed, allowed_actions(status));
                    }
                    (got, want) => panic!("{status} {action}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    #[test]
    fn terminal_statuses_allow_nothing() {
        for status in [S::Cancelled, S::Expired, S::Declined, S::Completed, S::NoShow] {
            assert!(status.is_terminal(), "{status}");
        }
        for status in [S::Held, S::Pending, S::Confirmed, S::CheckedIn] {
            assert!(!status.is_terminal(), "{status}");
        }
        assert_eq!(allowed_actions(S::Held), [A::Confirm, A::Cancel, A::Reschedule]);
        assert_eq!(allowed_actions(S::Confirmed), [A::Cancel, A::CheckIn, A::NoShow, A::Reschedule]);
        assert_eq!(allowed_actions(S::Pending), [A::Approve, A::Decline, A::Cancel, A::Reschedule]);
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in S::ALL {
            assert_eq!(S::parse(status.as_str()), Some(status));
        }
        assert_eq!(S::parse("awaiting"), None);
    }

    fn booking(status: S) -> Booking {
        let at = |h: u32, m: u32| chrono::TimeZone::with_ymd_and_hms(&Utc, 2030, 1, 7, h, m, 0).unwrap();
        Booking {
            id: BookingId::generate(),
            resource_id: ResourceId(uuid::Uuid::nil()),
            group_id: None,
            bundle: None,
            customer_id: CustomerId(uuid::Uuid::nil()),
            range: TimeRange::new(at(10, 0), at(12, 0)).unwrap(),
            quantity: 1,
            status,
            hold_expires_at: Some(at(9, 0)),
            notes: None,
            buffers: Buffers { before_seconds: 0, after_seconds: 600 },
            version: 1,
            counted: true,
            waitlist_entry: None,
            series: None,
            check_in_deadline_at: Some(at(10, 15)),
            fields: None,
            created_at: at(8, 0),
            updated_at: at(8, 0),
        }
    }

    #[test]
    fn a_missed_check_in_frees_the_rest_of_its_time_at_the_deadline() {
        let at = |h: u32, m: u32| chrono::TimeZone::with_ymd_and_hms(&Utc, 2030, 1, 7, h, m, 0).unwrap();
        let confirmed = booking(S::Confirmed);
        let occupied = TimeRange::new(at(10, 0), at(12, 10)).unwrap();
        assert_eq!(confirmed.blocked_at(at(10, 14)), Some(occupied));
        assert!(!confirmed.missed_check_in(at(10, 14)));
        assert_eq!(confirmed.blocked_at(at(10, 15)), TimeRange::new(at(10, 0), at(10, 15)));
        assert!(confirmed.missed_check_in(at(10, 15)));
        assert_eq!(booking(S::CheckedIn).blocked_at(at(11, 0)), Some(occupied));
        // A request blocks like a hold, until it runs out.
        assert_eq!(booking(S::Pending).blocked_at(at(8, 59)), Some(occupied));
        assert_eq!(booking(S::Pending).blocked_at(at(9, 0)), None);
        assert!(booking(S::Pending).has_lapsed(at(9, 0)));
        assert_eq!(booking(S::Declined).blocked_at(at(8, 0)), None);
    }

    #[test]
    fn what_would_be_confirmed_awaits_approval_when_a_person_must_approve() {
        let until = booking(S::Held).created_at;
        let mut held = booking(S::Held);
        held.enter(S::Confirmed, Some(until));
        assert_eq!(
            (held.status, held.hold_expires_at, held.approval_expires_at()),
            (S::Pending, Some(until), Some(until))
        );
        held.enter(S::Confirmed, None);
        assert_eq!((held.status, held.hold_expires_at), (S::Confirmed, None));
        let mut pending = booking(S::Pending);
        pending.enter(S::Pending, None);
        assert_eq!(pending.hold_expires_at, booking(S::Pending).hold_expires_at);
        let mut moved = booking(S::Held);
        moved.enter(S::Held, Some(until));
        assert_eq!((moved.status, moved.hold_expires_at), (S::Held, booking(S::Held).hold_expires_at));
    }
}
