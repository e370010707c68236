//! How a booking decision locks what it decides on: a booking on one
//! resource (`lock_one`: on PostgreSQL its hour buckets, or the whole
//! row, first without waiting), and a change to an existing booking
//! (`lock_for_change`: resource, then booking).

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;

use super::{snapshot::refuse_from_snapshot, types::NewBooking};
use crate::domain::{
    booking::Booking,
    ids::{BookingId, ResourceId},
    resource::Resource,
    rules,
};
use crate::service::{Db, ServiceError};
use crate::store::{
    self, bookings,
    resources::{self, Attempt, Hold},
};

/// Locks the resource of a booking on one resource: on PostgreSQL, the
/// hour buckets of its occupied time and the row shared when they are few
/// (docs/design.md §20), the whole row otherwise; first without waiting,
/// and when something is taken, after a snapshot that may already refuse
/// (docs/design.md §18). Returns it with what the lock's statement read
/// along: whether the customer exists, and the clock after the lock.
pub(super) async fn lock_one(
    txn: &DatabaseTransaction,
    db: &Db,
    new: &NewBooking,
    id: ResourceId,
) -> Result<(Resource, (Option<bool>, Option<DateTime<Utc>>)), ServiceError> {
    // A resource with a waiting list is decided under its whole lock: the
    // queue is served first, over any time (docs/design.md §24).
    let buckets = if store::locks::in_use(txn) && !db.known_queue(id) {
        store::locks::bucket_keys(id, &rules::occupied(&new.range, db.known_buffers(id)))
    } else {
        None
    };
    let hold = buckets.as_deref().map_or(Hold::Whole, Hold::Buckets);
    let (resource, mut along) = match resources::lock_if_free_with(txn, id, new.customer_id, hold).await? {
        Attempt::Held(free) => (Some(free.resource), (Some(free.customer_exists), free.clock)),
        Attempt::Taken(seen) => {
            // Something is taken (or there is no such resource): a refusal
            // a snapshot already shows is answered without queueing.
            refuse_from_snapshot(txn, db, new, seen).await?;
            (resources::lock_waiting(txn, id, hold).await?, (None, None))
        }
    };
    let resource = resource.ok_or_else(|| ServiceError::invalid("resource_id", "no resource with this id"))?;
    db.remember_queue(id, resource.waitlist_active > 0);
    db.remember_resource(&resource);
    if buckets.is_some() && resource.waitlist_active > 0 {
        // It has a queue since this instance last looked: start again with
        // the whole lock.
        return Err(ServiceError::lost_race());
    }
    if let Some(held) = &buckets {
        let buffers = resource.policy.buffers();
        db.remember_buffers(id, buffers);
        // The buckets were chosen before the resource was read: unless they
        // cover its occupied time, start again with what it really has.
        match store::locks::bucket_keys(id, &rules::occupied(&new.range, buffers)) {
            Some(needed) if needed.iter().all(|lock| held.iter().any(|h| h.holds(lock))) => {}
            _ => return Err(ServiceError::lost_race()),
        }
        // A booking limit counts the customer's bookings at all times: that
        // customer's decisions on this resource go one at a time.
        if resource.policy.max_active_bookings_per_customer.is_some() {
            resources::lock_key(txn, store::locks::customer_key(id, new.customer_id)).await?;
            // The clock is read after every lock (docs/design.md §5): the
            // one the lock's statement read may be long past by now.
            along.1 = None;
        }
    }
    Ok((resource, along))
}

/// Locks what a change to `id` needs, in a fixed order (resource, then
/// booking) so that two changes can never deadlock on each other. Returns
/// the locked resource (when `lock_resource`) and booking.
pub(super) async fn lock_for_change(
    txn: &DatabaseTransaction,
    id: BookingId,
    lock_resource: bool,
) -> Result<(Option<Resource>, Booking), ServiceError> {
    let resource = if lock_resource {
        let unlocked = bookings::find(txn, id).await?.ok_or(ServiceError::NotFound)?;
        Some(resources::lock(txn, unlocked.resource_id).await?.ok_or(ServiceError::NotFound)?)
    } else {
        None
    };
    let booking = bookings::lock(txn, id).await?.ok_or(ServiceError::NotFound)?;
    // A group reschedule may have moved it to another member since we
    // looked: the lock we hold is then the wrong one. Decide again.
    if resource.as_ref().is_some_and(|r| r.id != booking.resource_id) {
        return Err(ServiceError::lost_race());
    }
    Ok((resource, booking))
}
