//! Calendar feeds (docs/design.md §28): a resource's or a customer's
//! bookings as iCalendar, behind a feed token that a calendar app keeps in
//! its subscription URL. A token is 32 random bytes (base64url), stored
//! only as its SHA-256; making a new one revokes the old. A feed shows the
//! bookings from 30 days back to a year ahead (at most `MAX_EVENTS`, in
//! start order); a resource's shows no customer data. The text is written
//! by the `icalendar` crate (escaping, folding at 75 octets, CRLF).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Duration;
use icalendar::{Component, EventLike};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{Db, ServiceError};
use crate::domain::{
    booking::{Booking, BookingFilter, BookingStatus},
    ids::{CustomerId, ResourceId},
};
use crate::store::{bookings, customers, feeds, resources};

/// The most events one feed holds.
pub const MAX_EVENTS: u64 = 5_000;

/// Whose bookings a feed shows.
#[derive(Clone, Copy, Debug)]
pub enum Owner {
    Resource(ResourceId),
    Customer(CustomerId),
}

impl Owner {
    fn parts(self) -> (&'static str, uuid::Uuid) {
        match self {
            Owner::Resource(id) => ("resource", id.0),
            Owner::Customer(id) => ("customer", id.0),
        }
    }
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new feed token for `owner` (404 when there is no such owner),
/// revoking the one before. The token is returned once and never stored.
pub async fn issue(db: &Db, owner: Owner) -> Result<String, ServiceError> {
    let exists = match owner {
        Owner::Resource(id) => resources::find(db.conn(), id).await?.is_some(),
        Owner::Customer(id) => customers::find(db.conn(), id).await?.is_some(),
    };
    if !exists {
        return Err(ServiceError::NotFound);
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let (kind, id) = owner.parts();
    let now = db.decision_clock(db.conn()).await?;
    feeds::replace(db.conn(), kind, id, &hash(&token), now).await?;
    Ok(token)
}

/// `owner`'s feed as iCalendar text, if `token` is its current token;
/// otherwise (no token, a revoked one, no such owner) `NotFound`: a feed
/// URL reveals nothing.
pub async fn feed(db: &Db, owner: Owner, token: &str) -> Result<String, ServiceError> {
    let (kind, id) = owner.parts();
    let stored = feeds::token_hash(db.conn(), kind, id).await?.ok_or(ServiceError::NotFound)?;
    // Both sides hashed: the comparison's time says nothing of the token.
    if Sha256::digest(stored.as_bytes()) != Sha256::digest(hash(token).as_bytes()) {
        return Err(ServiceError::NotFound);
    }
    let now = db.decision_clock(db.conn()).await?;
    let mut filter = BookingFilter {
        from: Some(now - Duration::days(30)),
        to: Some(now + Duration::days(366)),
        ..Default::default()
    };
    // Each event is its resource's name: a resource feed shows no
    // customer, a customer's feed says where.
    let mut names = std::collections::HashMap::new();
    let name = match owner {
        Owner::Resource(id) => {
            filter.resource_id = Some(id);
            let name = resources::find(db.conn(), id).await?.ok_or(ServiceError::NotFound)?.name;
            names.insert(id, name.clone());
            name
        }
        Owner::Customer(id) => {
            filter.customer_id = Some(id);
            let customer = customers::find(db.conn(), id).await?.ok_or(ServiceError::NotFound)?;
            format!("Bookings of {}", customer.name)
        }
    };
    let mut found = bookings::list(db.conn(), &filter, None, MAX_EVENTS).await?;
    found.sort_by_key(|b| (b.range.start(), b.id));
    for booking in &found {
        if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(booking.resource_id) {
            let name = resources::find(db.conn(), booking.resource_id).await?.map(|r| r.name).unwrap_or_default();
            slot.insert(name);
        }
    }
    let mut feed = icalendar::Calendar::new();
    feed.name(&name);
    for booking in &found {
        feed.push(event(booking, names.get(&booking.resource_id).map_or("", String::as_str)));
    }
    Ok(feed.done().to_string())
}

/// One booking as a calendar event: a stable `UID`, `SEQUENCE` its version
/// (every change raises it), `DTSTAMP` its last change (so an unchanged
/// feed is the same text), times in UTC, its status, `summary`.
fn event(booking: &Booking, summary: &str) -> icalendar::Event {
    // Held and pending bookings are tentative; those that will not happen
    // are cancelled, so subscribed calendars remove them (RFC 5545 §3.8.1.11).
    let status = match booking.status {
        BookingStatus::Held | BookingStatus::Pending => icalendar::EventStatus::Tentative,
        BookingStatus::Confirmed | BookingStatus::CheckedIn | BookingStatus::Completed => {
            icalendar::EventStatus::Confirmed
        }
        BookingStatus::Cancelled | BookingStatus::Expired | BookingStatus::Declined | BookingStatus::NoShow => {
            icalendar::EventStatus::Cancelled
        }
    };
    icalendar::Event::new()
        .uid(&format!("{}@berth", booking.id))
        .timestamp(booking.updated_at)
        .sequence(u32::try_from(booking.version).unwrap_or(u32::MAX))
        .starts(booking.range.start())
        .ends(booking.range.end())
        .status(status)
        .summary(summary)
        .done()
}
