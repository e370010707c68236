//! Bundles (docs/design.md §15): several things booked for one interval,
//! all or nothing (a room and an instructor; two courts). Each item is a
//! resource or a group; each becomes a booking sharing a `bundle_id`.
//!
//! Every resource any item may use is locked up front, in the one global
//! order (resources by id), then the items are decided in request order,
//! each inserted before the next is decided, so two items on one resource
//! count against each other. The first refusal ends the transaction:
//! nothing is booked, and the refusal names its item (`/items/N`).
//! Confirm, cancel, the other actions and reschedule of any booking of a
//! bundle act on all of them in one transaction; the answer is the booking
//! addressed, its `If-Match` the precondition.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;

use super::{
    Context, Db, Expected, ServiceError,
    bookings::{
        types::{Change, NewBooking, Reschedule, Target},
        write::{created, expire, fresh, insert_fresh, release_no_show, save_change, swept_hold},
    },
    decision::{Decision, lock_in_order, pick, trial_order},
    idempotency::Seal,
    retrying,
    waitlist::queue::serve,
};
use crate::domain::{
    booking::{Action, Booking, BookingStatus, moved_into, transition},
    ids::{BookingId, BundleId, CustomerId, ResourceId},
    resource::Resource,
    rules::{self, Request},
    time_range::TimeRange,
};
use crate::store::{self, bookings, customers, groups, resources};
use crate::telemetry;

/// One thing to book in a bundle.
#[derive(Clone, Copy, Debug)]
pub struct Item {
    pub target: Target,
    pub quantity: i32,
}

/// A validated request to book a bundle: its items, all for one interval.
#[derive(Clone, Debug)]
pub struct NewBundle {
    pub items: Vec<Item>,
    pub customer_id: CustomerId,
    pub range: TimeRange,
    pub hold: bool,
    pub notes: Option<String>,
    pub override_policy: bool,
}

/// `err` as the refusal of item `index`.
fn at_item(index: usize) -> impl Fn(ServiceError) -> ServiceError {
    move |err| ServiceError::BundleItem { index, error: Box::new(err) }
}

pub async fn create(
    db: &Db,
    new: NewBundle,
    ctx: &Context,
    seal: &Seal<'_, Vec<Booking>>,
) -> Result<Vec<Booking>, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let mut item_groups = Vec::new();
        let mut wanted = Vec::new();
        for (index, item) in new.items.iter().enumerate() {
            match item.target {
                Target::Resource(id) => {
                    wanted.push(id);
                    item_groups.push(None);
                }
                Target::Group(id) => {
                    let group = groups::find(&txn, id)
                        .await?
                        .ok_or_else(|| at_item(index)(ServiceError::invalid("group_id", "no group with this id")))?;
                    wanted.extend(group.members.iter().copied());
                    item_groups.push(Some(group));
                }
            }
        }
        let locked = lock_in_order(&txn, &wanted).await?;
        if customers::find(&txn, new.customer_id).await?.is_none() {
            return Err(ServiceError::invalid("customer_id", "no customer with this id"));
        }
        let now = db.decision_clock(&txn).await?;
        // Nobody books past the queue: it is served first (docs/design.md §24).
        serve_all(&txn, db, &locked, now, ctx).await?;
        // One hold for the whole bundle: the shortest of the resources it
        // may use, so no item is held past another.
        let hold_ttl = wanted.iter().filter_map(|id| locked.get(id)).map(|r| r.hold_ttl_seconds).min().unwrap_or(0);
        // And one request: a customer's bundle awaits approval as a whole
        // when any resource it may use asks for it (docs/design.md §26),
        // until the earliest of their timeouts.
        let approval = approval_until(&locked, &wanted, ctx, now, new.range.start());
        let bundle = BundleId::generate();
        let mut made = Vec::new();
        for (index, (item, group)) in new.items.iter().zip(&item_groups).enumerate() {
            let decision = |resource| Decision {
                resource,
                customer: new.customer_id,
                request: Request { range: new.range, quantity: i64::from(item.quantity) },
                now,
                apply_policy: !new.override_policy,
                rescheduled_from: None,
                exclude: None,
            };
            let resource = match (item.target, group) {
                (_, Some(group)) => {
                    let order = trial_order(&txn, group, &locked, &new.range, now).await?;
                    pick(&txn, group.id, order.into_iter().map(decision).collect(), false)
                        .await
                        .map_err(at_item(index))?
                }
                (Target::Resource(id), None) => {
                    let resource = locked.get(&id).ok_or_else(|| {
                        at_item(index)(ServiceError::invalid("resource_id", "no resource with this id"))
                    })?;
                    admit(&txn, &decision(resource)).await.map_err(at_item(index))?;
                    resource
                }
                (Target::Group(_), None) => return Err(ServiceError::NotFound),
            };
            let single = NewBooking {
                target: item.target,
                customer_id: new.customer_id,
                range: new.range,
                quantity: item.quantity,
                hold: new.hold,
                notes: new.notes.clone(),
                fields: None,
                override_policy: new.override_policy,
            };
            // A bundle carries no fields: a resource that requires some is
            // not booked this way.
            super::fields::checked(resource.booking_fields.as_deref(), None).map_err(at_item(index))?;
            let mut booking = fresh(resource, &single, now, ctx.actor.is_customer());
            if new.hold {
                booking.hold_expires_at = Some(now + chrono::Duration::seconds(i64::from(hold_ttl)));
            } else {
                booking.enter(BookingStatus::Confirmed, approval);
            }
            booking.group_id = group.as_ref().map(|g| g.id);
            booking.bundle = Some((bundle, i16::try_from(index).unwrap_or(i16::MAX)));
            insert_fresh(&txn, db, &booking, ctx, new.override_policy, None).await?;
            made.push(booking);
        }
        seal.store(&txn, now, &made).await?;
        txn.commit().await?;
        created(&made);
        Ok(made)
    })
    .await
}

