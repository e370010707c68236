//! What the audit reads (docs/design.md §23), and the usage summary's
//! rebuild (`berth repair-usage`).
//!
//! The audit reads one resource at a time in a read-only snapshot
//! (`begin_snapshot`): on PostgreSQL a `REPEATABLE READ READ ONLY`
//! transaction, which neither waits for writers nor makes them wait, and
//! whose statements all see one committed state; on SQLite a read
//! transaction, which in WAL mode sees the database as of its first read
//! while writers go on.

use std::collections::BTreeMap;

use entity::booking::{Column, Entity};
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, IsolationLevel, QueryFilter, QuerySelect, Statement, TransactionTrait,
    sea_query::{Expr, ExprTrait, Query},
};

use super::{StoreResult, usage};
use crate::domain::{
    booking::Booking,
    ids::{BookingId, ResourceId},
};

use super::usage::ACTIVE as NOT_TERMINAL;

/// A read-only transaction whose reads all see one committed state.
pub async fn begin_snapshot(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)).await
    } else {
        db.begin().await
    }
}

/// The held, pending, confirmed and checked-in bookings of `resource`: every one
/// the capacity, duplicate and summary checks look at.
pub async fn active_bookings(conn: &impl ConnectionTrait, resource: ResourceId) -> StoreResult<Vec<Booking>> {
    let rows = Entity::find()
        .filter(Column::ResourceId.eq(resource.0))
        .filter(Column::Status.is_in(NOT_TERMINAL))
        .all(conn)
        .await?;
    rows.into_iter().map(super::bookings::to_domain).collect()
}

/// How many bookings `resource` has, in any status.
pub async fn count_bookings(conn: &impl ConnectionTrait, resource: ResourceId) -> StoreResult<u64> {
    let count: Option<i64> = Entity::find()
        .select_only()
        .column_as(Column::Id.count(), "count")
        .filter(Column::ResourceId.eq(resource.0))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(u64::try_from(count.unwrap_or(0)).unwrap_or(0))
}

/// The usage summary's rows of `resource` that are not 0: hour → units.
pub async fn recorded_usage(conn: &impl ConnectionTrait, resource: ResourceId) -> StoreResult<BTreeMap<i64, i64>> {
    use entity::resource_usage::{Column as U, Entity as Usage};
    let rows: Vec<(i64, i64)> = Usage::find()
        .select_only()
        .columns([U::Bucket, U::Units])
        .filter(U::ResourceId.eq(resource.0))
        .filter(U::Units.ne(0))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Up to `at_most` bookings of `resource` whose last history event (by
/// time, then id) does not move them to their status: (id, status, that
/// event's status, if it has any history).
pub async fn history_mismatches(
    conn: &impl ConnectionTrait,
    resource: ResourceId,
    at_most: u64,
) -> StoreResult<Vec<(BookingId, String, Option<String>)>> {
    let backend = conn.get_database_backend();
    let param = if backend == DatabaseBackend::Postgres { "$1" } else { "?" };
    let sql = format!(
        "SELECT id, status, last FROM (SELECT b.id, b.status, \
(SELECT e.to_status FROM booking_event e WHERE e.booking_id = b.id ORDER BY e.at DESC, e.id DESC LIMIT 1) AS last \
FROM booking b WHERE b.resource_id = {param}) t WHERE last IS NULL OR last <> status LIMIT {at_most}"
    );
    let rows = conn.query_all_raw(Statement::from_sql_and_values(backend, sql, [resource.0.into()])).await?;
    rows.iter()
        .map(|row| {
            Ok((
                BookingId(row.try_get::<uuid::Uuid>("", "id")?),
                row.try_get::<String>("", "status")?,
                row.try_get::<Option<String>>("", "last")?,
            ))
        })
        .collect()
}

/// The feed's order: how many sequenced events there are, and up to
/// `at_most` (subject, position, the position before it) where an event's
/// position is not above that of the subject's event written before it
/// (ids are taken in the order a subject's changes commit, docs/design.md
/// §16). Two events at one position the unique index on `position` rules
/// out.
pub async fn feed_disorder(
    conn: &impl ConnectionTrait,
    at_most: u64,
) -> StoreResult<(u64, Vec<(uuid::Uuid, i64, i64)>)> {
    let backend = conn.get_database_backend();
    let count = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS count FROM outbox_event WHERE position IS NOT NULL",
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "count"))
        .transpose()?
        .unwrap_or(0);
    let sql = format!(
        "SELECT subject_id, position, previous FROM (SELECT subject_id, position, \
LAG(position) OVER (PARTITION BY subject_id ORDER BY id) AS previous FROM outbox_event WHERE position IS NOT NULL) t \
WHERE position <= previous LIMIT {at_most}"
    );
    let rows = conn.query_all_raw(Statement::from_string(backend, sql)).await?;
    let found = rows
        .iter()
        .map(|row| {
            Ok((
                row.try_get::<uuid::Uuid>("", "subject_id")?,
                row.try_get::<i64>("", "position")?,
                row.try_get::<i64>("", "previous")?,
            ))
        })
        .collect::<StoreResult<_>>()?;
    Ok((u64::try_from(count).unwrap_or(0), found))
}

/// The held, pending, confirmed and checked-in bookings of `resource`, locked for
/// this transaction (PostgreSQL; SQLite's writer is alone): a cancel or the
/// sweeper changing one waits, and one that committed is seen (PostgreSQL
/// checks the condition again on a row it waited for: one that became
/// terminal meanwhile is not returned).
pub async fn lock_active_bookings(conn: &impl ConnectionTrait, resource: ResourceId) -> StoreResult<Vec<Booking>> {
    let rows = Entity::find()
        .filter(Column::ResourceId.eq(resource.0))
        .filter(Column::Status.is_in(NOT_TERMINAL))
        .lock_exclusive()
        .all(conn)
        .await?;
    rows.into_iter().map(super::bookings::to_domain).collect()
}

/// Replaces the usage summary of `resource` by `units` (hour → units), and
/// marks every booking of it counted: after this the summary holds each
/// of them as it is.
pub async fn replace_usage(
    conn: &impl ConnectionTrait,
    resource: ResourceId,
    units: &BTreeMap<i64, i64>,
) -> StoreResult<()> {
    use entity::resource_usage::{Column as U, Entity as Usage};
    Usage::delete_many().filter(U::ResourceId.eq(resource.0)).exec(conn).await?;
    let mut changes = usage::Changes::new();
    for (hour, units) in units {
        changes.hour(resource, *hour, *units);
    }
    changes.write(conn).await?;
    conn.execute(
        &Query::update()
            .table(Entity)
            .value(Column::CountedVersion, Expr::col(Column::Version))
            .and_where(Expr::col(Column::ResourceId).eq(resource.0))
            .and_where(Expr::cust(usage::UNCOUNTED))
            .to_owned(),
    )
    .await?;
    Ok(())
}
