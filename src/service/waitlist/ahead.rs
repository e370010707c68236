//! What the queue would take: slot search and availability show what a new
//! customer could get, so the units that waiting entries would be offered
//! (first fit, in queue order) count as taken (docs/design.md §24).
//!
//! The queue is read before the bookings, in its own statement: an offer
//! committed in between then shows twice (as waiting, and as its held
//! booking), never not at all, so the error is on the side of "taken".

use sea_orm::ConnectionTrait;

use crate::domain::{capacity::Usage, resource::Resource, rules, time_range::TimeRange, waitlist};
use crate::service::ServiceError;
use crate::store::waitlist as entries;

/// What the waiting entries of `resource` over `span` ask for, in queue
/// order (their occupied time and quantity). No read when the resource has
/// no queue. Read it before the bookings.
pub(in crate::service) async fn waiting(
    conn: &impl ConnectionTrait,
    resource: &Resource,
    span: &TimeRange,
) -> Result<Vec<Usage>, ServiceError> {
    if resource.waitlist_active == 0 {
        return Ok(Vec::new());
    }
    Ok(entries::waiting_overlapping(conn, resource.id, span)
        .await?
        .iter()
        .map(|entry| Usage {
            range: rules::occupied(&entry.range, resource.policy.buffers()),
            quantity: i64::from(entry.quantity),
        })
        .collect())
}

/// `usages` (what bookings occupy) with what `queue` would take of the
/// rest added.
pub(in crate::service) fn with_queue(resource: &Resource, mut usages: Vec<Usage>, queue: Vec<Usage>) -> Vec<Usage> {
    if queue.is_empty() {
        return usages;
    }
    let taken = waitlist::take_in_order(i64::from(resource.capacity), &usages, &queue);
    usages.extend(queue.into_iter().zip(taken).filter_map(|(usage, taken)| taken.then_some(usage)));
    usages
}
