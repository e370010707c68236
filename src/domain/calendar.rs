//! Calendar feeds as iCalendar text (RFC 5545; docs/design.md §28): one
//! `VEVENT` per booking, text values escaped (§3.3.11) and every line
//! folded at 75 octets without splitting a character (§3.1), CRLF line
//! ends. A small serializer of its own: berth writes only these few
//! properties, and the tests read its output back with a real parser.

use chrono::{DateTime, Utc};

use super::booking::{Booking, BookingStatus};

/// What a calendar shows of a booking's status (RFC 5545 §3.8.1.11):
/// held and pending ones are tentative; the ones that will not happen are
/// cancelled, so subscribed calendars remove them.
pub fn status(status: BookingStatus) -> &'static str {
    match status {
        BookingStatus::Held | BookingStatus::Pending => "TENTATIVE",
        BookingStatus::Confirmed | BookingStatus::CheckedIn | BookingStatus::Completed => "CONFIRMED",
        BookingStatus::Cancelled | BookingStatus::Expired | BookingStatus::Declined | BookingStatus::NoShow => {
            "CANCELLED"
        }
    }
}

/// One event of a feed.
pub struct Event<'a> {
    pub booking: &'a Booking,
    pub summary: &'a str,
}

/// The feed `name`, its events in the order given.
pub fn render(name: &str, events: &[Event]) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, "PRODID:-//berth//booking engine//EN");
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, &format!("X-WR-CALNAME:{}", escape(name)));
    for event in events {
        let booking = event.booking;
        line(&mut out, "BEGIN:VEVENT");
        line(&mut out, &format!("UID:{}@berth", booking.id));
        line(&mut out, &format!("DTSTAMP:{}", stamp(booking.updated_at)));
        line(&mut out, &format!("SEQUENCE:{}", booking.version));
        line(&mut out, &format!("DTSTART:{}", stamp(booking.range.start())));
        line(&mut out, &format!("DTEND:{}", stamp(booking.range.end())));
        line(&mut out, &format!("STATUS:{}", status(booking.status)));
        line(&mut out, &format!("SUMMARY:{}", escape(event.summary)));
        line(&mut out, "END:VEVENT");
    }
    line(&mut out, "END:VCALENDAR");
    out
}

/// An instant as a UTC DATE-TIME (`20270329T070000Z`).
fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// TEXT escaped: backslash, semicolon, comma, and newlines as `\n`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `content` as lines of at most 75 octets (continuations start
/// with one space, which counts), each ended by CRLF, never splitting a
/// UTF-8 character.
pub fn line(out: &mut String, content: &str) {
    let mut room = 75;
    let mut used = 0;
    for c in content.chars() {
        if used + c.len_utf8() > room {
            out.push_str("\r\n ");
            used = 1;
            room = 75;
        }
        out.push(c);
        used += c.len_utf8();
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a,b;c\\d\ne\r\nf"), "a\\,b\\;c\\\\d\\ne\\nf");
    }

    #[test]
    fn lines_fold_at_75_octets_without_splitting_a_character() {
        let mut out = String::new();
        let content = format!("SUMMARY:{}", "é".repeat(100));
        line(&mut out, &content);
        for physical in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(physical.len() <= 75, "{} octets: {physical}", physical.len());
        }
        let unfolded = out.trim_end_matches("\r\n").replace("\r\n ", "");
        assert_eq!(unfolded, content);
    }
}
