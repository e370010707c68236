//! Joining a waiting list: the booking predicate first (a request any rule
//! but capacity refuses gets that rule's 409; one that would book right now
//! gets `waitlist-not-needed`), one active entry per customer, target and
//! overlapping interval, then the entry, in one transaction under the
//! locks of the resource (or every member of the group).

use sea_orm::DatabaseTransaction;

use super::{entries::Placed, queue::serve};
use crate::domain::{
    booking::Target,
    ids::{CustomerId, GroupId, ResourceId},
    rules::{self, Refusal, Request},
    time_range::TimeRange,
    waitlist::Entry,
};
use crate::service::{
    Context, Db, ServiceError,
    decision::{Decision, lock_group, lock_in_order, trial_order},
    events::{self as outbox, EventType},
    idempotency::Seal,
    retrying,
};
use crate::store::{self, bookings, customers, waitlist as entries};

/// A validated request to join a waiting list.
#[derive(Clone, Debug)]
pub struct NewEntry {
    pub target: Target,
    pub customer_id: CustomerId,
    pub range: TimeRange,
    pub quantity: i32,
}

pub async fn join(db: &Db, new: NewEntry, ctx: &Context, seal: &Seal<'_, Placed>) -> Result<Placed, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let (group, locked) = match new.target {
            Target::Resource(id) => {
                let locked = lock_in_order(&txn, &[id]).await?;
                if locked.is_empty() {
                    return Err(ServiceError::invalid("resource_id", "no resource with this id"));
                }
                (None, locked)
            }
            Target::Group(id) => {
                let (group, locked) = lock_group(&txn, id).await?;
                (Some(group), locked)
            }
        };
        if customers::find(&txn, new.customer_id).await?.is_none() {
            return Err(ServiceError::invalid("customer_id", "no customer with this id"));
        }
        for resource in locked.values() {
            // A cancel decides without the resource's lock: waiting for the
            // bookings it changes orders this join after it (docs/design.md
            // §24). Before anything is written here, so nothing the cancel
            // writes next can wait for this join.
            let window = rules::occupied(&new.range, resource.policy.buffers());
            bookings::lock_blocking(&txn, resource.id, &window, resource.max_booking_duration_seconds).await?;
        }
        let now = db.decision_clock(&txn).await?;
        // Those before in the queue are served first: the predicate then
        // judges what is left for a newcomer.
        for resource in locked.values() {
            serve(&txn, db, resource, now, ctx).await?;
        }
        let request = Request { range: new.range, quantity: i64::from(new.quantity) };
        let decision = |resource| Decision {
            resource,
            customer: new.customer_id,
            request,
            now,
            apply_policy: true,
            rescheduled_from: None,
            exclude: None,
        };
        let verdict = match &group {
            None => {
                let only = locked.values().next().ok_or(ServiceError::NotFound)?;
                judge_one(&txn, decision(only)).await
            }
            Some(group) => {
                let order = trial_order(&txn, group, &locked, &new.range, now).await?;
                judge_members(&txn, group.id, order.into_iter().map(decision).collect()).await
            }
        };
        if let Err(err) = verdict {
            return Err(keep_what_was_served(txn, err).await);
        }
        if let Some(existing) = entries::active_of_customer(&txn, new.customer_id, new.target, &new.range).await? {
            return Err(keep_what_was_served(txn, ServiceError::AlreadyOnWaitlist { entry_id: existing.id }).await);
        }
        let entry = Entry::new(new.target, new.customer_id, new.range, new.quantity, now);
        let ids: Vec<ResourceId> = locked.keys().copied().collect();
        entries::count_in(&txn, &ids, 1).await?;
        let position = Some(entries::position(&txn, &entry).await?);
        let placed = Placed { entry, position };
        let key_record = seal.record_insert(now, &placed);
        let wrote = store::batch::Inserts::new()
            .and(entries::insert_statement(&placed.entry))
            .and(outbox::waitlist_change(db, EventType::WaitlistJoined, &placed.entry, ctx))
            .and_all(key_record)
            .run(&txn)
            .await?;
        seal.settle(&txn, now, wrote > 0).await?;
        txn.commit().await?;
        Ok(placed)
    })
    .await
}

/// A join refused after the queue was served: what serving it wrote (offers,
/// lapses) is kept, like a booking's refusal keeps what it counted.
async fn keep_what_was_served(txn: DatabaseTransaction, err: ServiceError) -> ServiceError {
    match txn.commit().await {
        Ok(()) => err,
        Err(failed) => failed.into(),
    }
}

/// A resource's verdict for joining: `Ok` when it is full (capacity is the
/// only rule that refuses), else the refusal to answer with.
async fn judge_one(txn: &DatabaseTransaction, decision: Decision<'_>) -> Result<(), ServiceError> {
    decision.check_values()?;
    match decision.judge(txn).await?.verdict {
        Ok(available) => Err(ServiceError::WaitlistNotNeeded { available }),
        Err(Refusal::CapacityExceeded { .. }) => Ok(()),
        // Judged again for its alternatives: the same refusal.
        Err(_) => decision.decide(txn).await,
    }
}

/// A group's verdict: `waitlist-not-needed` when any member would take it
/// now; joining when at least one is only full; else `no-resource-available`
/// (or the first member's 422 when every one had wrong values).
async fn judge_members(
    txn: &DatabaseTransaction,
    group_id: GroupId,
    candidates: Vec<Decision<'_>>,
) -> Result<(), ServiceError> {
    let (mut wrong_values, mut full) = (None, false);
    let mut judged_any = false;
    for decision in candidates {
        if let Err(err) = decision.check_values() {
            wrong_values.get_or_insert(err);
            continue;
        }
        judged_any = true;
        match decision.judge(txn).await?.verdict {
            Ok(available) => return Err(ServiceError::WaitlistNotNeeded { available }),
            Err(Refusal::CapacityExceeded { .. }) => full = true,
            Err(_) => {}
        }
    }
    match (full, judged_any, wrong_values) {
        (true, _, _) => Ok(()),
        (false, false, Some(err)) => Err(err),
        _ => Err(ServiceError::NoResourceAvailable { group_id, alternatives: None, waitlist_length: None }),
    }
}
