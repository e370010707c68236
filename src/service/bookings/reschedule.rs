//! Moving a booking to a new interval (and quantity), all or nothing; its
//! own old interval does not count against it. A group booking tries its
//! own member first; a booking of a bundle is routed to `bundles`.

use super::{
    types::{Change, Reschedule, Routed},
    write::{expire, refused, release_no_show, save_change, swept_hold},
};
use crate::domain::{
    booking::{Action, Booking, BookingStatus, moved_into, transition},
    ids::BookingId,
    rules::Request,
};
use crate::service::{
    Context, Db, Expected, ServiceError,
    decision::{Decision, lock_in_order, pick, trial_order},
    fields,
    idempotency::Seal,
    retrying,
    waitlist::queue::serve,
};
use crate::store::{self, bookings, groups};
use crate::telemetry;

/// Moves a booking to a new interval (and quantity), all or nothing. Its
/// own old interval does not count against it.
pub async fn reschedule(
    db: &Db,
    id: BookingId,
    change: Reschedule,
    expected: &Expected,
    ctx: &Context,
    seal: &Seal<'_, Booking>,
) -> Result<Booking, ServiceError> {
    let routed = retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        // Resources first (its own and, for a group booking, the group's
        // members, in the global order), then the booking.
        let unlocked = bookings::find(&txn, id).await?.ok_or(ServiceError::NotFound)?;
        if let Some((bundle, _)) = unlocked.bundle {
            return Ok(Routed::Bundle(bundle));
        }
        let group = match unlocked.group_id {
            Some(group_id) => groups::find(&txn, group_id).await?,
            None => None,
        };
        let mut wanted = vec![unlocked.resource_id];
        wanted.extend(group.iter().flat_map(|g| g.members.iter().copied()));
        let locked = lock_in_order(&txn, &wanted).await?;
        let mut booking = bookings::lock(&txn, id).await?.ok_or(ServiceError::NotFound)?;
        // Moved to a resource outside what we locked since we looked (its
        // group changed meanwhile): decide again from the start.
        let resource = locked.get(&booking.resource_id).ok_or_else(ServiceError::lost_race)?;
        let now = db.decision_clock(&txn).await?;
        expected.check(booking.version)?;
        // Nobody moves past the queue: it is served first (docs/design.md §24).
        for locked in locked.values() {
            serve(&txn, db, locked, now, ctx).await?;
        }
        let quantity = change.quantity.unwrap_or(booking.quantity);
        let decision = |resource| Decision {
            resource,
            customer: booking.customer_id,
            request: Request { range: change.range, quantity: i64::from(quantity) },
            now,
            apply_policy: !change.override_policy,
            rescheduled_from: ctx.actor.is_customer().then(|| booking.range.start()),
            exclude: Some(booking.id),
        };
        if group.is_none() {
            // A group booking's values are judged per member by `pick`.
            decision(resource).check_values()?;
        }
        if booking.has_lapsed(now) || booking.missed_check_in(now) {
            // Run out or released: marked so, and the move judged against that.
            let (was, at) = (booking.status, booking.hold_expires_at.unwrap_or(now));
            if booking.has_lapsed(now) {
                expire(&txn, db, &mut booking, now, ctx).await?;
            } else {
                release_no_show(&txn, db, &mut booking, now, ctx).await?;
            }
            for locked in locked.values() {
                serve(&txn, db, locked, now, ctx).await?;
            }
            txn.commit().await?;
            if was != BookingStatus::Held {
                let invalid = transition(booking.status, Action::Reschedule).err();
                return Err(invalid.map_or(ServiceError::HoldExpired { at }, ServiceError::InvalidTransition));
            }
            telemetry::holds("expired", 1);
            return Err(ServiceError::HoldExpired { at });
        }
        if let Some(at) = swept_hold(&booking) {
            return Err(ServiceError::HoldExpired { at });
        }
        let to = transition(booking.status, Action::Reschedule).map_err(ServiceError::InvalidTransition)?;
        let picked = match &group {
            None => decision(resource).decide(&txn).await.map(|()| resource),
            Some(group) => {
                // Its own member first, then the others in trial order.
                let others = trial_order(&txn, group, &locked, &change.range, now).await?;
                let order = std::iter::once(resource).chain(others.into_iter().filter(|r| r.id != resource.id));
                pick(&txn, group.id, order.map(decision).collect(), true).await
            }
        };
        let resource = match picked {
            Ok(resource) => resource,
            Err(err) => return Err(refused(txn, err).await),
        };
        let moved = Change::moving(&booking, now, change.override_policy);
        booking.resource_id = resource.id;
        booking.range = change.range;
        booking.quantity = quantity;
        // A move is a new decision: it takes the buffers and the check-in
        // window of the policy now, and a customer's move where a person
        // must approve is a new request (docs/design.md §26).
        booking.buffers = resource.policy.buffers();
        booking.check_in_deadline_at = resource.policy.check_in_deadline(change.range.start());
        if change.fields.is_some() {
            booking.fields = fields::checked(resource.booking_fields.as_deref(), change.fields.as_ref())?;
        }
        let approval = resource.policy.approval_until(ctx.actor.is_customer(), now, change.range.start());
        booking.enter(moved_into(to, ctx.actor.is_customer(), approval), approval);
        save_change(&txn, db, &mut booking, moved, ctx).await?;
        // The time it left goes to the queue before this commits.
        for locked in locked.values() {
            serve(&txn, db, locked, now, ctx).await?;
        }
        seal.store(&txn, now, &booking).await?;
        txn.commit().await?;
        Ok(Routed::Done(Box::new(booking)))
    })
    .await?;
    match routed {
        Routed::Done(booking) => Ok(*booking),
        Routed::Bundle(bundle) => {
            crate::service::bundles::reschedule(db, id, bundle, change, expected, ctx, seal).await
        }
        Routed::LockResource => Err(ServiceError::lost_race()),
    }
}
