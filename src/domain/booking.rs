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
    Confirmed,
    CheckedIn,
    Completed,
    Cancelled,
    Expired,
    NoShow,
}

impl BookingStatus {
    pub const ALL: [BookingStatus; 7] =
        [Self::Held, Self::Confirmed, Self::CheckedIn, Self::Completed, Self::Cancelled, Self::Expired, Self::NoShow];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Confirmed => "confirmed",
            Self::CheckedIn => "checked_in",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
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
}

impl fmt::Display for BookingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can happen to a booking. `Expire` is the engine's; the others are
/// endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Confirm,
    Cancel,
    CheckIn,
    Complete,
    NoShow,
    Reschedule,
    Expire,
}

impl Action {
    /// The actions a client can ask for, in the order they are listed.
    pub const REQUESTABLE: [Action; 6] =
        [Self::Confirm, Self::Cancel, Self::CheckIn, Self::Complete, Self::NoShow, Self::Reschedule];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
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

/// docs/design.md §2's table. No wildcards: every (status, action) pair is decided here.
fn next_status(status: BookingStatus, action: Action) -> Option<BookingStatus> {
    use Action as A;
    use BookingStatus as S;
    match status {
        S::Held => match action {
            A::Confirm => Some(S::Confirmed),
            A::Cancel => Some(S::Cancelled),
            A::Expire => Some(S::Expired),
            A::Reschedule => Some(S::Held),
            A::CheckIn | A::Complete | A::NoShow => None,
        },
        S::Confirmed => match action {
            A::Cancel => Some(S::Cancelled),
            A::CheckIn => Some(S::CheckedIn),
            A::NoShow => Some(S::NoShow),
            A::Reschedule => Some(S::Confirmed),
            A::Confirm | A::Complete | A::Expire => None,
        },
        S::CheckedIn => match action {
            A::Complete => Some(S::Completed),
            A::Confirm | A::Cancel | A::CheckIn | A::NoShow | A::Reschedule | A::Expire => None,
        },
        S::Completed | S::Cancelled | S::Expired | S::NoShow => None,
    }
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
    /// Set while held (and kept on an expired hold: when it ran out).
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
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

    /// Whether the booking takes capacity at `now`: confirmed, checked in, or
    /// held with the hold still running. An expired hold stops blocking at its
    /// expiry instant, whether or not anything marked it expired yet.
    pub fn blocks_at(&self, now: DateTime<Utc>) -> bool {
        match self.status {
            BookingStatus::Confirmed | BookingStatus::CheckedIn => true,
            BookingStatus::Held => self.hold_expires_at.is_some_and(|at| at > now),
            _ => false,
        }
    }

    /// A hold whose time ran out (it may not be marked yet).
    pub fn hold_has_run_out(&self, now: DateTime<Utc>) -> bool {
        self.status == BookingStatus::Held && self.hold_expires_at.is_none_or(|at| at <= now)
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
        ];
        let every_action = [A::Confirm, A::Cancel, A::CheckIn, A::Complete, A::NoShow, A::Reschedule, A::Expire];
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
        for status in [S::Cancelled, S::Expired, S::Completed, S::NoShow] {
            assert!(status.is_terminal(), "{status}");
        }
        for status in [S::Held, S::Confirmed, S::CheckedIn] {
            assert!(!status.is_terminal(), "{status}");
        }
        assert_eq!(allowed_actions(S::Held), [A::Confirm, A::Cancel, A::Reschedule]);
        assert_eq!(allowed_actions(S::Confirmed), [A::Cancel, A::CheckIn, A::NoShow, A::Reschedule]);
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in S::ALL {
            assert_eq!(S::parse(status.as_str()), Some(status));
        }
        assert_eq!(S::parse("pending"), None);
    }
}
