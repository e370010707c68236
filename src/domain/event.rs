//! What an event says changed: the closed list of event types the feed,
//! the webhooks and their filters name (docs/design.md §16).

use super::booking::{Action, BookingStatus};

macro_rules! event_types {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// What changed.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum EventType { $($variant),* }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(Self::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }
        }
    };
}

event_types! {
    BookingCreated => "booking.created",
    BookingPending => "booking.pending",
    BookingApproved => "booking.approved",
    BookingDeclined => "booking.declined",
    BookingConfirmed => "booking.confirmed",
    BookingCancelled => "booking.cancelled",
    BookingExpired => "booking.expired",
    BookingCheckedIn => "booking.checked_in",
    BookingCompleted => "booking.completed",
    BookingNoShow => "booking.no_show",
    BookingRescheduled => "booking.rescheduled",
    BookingReassigned => "booking.reassigned",
    ResourceCreated => "resource.created",
    ResourceUpdated => "resource.updated",
    ResourceDeleted => "resource.deleted",
    GroupCreated => "group.created",
    GroupUpdated => "group.updated",
    GroupDeleted => "group.deleted",
    WebhookDisabled => "webhook.disabled",
    WaitlistJoined => "waitlist.joined",
    WaitlistOffered => "waitlist.offered",
    WaitlistAccepted => "waitlist.accepted",
    WaitlistDeclined => "waitlist.declined",
    WaitlistExpired => "waitlist.expired",
    WaitlistLeft => "waitlist.left",
    WaitlistLapsed => "waitlist.lapsed",
    SeriesCreated => "series.created",
    SeriesCancelled => "series.cancelled",
}

impl EventType {
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == name)
    }

    /// The event of a new booking: a request for approval is
    /// `booking.pending`, anything else `booking.created`.
    pub fn created(status: BookingStatus) -> Self {
        if status == BookingStatus::Pending { Self::BookingPending } else { Self::BookingCreated }
    }

    /// The event of a booking's action that took it from `from` to `to`: a
    /// request for approval made is `booking.pending` whichever action made
    /// it (a confirmation, a customer's move), and one that ran out
    /// `booking.declined`.
    pub fn of(action: Action, from: BookingStatus, to: BookingStatus) -> Self {
        match action {
            Action::Confirm | Action::Reschedule if to == BookingStatus::Pending && from != BookingStatus::Pending => {
                Self::BookingPending
            }
            Action::Expire if to == BookingStatus::Declined => Self::BookingDeclined,
            Action::Confirm => Self::BookingConfirmed,
            Action::Approve => Self::BookingApproved,
            Action::Decline => Self::BookingDeclined,
            Action::Cancel => Self::BookingCancelled,
            Action::CheckIn => Self::BookingCheckedIn,
            Action::Complete => Self::BookingCompleted,
            Action::NoShow => Self::BookingNoShow,
            Action::Reschedule => Self::BookingRescheduled,
            Action::Expire => Self::BookingExpired,
        }
    }
}
