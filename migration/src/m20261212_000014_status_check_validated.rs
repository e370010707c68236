//! `booking.status`'s CHECK validated on every PostgreSQL database.
//!
//! `m20261209_000011` replaces the CHECK `NOT VALID` and then validates
//! it. For a while that migration's text skipped the validation, and the
//! databases created then hold the constraint unvalidated (it checks new
//! rows, but the planner and `pg_constraint` do not count on it). A
//! landed migration never changes, so this one brings both kinds to the
//! same state: `VALIDATE CONSTRAINT` is a no-op where it is already valid,
//! and elsewhere one scan of `booking` under `SHARE UPDATE EXCLUSIVE`,
//! which lets bookings be written meanwhile. Every stored row passes it:
//! the statuses it admits are all berth writes. SQLite has no such state.
//! `down` leaves the constraint as it is: the release before reads a
//! validated one the same way.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE booking VALIDATE CONSTRAINT booking_status_check")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
