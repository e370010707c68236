//! Booking use cases: the conflict engine.
//!
//! Every decision runs in one write transaction that first locks the
//! resource row (PostgreSQL `FOR UPDATE`; SQLite `BEGIN IMMEDIATE`), and
//! only then reads the clock, so the order in which deciders take the lock is
//! also the order of their `now`: a hold that one decider saw expire can
//! never be confirmed by a later one. On PostgreSQL that clock is the
//! database's (`store::decision_clock`), so this holds across instances
//! whose own clocks disagree.
//!
//! Checks run in the order of docs/design.md §4: existence (404),
//! preconditions (412), values (422), then the rules in the order of §3:
//! state transition, resource state, duplicate, capacity.

use chrono::{DateTime, Duration, Utc};
use sea_orm::DatabaseTransaction;

use super::{Db, ServiceError, idempotency::Seal, now, retrying};
use crate::domain::{
    booking::{Action, Actor, Booking, BookingEvent, BookingFilter, BookingStatus, transition},
    capacity::{self, Segment, Usage},
    ids::{BookingId, CustomerId, ResourceId},
    resource::Resource,
    time_range::TimeRange,
};
use crate::store::{
    self, StoreError,
    bookings::{self, Overlap},
    customers, events, resources,
};
use crate::telemetry;

/// A validated request to book.
#[derive(Clone, Debug)]
pub struct NewBooking {
    pub resource_id: ResourceId,
    pub customer_id: CustomerId,
    pub range: TimeRange,
    pub quantity: i32,
    pub hold: bool,
    pub notes: Option<String>,
}

/// A validated request to move a booking.
#[derive(Clone, Debug)]
pub struct Reschedule {
    pub range: TimeRange,
    pub quantity: Option<i32>,
}

/// Who asks, and the request it came with: recorded in the history.
#[derive(Clone, Debug)]
pub struct Context {
    pub actor: Actor,
    pub request_id: Option<String>,
    pub reason: Option<String>,
}

/// How many expired holds one sweeper transaction marks.
pub const SWEEP_BATCH: u64 = 200;

fn event(
    booking: &Booking,
    from: Option<BookingStatus>,
    action: &str,
    ctx: &Context,
    at: DateTime<Utc>,
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
        at,
    }
}

/// 422s: values that are wrong whatever the bookings are.
fn check_values(resource: &Resource, range: &TimeRange, quantity: i32, now: DateTime<Utc>) -> Result<(), ServiceError> {
    if range.start() < now {
        return Err(ServiceError::invalid("start_at", "must not be in the past"));
    }
    if range.duration_seconds() > resource.max_booking_duration_seconds {
        return Err(ServiceError::invalid(
            "end_at",
            format!("the interval is longer than this resource allows ({} s)", resource.max_booking_duration_seconds),
        ));
    }
    if quantity > resource.capacity {
        return Err(ServiceError::invalid(
            "quantity",
            format!("must not exceed the resource's capacity ({})", resource.capacity),
        ));
    }
    Ok(())
}

/// Rules 4, 2 and 1 in that order: resource state, duplicate, capacity.
/// `exclude` is the booking being rescheduled.
async fn check_rules(
    txn: &DatabaseTransaction,
    resource: &Resource,
    customer: CustomerId,
    range: &TimeRange,
    quantity: i32,
    now: DateTime<Utc>,
    exclude: Option<BookingId>,
) -> Result<(), ServiceError> {
    if !resource.active {
        return Err(ServiceError::ResourceInactive { resource_id: resource.id });
    }
    let overlap = Overlap {
        resource: resource.id,
        range,
        max_duration_seconds: resource.max_booking_duration_seconds,
        now,
        exclude,
    };
    if let Some(existing) = bookings::customer_overlap(txn, customer, &overlap).await? {
        return Err(ServiceError::DuplicateBooking { existing });
    }
    let capacity = i64::from(resource.capacity);
    // The sum of everything overlapping bounds the peak from above: when
    // even the sum leaves room, the request fits, and one aggregate read
    // decides it. Only a close call pays for reading the intervals and
    // sweeping for the exact peak.
    if bookings::blocking_total(txn, &overlap).await? + i64::from(quantity) <= capacity {
        return Ok(());
    }
    let usages = bookings::blocking_usage(txn, &overlap).await?;
    let available = capacity::available(capacity, &usages, range);
    if i64::from(quantity) > available {
        return Err(ServiceError::CapacityExceeded {
            resource_id: resource.id,
            capacity,
            requested: i64::from(quantity),
            available,
        });
    }
    Ok(())
}

