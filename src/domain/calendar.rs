//! What a calendar feed shows of a booking (RFC 5545; docs/design.md §28):
//! its status as a calendar status. The feed itself is written by the
//! `icalendar` crate (`service::feeds`).

use super::booking::BookingStatus;

/// The status a calendar event shows (RFC 5545 §3.8.1.11): held and
/// pending bookings are tentative; the ones that will not happen are
/// cancelled, so subscribed calendars remove them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventStatus {
    Tentative,
    Confirmed,
    Cancelled,
}

pub fn status(status: BookingStatus) -> EventStatus {
    match status {
        BookingStatus::Held | BookingStatus::Pending => EventStatus::Tentative,
        BookingStatus::Confirmed | BookingStatus::CheckedIn | BookingStatus::Completed => EventStatus::Confirmed,
        BookingStatus::Cancelled | BookingStatus::Expired | BookingStatus::Declined | BookingStatus::NoShow => {
            EventStatus::Cancelled
        }
    }
}
