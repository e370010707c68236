//! Recurring series (docs/design.md §25): `booking_series` holds what was
//! asked (the first occurrence, the rule, the mode) and whether it is
//! cancelled; its occurrences are ordinary bookings that name it
//! (`booking.series_id`, indexed for `GET /v1/bookings?series_id=`). A
//! series through a group keeps its `group_id` when the group is deleted,
//! like its bookings.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BookingSeries {
    Table,
    Id,
    ResourceId,
    GroupId,
    CustomerId,
    StartAt,
    EndAt,
    Rrule,
    Quantity,
    Mode,
    Status,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Resource {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Customer {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Booking {
    Table,
    SeriesId,
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
                    .table(BookingSeries::Table)
                    .col(ColumnDef::new(BookingSeries::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(BookingSeries::ResourceId).uuid().null())
                    .col(ColumnDef::new(BookingSeries::GroupId).uuid().null())
                    .col(ColumnDef::new(BookingSeries::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(BookingSeries::StartAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(BookingSeries::EndAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(BookingSeries::Rrule).string_len(500).not_null())
                    .col(ColumnDef::new(BookingSeries::Quantity).integer().not_null())
                    // all_or_nothing or skip_conflicts
                    .col(ColumnDef::new(BookingSeries::Mode).string_len(16).not_null())
                    // active or cancelled
                    .col(ColumnDef::new(BookingSeries::Status).string_len(16).not_null())
                    .col(ColumnDef::new(BookingSeries::Version).big_integer().not_null())
                    .col(ColumnDef::new(BookingSeries::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(BookingSeries::UpdatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("booking_series_resource_fk")
                            .from(BookingSeries::Table, BookingSeries::ResourceId)
                            .to(Resource::Table, Resource::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("booking_series_customer_fk")
                            .from(BookingSeries::Table, BookingSeries::CustomerId)
                            .to(Customer::Table, Customer::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Booking::Table)
                    .add_column(ColumnDef::new(Booking::SeriesId).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX booking_series_occurrences ON booking (series_id) WHERE series_id IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS booking_series_occurrences").await?;
        db.execute_unprepared("ALTER TABLE booking DROP COLUMN series_id").await?;
        manager.drop_table(Table::drop().table(BookingSeries::Table).to_owned()).await?;
        Ok(())
    }
}