fn usages(bookings: &[Booking]) -> Vec<Usage> {
    bookings.iter().map(|b| Usage { range: b.range, quantity: i64::from(b.quantity) }).collect()
}

pub async fn create(
    db: &Db,
    new: NewBooking,
    ctx: &Context,
    seal: &Seal<'_, Booking>,
) -> Result<Booking, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let resource = resources::lock(&txn, new.resource_id)
            .await?
            .ok_or_else(|| ServiceError::invalid("resource_id", "no resource with this id"))?;
        if customers::find(&txn, new.customer_id).await?.is_none() {
            return Err(ServiceError::invalid("customer_id", "no customer with this id"));
        }
        let now = store::decision_clock(&txn).await?;
        check_values(&resource, &new.range, new.quantity, now)?;
        check_rules(&txn, &resource, new.customer_id, &new.range, new.quantity, now, None).await?;
        let (status, hold_expires_at) = if new.hold {
            (BookingStatus::Held, Some(now + Duration::seconds(i64::from(resource.hold_ttl_seconds))))
        } else {
            (BookingStatus::Confirmed, None)
        };
        let booking = Booking {
            id: BookingId::generate(),
            resource_id: resource.id,
            customer_id: new.customer_id,
            range: new.range,
            quantity: new.quantity,
            status,
            hold_expires_at,
            notes: new.notes.clone(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        // The customer may have been deleted since we looked: its foreign
        // key then refuses the row.
        bookings::insert(&txn, &booking).await.map_err(|err| match err {
            StoreError::ForeignKey => ServiceError::invalid("customer_id", "no customer with this id"),
            other => other.into(),
        })?;
        events::append(&txn, &event(&booking, None, "create", ctx, now)).await?;
        seal.store(&txn, &booking).await?;
        txn.commit().await?;
        telemetry::booking_created(booking.status.as_str());
        if booking.status == BookingStatus::Held {
            telemetry::holds("created", 1);
        }
        Ok(booking)
    })
    .await
}

/// The booking, if it exists and `owner` (when given) owns it: someone
/// else's booking is as missing as one that does not exist.
pub async fn get(db: &Db, id: BookingId, owner: Option<CustomerId>) -> Result<Booking, ServiceError> {
    bookings::find(db.conn(), id)
        .await?
        .filter(|booking| owner.is_none_or(|owner| booking.customer_id == owner))
        .ok_or(ServiceError::NotFound)
}

pub async fn list(
    db: &Db,
    filter: &BookingFilter,
    after: Option<BookingId>,
    limit: u64,
) -> Result<Vec<Booking>, ServiceError> {
    Ok(bookings::list(db.conn(), filter, after, limit).await?)
}

pub async fn history(db: &Db, id: BookingId, owner: Option<CustomerId>) -> Result<Vec<BookingEvent>, ServiceError> {
    get(db, id, owner).await?;
    Ok(events::list(db.conn(), id).await?)
}

/// Marks a hold that ran out as `expired`, with its history event.
async fn expire(
    txn: &DatabaseTransaction,
    booking: &mut Booking,
    now: DateTime<Utc>,
    ctx: &Context,
) -> Result<(), ServiceError> {
    booking.status = BookingStatus::Expired;
    let engine = Context { actor: Actor::engine(), reason: Some("hold ran out".into()), ..ctx.clone() };
    save_change(txn, booking, BookingStatus::Held, Action::Expire, &engine, now).await
}

