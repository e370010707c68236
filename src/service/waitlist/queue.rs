//! Serving a resource's queue (docs/design.md §24), inside the caller's
//! transaction and under its lock of the whole resource: offers that ran
//! out are settled, entries whose interval can no longer be booked lapse,
//! and every waiting entry whose whole quantity now fits, in queue order,
//! is offered a held booking for its customer (first fit). Every decision
//! on a resource with a queue calls `serve` before it decides (nobody books
//! past the queue), and every write that frees units calls it before it
//! commits (the offer is made in the transaction that frees them).
//! (`settle` is the other half: an offered booking's entry follows it.)

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;

use super::settle::{close, save};
use crate::domain::{
    booking::{Actor, Booking, BookingStatus, Target},
    capacity::Usage,
    ids::BookingId,
    resource::Resource,
    rules::{self, Occupancy, Request, Situation},
    time_range::TimeRange,
    waitlist::{self, Entry, EntryStatus},
};
use crate::service::{
    Context, Db, ServiceError,
    bookings::write::{expire, insert_fresh},
    decision::Decision,
};
use crate::store::{
    bookings::{self, Overlap},
    waitlist as entries,
};

/// What the engine does for a queue is recorded as the engine's, with the
/// request that caused it.
fn engine(ctx: &Context) -> Context {
    Context { actor: Actor::engine(), reason: Some("waiting list".into()), request_id: ctx.request_id.clone() }
}

/// Serves `resource`'s queue at `now` (see the module header). The caller
/// holds the resource's whole lock. Costs nothing when its count of active
/// entries is 0; otherwise one read of the queue, one of the bookings over
/// the waiting entries' time, and the writes of what changed.
pub(in crate::service) async fn serve(
    txn: &DatabaseTransaction,
    db: &Db,
    resource: &Resource,
    now: DateTime<Utc>,
    ctx: &Context,
) -> Result<(), ServiceError> {
    if resource.waitlist_active == 0 {
        return Ok(());
    }
    let engine = engine(ctx);
    let queue = entries::queue_of(txn, resource.id).await?;
    let mut active = 0;
    let mut waiting = Vec::new();
    for entry in queue {
        match entry.status {
            EntryStatus::Offered => {
                if !settle_offer_that_ran_out(txn, db, resource, &entry, now, &engine).await? {
                    active += 1;
                }
            }
            _ => waiting.push(entry),
        }
    }
    let Some(span) = waiting
        .iter()
        .map(|e| rules::occupied(&e.range, resource.policy.buffers()))
        .reduce(|a, b| TimeRange::new(a.start().min(b.start()), a.end().max(b.end())).unwrap_or(a))
    else {
        return recount(txn, resource, active).await;
    };
    let overlap = Overlap {
        resource: resource.id,
        range: &span,
        max_duration_seconds: resource.max_booking_duration_seconds,
        now,
        exclude: None,
    };
    let mut usages = bookings::blocking_usage(txn, &overlap).await?;
    for mut entry in waiting {
        match offer_if_it_fits(txn, db, resource, &mut entry, &usages, now, &engine).await? {
            Served::Offered(taken) => {
                usages.push(taken);
                active += 1;
            }
            Served::Waits => active += 1,
            Served::Lapsed => {}
        }
    }
    recount(txn, resource, active).await
}

/// The resource's count set to what its queue now holds, when it differs.
async fn recount(txn: &DatabaseTransaction, resource: &Resource, active: usize) -> Result<(), ServiceError> {
    if usize::try_from(resource.waitlist_active).ok() != Some(active) {
        entries::recount(txn, resource.id, active).await?;
    }
    Ok(())
}

