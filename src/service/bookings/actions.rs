//! The state machine's actions on one booking (`confirm`, `approve`,
//! `decline`, `cancel`, `check-in`, `complete`, `no-show`); a booking of a
//! bundle is routed to `bundles`, which acts on the whole bundle.

use super::{
    locking::lock_for_change,
    types::{Change, Routed},
    write::{expire, release_no_show, save_change, swept_hold},
};
use crate::domain::{
    booking::{Action, Booking, BookingStatus, transition},
    ids::BookingId,
    rules,
};
use crate::service::{Context, Db, Expected, ServiceError, audit, idempotency::Seal, retrying, waitlist::queue::serve};
use crate::store::{self, bookings, resources};
use crate::telemetry;

/// `confirm`, `approve`, `decline`, `cancel`, `check-in`, `complete` or
/// `no-show`.
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
    // Confirming keeps a hold's units and approving a request's: they must
    // be ordered against the capacity deciders of the resource. The other
    // actions only free or keep units and need just the booking's row,
    // unless the resource has a queue, which the units they free go to
    // (docs/design.md §24), or a check-in keeps what a deadline would free
    // (§26): then they run again under the resource's lock.
    let mut lock_resource = matches!(action, Action::Confirm | Action::Approve);
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
            Routed::LockResource if !lock_resource => {
                lock_resource = true;
                continue;
            }
            Routed::LockResource => Err(ServiceError::lost_race()),
        };
    }
}

/// Whether `action` frees the units a booking holds.
fn frees_units(action: Action) -> bool {
    matches!(action, Action::Cancel | Action::Decline | Action::Complete | Action::NoShow)
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
        let now = db.decision_clock(&txn).await?;
        // A check-in keeps the time a missed deadline frees: it is ordered
        // against the deciders that may have seen it free (§26).
        if action == Action::CheckIn && booking.check_in_deadline_at.is_some() && !lock_resource {
            return Ok(Routed::LockResource);
        }
        // Run out (a hold, a request) or released (a missed check-in), it
        // is marked so here, whatever was asked, and frees its units.
        let lapsed = booking.has_lapsed(now);
        let released = booking.missed_check_in(now) && action != Action::NoShow;
        // The resource, when the action frees units: as its lock read it, or
        // read after the booking's lock, which orders this after any join
        // that counted the booking as taken (docs/design.md §24).
        let resource = match locked {
            Some(resource) => Some(resource),
            None if frees_units(action) || lapsed || released => {
                Some(resources::find(&txn, booking.resource_id).await?.ok_or(ServiceError::NotFound)?)
            }
            None => None,
        };
        if !lock_resource && resource.as_ref().is_some_and(|r| r.waitlist_active > 0) {
            return Ok(Routed::LockResource);
        }
        expected.check(booking.version)?;
        if lapsed || released {
            let (was, at) = (booking.status, booking.hold_expires_at.unwrap_or(now));
            if lapsed {
                expire(&txn, db, &mut booking, now, ctx).await?;
            } else {
                release_no_show(&txn, db, &mut booking, now, ctx).await?;
            }
            if let Some(resource) = resource.as_ref().filter(|_| lock_resource) {
                serve(&txn, db, resource, now, ctx).await?;
            }
            txn.commit().await?;
            if was == BookingStatus::Held {
                telemetry::holds("expired", 1);
            }
            // Confirming tells the client its hold ran out; anything else is
            // judged against the booking's real status now.
            return Err(match transition(booking.status, action) {
                Err(invalid) if !(was == BookingStatus::Held && action == Action::Confirm) => {
                    ServiceError::InvalidTransition(invalid)
                }
                _ => ServiceError::HoldExpired { at },
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
        // A customer's confirmation where a person must approve is a
        // request (docs/design.md §26).
        let approval = resource
            .as_ref()
            .filter(|_| action == Action::Confirm)
            .and_then(|r| r.policy.approval_until(ctx.actor.is_customer(), now, booking.range.start()));
        if action == Action::Confirm && booking.too_late_to_confirm(now, approval) {
            // Confirmed, it would be released (or run out) at once: the
            // hold ends now instead (docs/design.md §26).
            booking.hold_expires_at = Some(now);
            expire(&txn, db, &mut booking, now, ctx).await?;
            if let Some(resource) = &resource {
                serve(&txn, db, resource, now, ctx).await?;
            }
            txn.commit().await?;
            telemetry::holds("expired", 1);
            return Err(ServiceError::HoldExpired { at: now });
        }
        let change = Change::new(&booking, action, now);
        booking.enter(to, approval);
        save_change(&txn, db, &mut booking, change, ctx).await?;
        if let Some(resource) = resource.as_ref().filter(|_| lock_resource && frees_units(action)) {
            // What it freed goes to the queue before this commits.
            serve(&txn, db, resource, now, ctx).await?;
        }
        seal.store(&txn, now, &booking).await?;
        txn.commit().await?;
        if from == BookingStatus::Held && booking.status == BookingStatus::Confirmed {
            telemetry::holds("confirmed", 1);
        }
        Ok(Routed::Done(Box::new(booking)))
    })
    .await
}