/// Writes a change made to `booking` (bumping its version) and appends its
/// history event, in the caller's transaction.
async fn save_change(
    txn: &DatabaseTransaction,
    booking: &mut Booking,
    from: BookingStatus,
    action: Action,
    ctx: &Context,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let expected = booking.version;
    booking.version += 1;
    booking.updated_at = now;
    // The row is locked by this transaction, so this only fails if the
    // locking is broken; the conditional write keeps even that from
    // overwriting someone else's change.
    if !bookings::update_if_version(txn, booking, expected).await? {
        return Err(ServiceError::VersionMismatch { current_version: expected });
    }
    events::append(txn, &event(booking, Some(from), action.as_str(), ctx, now)).await?;
    Ok(())
}

/// Locks what a change to `id` needs, in a fixed order (resource, then
/// booking) so that two changes can never deadlock on each other. Returns
/// the locked resource (when `lock_resource`) and booking.
async fn lock_for_change(
    txn: &DatabaseTransaction,
    id: BookingId,
    lock_resource: bool,
) -> Result<(Option<Resource>, Booking), ServiceError> {
    let resource = if lock_resource {
        let unlocked = bookings::find(txn, id).await?.ok_or(ServiceError::NotFound)?;
        Some(resources::lock(txn, unlocked.resource_id).await?.ok_or(ServiceError::NotFound)?)
    } else {
        None
    };
    let booking = bookings::lock(txn, id).await?.ok_or(ServiceError::NotFound)?;
    Ok((resource, booking))
}

fn check_version(booking: &Booking, expected_version: Option<i64>) -> Result<(), ServiceError> {
    match expected_version {
        Some(expected) if expected != booking.version => {
            Err(ServiceError::VersionMismatch { current_version: booking.version })
        }
        _ => Ok(()),
    }
}

/// `confirm`, `cancel`, `check-in`, `complete` or `no-show`.
pub async fn act(
    db: &Db,
    id: BookingId,
    action: Action,
    expected_version: Option<i64>,
    ctx: &Context,
    seal: &Seal<'_, Booking>,
) -> Result<Booking, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        // Confirming keeps a hold's units: it must be ordered against the
        // capacity deciders of the resource. The other actions only free or
        // keep units and need just the booking's row.
        let (_, mut booking) = lock_for_change(&txn, id, action == Action::Confirm).await?;
        let now = store::decision_clock(&txn).await?;
        check_version(&booking, expected_version)?;
        if booking.hold_has_run_out(now) {
            let at = booking.hold_expires_at.unwrap_or(now);
            expire(&txn, &mut booking, now, ctx).await?;
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
        booking.status = to;
        if to != BookingStatus::Held {
            booking.hold_expires_at = None;
        }
        save_change(&txn, &mut booking, from, action, ctx, now).await?;
        seal.store(&txn, &booking).await?;
        txn.commit().await?;
        if from == BookingStatus::Held && to == BookingStatus::Confirmed {
            telemetry::holds("confirmed", 1);
        }
        Ok(booking)
    })
    .await
}

/// When the sweeper marked this hold expired before the client came back:
/// confirming or rescheduling it is then answered like a hold that ran out
/// just now (`hold-expired`), whoever noticed first.
fn swept_hold(booking: &Booking) -> Option<DateTime<Utc>> {
    (booking.status == BookingStatus::Expired).then_some(booking.hold_expires_at).flatten()
}

