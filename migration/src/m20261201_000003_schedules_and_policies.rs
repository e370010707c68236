//! Opening hours and booking policies (docs/design.md §12):
//!
//! - `resource.schedule` and `resource.policy`: JSON text, NULL when the
//!   resource has none (always open, no policy);
//! - `booking.buffer_before_seconds` / `buffer_after_seconds`: the buffers a
//!   booking was made with (a later policy change never moves it), and
//!   `occupied_start_at` / `occupied_end_at`, its interval widened by them:
//!   what the capacity rule counts. Existing bookings occupy exactly their
//!   interval;
//! - the capacity reads move from `(resource_id, start_at)` to
//!   `(resource_id, occupied_start_at)`, covering the same columns;
//! - `booking_event.policy_overridden`: an admin skipped the policy.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Resource {
    Table,
    Schedule,
    Policy,
}

#[derive(DeriveIden)]
enum Booking {
    Table,
    ResourceId,
    StartAt,
    EndAt,
    Status,
    HoldExpiresAt,
    Quantity,
    BufferBeforeSeconds,
    BufferAfterSeconds,
    OccupiedStartAt,
    OccupiedEndAt,
}

#[derive(DeriveIden)]
enum BookingEvent {
    Table,
    PolicyOverridden,
}

fn add(table: impl IntoIden, column: &mut ColumnDef) -> TableAlterStatement {
    Table::alter().table(table).add_column(column).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        manager.alter_table(add(Resource::Table, ColumnDef::new(Resource::Schedule).text().null())).await?;
        manager.alter_table(add(Resource::Table, ColumnDef::new(Resource::Policy).text().null())).await?;
        for buffer in [Booking::BufferBeforeSeconds, Booking::BufferAfterSeconds] {
            let column = ColumnDef::new(buffer).integer().not_null().default(0).to_owned();
            manager.alter_table(add(Booking::Table, &mut column.clone())).await?;
        }
        for bound in [Booking::OccupiedStartAt, Booking::OccupiedEndAt] {
            let column = ColumnDef::new(bound).timestamp_with_time_zone().null().to_owned();
            manager.alter_table(add(Booking::Table, &mut column.clone())).await?;
        }
        manager
            .exec_stmt(
                Query::update()
                    .table(Booking::Table)
                    .value(Booking::OccupiedStartAt, Expr::col(Booking::StartAt))
                    .value(Booking::OccupiedEndAt, Expr::col(Booking::EndAt))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
            // SQLite cannot add NOT NULL to an existing column; berth
            // always writes both there too.
            for bound in [Booking::OccupiedStartAt, Booking::OccupiedEndAt] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Booking::Table)
                            .modify_column(ColumnDef::new(bound).timestamp_with_time_zone().not_null())
                            .to_owned(),
                    )
                    .await?;
            }
        }
        manager
            .create_index(
                Index::create()
                    .name("booking_resource_occupied")
                    .table(Booking::Table)
                    .col(Booking::ResourceId)
                    .col(Booking::OccupiedStartAt)
                    .col(Booking::OccupiedEndAt)
                    .col(Booking::Status)
                    .col(Booking::HoldExpiresAt)
                    .col(Booking::Quantity)
                    .to_owned(),
            )
            .await?;
        manager.drop_index(Index::drop().name("booking_resource_start").table(Booking::Table).to_owned()).await?;
        manager
            .alter_table(add(
                BookingEvent::Table,
                ColumnDef::new(BookingEvent::PolicyOverridden).boolean().not_null().default(false),
            ))
            .await?;
        Ok(())
    }
}
