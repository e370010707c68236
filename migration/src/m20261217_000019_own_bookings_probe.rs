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
//!   predicate is the text of `store::bookings::LAPSING`, so that the
//!   planner can prove a query carrying it may use the index. A booking
//!   confirmed without a deadline (every booking of the benchmarks) is
//!   never in it.
//!
//! Built under `CREATE INDEX`'s lock, as every earlier index migration.
//! SQLite has neither index and keeps its scan.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "DROP INDEX IF EXISTS booking_customer_time",
    "CREATE INDEX booking_customer_lapsing ON booking (customer_id, resource_id, start_at) \
     WHERE (booking.status IN ('held', 'pending') \
     OR (booking.status = 'confirmed' AND booking.check_in_deadline_at IS NOT NULL))",
];

const DOWN: &[&str] = &[
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
