//! The sweeper's use cases, safe on many instances at once: marking holds
//! that ran out `expired` and requests that ran out `declined`, in
//! batches; and confirmed bookings that missed their check-in deadline
//! `no_show`, one resource per transaction under its lock, with its queue
//! served in the same write (docs/design.md §26).

use std::collections::BTreeMap;

use super::write::{expire, release_no_show};
use crate::domain::{
    booking::{Actor, BookingStatus},
    ids::{BookingId, ResourceId},
};
use crate::service::{Context, Db, ServiceError, audit, retrying, waitlist::queue::serve};
use crate::store::{self, bookings, resources};
use crate::telemetry;

/// How many expired holds (or missed check-ins) one sweeper pass marks.
pub const SWEEP_BATCH: u64 = 200;

/// Marks every hold that ran out as `expired`, in batches of `SWEEP_BATCH`,
/// each batch one transaction. Safe to run on many instances at once: rows
/// are claimed with `FOR UPDATE SKIP LOCKED`. Returns how many it marked.
pub async fn expire_due_holds(db: &Db) -> Result<u64, ServiceError> {
    let ctx = Context { actor: Actor::engine(), request_id: None, reason: None };
    let mut total = 0;
    loop {
        // A hand-edited summary below the bookings would refuse the batch
        // (its guard): the summaries of its holds' resources are rebuilt and
        // it runs again, so one bad row never stalls the sweeper.
        let marked = match sweep_batch(db, &ctx).await {
            Err(err) if audit::summary_below_zero(&err) => {
                let now = db.decision_clock(db.conn()).await?;
                let due = bookings::lock_due_holds(db.conn(), now, SWEEP_BATCH).await?;
                audit::mend_summary(db, due.iter().map(|b| b.resource_id).collect()).await?;
                sweep_batch(db, &ctx).await?
            }
            other => other?,
        };
        total += marked;
        if marked < SWEEP_BATCH {
            return Ok(total);
        }
    }
}

/// Marks up to `SWEEP_BATCH` holds that ran out, in one transaction.
async fn sweep_batch(db: &Db, ctx: &Context) -> Result<u64, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let now = db.decision_clock(&txn).await?;
        let mut due = bookings::lock_due_holds(&txn, now, SWEEP_BATCH).await?;
        // In time order per resource, each changes summary rows above
        // those of the ones before it or already held: the row locks are
        // taken in ascending order, as every other writer takes them.
        due.sort_by_key(|b| (b.resource_id, b.occupied().start()));
        for booking in &mut due {
            expire(&txn, db, booking, now, ctx).await?;
        }
        txn.commit().await?;
        telemetry::holds("expired", due.iter().filter(|b| b.status == BookingStatus::Expired).count() as u64);
        Ok(due.len() as u64)
    })
    .await
}

/// Marks every confirmed booking that missed its check-in deadline
/// `no_show`, `SWEEP_BATCH` found at a time; each resource's in one
/// transaction under the resource's lock (resource, then bookings: the
/// order every change takes), which serves its queue before it commits.
/// Their time after the deadline was free already; this writes it down.
/// Returns how many it marked.
pub async fn release_missed_check_ins(db: &Db) -> Result<u64, ServiceError> {
    let ctx = Context { actor: Actor::engine(), request_id: None, reason: None };
    let mut total = 0;
    loop {
        let now = db.decision_clock(db.conn()).await?;
        let found = bookings::missed_check_ins(db.conn(), now, SWEEP_BATCH).await?;
        let mut by_resource: BTreeMap<ResourceId, Vec<BookingId>> = BTreeMap::new();
        for (booking, resource) in &found {
            by_resource.entry(*resource).or_default().push(*booking);
        }
        let mut marked = 0;
        for (resource, ids) in &by_resource {
            marked += match release_on(db, *resource, ids, &ctx).await {
                Err(err) if audit::summary_below_zero(&err) => {
                    audit::mend_summary(db, vec![*resource]).await?;
                    release_on(db, *resource, ids, &ctx).await?
                }
                other => other?,
            };
        }
        total += marked;
        // Short, or nothing marked (the rest taken by another instance).
        if (found.len() as u64) < SWEEP_BATCH || marked == 0 {
            return Ok(total);
        }
    }
}

/// Marks those of `ids` on `resource` that still missed their deadline.
async fn release_on(db: &Db, resource: ResourceId, ids: &[BookingId], ctx: &Context) -> Result<u64, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let Some(locked) = resources::lock(&txn, resource).await? else { return Ok(0) };
        let now = db.decision_clock(&txn).await?;
        let mut due = bookings::lock_missed_check_ins(&txn, ids, now).await?;
        // Moved to another member of its group since it was found.
        due.retain(|b| b.resource_id == resource);
        due.sort_by_key(|b| b.occupied().start());
        for booking in &mut due {
            release_no_show(&txn, db, booking, now, ctx).await?;
        }
        serve(&txn, db, &locked, now, ctx).await?;
        txn.commit().await?;
        Ok(due.len() as u64)
    })
    .await
}
