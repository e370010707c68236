//! The outbox (`outbox_event`): rows appended in the transaction of the
//! change they describe, given their feed `position` after commit by the
//! sequencer, read in position order, and forgotten after the retention.

use chrono::{DateTime, Utc};
use entity::outbox_event::{ActiveModel, Column, Entity, Model};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Statement,
    sea_query::InsertStatement,
};

use super::StoreResult;

/// One change, as the outbox keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRow {
    pub position: i64,
    pub event_type: String,
    pub subject_id: uuid::Uuid,
    pub occurred_at: DateTime<Utc>,
    /// JSON.
    pub data: String,
}

/// Whose occupied time a change touched, and where; `window: None` is
/// all of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Touched {
    pub resource_id: uuid::Uuid,
    /// A booking moved off another resource: that one.
    pub previous_resource_id: Option<uuid::Uuid>,
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Appends a change in the caller's transaction.
pub async fn append(
    conn: &impl ConnectionTrait,
    event_type: &str,
    subject_id: uuid::Uuid,
    occurred_at: DateTime<Utc>,
    data: String,
    touched: Option<Touched>,
) -> StoreResult<()> {
    conn.execute(&append_statement(event_type, subject_id, occurred_at, data, touched)).await?;
    Ok(())
}

/// The insert `append` runs, to run with others (`batch::Inserts`).
pub fn append_statement(
    event_type: &str,
    subject_id: uuid::Uuid,
    occurred_at: DateTime<Utc>,
    data: String,
    touched: Option<Touched>,
) -> InsertStatement {
    let row = ActiveModel {
        id: NotSet,
        position: Set(None),
        r#type: Set(event_type.to_owned()),
        subject_id: Set(subject_id),
        occurred_at: Set(occurred_at),
        data: Set(data),
        resource_id: Set(touched.map(|t| t.resource_id)),
        previous_resource_id: Set(touched.and_then(|t| t.previous_resource_id)),
        window_start: Set(touched.and_then(|t| t.window).map(|(start, _)| start)),
        window_end: Set(touched.and_then(|t| t.window).map(|(_, end)| end)),
    };
    Entity::insert(row).into_query()
}

/// An arbitrary constant: the advisory lock that makes sequencers run one
/// at a time on PostgreSQL (SQLite's `BEGIN IMMEDIATE` already does).
const SEQUENCER_LOCK: i64 = 0x6265_7274_6800;

/// Gives the next positions, in id order, to up to `batch` committed rows
/// that have none; returns how many. Run in a write transaction of its
/// own: the caller commits.
pub async fn sequence(conn: &impl ConnectionTrait, batch: u64) -> StoreResult<u64> {
    let backend = conn.get_database_backend();
    if backend == DatabaseBackend::Postgres {
        let lock = Statement::from_sql_and_values(backend, "SELECT pg_advisory_xact_lock($1)", [SEQUENCER_LOCK.into()]);
        conn.execute_raw(lock).await?;
    }
    // One statement for both databases (SQLite has UPDATE ... FROM and
    // window functions). Under the lock, a new statement's snapshot sees
    // every position an earlier sequencer gave.
    let sql = format!(
        "UPDATE outbox_event SET position = numbered.base + numbered.n \
         FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n, \
                      (SELECT COALESCE(MAX(position), 0) FROM outbox_event) AS base \
               FROM outbox_event WHERE position IS NULL ORDER BY id LIMIT {batch}) AS numbered \
         WHERE outbox_event.id = numbered.id"
    );
    let result = conn.execute_raw(Statement::from_string(backend, sql)).await?;
    Ok(result.rows_affected())
}

/// Whether a committed row still waits for its position.
pub async fn any_unnumbered(conn: &impl ConnectionTrait) -> StoreResult<bool> {
    let found: Option<i64> = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::Position.is_null())
        .into_tuple()
        .one(conn)
        .await?;
    Ok(found.is_some())
}

/// A change to one resource's occupied time, as its stream tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceChange {
    pub position: i64,
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Up to `limit` sequenced changes touching `resource` after `after`.
pub async fn resource_changes(
    conn: &impl ConnectionTrait,
    resource: uuid::Uuid,
    after: i64,
    limit: u64,
) -> StoreResult<Vec<ResourceChange>> {
    let rows = Entity::find()
        .filter(Column::Position.gt(after))
        .filter(Condition::any().add(Column::ResourceId.eq(resource)).add(Column::PreviousResourceId.eq(resource)))
        .order_by_asc(Column::Position)
        .limit(limit)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|m| ResourceChange { position: m.position.unwrap_or_default(), window: m.window_start.zip(m.window_end) })
        .collect())
}

/// The newest position given so far (0 when none).
pub async fn latest_position(conn: &impl ConnectionTrait) -> StoreResult<i64> {
    let newest: Option<Option<i64>> =
        Entity::find().select_only().column_as(Column::Position.max(), "newest").into_tuple().one(conn).await?;
    Ok(newest.flatten().unwrap_or(0))
}

fn to_row(m: Model) -> OutboxRow {
    OutboxRow {
        position: m.position.unwrap_or_default(),
        event_type: m.r#type,
        subject_id: m.subject_id,
        occurred_at: m.occurred_at,
        data: m.data,
    }
}

/// Up to `limit` sequenced rows after `after`, in position order, of the
/// given types (all when empty).
pub async fn list(
    conn: &impl ConnectionTrait,
    after: i64,
    limit: u64,
    types: &[String],
) -> StoreResult<Vec<OutboxRow>> {
    let mut query = Entity::find().filter(Column::Position.gt(after)).order_by_asc(Column::Position).limit(limit);
    if !types.is_empty() {
        query = query.filter(Column::Type.is_in(types.iter().cloned()));
    }
    Ok(query.all(conn).await?.into_iter().map(to_row).collect())
}

/// Deletes up to `batch` sequenced rows that occurred before `before`;
/// returns how many. The newest row always stays: the next position is
/// counted from it, and a consumer's cursor must never be given out again.
pub async fn forget(conn: &impl ConnectionTrait, before: DateTime<Utc>, batch: u64) -> StoreResult<u64> {
    let newest: Option<Option<i64>> =
        Entity::find().select_only().column_as(Column::Position.max(), "newest").into_tuple().one(conn).await?;
    let Some(newest) = newest.flatten() else { return Ok(0) };
    let ids: Vec<i64> = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::OccurredAt.lt(before))
        .filter(Column::Position.lt(newest))
        // The oldest first, along `outbox_event_occurred_sequenced`: the
        // scan ends at `before` whether or not the plan knows its value.
        .order_by_asc(Column::OccurredAt)
        .limit(batch)
        .into_tuple()
        .all(conn)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(Entity::delete_many().filter(Column::Id.is_in(ids)).exec(conn).await?.rows_affected)
}
