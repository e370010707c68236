//! Cancelling a series: every occurrence not yet started (or, with `from`,
//! those starting at or after it: "this and following"), in one
//! transaction. A customer is held to each occurrence's own cut-off: the
//! ones past it stay booked and are listed as `kept`. Cancelling the whole
//! series marks it cancelled; what the occurrences free goes to the
//! resources' queues before the commit.

use chrono::{DateTime, Utc};

use crate::domain::{
    booking::{Action, Booking, BookingStatus},
    ids::{CustomerId, ResourceId, SeriesId},
    rules,
    series::{Series, SeriesStatus},
};
use crate::service::{
    Context, Db, Expected, ServiceError,
    bookings::{types::Change, write::save_change},
    decision::lock_in_order,
    events::{self as outbox, EventType},
    idempotency::Seal,
    retrying,
    waitlist::queue::serve,
};
use crate::store::{self, series as stored};

/// What a cancel did.
#[derive(Debug)]
pub struct Cancelled {
    pub series: Series,
    pub cancelled: Vec<Booking>,
    /// Occurrences a customer may no longer cancel (past their cut-off).
    pub kept: Vec<Booking>,
}

pub async fn cancel(
    db: &Db,
    id: SeriesId,
    from: Option<DateTime<Utc>>,
    expected: &Expected,
    owner: Option<CustomerId>,
    ctx: &Context,
    seal: &Seal<'_, Cancelled>,
) -> Result<Cancelled, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let unlocked = stored::find(&txn, id)
            .await?
            .filter(|s| owner.is_none_or(|owner| s.customer_id == owner))
            .ok_or(ServiceError::NotFound)?;
        // Resources first, in the global order, then the series and its
        // bookings (the order of every decision).
        let resources: Vec<ResourceId> =
            stored::bookings_of(&txn, unlocked.id).await?.iter().map(|b| b.resource_id).collect();
        let locked = lock_in_order(&txn, &resources).await?;
        let mut series = stored::lock(&txn, id).await?.ok_or(ServiceError::NotFound)?;
        let bookings = stored::lock_bookings_of(&txn, id).await?;
        if bookings.iter().any(|b| !locked.contains_key(&b.resource_id)) {
            // One moved to another member since we looked: start again.
            return Err(ServiceError::lost_race());
        }
        let now = db.decision_clock(&txn).await?;
        expected.check(series.version)?;
        let (mut cancelled, mut kept) = (Vec::new(), Vec::new());
        for mut booking in bookings {
            let wanted =
                matches!(booking.status, BookingStatus::Held | BookingStatus::Pending | BookingStatus::Confirmed)
                    && booking.range.start() > now
                    && from.is_none_or(|from| booking.range.start() >= from)
                    && !booking.has_lapsed(now);
            if !wanted {
                continue;
            }
            let resource = locked.get(&booking.resource_id).ok_or_else(ServiceError::lost_race)?;
            if ctx.actor.is_customer() && rules::check_cancel(resource, booking.range.start(), now).is_err() {
                kept.push(booking);
                continue;
            }
            let change = Change::new(&booking, Action::Cancel, now);
            booking.status = BookingStatus::Cancelled;
            booking.hold_expires_at = None;
            save_change(&txn, db, &mut booking, change, ctx).await?;
            cancelled.push(booking);
        }
        for resource in locked.values() {
            serve(&txn, db, resource, now, ctx).await?;
        }
        let expected_version = series.version;
        if from.is_none() && kept.is_empty() {
            series.status = SeriesStatus::Cancelled;
        }
        series.version += 1;
        series.updated_at = now;
        if !stored::update_if_version(&txn, &series, expected_version).await? {
            return Err(ServiceError::lost_race());
        }
        store::batch::Inserts::new()
            .and(outbox::series_change(db, EventType::SeriesCancelled, &series, &cancelled, ctx))
            .run(&txn)
            .await?;
        let done = Cancelled { series, cancelled, kept };
        seal.store(&txn, now, &done).await?;
        txn.commit().await?;
        Ok(done)
    })
    .await
}
