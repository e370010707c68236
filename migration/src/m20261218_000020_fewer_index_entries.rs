//! Fewer index entries per booking (docs/design.md §41): indexes that only
//! some rows are looked up by hold only those rows.
//!
//! A booking's insert wrote an entry into every index of `booking`, and
//! its outbox row one into every index of `outbox_event` twice: once when
//! inserted, once more when the sequencer gave it its position (an update
//! of an indexed column writes a new row version and an entry for it in
//! every index). Seventeen entries per unkeyed booking (with its history
//! event's two), several of which no query reads:
//!
//! - `booking_status_hold_expires` held every booking, though only the
//!   sweeper reads it, for holds and requests that ran out (`status IN
//!   ('held', 'pending') AND hold_expires_at <= now`). Now
//!   `booking_hold_expires` holds only the bookings with an expiry.
//!   `hold_expires_at <= $1` implies the predicate whatever `$1` is, so
//!   generic plans may use it too. A confirmed booking has no expiry.
//! - `booking_bundle` held every booking, NULL for all but bundle members;
//!   only `bundle_id = $1` reads it. Now `booking_bundle_members`, only
//!   bundle members.
//! - `outbox_event_position` held a NULL entry for every row not yet
//!   sequenced, and then its position. Now `outbox_event_sequenced`, only
//!   positions; the sequencer
//!   finds the rows still without one by `outbox_event_unnumbered`, which
//!   holds only those (an update that gives a position adds no entry to
//!   it).
//! - `outbox_event_resource`, `outbox_event_previous_resource` and
//!   `outbox_event_occurred` held each row before and after its position
//!   was given. Every query that reads them asks for positions (`position >
//!   $1`, `position < $1`), so their replacements (`…_sequenced`) hold
//!   sequenced rows only, and the previous resource's only rows that have
//!   one (a move).
//!
//! Per unkeyed booking: 3 entries instead of 5 in `booking`, 6 instead of
//! 10 in `outbox_event`, 11 in all instead of 17. Both databases take the
//! same indexes (SQLite has partial indexes and proves `position > ?`
//! implies `position IS NOT NULL` as PostgreSQL does). Built under
//! `CREATE INDEX`'s lock, as every earlier index migration; each drop
//! comes after its replacement is built, inside the migration's
//! transaction.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "CREATE INDEX booking_hold_expires ON booking (status, hold_expires_at) WHERE hold_expires_at IS NOT NULL",
    "DROP INDEX booking_status_hold_expires",
    "CREATE INDEX booking_bundle_members ON booking (bundle_id) WHERE bundle_id IS NOT NULL",
    "DROP INDEX booking_bundle",
    "CREATE UNIQUE INDEX outbox_event_sequenced ON outbox_event (position) WHERE position IS NOT NULL",
    "CREATE INDEX outbox_event_unnumbered ON outbox_event (id) WHERE position IS NULL",
    "DROP INDEX outbox_event_position",
    "CREATE INDEX outbox_event_resource_sequenced ON outbox_event (resource_id, position) \
     WHERE position IS NOT NULL",
    "DROP INDEX outbox_event_resource",
    "CREATE INDEX outbox_event_previous_resource_sequenced ON outbox_event (previous_resource_id, position) \
     WHERE previous_resource_id IS NOT NULL AND position IS NOT NULL",
    "DROP INDEX outbox_event_previous_resource",
    "CREATE INDEX outbox_event_occurred_sequenced ON outbox_event (occurred_at) WHERE position IS NOT NULL",
    "DROP INDEX outbox_event_occurred",
];

const DOWN: &[&str] = &[
    "CREATE INDEX outbox_event_occurred ON outbox_event (occurred_at)",
    "DROP INDEX outbox_event_occurred_sequenced",
    "CREATE INDEX outbox_event_previous_resource ON outbox_event (previous_resource_id, position)",
    "DROP INDEX outbox_event_previous_resource_sequenced",
    "CREATE INDEX outbox_event_resource ON outbox_event (resource_id, position)",
    "DROP INDEX outbox_event_resource_sequenced",
    "CREATE UNIQUE INDEX outbox_event_position ON outbox_event (position)",
    "DROP INDEX outbox_event_unnumbered",
    "DROP INDEX outbox_event_sequenced",
    "CREATE INDEX booking_bundle ON booking (bundle_id)",
    "DROP INDEX booking_bundle_members",
    "CREATE INDEX booking_status_hold_expires ON booking (status, hold_expires_at)",
    "DROP INDEX booking_hold_expires",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}

/// Runs each of `statements` in order.
async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    for sql in statements {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}
