//! An offered booking's entry follows the booking (docs/design.md §24):
//! when the booking is confirmed, cancelled or runs out, its entry becomes
//! accepted, declined or expired in the same write (`settle_offer`, called
//! by `bookings::write::save_change`); and the conditional write of an
//! entry with its event (`save`, `close`), which the queue uses too.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;

use crate::domain::{
    booking::{Action, Booking},
    waitlist::{Entry, EntryStatus},
};
use crate::service::{
    Context, Db, ServiceError,
    events::{self as outbox, EventType},
};
use crate::store::{self, waitlist as entries};

/// The event of an entry that became `status`.
fn event_of(status: EntryStatus) -> EventType {
    match status {
        EntryStatus::Waiting => EventType::WaitlistJoined,
        EntryStatus::Offered => EventType::WaitlistOffered,
        EntryStatus::Accepted => EventType::WaitlistAccepted,
        EntryStatus::Declined => EventType::WaitlistDeclined,
        EntryStatus::Expired => EventType::WaitlistExpired,
        EntryStatus::Left => EventType::WaitlistLeft,
        EntryStatus::Lapsed => EventType::WaitlistLapsed,
    }
}

/// Writes `entry` (changed from `expected`) with its event. Another
/// decider wrote it first (a group's entry, served from another member):
/// this decision runs again.
pub(super) async fn save(
    txn: &DatabaseTransaction,
    db: &Db,
    entry: &Entry,
    expected: i64,
    ctx: &Context,
) -> Result<(), ServiceError> {
    if !entries::update_if_version(txn, entry, expected).await? {
        return Err(ServiceError::lost_race());
    }
    let event = outbox::waitlist_change(db, event_of(entry.status), entry, ctx);
    store::batch::Inserts::new().and(event).run(txn).await?;
    Ok(())
}

/// `entry` leaves the queue as `status`, with its event. Returns `true`.
pub(super) async fn close(
    txn: &DatabaseTransaction,
    db: &Db,
    entry: &Entry,
    status: EntryStatus,
    now: DateTime<Utc>,
    ctx: &Context,
) -> Result<bool, ServiceError> {
    let mut closed = entry.clone();
    closed.close(status, now);
    save(txn, db, &closed, entry.version, ctx).await?;
    Ok(true)
}

/// When `booking`, offered to a waiting-list entry, is confirmed, cancelled
/// or runs out (`action`): its entry becomes accepted, declined or expired,
/// in the same transaction. Nothing for any other booking or action, or an
/// entry already settled (it left: `leave` cancels its offer).
pub(in crate::service) async fn settle_offer(
    txn: &DatabaseTransaction,
    db: &Db,
    booking: &Booking,
    action: Action,
    now: DateTime<Utc>,
    ctx: &Context,
) -> Result<(), ServiceError> {
    let Some(id) = booking.waitlist_entry else { return Ok(()) };
    let status = match action {
        Action::Confirm => EntryStatus::Accepted,
        Action::Cancel => EntryStatus::Declined,
        Action::Expire => EntryStatus::Expired,
        // A confirmed offer that awaits approval was accepted already.
        Action::Approve
        | Action::Decline
        | Action::CheckIn
        | Action::Complete
        | Action::NoShow
        | Action::Reschedule => {
            return Ok(());
        }
    };
    let Some(entry) = entries::find(txn, id).await? else { return Ok(()) };
    if entry.status != EntryStatus::Offered || entry.booking_id != Some(booking.id) {
        return Ok(());
    }
    close(txn, db, &entry, status, now, ctx).await.map(|_| ())
}
