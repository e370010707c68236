//! `berth_fall_back(reason)`: how the one-round-trip booking statement
//! (docs/design.md §30) gives up.
//!
//! That statement writes a booking, its events, its key's record and its
//! hours in the usage summary, and only then knows whether every guard
//! held (the summary's rows unchanged since its snapshot and with room, the
//! resource at the version the instance decided by, its time's locks
//! free). When one did not, nothing of it may stand: the statement calls
//! this function, which raises SQLSTATE `BF001` with the guard's name, so
//! the whole statement rolls back and berth decides the booking the full
//! way. A function because plain SQL has no way to raise.
//!
//! It also fences older binaries (docs/design.md §22): the statement
//! relies on every writer touching the summary rows of every hour it
//! changes, even by 0 units, which releases before this one did not do.
//! SQLite has no such statement: nothing there.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const CREATE: &str = "CREATE FUNCTION berth_fall_back(reason text) RETURNS timestamptz LANGUAGE plpgsql AS $$ \
BEGIN RAISE EXCEPTION USING ERRCODE = 'BF001', MESSAGE = 'berth one-trip booking falls back: ' || reason; END $$";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared(CREATE).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared("DROP FUNCTION IF EXISTS berth_fall_back(text)").await?;
        }
        Ok(())
    }
}