/// When a customer's request for the whole bundle runs out, if any of
/// `resources` asks for approval: the earliest of their timeouts.
fn approval_until(
    locked: &HashMap<ResourceId, Resource>,
    resources: &[ResourceId],
    ctx: &Context,
    now: DateTime<Utc>,
    start: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    resources
        .iter()
        .filter_map(|id| locked.get(id))
        .filter_map(|resource| resource.policy.approval_until(ctx.actor.is_customer(), now, start))
        .min()
}

/// Every resource the bundle's bookings may use: those they are on (as
/// `locked` holds them) and the members of their groups (read).
async fn may_use(
    txn: &DatabaseTransaction,
    all: &[Booking],
    locked: &HashMap<ResourceId, Resource>,
) -> Result<HashMap<ResourceId, Resource>, ServiceError> {
    let mut found = locked.clone();
    for group_id in all.iter().filter_map(|b| b.group_id) {
        let Some(group) = groups::find(txn, group_id).await? else { continue };
        for member in group.members {
            if !found.contains_key(&member)
                && let Some(resource) = resources::find(txn, member).await?
            {
                found.insert(member, resource);
            }
        }
    }
    Ok(found)
}

/// Serves the queues of every locked resource (docs/design.md §24).
async fn serve_all(
    txn: &DatabaseTransaction,
    db: &Db,
    locked: &HashMap<ResourceId, Resource>,
    now: DateTime<Utc>,
    ctx: &Context,
) -> Result<(), ServiceError> {
    for resource in locked.values() {
        serve(txn, db, resource, now, ctx).await?;
    }
    Ok(())
}

/// The bookings of `bundle` in item order, if it exists and `owner` (when
/// given) owns it.
pub async fn get(db: &Db, bundle: BundleId, owner: Option<CustomerId>) -> Result<Vec<Booking>, ServiceError> {
    let bookings = bookings::in_bundle(db.conn(), bundle).await?;
    match bookings.first() {
        Some(first) if owner.is_none_or(|owner| first.customer_id == owner) => Ok(bookings),
        _ => Err(ServiceError::NotFound),
    }
}