/// Moves a booking to a new interval (and quantity), all or nothing. Its
/// own old interval does not count against it.
pub async fn reschedule(
    db: &Db,
    id: BookingId,
    change: Reschedule,
    expected_version: Option<i64>,
    ctx: &Context,
    seal: &Seal<'_, Booking>,
) -> Result<Booking, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let (resource, mut booking) = lock_for_change(&txn, id, true).await?;
        let resource = resource.ok_or(ServiceError::NotFound)?;
        let now = store::decision_clock(&txn).await?;
        check_version(&booking, expected_version)?;
        let quantity = change.quantity.unwrap_or(booking.quantity);
        check_values(&resource, &change.range, quantity, now)?;
        if booking.hold_has_run_out(now) {
            let at = booking.hold_expires_at.unwrap_or(now);
            expire(&txn, &mut booking, now, ctx).await?;
            txn.commit().await?;
            telemetry::holds("expired", 1);
            return Err(ServiceError::HoldExpired { at });
        }
        if let Some(at) = swept_hold(&booking) {
            return Err(ServiceError::HoldExpired { at });
        }
        transition(booking.status, Action::Reschedule).map_err(ServiceError::InvalidTransition)?;
        check_rules(&txn, &resource, booking.customer_id, &change.range, quantity, now, Some(booking.id)).await?;
        booking.range = change.range;
        booking.quantity = quantity;
        let status = booking.status;
        save_change(&txn, &mut booking, status, Action::Reschedule, ctx, now).await?;
        seal.store(&txn, &booking).await?;
        txn.commit().await?;
        Ok(booking)
    })
    .await
}

/// The resource's usage over `window`, by the same sweep as the capacity
/// rule, at this instant.
pub async fn availability(
    db: &Db,
    resource_id: ResourceId,
    window: TimeRange,
) -> Result<(Resource, Vec<Segment>), ServiceError> {
    let resource = resources::find(db.conn(), resource_id).await?.ok_or(ServiceError::NotFound)?;
    let overlap = Overlap {
        resource: resource.id,
        range: &window,
        max_duration_seconds: resource.max_booking_duration_seconds,
        now: now(),
        exclude: None,
    };
    let usages = bookings::blocking_usage(db.conn(), &overlap).await?;
    let segments = capacity::timeline(&usages, &window);
    Ok((resource, segments))
}

/// Marks every hold that ran out as `expired`, in batches of `SWEEP_BATCH`,
/// each batch one transaction. Safe to run on many instances at once: rows
/// are claimed with `FOR UPDATE SKIP LOCKED`. Returns how many it marked.
pub async fn expire_due_holds(db: &Db) -> Result<u64, ServiceError> {
    let ctx = Context { actor: Actor::engine(), request_id: None, reason: None };
    let mut total = 0;
    loop {
        let marked = retrying(|| async {
            let txn = store::begin_write(db.conn()).await?;
            let now = store::decision_clock(&txn).await?;
            let mut due = bookings::lock_due_holds(&txn, now, SWEEP_BATCH).await?;
            for booking in &mut due {
                expire(&txn, booking, now, &ctx).await?;
            }
            txn.commit().await?;
            telemetry::holds("expired", due.len() as u64);
            Ok(due.len() as u64)
        })
        .await?;
        total += marked;
        if marked < SWEEP_BATCH {
            return Ok(total);
        }
    }
}

/// The peak usage of the resource's future blocking bookings and the
/// longest of them, for checks on capacity and duration changes.
pub(super) async fn future_commitments(
    txn: &DatabaseTransaction,
    resource: &Resource,
    now: DateTime<Utc>,
) -> Result<(i64, i64, u64), ServiceError> {
    let future = bookings::future_blocking(txn, resource.id, resource.max_booking_duration_seconds, now).await?;
    let longest = future.iter().map(|b| b.range.duration_seconds()).max().unwrap_or(0);
    let peak = match (future.iter().map(|b| b.range.start()).min(), future.iter().map(|b| b.range.end()).max()) {
        (Some(first), Some(last)) => TimeRange::new(first.max(now), last)
            .map(|window| capacity::peak_usage(&usages(&future), &window))
            .unwrap_or(0),
        _ => 0,
    };
    Ok((peak, longest, future.len() as u64))
}
