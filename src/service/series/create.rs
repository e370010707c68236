//! Booking a series: the rule expanded in the resource's local time, every
//! occurrence judged by the one predicate in one transaction, under the
//! locks of the resource (or the group's members) in the global order,
//! each occurrence inserted before the next is judged so they count
//! against each other. All or nothing: any refusal rolls everything back
//! and the 409 lists every refused occurrence with its own problem. Skip
//! conflicts: the others are booked and the refused reported. A dry run
//! does all of it and rolls back.

use crate::domain::{
    booking::{Booking, Target},
    ids::{CustomerId, SeriesId},
    recurrence::{MAX_OCCURRENCES, Rule},
    resource::Resource,
    series::{Series, SeriesMode, SeriesStatus},
    time_range::TimeRange,
};
use crate::service::{
    Context, Db, ServiceError,
    bookings::{
        types::NewBooking,
        write::{created, fresh, insert_fresh},
    },
    decision::{lock_group, lock_in_order, pick, trial_order},
    events::{self as outbox, EventType},
    idempotency::Seal,
    retrying,
    waitlist::queue::serve,
};
use crate::store::{self, customers, series as stored};

/// A validated request for a series.
#[derive(Clone, Debug)]
pub struct NewSeries {
    pub target: Target,
    pub customer_id: CustomerId,
    /// The first occurrence.
    pub first: TimeRange,
    pub rule: Rule,
    /// The rule as given, kept with the series.
    pub rrule: String,
    pub quantity: i32,
    pub hold: bool,
    pub notes: Option<String>,
    pub mode: SeriesMode,
    /// An admin skips the booking policy and opening hours.
    pub override_policy: bool,
}

/// A series made (or, on a dry run, that would be): its occurrences booked
/// and those skipped with why.
#[derive(Debug)]
pub struct Made {
    pub series: Series,
    pub bookings: Vec<Booking>,
    pub skipped: Vec<(TimeRange, ServiceError)>,
}

/// Whether `err` refuses one occurrence (it is listed) rather than the
/// request (it is answered).
fn refuses_the_occurrence(err: &ServiceError) -> bool {
    matches!(
        err,
        ServiceError::Refused { .. } | ServiceError::NoResourceAvailable { .. } | ServiceError::Invalid { .. }
    )
}

pub async fn create(
    db: &Db,
    new: NewSeries,
    dry_run: bool,
    ctx: &Context,
    seal: &Seal<'_, Made>,
) -> Result<Made, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let (group, locked) = match new.target {
            Target::Resource(id) => (None, lock_in_order(&txn, &[id]).await?),
            Target::Group(id) => {
                let (group, locked) = lock_group(&txn, id).await?;
                (Some(group), locked)
            }
        };
        // Local time is the resource's (a group's: its first member's).
        let home: &Resource = match (&group, new.target) {
            (Some(group), _) => group.members.iter().find_map(|m| locked.get(m)),
            (None, Target::Resource(id)) => locked.get(&id),
            (None, Target::Group(_)) => None,
        }
        .ok_or_else(|| match new.target {
            Target::Resource(_) => ServiceError::invalid("resource_id", "no resource with this id"),
            Target::Group(_) => ServiceError::invalid("group_id", "the group has no members"),
        })?;
        if customers::find(&txn, new.customer_id).await?.is_none() {
            return Err(ServiceError::invalid("customer_id", "no customer with this id"));
        }
        let now = db.decision_clock(&txn).await?;
        let occurrences = new.rule.occurrences(&new.first, home.time_zone).map_err(|_| {
            ServiceError::invalid("rrule", format!("the rule gives more than {MAX_OCCURRENCES} occurrences"))
        })?;
        let single = |range: TimeRange| NewBooking {
            target: new.target,
            customer_id: new.customer_id,
            range,
            quantity: new.quantity,
            hold: new.hold,
            notes: new.notes.clone(),
            fields: None,
            override_policy: new.override_policy,
        };
        // The first occurrence is the request's own: its wrong values are
        // the request's 422, not a skipped occurrence. A series carries no
        // fields: a resource that requires some is not booked this way.
        single(new.first).decision(home, now).check_values()?;
        crate::service::fields::checked(home.booking_fields.as_deref(), None)?;
        for resource in locked.values() {
            serve(&txn, db, resource, now, ctx).await?;
        }
        let series = Series {
            id: SeriesId::generate(),
            target: new.target,
            customer_id: new.customer_id,
            first: new.first,
            rrule: new.rrule.clone(),
            quantity: new.quantity,
            mode: new.mode,
            status: SeriesStatus::Active,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let (mut bookings, mut skipped) = (Vec::new(), Vec::new());
        for range in occurrences {
            let occurrence = single(range);
            let decision = |resource| occurrence.decision(resource, now);
            let picked = match &group {
                None => {
                    let decision = decision(home);
                    match decision.check_values() {
                        Ok(()) => decision.decide(&txn).await.map(|()| home),
                        Err(err) => Err(err),
                    }
                }
                Some(group) => {
                    let order = trial_order(&txn, group, &locked, &range, now).await?;
                    pick(&txn, group.id, order.into_iter().map(decision).collect(), true).await
                }
            };
            match picked {
                Ok(resource) => {
                    let mut booking = fresh(resource, &occurrence, now, ctx.actor.is_customer());
                    booking.group_id = group.as_ref().map(|g| g.id);
                    booking.series = Some(series.id);
                    insert_fresh(&txn, db, &booking, ctx, new.override_policy, None).await?;
                    bookings.push(booking);
                }
                Err(err) if refuses_the_occurrence(&err) => skipped.push((range, err)),
                Err(err) => return Err(err),
            }
        }
        if bookings.is_empty() || (new.mode == SeriesMode::AllOrNothing && !skipped.is_empty()) {
            // Nothing is written: the transaction rolls back when dropped.
            return Err(ServiceError::SeriesConflict { occurrences: skipped });
        }
        let made = Made { series, bookings, skipped };
        if dry_run {
            txn.rollback().await?;
            return Ok(made);
        }
        store::batch::Inserts::new()
            .and(stored::insert_statement(&made.series))
            .and(outbox::series_change(db, EventType::SeriesCreated, &made.series, &made.bookings, ctx))
            .run(&txn)
            .await?;
        seal.store(&txn, now, &made).await?;
        txn.commit().await?;
        created(&made.bookings);
        Ok(made)
    })
    .await
}
