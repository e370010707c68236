//! Refusals without the lock (docs/design.md §18): a booking that found its
//! resource (or hour) taken is judged on what is committed now, and a
//! refusal that snapshot already shows is answered without queueing.

use sea_orm::DatabaseTransaction;

use super::types::{NewBooking, Target};
use crate::service::{Db, ServiceError};
use crate::store::{
    customers,
    resources::{self, Locked},
};
use crate::telemetry;

/// Judges `new` on what is committed now, without the resource's lock:
/// `Err(Refused)` (with alternatives) when the rules already refuse it.
/// Only a request that does not fit by the usage summary's busiest hour
/// of its window is judged whole; one that fits by it goes to the lock at
/// once. `seen` is what the lock's statement read when only a bucket was
/// taken (the resource, the customer, the clock); otherwise they are read
/// here.
/// The snapshot is read after the request arrived, so the refusal is what
/// a decision at that instant would have said: linearizable. Anything
/// else (admitted, a 422, a resource or customer that is missing) decides
/// nothing here: the caller takes the lock and decides as always, so
/// the order of refusals (docs/design.md §4) is unchanged.
pub(super) async fn refuse_from_snapshot(
    txn: &DatabaseTransaction,
    db: &Db,
    new: &NewBooking,
    seen: Option<Locked>,
) -> Result<(), ServiceError> {
    let Target::Resource(id) = new.target else { return Ok(()) };
    let (resource, customer_exists, now) = match seen {
        Some(seen) => (seen.resource, Some(seen.customer_exists), db.decision_clock_or(txn, seen.clock).await?),
        None => match resources::find(txn, id).await? {
            Some(resource) => (resource, None, db.decision_clock(txn).await?),
            None => return Ok(()),
        },
    };
    let decision = new.decision(&resource, now);
    // Room by the upper bound (the common case on a busy calendar that is
    // not sold out): only the lock can say more; one read spent.
    if decision.check_values().is_err() || decision.fits_by_summary(txn).await? {
        return Ok(());
    }
    let customer_exists = match customer_exists {
        Some(exists) => exists,
        None => customers::find(txn, new.customer_id).await?.is_some(),
    };
    if !customer_exists {
        return Ok(());
    }
    let refused = decision.decide_likely_refusal(txn, db.reads_database_clock()).await;
    if refused.is_err() {
        telemetry::refused_without_lock();
    }
    refused
}
