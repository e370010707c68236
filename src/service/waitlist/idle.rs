//! The sweeper's turn at the queues: a hold or an offer that runs out frees
//! its units without a write, and the next decision on its resource serves
//! the queue; for a resource nobody books, the sweeper does, one resource
//! per transaction, under its lock.

use super::queue::serve;
use crate::domain::{booking::Actor, ids::ResourceId};
use crate::service::{Context, Db, ServiceError, retrying};
use crate::store::{self, resources, waitlist as entries};

/// How many resources one page of the sweeper's scan reads.
const PAGE: u64 = 100;

/// Serves every resource whose count says it may have a queue; returns
/// how many it served.
pub async fn serve_idle_queues(db: &Db) -> Result<u64, ServiceError> {
    let ctx = Context { actor: Actor::engine(), request_id: None, reason: None };
    let mut after: Option<ResourceId> = None;
    let mut served = 0;
    loop {
        let page = entries::resources_with_queue(db.conn(), after, PAGE).await?;
        for id in &page {
            retrying(|| async {
                let txn = store::begin_write(db.conn()).await?;
                let Some(resource) = resources::lock(&txn, *id).await? else { return Ok(()) };
                let now = db.decision_clock(&txn).await?;
                serve(&txn, db, &resource, now, &ctx).await?;
                txn.commit().await?;
                Ok(())
            })
            .await?;
            served += 1;
        }
        if (page.len() as u64) < PAGE {
            return Ok(served);
        }
        after = page.last().copied();
    }
}