/// The rules' verdict on one resource, as an error when they refuse (no
/// alternatives: another time would have to suit every item).
async fn admit(txn: &sea_orm::DatabaseTransaction, decision: &Decision<'_>) -> Result<(), ServiceError> {
    decision.check_values()?;
    match decision.judge(txn).await?.verdict {
        Ok(_) => Ok(()),
        Err(refusal) => Err(ServiceError::Refused { refusal, alternatives: None }),
    }
}

/// When the bundle's hold (or request) ended, if it has: one of it that
/// ran out, or that the sweeper already marked while others still wait
/// (the sweeper works in batches). One item's ending ends them all.
fn lapsed(all: &[Booking], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let run_out = all.iter().filter(|b| b.has_lapsed(now)).filter_map(|b| b.hold_expires_at).min();
    let waiting = all.iter().any(|b| b.status.lapses());
    let swept = all
        .iter()
        .filter(|b| matches!(b.status, BookingStatus::Expired | BookingStatus::Declined))
        .filter_map(|b| b.hold_expires_at)
        .min();
    run_out.or_else(|| swept.filter(|_| waiting))
}

/// Expires every booking of the bundle still held or pending; returns how
/// many holds it expired.
async fn expire_held(
    txn: &DatabaseTransaction,
    db: &Db,
    all: &mut [Booking],
    now: DateTime<Utc>,
    ctx: &Context,
) -> Result<u64, ServiceError> {
    let mut expired = 0;
    for booking in all.iter_mut().filter(|b| b.status.lapses()) {
        expired += u64::from(booking.status == BookingStatus::Held);
        expire(txn, db, booking, now, ctx).await?;
    }
    Ok(expired)
}

/// Marks every booking of the bundle that missed its check-in deadline
/// `no_show` (docs/design.md §26); returns whether there was one.
async fn release_missed(
    txn: &DatabaseTransaction,
    db: &Db,
    all: &mut [Booking],
    now: DateTime<Utc>,
    ctx: &Context,
) -> Result<bool, ServiceError> {
    let mut any = false;
    for booking in all.iter_mut().filter(|b| b.missed_check_in(now)) {
        release_no_show(txn, db, booking, now, ctx).await?;
        any = true;
    }
    Ok(any)
}

/// The bundle's bookings locked (after `resources`, in the global order),
/// in item order, and the index of `id` among them.
async fn lock_bundle(
    txn: &sea_orm::DatabaseTransaction,
    bundle: BundleId,
    id: BookingId,
) -> Result<(Vec<Booking>, usize), ServiceError> {
    let mut ids: Vec<BookingId> = bookings::in_bundle(txn, bundle).await?.iter().map(|b| b.id).collect();
    ids.sort_unstable();
    let mut locked = Vec::new();
    for id in ids {
        locked.extend(bookings::lock(txn, id).await?);
    }
    locked.sort_by_key(|b| b.bundle.map(|(_, item)| item));
    let addressed = locked.iter().position(|b| b.id == id).ok_or(ServiceError::NotFound)?;
    Ok((locked, addressed))
}

