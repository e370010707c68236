//! Writing what a booking decision decided: a new booking with its
//! history, outbox event and usage summary in one statement
//! (`insert_fresh`; its rows without the summary: `recorded`), a change
//! to one likewise (`save_change`), a hold or request that ran out
//! (`expire`), a missed check-in (`release_no_show`), and a refusal that
//! keeps what the decision counted (`refused`). Used by every booking use
//! case and by bundles.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{DatabaseTransaction, sea_query::InsertStatement};

use super::types::{Change, NewBooking};
use crate::domain::{
    booking::{Action, Actor, Booking, BookingEvent, BookingStatus},
    ids::BookingId,
    resource::Resource,
};
use crate::service::{
    Context, Db, ServiceError,
    events::{self as outbox, Before, EventType},
};
use crate::store::{self, StoreError, bookings, events, usage};
use crate::telemetry;

fn event(
    booking: &Booking,
    from: Option<BookingStatus>,
    action: &str,
    ctx: &Context,
    at: DateTime<Utc>,
    policy_overridden: bool,
) -> BookingEvent {
    BookingEvent {
        id: uuid::Uuid::now_v7(),
        booking_id: booking.id,
        from,
        to: booking.status,
        action: action.to_owned(),
        actor: ctx.actor.clone(),
        reason: ctx.reason.clone(),
        request_id: ctx.request_id.clone(),
        policy_overridden,
        at,
    }
}

/// A new booking of `new` on `resource`, decided at `now`: held for the
/// resource's hold time, pending approval (a customer's, where the policy
/// asks for it, docs/design.md §26), or confirmed; with the check-in
/// deadline of the policy.
pub(in crate::service) fn fresh(
    resource: &Resource,
    new: &NewBooking,
    now: DateTime<Utc>,
    by_customer: bool,
) -> Booking {
    let mut booking = Booking {
        id: BookingId::generate(),
        resource_id: resource.id,
        group_id: None,
        bundle: None,
        customer_id: new.customer_id,
        range: new.range,
        quantity: new.quantity,
        status: BookingStatus::Held,
        hold_expires_at: Some(now + Duration::seconds(i64::from(resource.hold_ttl_seconds))),
        notes: new.notes.clone(),
        buffers: resource.policy.buffers(),
        version: 1,
        counted: true,
        waitlist_entry: None,
        series: None,
        check_in_deadline_at: resource.policy.check_in_deadline(new.range.start()),
        fields: None,
        created_at: now,
        updated_at: now,
    };
    if !new.hold {
        booking.enter(BookingStatus::Confirmed, resource.policy.approval_until(by_customer, now, new.range.start()));
    }
    booking
}

/// Inserts a booking just decided, with its `create` history event, its
/// `booking.created` outbox event, its hours in the usage summary and
/// `last` (an Idempotency-Key's record), in one round trip on PostgreSQL
/// (`store::batch`). Returns whether the last of them wrote its row.
pub(in crate::service) async fn insert_fresh(
    txn: &DatabaseTransaction,
    db: &Db,
    booking: &Booking,
    ctx: &Context,
    policy_overridden: bool,
    last: Option<InsertStatement>,
) -> Result<bool, ServiceError> {
    store::batch::Inserts::new()
        .and_all(recorded(db, booking, ctx, policy_overridden))
        .and_all(usage::Changes::new().add(booking).statements())
        .and_all(last)
        .run(txn)
        .await
        .map(|wrote| wrote > 0)
        // The customer may have been deleted since we looked: its foreign
        // key then refuses the row.
        .map_err(|err| match err {
            StoreError::ForeignKey => ServiceError::invalid("customer_id", "no customer with this id"),
            other => other.into(),
        })
}

/// The rows that record a new booking: the booking, its `create` history
/// event and its `booking.created` outbox event (its hours in the usage
/// summary are the caller's).
pub(in crate::service) fn recorded(
    db: &Db,
    booking: &Booking,
    ctx: &Context,
    policy_overridden: bool,
) -> [InsertStatement; 3] {
    [
        bookings::insert_statement(booking),
        events::append_statement(&event(booking, None, "create", ctx, booking.created_at, policy_overridden)),
        outbox::booking_change(db, EventType::created(booking.status), booking, Before::default(), ctx),
    ]
}

