//! Booking: a new booking (or hold) on a resource or on any member of a
//! group, decided and written in one transaction (on SQLite, a savepoint of
//! one shared with the bookings around it: `write_batch`); on one resource
//! first tried in one round trip (`one_trip`).

use sea_orm::DatabaseTransaction;

use super::{
    locking::lock_one,
    one_trip,
    types::{NewBooking, Target},
    write::{created, fresh, insert_fresh, refused},
};
use crate::domain::{booking::Booking, rules::Refusal};
use crate::service::{
    Context, Db, ServiceError,
    decision::{lock_group, pick, trial_order},
    fields,
    idempotency::Seal,
    retrying,
    waitlist::{self, queue::serve},
};
use crate::store::{self, customers};

pub async fn create(
    db: &Db,
    new: NewBooking,
    ctx: &Context,
    seal: &Seal<'_, Booking>,
) -> Result<Booking, ServiceError> {
    // The common booking first, in one round trip (docs/design.md §30).
    if let Some(booking) = one_trip::book(db, &new, ctx, seal).await? {
        return Ok(booking);
    }
    // Its key was not looked up before: it may hold an answer already.
    seal.look_up(db).await?;
    match decide_and_write(db, &new, ctx, seal).await {
        Err(err) => Err(with_waitlist_length(db, &new, err).await),
        done => done,
    }
}

/// A full interval's refusal says how many wait for it (docs/design.md
/// §24), read after the decision's transaction ended.
async fn with_waitlist_length(db: &Db, new: &NewBooking, err: ServiceError) -> ServiceError {
    let length = || waitlist::waiting_length(db, new.target, &new.range);
    match err {
        ServiceError::Refused {
            refusal: Refusal::CapacityExceeded { resource_id, capacity, requested, available, .. },
            alternatives,
        } => match length().await {
            Ok(waitlist_length) => ServiceError::Refused {
                refusal: Refusal::CapacityExceeded {
                    resource_id,
                    capacity,
                    requested,
                    available,
                    waitlist_length: Some(waitlist_length),
                },
                alternatives,
            },
            Err(failed) => failed,
        },
        ServiceError::NoResourceAvailable { group_id, alternatives, .. } => match length().await {
            Ok(waitlist_length) => {
                ServiceError::NoResourceAvailable { group_id, alternatives, waitlist_length: Some(waitlist_length) }
            }
            Err(failed) => failed,
        },
        other => other,
    }
}

async fn decide_and_write(
    db: &Db,
    new: &NewBooking,
    ctx: &Context,
    seal: &Seal<'_, Booking>,
) -> Result<Booking, ServiceError> {
    let booking = retrying(|| async {
        match db.write_batch() {
            // SQLite: in turn, in a transaction shared with the bookings
            // around it (docs/design.md §46).
            Some(batch) => batch.decide(db.conn(), async |txn| decide_in(txn, db, new, ctx, seal).await).await,
            None => decide_in(store::begin_write(db.conn()).await?, db, new, ctx, seal).await,
        }
    })
    .await?;
    created(std::slice::from_ref(&booking));
    Ok(booking)
}

/// Decides `new` in `txn` and commits it.
async fn decide_in(
    txn: DatabaseTransaction,
    db: &Db,
    new: &NewBooking,
    ctx: &Context,
    seal: &Seal<'_, Booking>,
) -> Result<Booking, ServiceError> {
    // What the lock's statement read along (PostgreSQL, lock free):
    // whether the customer exists, and the clock after the lock.
    let (mut customer_exists, mut clock) = (None, None);
    let (group, locked) = match new.target {
        Target::Resource(id) => {
            let (resource, along) = lock_one(&txn, db, new, id).await?;
            (customer_exists, clock) = along;
            (None, std::collections::HashMap::from([(id, resource)]))
        }
        Target::Group(id) => {
            let (group, locked) = lock_group(&txn, id).await?;
            (Some(group), locked)
        }
    };
    let customer_exists = match customer_exists {
        Some(known) => known,
        None => customers::find(&txn, new.customer_id).await?.is_some(),
    };
    if !customer_exists {
        return Err(ServiceError::invalid("customer_id", "no customer with this id"));
    }
    let now = db.decision_clock_or(&txn, clock).await?;
    // Nobody books past the queue: it is served first (docs/design.md §24).
    for resource in locked.values() {
        serve(&txn, db, resource, now, ctx).await?;
    }
    let decision = |resource| new.decision(resource, now);
    // The fields as stored, once checked against the resource booked.
    let mut checked_fields = None;
    let picked = match &group {
        None => {
            let only = locked.values().next().ok_or(ServiceError::NotFound)?;
            let decision = decision(only);
            decision.check_values()?;
            // Wrong answers are wrong whatever is booked: before the rules.
            checked_fields = Some(fields::checked(only.booking_fields.as_deref(), new.fields.as_ref())?);
            decision.decide(&txn).await.map(|()| only)
        }
        Some(group) => {
            let order = trial_order(&txn, group, &locked, &new.range, now).await?;
            pick(&txn, group.id, order.into_iter().map(decision).collect(), true).await
        }
    };
    let resource = match picked {
        Ok(resource) => resource,
        Err(err) => return Err(refused(txn, err).await),
    };
    let mut booking = fresh(resource, new, now, ctx.actor.is_customer());
    // A group's: against the member picked (members may ask otherwise).
    booking.fields = match checked_fields {
        Some(fields) => fields,
        None => fields::checked(resource.booking_fields.as_deref(), new.fields.as_ref())?,
    };
    booking.group_id = group.as_ref().map(|g| g.id);
    // The key's record goes with the booking's inserts (one statement).
    let key_record = seal.record_insert(now, &booking);
    let wrote = insert_fresh(&txn, db, &booking, ctx, new.override_policy, key_record).await?;
    seal.settle(&txn, now, wrote).await?;
    txn.commit().await?;
    Ok(booking)
}
