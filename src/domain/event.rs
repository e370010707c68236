//! What an event says changed: the closed list of event types the feed,
//! the webhooks and their filters name (docs/design.md §16).

use super::booking::Action;

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

    /// The event of a booking's action.
    pub fn of(action: Action) -> Self {
        match action {
            Action::Confirm => Self::BookingConfirmed,
            Action::Cancel => Self::BookingCancelled,
            Action::CheckIn => Self::BookingCheckedIn,
            Action::Complete => Self::BookingCompleted,
            Action::NoShow => Self::BookingNoShow,
            Action::Reschedule => Self::BookingRescheduled,
            Action::Expire => Self::BookingExpired,
        }
    }
}