/// An action on booking `id` of `bundle`, applied to every booking of the
/// bundle in the same status, in one transaction.
pub(super) async fn act(
    db: &Db,
    id: BookingId,
    bundle: BundleId,
    action: Action,
    expected: &Expected,
    ctx: &Context,
    seal: &Seal<'_, Booking>,
) -> Result<Booking, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        // Confirming or approving keeps units, and so does checking in
        // where a deadline would free them (§26); freeing them serves the
        // resources' queues (§24): all under the resources' locks.
        let needs_resources = action != Action::Reschedule;
        let locked = if needs_resources {
            let members = bookings::in_bundle(&txn, bundle).await?;
            lock_in_order(&txn, &members.iter().map(|b| b.resource_id).collect::<Vec<_>>()).await?
        } else {
            HashMap::new()
        };
        let (mut all, addressed) = lock_bundle(&txn, bundle, id).await?;
        // Moved by a group reschedule since we looked: decide again.
        if needs_resources && all.iter().any(|b| !locked.contains_key(&b.resource_id)) {
            return Err(ServiceError::lost_race());
        }
        let now = db.decision_clock(&txn).await?;
        expected.check(all[addressed].version)?;
        if let Some(at) = lapsed(&all, now) {
            let expired = expire_held(&txn, db, &mut all, now, ctx).await?;
            serve_all(&txn, db, &locked, now, ctx).await?;
            txn.commit().await?;
            telemetry::holds("expired", expired);
            // Confirming tells the client its hold ran out; anything else
            // is judged against the real status now (a request: declined).
            let status = all[addressed].status;
            return Err(match transition(status, action) {
                Err(invalid) if !(action == Action::Confirm && status == BookingStatus::Expired) => {
                    ServiceError::InvalidTransition(invalid)
                }
                _ => ServiceError::HoldExpired { at },
            });
        }
        // Released at a missed check-in deadline: marked so (the others
        // act on below); the addressed one is judged as a no-show.
        if action != Action::NoShow
            && release_missed(&txn, db, &mut all, now, ctx).await?
            && let Err(invalid) = transition(all[addressed].status, action)
        {
            serve_all(&txn, db, &locked, now, ctx).await?;
            txn.commit().await?;
            return Err(ServiceError::InvalidTransition(invalid));
        }
        if action == Action::Confirm
            && let Some(at) = swept_hold(&all[addressed])
        {
            return Err(ServiceError::HoldExpired { at });
        }
        let from = all[addressed].status;
        let to = transition(from, action).map_err(ServiceError::InvalidTransition)?;
        if action == Action::Cancel && ctx.actor.is_customer() {
            for booking in &all {
                let resource = resources::find(&txn, booking.resource_id).await?.ok_or(ServiceError::NotFound)?;
                rules::check_cancel(&resource, booking.range.start(), now)
                    .map_err(|refusal| ServiceError::Refused { refusal, alternatives: None })?;
            }
        }
        // A customer's confirmation where a person must approve is a
        // request for the whole bundle (docs/design.md §26), asked of every
        // resource it may use, as when it was made.
        let approval = if action == Action::Confirm {
            let may_use = may_use(&txn, &all, &locked).await?;
            let ids: Vec<ResourceId> = may_use.keys().copied().collect();
            approval_until(&may_use, &ids, ctx, now, all[addressed].range.start())
        } else {
            None
        };
        if action == Action::Confirm && all.iter().any(|b| b.status == from && b.too_late_to_confirm(now, approval)) {
            // Confirmed, it would be released (or run out) at once: the
            // bundle's hold ends now instead.
            for booking in all.iter_mut().filter(|b| b.status == BookingStatus::Held) {
                booking.hold_expires_at = Some(now);
            }
            let expired = expire_held(&txn, db, &mut all, now, ctx).await?;
            serve_all(&txn, db, &locked, now, ctx).await?;
            txn.commit().await?;
            telemetry::holds("expired", expired);
            return Err(ServiceError::HoldExpired { at: now });
        }
        for booking in all.iter_mut().filter(|b| b.status == from) {
            let change = Change::new(booking, action, now);
            booking.enter(to, approval);
            save_change(&txn, db, booking, change, ctx).await?;
        }
        if !matches!(action, Action::Confirm | Action::Approve | Action::CheckIn) {
            serve_all(&txn, db, &locked, now, ctx).await?;
        }
        let answer = all.swap_remove(addressed);
        seal.store(&txn, now, &answer).await?;
        txn.commit().await?;
        if from == BookingStatus::Held && answer.status == BookingStatus::Confirmed {
            telemetry::holds("confirmed", 1 + all.len() as u64);
        }
        Ok(answer)
    })
    .await
}

