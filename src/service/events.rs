//! Telling the rest of the world (docs/design.md §16): every change appends
//! one event to the outbox in the transaction that makes it, so an event
//! exists exactly when its change committed. The feed reads them in the
//! order the sequencer gives after commit (`store::outbox`).
//!
//! An event's `data` holds the object as the API shows it (rendered by the
//! `Represent` the HTTP layer installs on `Db`), the actor, the request id,
//! and for bookings the status before the change.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, sea_query::InsertStatement};
use serde_json::{Value, json};

use super::{Context, Db, ServiceError, retrying};
pub use crate::domain::event::EventType;
use crate::domain::{
    booking::{Booking, BookingStatus, Target},
    group::Group,
    ids::ResourceId,
    resource::Resource,
    series::Series,
    time_range::TimeRange,
    waitlist::Entry,
    webhook::Endpoint,
};
use crate::store::{
    self,
    outbox::{self, OutboxRow, Touched},
};

pub use super::represent::{IdsOnly, Represent};

fn who(ctx: &Context) -> Value {
    json!({"actor": {"sub": ctx.actor.sub, "role": ctx.actor.role}, "request_id": ctx.request_id})
}

/// What a booking was before a change.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Before {
    /// `None` for a new booking.
    pub status: Option<BookingStatus>,
    /// Moved to another resource (a group's member): the one it left.
    pub resource: Option<ResourceId>,
    /// Moved: the time it occupied.
    pub occupied: Option<TimeRange>,
}

/// A booking's change, as the insert of its outbox event (to run with
/// its history event, `store::batch`): its representation now, its status before,
/// and (when it moved) the resource it left. The occupied time touched is
/// what it occupies now, and where it was before a move.
pub(super) fn booking_change(
    db: &Db,
    event: EventType,
    booking: &Booking,
    before: Before,
    ctx: &Context,
) -> InsertStatement {
    let mut data = who(ctx);
    data["booking"] = db.represent().booking(booking);
    data["previous_status"] = json!(before.status.map(BookingStatus::as_str));
    if let Some(left) = before.resource {
        data["previous_resource_id"] = json!(left.0);
    }
    if let Some(entry) = booking.waitlist_entry {
        data["waitlist_entry_id"] = json!(entry.0);
    }
    let now = booking.occupied();
    let (start, end) = match before.occupied {
        Some(was) => (now.start().min(was.start()), now.end().max(was.end())),
        None => (now.start(), now.end()),
    };
    let touched = Touched {
        resource_id: booking.resource_id.0,
        previous_resource_id: before.resource.map(|r| r.0),
        window: Some((start, end)),
    };
    outbox::append_statement(event.as_str(), booking.id.0, booking.updated_at, data.to_string(), Some(touched))
}

/// A waiting-list entry's change, as the insert of its outbox event: the
/// entry as the API shows it (without its position). An entry of a
/// resource touches its interval there (slot search shows what the queue
/// would take, docs/design.md §24).
pub(super) fn waitlist_change(db: &Db, event: EventType, entry: &Entry, ctx: &Context) -> InsertStatement {
    let mut data = who(ctx);
    data["waitlist_entry"] = db.represent().waitlist_entry(entry);
    let touched = match entry.target {
        Target::Resource(resource) => Some(Touched {
            resource_id: resource.0,
            previous_resource_id: None,
            window: Some((entry.range.start(), entry.range.end())),
        }),
        Target::Group(_) => None,
    };
    outbox::append_statement(event.as_str(), entry.id.0, entry.updated_at, data.to_string(), touched)
}

/// A series' change, as the insert of its outbox event: the series as the
/// API shows it and the ids of the occurrences it made or cancelled (each
/// has its own `booking.*` event too).
pub(super) fn series_change(
    db: &Db,
    event: EventType,
    series: &Series,
    bookings: &[Booking],
    ctx: &Context,
) -> InsertStatement {
    let mut data = who(ctx);
    data["series"] = db.represent().series(series);
    data["booking_ids"] = json!(bookings.iter().map(|b| b.id.0).collect::<Vec<_>>());
    outbox::append_statement(event.as_str(), series.id.0, series.updated_at, data.to_string(), None)
}

/// Appends a resource's change, with its representation (as it was, for a
/// deletion).
pub(super) async fn resource_changed(
    txn: &DatabaseTransaction,
    db: &Db,
    event: EventType,
    resource: &Resource,
    at: DateTime<Utc>,
    ctx: &Context,
) -> Result<(), ServiceError> {
    let mut data = who(ctx);
    data["resource"] = db.represent().resource(resource);
    // Its schedule, policy or capacity may have changed: all of its time.
    let touched = Touched { resource_id: resource.id.0, previous_resource_id: None, window: None };
    Ok(outbox::append(txn, event.as_str(), resource.id.0, at, data.to_string(), Some(touched)).await?)
}

/// Appends a group's change, like `resource_changed`.
pub(super) async fn group_changed(
    txn: &DatabaseTransaction,
    db: &Db,
    event: EventType,
    group: &Group,
    at: DateTime<Utc>,
    ctx: &Context,
) -> Result<(), ServiceError> {
    let mut data = who(ctx);
    data["group"] = db.represent().group(group);
    Ok(outbox::append(txn, event.as_str(), group.id.0, at, data.to_string(), None).await?)
}

