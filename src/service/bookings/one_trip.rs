//! A new booking on one resource decided and written in one round trip and
//! one commit (docs/design.md §30), on PostgreSQL.
//!
//! The instance judges here what needs no database, by the resource as a
//! decision last locked it (`Db::known_resource`; read once when it has
//! not seen it): values, policy and opening hours, at both ends of the
//! instants the statement may run at. What needs the database (room, the
//! customer's own bookings, the resource still at that version and
//! without a queue, its time free of other deciders, the key still free)
//! the statement checks after it wrote (`store::one_trip`), and gives up
//! when one check fails. Anything it cannot decide with certainty (a
//! group, a booking limit, a long stay, wrong values, a refusal) is not
//! tried; anything it gave up on is decided the full way by the caller.
//! So it only ever admits what the full decision admits, and refuses
//! nothing.

use chrono::{DateTime, Duration, Utc};

use super::{
    types::{NewBooking, Target},
    write::{created, fresh, recorded},
};
use crate::domain::{
    booking::Booking,
    resource::Resource,
    rules::{self, Occupancy, OwnBookings, Situation},
};
use crate::service::{Context, Db, ServiceError, fields, idempotency::Seal};
use crate::store::{
    StoreError,
    bookings::{self, OwnActive},
    locks,
    one_trip::{Outcome, Trip},
    resources, usage,
};
use crate::telemetry;

/// How far past the decision's `now` the database's clock may read when
/// the statement judges: `now` is this process's clock moved by the
/// database's last known lead, so it trails the database's a little, and
/// the pool may keep the statement waiting. Every rule is judged at both
/// ends of it.
const CLOCK_SLACK: Duration = Duration::seconds(1);

/// Books `new` in one round trip when it can: `None` when it did not
/// (nothing written; the caller decides the full way).
pub(super) async fn book(
    db: &Db,
    new: &NewBooking,
    ctx: &Context,
    seal: &Seal<'_, Booking>,
) -> Result<Option<Booking>, ServiceError> {
    let Target::Resource(id) = new.target else { return Ok(None) };
    if !locks::in_use(db.conn()) {
        return Ok(None);
    }
    if !db.one_trip_allowed(id) {
        return Ok(None);
    }
    // As a decision last locked it; read (not locked) when this instance
    // has not seen it: the statement checks its version either way.
    let resource = match db.known_resource(id) {
        Some(known) => known,
        None => match resources::find(db.conn(), id).await? {
            Some(read) => {
                db.remember_resource(&read);
                std::sync::Arc::new(read)
            }
            None => return Ok(None),
        },
    };
    let (now, check_clock) = db.one_trip_clock();
    let latest = now + CLOCK_SLACK;
    let occupied = rules::occupied(&new.range, resource.policy.buffers());
    let Some(bucket_keys) = locks::bucket_keys(id, &occupied) else { return Ok(None) };
    if !admits_alone(&resource, new, now) || (check_clock && !admits_alone(&resource, new, latest)) {
        return Ok(None);
    }
    let Ok(checked_fields) = fields::checked(resource.booking_fields.as_deref(), new.fields.as_ref()) else {
        return Ok(None);
    };
    let mut booking = fresh(&resource, new, now, ctx.actor.is_customer());
    booking.fields = checked_fields;
    let own = OwnActive {
        customer: new.customer_id,
        resource: id,
        max_duration_seconds: resource.max_booking_duration_seconds,
        now,
        exclude: None,
        holds_at_read: false,
    };
    let trip = Trip {
        booking: booking.id,
        resource: id,
        version: resource.version,
        capacity: i64::from(resource.capacity),
        customer: new.customer_id,
        quantity: i64::from(new.quantity),
        occupied,
        reach_from: bookings::reach_from(occupied.start(), resource.max_booking_duration_seconds),
        bucket_keys,
        own: own.overlap_exists(&new.range),
        uncounted: usage::uncounted_query(id, &occupied),
        now,
        latest: check_clock.then_some(latest),
        inserts: recorded(db, &booking, ctx, new.override_policy).into(),
        key_record: seal.record_insert(now, &booking),
    };
    let Some(gather) = db.one_trip_gather() else { return Ok(None) };
    match gather.run(trip.part()).await {
        Ok(Outcome::Written(clock)) => {
            if check_clock {
                db.learn_clock(clock);
            }
            telemetry::one_trip_booking("written");
            db.one_trip_written();
            created(std::slice::from_ref(&booking));
            Ok(Some(booking))
        }
        Ok(Outcome::FellBack(check)) => {
            let check = named(&check);
            if matches!(check, "busy" | "summary") {
                // Its hours are contended or full: the full decision (and
                // its refusal from a snapshot, §18) is the one to take.
                db.pause_one_trip(id);
            }
            telemetry::one_trip_booking(check);
            Ok(None)
        }
        Err(err @ StoreError::Unavailable(_)) => Err(err.into()),
        Err(err) => {
            // A customer deleted meanwhile (its foreign key), a serialisation
            // failure: the full decision says what it means.
            tracing::debug!(error = %err, "a one-trip booking failed; deciding it the full way");
            telemetry::one_trip_booking("error");
            Ok(None)
        }
    }
}

/// Whether the rules admit `new` on `resource` at `now` by all they judge
/// without the database: values, the policy without a booking limit,
/// opening hours, with no other booking anywhere.
fn admits_alone(resource: &Resource, new: &NewBooking, now: DateTime<Utc>) -> bool {
    let decision = new.decision(resource, now);
    if decision.apply_policy && resource.policy.max_active_bookings_per_customer.is_some() {
        return false;
    }
    let situation = Situation {
        now,
        apply_policy: decision.apply_policy,
        rescheduled_from: None,
        own_bookings: Some(OwnBookings { active: 0, nearby: &[] }),
        occupancy: Occupancy::AtMost(0),
    };
    decision.check_values().is_ok() && rules::admit(resource, &decision.request, &situation).is_ok()
}

/// The check's name as the metric's label (a fixed set).
fn named(check: &str) -> &'static str {
    ["resource", "busy", "summary", "customer", "own", "uncounted", "key", "clock"]
        .into_iter()
        .find(|known| *known == check)
        .unwrap_or("other")
}