/// An offered entry whose booking is on `resource`: settled when the hold
/// ran out (the booking marked expired, the entry with it) or was settled
/// without its entry (an older write). Returns whether it left the queue.
/// An offer still running is not read: its booking is held (a confirm or
/// cancel settles the entry in the same write).
async fn settle_offer_that_ran_out(
    txn: &DatabaseTransaction,
    db: &Db,
    resource: &Resource,
    entry: &Entry,
    now: DateTime<Utc>,
    engine: &Context,
) -> Result<bool, ServiceError> {
    if entry.offer_expires_at.is_some_and(|expires| expires > now) {
        return Ok(false);
    }
    let Some(booking_id) = entry.booking_id else {
        return close(txn, db, entry, EntryStatus::Expired, now, engine).await;
    };
    let Some(mut booking) = bookings::lock(txn, booking_id).await? else {
        return close(txn, db, entry, EntryStatus::Expired, now, engine).await;
    };
    if booking.resource_id != resource.id {
        // Offered on another member of its group: that member serves it.
        return Ok(false);
    }
    if booking.has_lapsed(now) {
        // Marks the entry expired too (`settle_offer`).
        expire(txn, db, &mut booking, now, engine).await?;
        return Ok(true);
    }
    match booking.status {
        BookingStatus::Held => Ok(false),
        // Confirmed (perhaps then awaiting approval, perhaps declined).
        BookingStatus::Pending
        | BookingStatus::Declined
        | BookingStatus::Confirmed
        | BookingStatus::CheckedIn
        | BookingStatus::Completed
        | BookingStatus::NoShow => close(txn, db, entry, EntryStatus::Accepted, now, engine).await,
        BookingStatus::Cancelled => close(txn, db, entry, EntryStatus::Declined, now, engine).await,
        BookingStatus::Expired => close(txn, db, entry, EntryStatus::Expired, now, engine).await,
    }
}

enum Served {
    /// What the offer's booking occupies.
    Offered(Usage),
    Waits,
    Lapsed,
}

/// Offers `entry` a held booking on `resource` if its whole quantity fits
/// next to `usages` and every rule passes for its customer; lapses it when
/// its interval can no longer be booked.
async fn offer_if_it_fits(
    txn: &DatabaseTransaction,
    db: &Db,
    resource: &Resource,
    entry: &mut Entry,
    usages: &[Usage],
    now: DateTime<Utc>,
    engine: &Context,
) -> Result<Served, ServiceError> {
    let own = matches!(entry.target, Target::Resource(_));
    let request = Request { range: entry.range, quantity: i64::from(entry.quantity) };
    // A group's entry may still fit another member: only its start passing
    // lapses it; its own resource's values and rules lapse a resource's.
    if entry.range.start() <= now || (own && rules::check_values(resource, &request, now, true).is_err()) {
        close(txn, db, entry, EntryStatus::Lapsed, now, engine).await?;
        return Ok(Served::Lapsed);
    }
    if !own && rules::check_values(resource, &request, now, true).is_err() {
        return Ok(Served::Waits);
    }
    // The rules of the interval and the room, judged in memory first: most
    // entries of a long queue stop here.
    let situation = Situation {
        now,
        apply_policy: true,
        rescheduled_from: None,
        own_bookings: None,
        occupancy: Occupancy::Intervals(usages),
    };
    match rules::admit(resource, &request, &situation) {
        Err(refusal) if own && waitlist::lapses(&refusal) => {
            close(txn, db, entry, EntryStatus::Lapsed, now, engine).await?;
            return Ok(Served::Lapsed);
        }
        Err(_) => return Ok(Served::Waits),
        Ok(_) => {}
    }
    // Then the one predicate, with the customer's own bookings.
    let decision = Decision {
        resource,
        customer: entry.customer_id,
        request,
        now,
        apply_policy: true,
        rescheduled_from: None,
        exclude: None,
    };
    if decision.judge(txn).await?.verdict.is_err() {
        return Ok(Served::Waits);
    }
    let expires_at = waitlist::offer_expires_at(&resource.policy, now, entry.range.start());
    let booking = Booking {
        id: BookingId::generate(),
        resource_id: resource.id,
        group_id: match entry.target {
            Target::Group(group) => Some(group),
            Target::Resource(_) => None,
        },
        bundle: None,
        customer_id: entry.customer_id,
        range: entry.range,
        quantity: entry.quantity,
        status: BookingStatus::Held,
        hold_expires_at: Some(expires_at),
        notes: None,
        buffers: resource.policy.buffers(),
        version: 1,
        counted: true,
        waitlist_entry: Some(entry.id),
        series: None,
        check_in_deadline_at: resource.policy.check_in_deadline(entry.range.start()),
        fields: None,
        created_at: now,
        updated_at: now,
    };
    insert_fresh(txn, db, &booking, engine, false, None).await?;
    let expected = entry.version;
    entry.offer(booking.id, expires_at, now);
    save(txn, db, entry, expected, engine).await?;
    Ok(Served::Offered(Usage { range: booking.occupied(), quantity: i64::from(booking.quantity) }))
}