/// Appends a webhook endpoint's change (it was switched off for failing),
/// like `resource_changed`.
pub(super) async fn webhook_changed(
    txn: &DatabaseTransaction,
    db: &Db,
    event: EventType,
    endpoint: &Endpoint,
    at: DateTime<Utc>,
    ctx: &Context,
) -> Result<(), ServiceError> {
    let mut data = who(ctx);
    data["webhook"] = db.represent().webhook(endpoint);
    Ok(outbox::append(txn, event.as_str(), endpoint.id.0, at, data.to_string(), None).await?)
}

/// One event of the feed.
#[derive(Clone, Debug)]
pub struct FeedEvent {
    pub position: i64,
    pub event_type: String,
    pub subject_id: uuid::Uuid,
    pub occurred_at: DateTime<Utc>,
    pub data: Value,
}

impl From<&OutboxRow> for FeedEvent {
    fn from(row: &OutboxRow) -> Self {
        FeedEvent {
            position: row.position,
            event_type: row.event_type.clone(),
            subject_id: row.subject_id,
            occurred_at: row.occurred_at,
            data: serde_json::from_str(&row.data).unwrap_or(Value::Null),
        }
    }
}

/// Up to `limit` numbered events after position `after` of the given types
/// (all when empty), and where the next page starts: a page that is not
/// full was read past `newest` (read before it), so nothing at or below
/// `newest` is left and the next one may start there. Used by the feed and
/// by the webhooks' fan-out.
pub(super) async fn page_after(
    conn: &impl ConnectionTrait,
    after: i64,
    limit: u64,
    types: &[EventType],
    newest: i64,
) -> Result<(Vec<OutboxRow>, i64), ServiceError> {
    let names: Vec<String> = types.iter().map(|t| t.as_str().to_owned()).collect();
    let rows = outbox::list(conn, after, limit, &names).await?;
    let last = rows.last().map_or(after, |row| row.position);
    let next_after = if (rows.len() as u64) < limit { last.max(newest) } else { last };
    Ok((rows, next_after))
}

/// How many rows one sequencer transaction numbers.
const SEQUENCE_BATCH: u64 = 1000;

/// Numbers every committed event still without a position; returns how
/// many. Any number of instances may run it: they take turns. With nothing
/// to number it only reads (no write transaction, no lock: on SQLite the
/// write lock is the whole database's). Behind a closed schema fence it
/// writes nothing: the feed shows what was numbered (`schema`).
pub async fn sequence(db: &Db) -> Result<u64, ServiceError> {
    if db.schema_ahead() || !outbox::any_unnumbered(db.conn()).await? {
        return Ok(0);
    }
    let mut total = 0;
    loop {
        let numbered = retrying(|| async {
            let txn = store::begin_write(db.conn()).await?;
            let numbered = outbox::sequence(&txn, SEQUENCE_BATCH).await?;
            txn.commit().await?;
            Ok(numbered)
        })
        .await?;
        crate::telemetry::events_numbered(numbered);
        total += numbered;
        if numbered < SEQUENCE_BATCH {
            return Ok(total);
        }
    }
}

/// A page of the feed, and where the next one starts.
pub struct FeedPage {
    pub events: Vec<FeedEvent>,
    pub next_after: i64,
}

/// Up to `limit` events after position `after`, of `types` (all when
/// empty). Numbers what has committed first, so a change answered before
/// this request is in the answer. A page that is not full was read up to
/// the newest position: the next one starts there, so a filter that
/// matches rarely does not read the same rows again.
pub async fn feed(db: &Db, after: i64, limit: u64, types: &[EventType]) -> Result<FeedPage, ServiceError> {
    sequence(db).await?;
    let newest = outbox::latest_position(db.conn()).await?;
    let (rows, next_after) = page_after(db.conn(), after, limit, types, newest).await?;
    Ok(FeedPage { events: rows.iter().map(FeedEvent::from).collect(), next_after })
}

/// A change to a resource's occupied time, as its live stream tells it:
/// where (`None`: anywhere, a change to the resource itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceChange {
    pub position: i64,
    pub window: Option<TimeRange>,
}

/// Up to `limit` changes touching `resource` after position `after`.
pub async fn resource_changes(
    db: &Db,
    resource: ResourceId,
    after: i64,
    limit: u64,
) -> Result<Vec<ResourceChange>, ServiceError> {
    let rows = outbox::resource_changes(db.conn(), resource.0, after, limit).await?;
    Ok(rows
        .into_iter()
        .map(|row| ResourceChange {
            position: row.position,
            window: row.window.and_then(|(start, end)| TimeRange::new(start, end)),
        })
        .collect())
}

/// The feed's position now: after every change committed before this
/// call (numbered first), 0 when it is empty.
pub async fn latest_position(db: &Db) -> Result<i64, ServiceError> {
    sequence(db).await?;
    Ok(outbox::latest_position(db.conn()).await?)
}

/// How many rows one cleanup transaction deletes.
const FORGET_BATCH: u64 = 1000;

/// Deletes the events older than `retention`, in batches; returns how
/// many.
pub async fn forget_old(db: &Db, retention: chrono::Duration) -> Result<u64, ServiceError> {
    super::forget_in_batches(db, retention, FORGET_BATCH, async |txn, before, batch| {
        outbox::forget(txn, before, batch).await
    })
    .await
}