/// Counts bookings made, once committed.
pub(in crate::service) fn created(made: &[Booking]) {
    for booking in made {
        telemetry::booking_created(booking.status.as_str());
    }
    let held = made.iter().filter(|b| b.status == BookingStatus::Held).count() as u64;
    if held > 0 {
        telemetry::holds("created", held);
    }
}

/// Marks a hold that ran out as `expired`, or a request that did as
/// `declined`, with its events (it keeps when it ran out).
pub(in crate::service) async fn expire(
    txn: &DatabaseTransaction,
    db: &Db,
    booking: &mut Booking,
    now: DateTime<Utc>,
    ctx: &Context,
) -> Result<(), ServiceError> {
    let change = Change::new(booking, Action::Expire, now);
    let (to, reason) = match booking.status {
        BookingStatus::Pending => (BookingStatus::Declined, "approval request ran out"),
        _ => (BookingStatus::Expired, "hold ran out"),
    };
    booking.status = to;
    let engine = Context { actor: Actor::engine(), reason: Some(reason.into()), ..ctx.clone() };
    save_change(txn, db, booking, change, &engine).await
}

/// Marks a confirmed booking nobody checked in by its deadline as
/// `no_show` (its time after the deadline was free already, §26).
pub(in crate::service) async fn release_no_show(
    txn: &DatabaseTransaction,
    db: &Db,
    booking: &mut Booking,
    now: DateTime<Utc>,
    ctx: &Context,
) -> Result<(), ServiceError> {
    let change = Change::new(booking, Action::NoShow, now);
    booking.status = BookingStatus::NoShow;
    let engine =
        Context { actor: Actor::engine(), reason: Some("not checked in by the deadline".into()), ..ctx.clone() };
    save_change(txn, db, booking, change, &engine).await
}

/// Writes a change made to `booking` (bumping its version), its history
/// event, its outbox event and what it changes in the usage summary, in the
/// caller's transaction.
pub(in crate::service) async fn save_change(
    txn: &DatabaseTransaction,
    db: &Db,
    booking: &mut Booking,
    change: Change,
    ctx: &Context,
) -> Result<(), ServiceError> {
    let Change { before, action, at: now, policy_overridden } = change;
    let expected = booking.version;
    booking.version += 1;
    booking.updated_at = now;
    // Its hours go into the summary below as it now is (docs/design.md §22).
    booking.counted = true;
    // The row is locked by this transaction, so this only fails if the
    // locking is broken; the conditional write keeps even that from
    // overwriting someone else's change.
    if !bookings::update_if_version(txn, booking, expected).await? {
        return Err(ServiceError::VersionMismatch { current_version: expected });
    }
    let left = Some(before.resource_id).filter(|old| *old != booking.resource_id);
    let kind = if left.is_some() {
        EventType::BookingReassigned
    } else {
        EventType::of(action, before.status, booking.status)
    };
    let moved_from = (action == Action::Reschedule).then(|| before.occupied());
    let from = before.status;
    let outbox_before = Before { status: Some(from), resource: left, occupied: moved_from };
    // One round trip on PostgreSQL (store::batch).
    store::batch::Inserts::new()
        .and(events::append_statement(&event(booking, Some(from), action.as_str(), ctx, now, policy_overridden)))
        .and(outbox::booking_change(db, kind, booking, outbox_before, ctx))
        .and_all(usage::Changes::new().remove(&before).add(booking).statements())
        .run(txn)
        .await?;
    if booking.waitlist_entry.is_some() {
        // An offer from a waiting list: its entry follows (docs/design.md §24).
        crate::service::waitlist::settle::settle_offer(txn, db, booking, action, now, ctx).await?;
    }
    Ok(())
}

/// When the sweeper marked this hold expired before the client came back:
/// confirming or rescheduling it is then answered like a hold that ran out
/// just now (`hold-expired`), whoever noticed first.
pub(in crate::service) fn swept_hold(booking: &Booking) -> Option<DateTime<Utc>> {
    (booking.status == BookingStatus::Expired).then_some(booking.hold_expires_at).flatten()
}

/// A decision's refusal, after committing what the decision counted into
/// the usage summary (bookings berth had not accounted, docs/design.md
/// §22): nothing else is written before a decision, and counting them
/// again on the next decision would cost it the interval read again.
pub(super) async fn refused(txn: DatabaseTransaction, err: ServiceError) -> ServiceError {
    if matches!(err, ServiceError::Refused { .. } | ServiceError::NoResourceAvailable { .. })
        && let Err(failed) = txn.commit().await
    {
        return failed.into();
    }
    err
}
