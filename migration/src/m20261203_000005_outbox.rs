//! The outbox (docs/design.md §16): one row per change, written in the
//! transaction that made the change.
//!
//! - `id`: from the database's own counter, taken at insert, so a later
//!   transaction that waited for an earlier one's lock always gets a
//!   larger id;
//! - `position`: the feed's order, given after commit by one sequencer at a
//!   time to the committed rows still without one, in id order. A reader
//!   of positions never meets a gap that fills later;
//! - `resource_id`, `previous_resource_id`, `window_start`, `window_end`:
//!   whose occupied time a change touched, and where (NULL window: all of
//!   it, as a resource's own change may), for the live change streams.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OutboxEvent {
    Table,
    Id,
    Position,
    Type,
    SubjectId,
    OccurredAt,
    Data,
    ResourceId,
    PreviousResourceId,
    WindowStart,
    WindowEnd,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OutboxEvent::Table)
                    .col(ColumnDef::new(OutboxEvent::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(OutboxEvent::Position).big_integer().null())
                    .col(ColumnDef::new(OutboxEvent::Type).string_len(32).not_null())
                    .col(ColumnDef::new(OutboxEvent::SubjectId).uuid().not_null())
                    .col(ColumnDef::new(OutboxEvent::OccurredAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(OutboxEvent::Data).text().not_null())
                    .col(ColumnDef::new(OutboxEvent::ResourceId).uuid().null())
                    .col(ColumnDef::new(OutboxEvent::PreviousResourceId).uuid().null())
                    .col(ColumnDef::new(OutboxEvent::WindowStart).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(OutboxEvent::WindowEnd).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_event_position")
                    .table(OutboxEvent::Table)
                    .col(OutboxEvent::Position)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("outbox_event_resource", OutboxEvent::ResourceId),
            ("outbox_event_previous_resource", OutboxEvent::PreviousResourceId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(OutboxEvent::Table)
                        .col(column)
                        .col(OutboxEvent::Position)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("outbox_event_occurred")
                    .table(OutboxEvent::Table)
                    .col(OutboxEvent::OccurredAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