/// Moves every booking of the bundle to `change.range`, all or nothing;
/// each keeps its resource when it can (a group item may move to another
/// member). Quantities stay: a bundle moves as a whole.
pub(super) async fn reschedule(
    db: &Db,
    id: BookingId,
    bundle: BundleId,
    change: Reschedule,
    expected: &Expected,
    ctx: &Context,
    seal: &Seal<'_, Booking>,
) -> Result<Booking, ServiceError> {
    if change.quantity.is_some() {
        return Err(ServiceError::invalid("quantity", "a bundle moves as a whole; its quantities stay"));
    }
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let members = bookings::in_bundle(&txn, bundle).await?;
        let mut wanted: Vec<_> = members.iter().map(|b| b.resource_id).collect();
        let mut item_groups = HashMap::new();
        for group_id in members.iter().filter_map(|b| b.group_id) {
            if let Some(group) = groups::find(&txn, group_id).await? {
                wanted.extend(group.members.iter().copied());
                item_groups.insert(group_id, group);
            }
        }
        let locked = lock_in_order(&txn, &wanted).await?;
        let (mut all, addressed) = lock_bundle(&txn, bundle, id).await?;
        let now = db.decision_clock(&txn).await?;
        expected.check(all[addressed].version)?;
        if let Some(at) = lapsed(&all, now) {
            expire_held(&txn, db, &mut all, now, ctx).await?;
            txn.commit().await?;
            return Err(match transition(all[addressed].status, Action::Reschedule) {
                Err(invalid) if all[addressed].status == BookingStatus::Declined => {
                    ServiceError::InvalidTransition(invalid)
                }
                _ => ServiceError::HoldExpired { at },
            });
        }
        if let Some(at) = swept_hold(&all[addressed]) {
            return Err(ServiceError::HoldExpired { at });
        }
        if release_missed(&txn, db, &mut all, now, ctx).await? {
            serve_all(&txn, db, &locked, now, ctx).await?;
            txn.commit().await?;
            let invalid = transition(BookingStatus::NoShow, Action::Reschedule).err();
            return Err(invalid.map_or_else(ServiceError::lost_race, ServiceError::InvalidTransition));
        }
        let mut moved_to = Vec::with_capacity(all.len());
        for booking in &all {
            moved_to.push(transition(booking.status, Action::Reschedule).map_err(ServiceError::InvalidTransition)?);
        }
        // A customer's move where a person must approve is a new request
        // for the whole bundle (docs/design.md §26).
        let used: Vec<ResourceId> = locked.keys().copied().collect();
        let approval = approval_until(&locked, &used, ctx, now, change.range.start());
        serve_all(&txn, db, &locked, now, ctx).await?;
        for (booking, to) in all.iter_mut().zip(moved_to) {
            let index = booking.bundle.map_or(0, |(_, item)| usize::try_from(item).unwrap_or(0));
            // Moved outside what we locked since we looked: start again.
            let own = locked.get(&booking.resource_id).ok_or_else(ServiceError::lost_race)?;
            let (customer, quantity, start, this) =
                (booking.customer_id, booking.quantity, booking.range.start(), booking.id);
            let decision = |resource| Decision {
                resource,
                customer,
                request: Request { range: change.range, quantity: i64::from(quantity) },
                now,
                apply_policy: !change.override_policy,
                rescheduled_from: ctx.actor.is_customer().then_some(start),
                exclude: Some(this),
            };
            let resource = match booking.group_id.and_then(|g| item_groups.get(&g)) {
                None => {
                    admit(&txn, &decision(own)).await.map_err(at_item(index))?;
                    own
                }
                Some(group) => {
                    let others = trial_order(&txn, group, &locked, &change.range, now).await?;
                    let order = std::iter::once(own).chain(others.into_iter().filter(|r| r.id != own.id));
                    pick(&txn, group.id, order.map(decision).collect(), false).await.map_err(at_item(index))?
                }
            };
            let moved = Change::moving(booking, now, change.override_policy);
            booking.resource_id = resource.id;
            booking.range = change.range;
            booking.buffers = resource.policy.buffers();
            booking.check_in_deadline_at = resource.policy.check_in_deadline(change.range.start());
            booking.enter(moved_into(to, ctx.actor.is_customer(), approval), approval);
            save_change(&txn, db, booking, moved, ctx).await?;
        }
        // The time they left goes to the queues before this commits.
        serve_all(&txn, db, &locked, now, ctx).await?;
        let answer = all.swap_remove(addressed);
        seal.store(&txn, now, &answer).await?;
        txn.commit().await?;
        Ok(answer)
    })
    .await
}
