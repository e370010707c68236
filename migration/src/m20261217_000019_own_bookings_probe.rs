//! The duplicate rule's question on PostgreSQL, "has this customer a
//! blocking booking of this resource overlapping this time?", answered by
//! probes of the `(customer_id, resource_id, start_at)` B-tree instead of
//! migration 000017's GiST index (docs/design.md §36).
//!
//! - Drops `booking_customer_time`: every booking insert paid for it, 15-19
//!   % of the write throughput on a database of 130,000-190,000 bookings
//!   (BENCHMARKS.md, "#32, seventh part"). The `btree_gist` extension stays:
//!   something else may use it.
//! - Adds `booking_customer_lapsing`, a partial B-tree of the bookings whose
//!   blocking a clock ends (holds, requests, confirmed bookings with a
//!   check-in deadline). A customer's other blocking bookings of a resource
//!   never overlap each other, so two steps of the B-tree find the one
//!   that may overlap a time; these are read whole, from this index. Its
//!   predicate is written out again in the function below, so that the
//!   planner can prove the function's query may use the index. A booking
//!   confirmed without a deadline (every booking of the benchmarks) is
//!   never in it.
//! - Adds `berth_own_first(customer, resource, except, now_at, earliest,
//!   reach, from_at, to_at)`: the first by start of the customer's
//!   bookings of the resource but `except` that block at `now_at` and
//!   overlap `[from_at, to_at)`, started after `earliest` and `reach` (the
//!   longest booking before `now_at` and before `from_at`). The steady
//!   ones (confirmed with no deadline, checked in) by one step of the
//!   B-tree each way from `from_at`; the lapsing ones whole, from the
//!   partial index. PL/pgSQL, `STABLE`: it reads with the snapshot of the
//!   statement that calls it, and its query is planned once per
//!   connection rather than with every statement that embeds it (three
//!   subqueries planned inline cost the one-trip statement more than the
//!   probes saved). It encodes which statuses block and when, as
//!   `store::bookings::blocking` does: a change of those is a new
//!   migration.
//!
//! Built under `CREATE INDEX`'s lock, as every earlier index migration.
//! SQLite has neither index nor function and keeps its scan.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "DROP INDEX IF EXISTS booking_customer_time",
    "CREATE INDEX booking_customer_lapsing ON booking (customer_id, resource_id, start_at) \
     WHERE (booking.status IN ('held', 'pending') \
     OR (booking.status = 'confirmed' AND booking.check_in_deadline_at IS NOT NULL))",
    r#"CREATE FUNCTION berth_own_first(customer uuid, resource uuid, except_id uuid, now_at timestamptz,
    earliest timestamptz, reach timestamptz, from_at timestamptz, to_at timestamptz)
RETURNS TABLE (id uuid, start_at timestamptz, end_at timestamptz)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT own.id, own.start_at, own.end_at FROM (
        SELECT b.id, b.start_at, b.end_at FROM booking b
        WHERE b.customer_id = customer AND b.resource_id = resource AND b.id IS DISTINCT FROM except_id
          AND (b.status IN ('held', 'pending') OR (b.status = 'confirmed' AND b.check_in_deadline_at IS NOT NULL))
          AND ((b.status IN ('held', 'pending') AND b.hold_expires_at > now_at)
               OR (b.status = 'confirmed' AND b.check_in_deadline_at > now_at))
          AND b.start_at > earliest AND b.start_at > reach AND b.start_at < to_at
          AND b.end_at > now_at AND b.end_at > from_at
        UNION ALL
        (SELECT b.id, b.start_at, b.end_at FROM booking b
         WHERE b.customer_id = customer AND b.resource_id = resource AND b.id IS DISTINCT FROM except_id
           AND (b.status = 'checked_in' OR (b.status = 'confirmed' AND b.check_in_deadline_at IS NULL))
           AND b.start_at > earliest AND b.start_at > reach AND b.start_at <= from_at AND b.end_at > now_at
         ORDER BY b.start_at DESC LIMIT 1)
        UNION ALL
        (SELECT b.id, b.start_at, b.end_at FROM booking b
         WHERE b.customer_id = customer AND b.resource_id = resource AND b.id IS DISTINCT FROM except_id
           AND (b.status = 'checked_in' OR (b.status = 'confirmed' AND b.check_in_deadline_at IS NULL))
           AND b.start_at > earliest AND b.start_at > from_at AND b.start_at < to_at AND b.end_at > now_at
         ORDER BY b.start_at ASC LIMIT 1)
    ) AS own
    WHERE own.end_at > from_at
    ORDER BY own.start_at
    LIMIT 1;
END
$$"#,
];

const DOWN: &[&str] = &[
    "DROP FUNCTION IF EXISTS berth_own_first(uuid, uuid, uuid, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz)",
    "DROP INDEX IF EXISTS booking_customer_lapsing",
    "CREATE INDEX IF NOT EXISTS booking_customer_time ON booking \
     USING gist (customer_id, resource_id, tstzrange(start_at, end_at))",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(manager, DOWN).await
    }
}

/// Runs each of `statements` in order, on PostgreSQL only.
async fn on_postgres(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    if manager.get_database_backend() == DbBackend::Postgres {
        for sql in statements {
            manager.get_connection().execute_unprepared(sql).await?;
        }
    }
    Ok(())
}
