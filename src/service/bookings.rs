//! Booking use cases: the conflict engine.
//!
//! Every decision runs in one write transaction that first locks the
//! resource row (PostgreSQL `FOR UPDATE`; SQLite `BEGIN IMMEDIATE`), and
//! only then reads the clock, so the order in which deciders take the lock is
//! also the order of their `now`: a hold that one decider saw expire can
//! never be confirmed by a later one. On PostgreSQL that clock is the
//! database's (`Db::decision_clock`), so this holds across instances
//! whose own clocks disagree. The resource row carries the schedule and the
//! policy, so they are read under the same lock as the decision.
//!
//! Checks run in the order of docs/design.md §4: existence (404),
//! preconditions (412), values (422), then the rules in the order of §3,
//! decided by `domain::rules` from what this module reads.
//!
//! A booking through a group (docs/design.md §14) locks every member, in
//! the one global order (resources by id), then tries them in the group's
//! trial order and takes the first the rules admit; a reschedule tries its
//! own member first. All of it in the one transaction, so two deciders can
//! never pick the same free unit.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{DatabaseTransaction, sea_query::InsertStatement};

use super::{
    Db, Expected, ServiceError,
    decision::{Decision, lock_in_order, pick, trial_order},
    events::{self as outbox, Before, EventType},
    idempotency::Seal,
    now, retrying,
};
use crate::domain::{
    booking::{Action, Actor, Booking, BookingEvent, BookingFilter, BookingStatus, transition},
    capacity::{self, OpenSegment, Usage},
    ids::{BookingId, BundleId, CustomerId, GroupId, ResourceId},
    resource::Resource,
    rules::{self, Request},
    time_range::TimeRange,
};
use crate::store::{
    self, StoreError,
    bookings::{self, Overlap},
    customers, events, groups,
    resources::{self, Attempt, Hold, Locked},
    usage,
};
use crate::telemetry;

/// What a booking is for: one resource, or any one member of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Resource(ResourceId),
    Group(GroupId),
}

/// A validated request to book.
#[derive(Clone, Debug)]
pub struct NewBooking {
    pub target: Target,
    pub customer_id: CustomerId,
    pub range: TimeRange,
    pub quantity: i32,
    pub hold: bool,
    pub notes: Option<String>,
    /// An admin skips the booking policy and opening hours.
    pub override_policy: bool,
}

/// A validated request to move a booking.
#[derive(Clone, Debug)]
pub struct Reschedule {
    pub range: TimeRange,
    pub quantity: Option<i32>,
    /// An admin skips the booking policy and opening hours.
    pub override_policy: bool,
}

pub use super::Context;

/// How many expired holds one sweeper transaction marks.
pub const SWEEP_BATCH: u64 = 200;

pub(super) fn event(
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

fn usages(bookings: &[Booking]) -> Vec<Usage> {
    bookings.iter().map(|b| Usage { range: b.occupied(), quantity: i64::from(b.quantity) }).collect()
}

pub async fn create(
    db: &Db,
    new: NewBooking,
    ctx: &Context,
    seal: &Seal<'_, Booking>,
) -> Result<Booking, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        // What the lock's statement read along (PostgreSQL, lock free):
        // whether the customer exists, and the clock after the lock.
        let (mut customer_exists, mut clock) = (None, None);
        let (group, locked) = match new.target {
            Target::Resource(id) => {
                let (resource, along) = lock_one(&txn, db, &new, id).await?;
                (customer_exists, clock) = along;
                (None, std::collections::HashMap::from([(id, resource)]))
            }
            Target::Group(id) => {
                let group = groups::find(&txn, id)
                    .await?
                    .ok_or_else(|| ServiceError::invalid("group_id", "no group with this id"))?;
                let locked = lock_in_order(&txn, &group.members).await?;
                (Some(group), locked)
            }
        };
        let customer_exists = match customer_exists {
            Some(known) => known,
            None => customers::find(&txn, new.customer_id).await?.is_some(),
        };
        if !customer_exists {
            return Err(ServiceError::invalid("customer_id", "no customer with this id"));
        }
        let now = db.decision_clock_or(&txn, clock).await?;
        let decision = |resource| Decision {
            resource,
            customer: new.customer_id,
            request: Request { range: new.range, quantity: i64::from(new.quantity) },
            now,
            apply_policy: !new.override_policy,
            rescheduled_from: None,
            exclude: None,
        };
        let picked = match &group {
            None => {
                let only = locked.values().next().ok_or(ServiceError::NotFound)?;
                let decision = decision(only);
                decision.check_values()?;
                decision.decide(&txn).await.map(|()| only)
            }
            Some(group) => {
                let order = trial_order(&txn, group, &locked, &new.range, now).await?;
                pick(&txn, group.id, order.into_iter().map(decision).collect(), true).await
            }
        };
        let resource = match picked {
            Ok(resource) => resource,
            Err(err) => return Err(refused(txn, err).await),
        };
        let mut booking = fresh(resource, &new, now);
        booking.group_id = group.as_ref().map(|g| g.id);
        // The key's record goes with the booking's inserts (one statement).
        let key_record = seal.record_insert(now, &booking);
        let wrote = insert_fresh(&txn, db, &booking, ctx, new.override_policy, key_record).await?;
        seal.settle(&txn, now, wrote).await?;
        txn.commit().await?;
        created(std::slice::from_ref(&booking));
        Ok(booking)
    })
    .await
}

