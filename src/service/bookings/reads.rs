//! Reading bookings: one, a page, a booking's history, a resource's usage
//! timeline (`availability`), and what a resource's future bookings commit
//! it to (`future_commitments`, for changes to the resource).

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;

use crate::domain::{
    booking::{Booking, BookingEvent, BookingFilter},
    capacity::{self, OpenSegment, Usage},
    ids::{BookingId, CustomerId, ResourceId},
    resource::Resource,
    time_range::TimeRange,
};
use crate::service::{Db, ServiceError, now, timelines, waitlist::ahead};
use crate::store::{bookings, events, resources};

/// What `bookings` take as judged at `now` (`Booking::usage_at`).
fn usages(bookings: &[Booking], now: DateTime<Utc>) -> Vec<Usage> {
    bookings.iter().filter_map(|b| b.usage_at(now)).collect()
}

/// The booking, if it exists and `owner` (when given) owns it: someone
/// else's booking is as missing as one that does not exist.
pub async fn get(db: &Db, id: BookingId, owner: Option<CustomerId>) -> Result<Booking, ServiceError> {
    bookings::find(db.conn(), id)
        .await?
        .filter(|booking| owner.is_none_or(|owner| booking.customer_id == owner))
        .ok_or(ServiceError::NotFound)
}

pub async fn list(
    db: &Db,
    filter: &BookingFilter,
    after: Option<BookingId>,
    limit: u64,
) -> Result<Vec<Booking>, ServiceError> {
    Ok(bookings::list(db.conn(), filter, after, limit).await?)
}

pub async fn history(db: &Db, id: BookingId, owner: Option<CustomerId>) -> Result<Vec<BookingEvent>, ServiceError> {
    get(db, id, owner).await?;
    Ok(events::list(db.conn(), id).await?)
}

/// The resource's usage over `window` (what bookings occupy, buffers
/// included), by the same sweep as the capacity rule, with closed time
/// marked from the same schedule the rules read, at this instant.
pub async fn availability(
    db: &Db,
    resource_id: ResourceId,
    window: TimeRange,
) -> Result<(Resource, Vec<OpenSegment>), ServiceError> {
    let resource = resources::find(db.conn(), resource_id).await?.ok_or(ServiceError::NotFound)?;
    // What the queue would take is not there for a new customer (§24).
    let queue = ahead::waiting(db.conn(), &resource, &window).await?;
    let usages = ahead::with_queue(
        &resource,
        timelines::blocking_timeline(db.conn(), db.timelines(), &resource, &window, now()).await?,
        queue,
    );
    let open = resource.schedule.as_ref().map(|schedule| schedule.open_time(resource.time_zone, &window));
    let segments = capacity::timeline_open(&usages, open.as_deref(), &window);
    Ok((resource, segments))
}

/// What the resource's future blocking bookings commit it to, for checks
/// on capacity, duration and deletion.
pub(in crate::service) struct Commitments {
    /// The most units they occupy at one instant from `now` on.
    pub peak_usage: i64,
    /// The longest of them, in seconds.
    pub longest_seconds: i64,
    /// How many have not ended yet.
    pub bookings: u64,
}

pub(in crate::service) async fn future_commitments(
    txn: &DatabaseTransaction,
    resource: &Resource,
    now: DateTime<Utc>,
) -> Result<Commitments, ServiceError> {
    let future = bookings::future_blocking(txn, resource.id, resource.max_booking_duration_seconds, now).await?;
    let longest_seconds = future.iter().map(|b| b.range.duration_seconds()).max().unwrap_or(0);
    let occupied = usages(&future, now);
    let peak_usage = match occupied.iter().map(|u| u.range.end()).max().and_then(|last| TimeRange::new(now, last)) {
        Some(window) => capacity::peak_usage(&occupied, &window),
        None => 0,
    };
    let bookings = future.iter().filter(|b| b.range.end() > now).count() as u64;
    Ok(Commitments { peak_usage, longest_seconds, bookings })
}
