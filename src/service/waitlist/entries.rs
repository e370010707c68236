//! Reading waiting-list entries (one, a page, how many wait) and leaving
//! one: a waiting entry just leaves; an offered one leaves and its held
//! booking is cancelled, the units going to the next in the queue in the
//! same transaction.

use chrono::{DateTime, Utc};

use super::{queue::serve, settle::save};
use crate::domain::{
    booking::{Action, BookingStatus, Target},
    ids::{CustomerId, WaitlistEntryId},
    time_range::TimeRange,
    waitlist::{Entry, EntryFilter, EntryStatus},
};
use crate::service::{
    Context, Db, Expected, ServiceError,
    bookings::{
        types::Change,
        write::{expire, save_change},
    },
    idempotency::Seal,
    retrying,
};
use crate::store::{self, bookings, resources, waitlist as entries};

/// An entry, with its place in the queue while it waits (`None` once not
/// waiting).
#[derive(Clone, Debug)]
pub struct Placed {
    pub entry: Entry,
    pub position: Option<i64>,
}

/// The entry with its position when it waits.
async fn placed(conn: &impl sea_orm::ConnectionTrait, entry: Entry) -> Result<Placed, ServiceError> {
    let position = match entry.status {
        EntryStatus::Waiting => Some(entries::position(conn, &entry).await?),
        _ => None,
    };
    Ok(Placed { entry, position })
}

/// The entry, if it exists and `owner` (when given) owns it.
pub async fn get(db: &Db, id: WaitlistEntryId, owner: Option<CustomerId>) -> Result<Placed, ServiceError> {
    let entry = entries::find(db.conn(), id)
        .await?
        .filter(|entry| owner.is_none_or(|owner| entry.customer_id == owner))
        .ok_or(ServiceError::NotFound)?;
    placed(db.conn(), entry).await
}

/// One page of entries in queue order, after the place `after` (an
/// entry's `created_at` and id).
pub async fn list(
    db: &Db,
    filter: &EntryFilter,
    after: Option<(DateTime<Utc>, WaitlistEntryId)>,
    limit: u64,
) -> Result<Vec<Placed>, ServiceError> {
    let mut page = Vec::new();
    for entry in entries::list(db.conn(), filter, after, limit).await? {
        page.push(placed(db.conn(), entry).await?);
    }
    Ok(page)
}

/// How many entries wait for intervals of `target` overlapping `range`
/// (the `waitlist_length` of a refused booking).
pub async fn waiting_length(db: &Db, target: Target, range: &TimeRange) -> Result<i64, ServiceError> {
    Ok(entries::waiting_count(db.conn(), target, range).await?)
}

/// The customer leaves the queue (`left`); an offer it holds is cancelled
/// and passed on.
pub async fn leave(
    db: &Db,
    id: WaitlistEntryId,
    expected: &Expected,
    owner: Option<CustomerId>,
    ctx: &Context,
    seal: &Seal<'_, Placed>,
) -> Result<Placed, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let unlocked = entries::find(&txn, id)
            .await?
            .filter(|entry| owner.is_none_or(|owner| entry.customer_id == owner))
            .ok_or(ServiceError::NotFound)?;
        // An offer's units go to the next entry: its resource is locked
        // first, then its booking (the order of every decision).
        let offer = match (unlocked.status, unlocked.booking_id) {
            (EntryStatus::Offered, Some(booking_id)) => {
                let booking = bookings::find(&txn, booking_id).await?.ok_or_else(ServiceError::lost_race)?;
                let resource = resources::lock(&txn, booking.resource_id).await?.ok_or_else(ServiceError::lost_race)?;
                let booking = bookings::lock(&txn, booking_id).await?.ok_or_else(ServiceError::lost_race)?;
                Some((resource, booking))
            }
            _ => None,
        };
        let entry = entries::find(&txn, id).await?.ok_or(ServiceError::NotFound)?;
        if entry.status != unlocked.status || entry.booking_id != unlocked.booking_id {
            // Offered (or settled) since we looked: decide again.
            return Err(ServiceError::lost_race());
        }
        let now = db.decision_clock(&txn).await?;
        expected.check(entry.version)?;
        if !entry.status.is_active() {
            return Err(ServiceError::WaitlistEntryClosed { status: entry.status });
        }
        let mut left = entry.clone();
        left.close(EntryStatus::Left, now);
        save(&txn, db, &left, entry.version, ctx).await?;
        if let Some((resource, mut booking)) = offer {
            if booking.has_lapsed(now) {
                expire(&txn, db, &mut booking, now, ctx).await?;
            } else if booking.status == BookingStatus::Held {
                let change = Change::new(&booking, Action::Cancel, now);
                booking.status = BookingStatus::Cancelled;
                booking.hold_expires_at = None;
                save_change(&txn, db, &mut booking, change, ctx).await?;
            }
            serve(&txn, db, &resource, now, ctx).await?;
        }
        let placed = Placed { entry: left, position: None };
        seal.store(&txn, now, &placed).await?;
        txn.commit().await?;
        Ok(placed)
    })
    .await
}
