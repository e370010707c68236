//! The hold sweeper's use case: marking holds that ran out as `expired`,
//! in batches, safe on many instances at once.

use super::write::expire;
use crate::domain::booking::Actor;
use crate::service::{Context, Db, ServiceError, audit, retrying};
use crate::store::{self, bookings};
use crate::telemetry;

/// How many expired holds one sweeper transaction marks.
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
        telemetry::holds("expired", due.len() as u64);
        Ok(due.len() as u64)
    })
    .await
}