/// A decision's refusal, after committing what the decision counted into
/// the usage summary (bookings berth had not accounted, docs/design.md
/// §22): nothing else is written before a decision, and counting them
/// again on the next decision would cost it the interval read again.
async fn refused(txn: DatabaseTransaction, err: ServiceError) -> ServiceError {
    if matches!(err, ServiceError::Refused { .. } | ServiceError::NoResourceAvailable { .. })
        && let Err(failed) = txn.commit().await
    {
        return failed.into();
    }
    err
}

/// Locks the resource of a booking on one resource: on PostgreSQL, the
/// hour buckets of its occupied time and the row shared when they are few
/// (docs/design.md §20), the whole row otherwise; first without waiting,
/// and when something is taken, after a snapshot that may already refuse
/// (docs/design.md §18). Returns it with what the lock's statement read
/// along: whether the customer exists, and the clock after the lock.
async fn lock_one(
    txn: &DatabaseTransaction,
    db: &Db,
    new: &NewBooking,
    id: ResourceId,
) -> Result<(Resource, (Option<bool>, Option<DateTime<Utc>>)), ServiceError> {
    let buckets = if store::locks::in_use(txn) {
        store::locks::bucket_keys(id, &rules::occupied(&new.range, db.known_buffers(id)))
    } else {
        None
    };
    let hold = buckets.as_deref().map_or(Hold::Whole, Hold::Buckets);
    let (resource, mut along) = match resources::lock_if_free_with(txn, id, new.customer_id, hold).await? {
        Attempt::Held(free) => (Some(free.resource), (Some(free.customer_exists), free.clock)),
        Attempt::Taken(seen) => {
            // Something is taken (or there is no such resource): a refusal
            // a snapshot already shows is answered without queueing.
            refuse_from_snapshot(txn, db, new, seen).await?;
            (resources::lock_waiting(txn, id, hold).await?, (None, None))
        }
    };
    let resource = resource.ok_or_else(|| ServiceError::invalid("resource_id", "no resource with this id"))?;
    if let Some(held) = &buckets {
        let buffers = resource.policy.buffers();
        db.remember_buffers(id, buffers);
        // The buckets were chosen before the resource was read: unless they
        // cover its occupied time, start again with what it really has.
        match store::locks::bucket_keys(id, &rules::occupied(&new.range, buffers)) {
            Some(needed) if needed.iter().all(|key| held.contains(key)) => {}
            _ => return Err(ServiceError::lost_race()),
        }
        // A booking limit counts the customer's bookings at all times: that
        // customer's decisions on this resource go one at a time.
        if resource.policy.max_active_bookings_per_customer.is_some() {
            resources::lock_key(txn, store::locks::customer_key(id, new.customer_id)).await?;
            // The clock is read after every lock (docs/design.md §5): the
            // one the lock's statement read may be long past by now.
            along.1 = None;
        }
    }
    Ok((resource, along))
}

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
async fn refuse_from_snapshot(
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
    let decision = Decision {
        resource: &resource,
        customer: new.customer_id,
        request: Request { range: new.range, quantity: i64::from(new.quantity) },
        now,
        apply_policy: !new.override_policy,
        rescheduled_from: None,
        exclude: None,
    };
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

/// A new booking of `new` on `resource`, decided at `now`: held for the
/// resource's hold time, or confirmed.
pub(super) fn fresh(resource: &Resource, new: &NewBooking, now: DateTime<Utc>) -> Booking {
    let (status, hold_expires_at) = if new.hold {
        (BookingStatus::Held, Some(now + Duration::seconds(i64::from(resource.hold_ttl_seconds))))
    } else {
        (BookingStatus::Confirmed, None)
    };
    Booking {
        id: BookingId::generate(),
        resource_id: resource.id,
        group_id: None,
        bundle: None,
        customer_id: new.customer_id,
        range: new.range,
        quantity: new.quantity,
        status,
        hold_expires_at,
        notes: new.notes.clone(),
        buffers: resource.policy.buffers(),
        version: 1,
        counted: true,
        created_at: now,
        updated_at: now,
    }
}

/// Inserts a booking just decided, with its `create` history event, its
/// `booking.created` outbox event, its hours in the usage summary and
/// `last` (an Idempotency-Key's record), in one round trip on PostgreSQL
/// (`store::batch`). Returns whether the last of them wrote its row.
pub(super) async fn insert_fresh(
    txn: &DatabaseTransaction,
    db: &Db,
    booking: &Booking,
    ctx: &Context,
    policy_overridden: bool,
    last: Option<InsertStatement>,
) -> Result<bool, ServiceError> {
    store::batch::Inserts::new()
        .and(bookings::insert_statement(booking))
        .and(events::append_statement(&event(booking, None, "create", ctx, booking.created_at, policy_overridden)))
        .and(outbox::booking_change(db, EventType::BookingCreated, booking, Before::default(), ctx))
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

/// Counts bookings made, once committed.
pub(super) fn created(made: &[Booking]) {
    for booking in made {
        telemetry::booking_created(booking.status.as_str());
    }
    let held = made.iter().filter(|b| b.status == BookingStatus::Held).count() as u64;
    if held > 0 {
        telemetry::holds("created", held);
    }
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

/// Marks a hold that ran out as `expired`, with its events.
pub(super) async fn expire(
    txn: &DatabaseTransaction,
    db: &Db,
    booking: &mut Booking,
    now: DateTime<Utc>,
    ctx: &Context,
) -> Result<(), ServiceError> {
    let change = Change::new(booking, Action::Expire, now);
    booking.status = BookingStatus::Expired;
    let engine = Context { actor: Actor::engine(), reason: Some("hold ran out".into()), ..ctx.clone() };
    save_change(txn, db, booking, change, &engine).await
}

/// What a change to a booking was: for its events and for the usage
/// summary, the booking as it was before.
pub(super) struct Change {
    pub before: Booking,
    pub action: Action,
    pub at: DateTime<Utc>,
    pub policy_overridden: bool,
}

impl Change {
    /// `action` on `booking`, still as it is.
    pub(super) fn new(booking: &Booking, action: Action, at: DateTime<Utc>) -> Self {
        Self { before: booking.clone(), action, at, policy_overridden: false }
    }

    /// Moving `booking`, still as it is.
    pub(super) fn moving(booking: &Booking, at: DateTime<Utc>, policy_overridden: bool) -> Self {
        Self { policy_overridden, ..Self::new(booking, Action::Reschedule, at) }
    }
}

/// Writes a change made to `booking` (bumping its version), its history
/// event, its outbox event and what it changes in the usage summary, in the
/// caller's transaction.
pub(super) async fn save_change(
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
    // The row is locked by this transaction, so this only fails if the
    // locking is broken; the conditional write keeps even that from
    // overwriting someone else's change.
    if !bookings::update_if_version(txn, booking, expected).await? {
        return Err(ServiceError::VersionMismatch { current_version: expected });
    }
    let left = Some(before.resource_id).filter(|old| *old != booking.resource_id);
    let kind = if left.is_some() { EventType::BookingReassigned } else { EventType::of(action) };
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
    // A group reschedule may have moved it to another member since we
    // looked: the lock we hold is then the wrong one. Decide again.
    if resource.as_ref().is_some_and(|r| r.id != booking.resource_id) {
        return Err(ServiceError::lost_race());
    }
    Ok((resource, booking))
}

/// `confirm`, `cancel`, `check-in`, `complete` or `no-show`.
pub async fn act(
    db: &Db,
    id: BookingId,
    action: Action,
    expected: &Expected,
    ctx: &Context,
    seal: &Seal<'_, Booking>,
) -> Result<Booking, ServiceError> {
    let routed = retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        // Confirming keeps a hold's units: it must be ordered against the
        // capacity deciders of the resource. The other actions only free or
        // keep units and need just the booking's row.
        let (_, mut booking) = lock_for_change(&txn, id, action == Action::Confirm).await?;
        if let Some((bundle, _)) = booking.bundle {
            return Ok(Routed::Bundle(bundle));
        }
        let now = db.decision_clock(&txn).await?;
        expected.check(booking.version)?;
        if booking.hold_has_run_out(now) {
            let at = booking.hold_expires_at.unwrap_or(now);
            expire(&txn, db, &mut booking, now, ctx).await?;
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
        if action == Action::Cancel && ctx.actor.is_customer() {
            // The cut-off is the resource's policy as it is now; the
            // booking's row lock orders this against other changes to it.
            let resource = resources::find(&txn, booking.resource_id).await?.ok_or(ServiceError::NotFound)?;
            rules::check_cancel(&resource, booking.range.start(), now)
                .map_err(|refusal| ServiceError::Refused { refusal, alternatives: None })?;
        }
        let change = Change::new(&booking, action, now);
        booking.status = to;
        if to != BookingStatus::Held {
            booking.hold_expires_at = None;
        }
        save_change(&txn, db, &mut booking, change, ctx).await?;
        seal.store(&txn, now, &booking).await?;
        txn.commit().await?;
        if from == BookingStatus::Held && to == BookingStatus::Confirmed {
            telemetry::holds("confirmed", 1);
        }
        Ok(Routed::Done(booking))
    })
    .await?;
    match routed {
        Routed::Done(booking) => Ok(booking),
        Routed::Bundle(bundle) => super::bundles::act(db, id, bundle, action, expected, ctx, seal).await,
    }
}

/// A change decided here, or a booking of a bundle, which `bundles`
/// decides (found under the booking's lock, so no extra read routes it).
enum Routed {
    Done(Booking),
    Bundle(BundleId),
}

/// When the sweeper marked this hold expired before the client came back:
/// confirming or rescheduling it is then answered like a hold that ran out
/// just now (`hold-expired`), whoever noticed first.
pub(super) fn swept_hold(booking: &Booking) -> Option<DateTime<Utc>> {
    (booking.status == BookingStatus::Expired).then_some(booking.hold_expires_at).flatten()
}

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
        if booking.hold_has_run_out(now) {
            let at = booking.hold_expires_at.unwrap_or(now);
            expire(&txn, db, &mut booking, now, ctx).await?;
            txn.commit().await?;
            telemetry::holds("expired", 1);
            return Err(ServiceError::HoldExpired { at });
        }
        if let Some(at) = swept_hold(&booking) {
            return Err(ServiceError::HoldExpired { at });
        }
        transition(booking.status, Action::Reschedule).map_err(ServiceError::InvalidTransition)?;
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
        // A move is a new decision: it takes the buffers of the policy now.
        booking.buffers = resource.policy.buffers();
        save_change(&txn, db, &mut booking, moved, ctx).await?;
        seal.store(&txn, now, &booking).await?;
        txn.commit().await?;
        Ok(Routed::Done(booking))
    })
    .await?;
    match routed {
        Routed::Done(booking) => Ok(booking),
        Routed::Bundle(bundle) => super::bundles::reschedule(db, id, bundle, change, expected, ctx, seal).await,
    }
}

