//! Room on each page of the outbox for its rows' positions (docs/design.md
//! §43), on PostgreSQL.
//!
//! The sequencer gives every outbox row its position after commit: an
//! update, which writes a new version of the row. On a full page the new
//! version goes to another page, and the write-ahead log carries the whole
//! row again (about 850 bytes for a booking's event: its JSON). When the
//! new version fits on the page of the old one, PostgreSQL logs only the
//! bytes that differ (the position, between the id before it and the rest
//! after it, both unchanged): about 90 bytes. A booking's log fell from
//! ~3.8 to ~3.0 KiB, and the log's flushes are what the booking rate waits
//! for on two cores (§43 has the numbers).
//!
//! So new pages of `outbox_event` are filled to half: four booking events
//! and room for their four new versions. Pages written before keep what
//! they hold. SQLite has no pages to leave room on; nothing changes there.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared("ALTER TABLE outbox_event SET (fillfactor = 50)").await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared("ALTER TABLE outbox_event RESET (fillfactor)").await?;
        }
        Ok(())
    }
}
