//! `booking_customer_time`: a GiST index of (customer, resource, booked
//! time) on PostgreSQL, so that the duplicate rule's question, "has this
//! customer a booking of this resource overlapping this time?", is one
//! index search however many bookings the customer has there
//! (docs/design.md §34).
//!
//! Before, the question was a range scan of the `(customer_id,
//! resource_id, start_at)` B-tree over every booking of the customer there
//! that started within the resource's longest booking (31 days by
//! default) before the requested end: ~750 rows and ~250 µs for a customer
//! who books a resource every hour, on every decision, the one-trip
//! statement's included. A B-tree cannot bound both ends of an interval;
//! GiST on ranges can. `btree_gist` (a contrib extension PostgreSQL ships,
//! trusted since PostgreSQL 13, so a database's owner may create it) lets
//! the two ids sit in the same index. The range is half-open, `[start,
//! end)`, as bookings are. SQLite keeps the B-tree scan (its writers are
//! serial and a scan costs no round trip).
//!
//! The index is built under `CREATE INDEX`'s lock, which holds writes of
//! bookings back for as long as the build takes (seconds per million
//! bookings), as every earlier index migration did.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const CREATE: &[&str] = &[
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    "CREATE INDEX booking_customer_time ON booking USING gist (customer_id, resource_id, tstzrange(start_at, end_at))",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            for sql in CREATE {
                manager.get_connection().execute_unprepared(sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            // The extension stays: something else may use it.
            manager.get_connection().execute_unprepared("DROP INDEX IF EXISTS booking_customer_time").await?;
        }
        Ok(())
    }
}