/// The resource's usage over `window` (what bookings occupy, buffers
/// included), by the same sweep as the capacity rule, with closed time
/// marked from the same schedule the rules read, at this instant.
pub async fn availability(
    db: &Db,
    resource_id: ResourceId,
    window: TimeRange,
) -> Result<(Resource, Vec<OpenSegment>), ServiceError> {
    let resource = resources::find(db.conn(), resource_id).await?.ok_or(ServiceError::NotFound)?;
    let overlap = Overlap {
        resource: resource.id,
        range: &window,
        max_duration_seconds: resource.max_booking_duration_seconds,
        now: now(),
        exclude: None,
    };
    let usages = bookings::blocking_usage(db.conn(), &overlap).await?;
    let open = resource.schedule.as_ref().map(|schedule| schedule.open_time(resource.time_zone, &window));
    let segments = capacity::timeline_open(&usages, open.as_deref(), &window);
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
            let now = db.decision_clock(&txn).await?;
            let mut due = bookings::lock_due_holds(&txn, now, SWEEP_BATCH).await?;
            // In time order per resource, each changes summary rows above
            // those of the ones before it or already held: the row locks are
            // taken in ascending order, as every other writer takes them.
            due.sort_by_key(|b| (b.resource_id, b.occupied().start()));
            for booking in &mut due {
                expire(&txn, db, booking, now, &ctx).await?;
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

/// What the resource's future blocking bookings commit it to, for checks
/// on capacity, duration and deletion.
pub(super) struct Commitments {
    /// The most units they occupy at one instant from `now` on.
    pub peak_usage: i64,
    /// The longest of them, in seconds.
    pub longest_seconds: i64,
    /// How many have not ended yet.
    pub bookings: u64,
}

pub(super) async fn future_commitments(
    txn: &DatabaseTransaction,
    resource: &Resource,
    now: DateTime<Utc>,
) -> Result<Commitments, ServiceError> {
    let future = bookings::future_blocking(txn, resource.id, resource.max_booking_duration_seconds, now).await?;
    let longest_seconds = future.iter().map(|b| b.range.duration_seconds()).max().unwrap_or(0);
    let occupied = usages(&future);
    let peak_usage = match occupied.iter().map(|u| u.range.end()).max().and_then(|last| TimeRange::new(now, last)) {
        Some(window) => capacity::peak_usage(&occupied, &window),
        None => 0,
    };
    let bookings = future.iter().filter(|b| b.range.end() > now).count() as u64;
    Ok(Commitments { peak_usage, longest_seconds, bookings })
}
