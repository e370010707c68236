//! The state machine's actions on one booking (`confirm`, `cancel`,
//! `check-in`, `complete`, `no-show`); a booking of a bundle is routed to
//! `bundles`, which acts on the whole bundle.

use super::{
    locking::lock_for_change,
    types::{Change, Routed},
    write::{expire, save_change, swept_hold},
};
use crate::domain::{
    booking::{Action, Booking, BookingStatus, transition},
    ids::BookingId,
    rules,
};
use crate::service::{Context, Db, Expected, ServiceError, audit, idempotency::Seal, retrying, waitlist::queue::serve};
use crate::store::{self, bookings, resources};
use crate::telemetry;

/// `confirm`, `cancel`, `check-in`, `complete` or `no-show`.
pub async fn act(
    db: &Db,
    id: BookingId,
    action: Action,
    expected: &Expected,
    ctx: &Context,
    seal: &Seal<'_, Booking>,
) -> Result<Booking, ServiceError> {
    // A hand-edited summary below the bookings would refuse the change
    // (its guard): the resource's summary is rebuilt and the change runs again.
    // Confirming keeps a hold's units: it must be ordered against the
    // capacity deciders of the resource. The other actions only free or
    // keep units and need just the booking's row, unless the resource has
    // a queue, which the units they free go to (docs/design.md §24).
    let mut lock_resource = action == Action::Confirm;
    loop {
        let routed = match act_here(db, id, action, lock_resource, expected, ctx, seal).await {
            Err(err) if audit::summary_below_zero(&err) => {
                let resource = bookings::find(db.conn(), id).await?.map(|b| b.resource_id);
                audit::mend_summary(db, resource.into_iter().collect()).await?;
                act_here(db, id, action, lock_resource, expected, ctx, seal).await?
            }
            other => other?,
        };
        return match routed {
            Routed::Done(booking) => Ok(*booking),
            Routed::Bundle(bundle) => crate::service::bundles::act(db, id, bundle, action, expected, ctx, seal).await,
            Routed::ServeQueue if !lock_resource => {
                lock_resource = true;
                continue;
            }
            Routed::ServeQueue => Err(ServiceError::lost_race()),
        };
    }
}

/// Whether `action` frees the units a booking holds.
fn frees_units(action: Action) -> bool {
    matches!(action, Action::Cancel | Action::Complete | Action::NoShow)
}

/// `act` on a booking of no bundle, in one transaction (a bundle's is
/// routed).
async fn act_here(
    db: &Db,
    id: BookingId,
    action: Action,
    lock_resource: bool,
    expected: &Expected,
    ctx: &Context,
    seal: &Seal<'_, Booking>,
) -> Result<Routed, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let (locked, mut booking) = lock_for_change(&txn, id, lock_resource).await?;
        if let Some((bundle, _)) = booking.bundle {
            return Ok(Routed::Bundle(bundle));
        }
        // The resource, when the action frees units: as its lock read it, or
        // read after the booking's lock, which orders this after any join
        // that counted the booking as taken (docs/design.md §24).
        let resource = match locked {
            Some(resource) => Some(resource),
            None if frees_units(action) => {
                Some(resources::find(&txn, booking.resource_id).await?.ok_or(ServiceError::NotFound)?)
            }
            None => None,
        };
        if !lock_resource && resource.as_ref().is_some_and(|r| r.waitlist_active > 0) {
            return Ok(Routed::ServeQueue);
        }
        let now = db.decision_clock(&txn).await?;
        expected.check(booking.version)?;
        if booking.hold_has_run_out(now) {
            let at = booking.hold_expires_at.unwrap_or(now);
            expire(&txn, db, &mut booking, now, ctx).await?;
            if let Some(resource) = resource.as_ref().filter(|_| lock_resource) {
                serve(&txn, db, resource, now, ctx).await?;
            }
            txn.commit().await?;
            telemetry::holds("expired", 1);
            // Confirming tells the client its hold ran out; anything else is
            // judged against the booking's real status now: expired.
            return Err(match (action, transition(booking.status, action)) {
                (Action::Confirm, _) | (_, Ok(_)) => ServiceError::HoldExpired { at },
                (_, Err(invalid)) => ServiceError::InvalidTransition(invalid),
            });
        }
        if action == Action::Confirm
            && let Some(at) = swept_hold(&booking)
        {
            return Err(ServiceError::HoldExpired { at });
        }
        let from = booking.status;
        let to = transition(from, action).map_err(ServiceError::InvalidTransition)?;
        if action == Action::Cancel
            && ctx.actor.is_customer()
            && let Some(resource) = &resource
        {
            // The cut-off is the resource's policy as it is now; the
            // booking's row lock orders this against other changes to it.
            rules::check_cancel(resource, booking.range.start(), now)
                .map_err(|refusal| ServiceError::Refused { refusal, alternatives: None })?;
        }
        let change = Change::new(&booking, action, now);
        booking.status = to;
        if to != BookingStatus::Held {
            booking.hold_expires_at = None;
        }
        save_change(&txn, db, &mut booking, change, ctx).await?;
        if let Some(resource) = resource.as_ref().filter(|_| lock_resource && frees_units(action)) {
            // What it freed goes to the queue before this commits.
            serve(&txn, db, resource, now, ctx).await?;
        }
        seal.store(&txn, now, &booking).await?;
        txn.commit().await?;
        if from == BookingStatus::Held && to == BookingStatus::Confirmed {
            telemetry::holds("confirmed", 1);
        }
        Ok(Routed::Done(Box::new(booking)))
    })
    .await
}
