//! Custom booking fields and calendar feeds (docs/design.md §28):
//! `resource.booking_fields`, the JSON Schema a booking's fields must
//! satisfy (JSON text; none: the resource takes no fields), and
//! `booking.fields`, the booking's answers (a JSON object's text, at most
//! 8 KiB); `calendar_feed`, one feed token per resource or customer,
//! stored as its SHA-256 (a new one replaces the old).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Resource {
    Table,
    BookingFields,
}

#[derive(DeriveIden)]
enum Booking {
    Table,
    Fields,
}

#[derive(DeriveIden)]
enum CalendarFeed {
    Table,
    OwnerKind,
    OwnerId,
    TokenHash,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Resource::Table)
                    .add_column(ColumnDef::new(Resource::BookingFields).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Booking::Table)
                    .add_column(ColumnDef::new(Booking::Fields).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CalendarFeed::Table)
                    .col(ColumnDef::new(CalendarFeed::OwnerKind).string_len(16).not_null())
                    .col(ColumnDef::new(CalendarFeed::OwnerId).uuid().not_null())
                    .col(ColumnDef::new(CalendarFeed::TokenHash).string_len(64).not_null())
                    .col(ColumnDef::new(CalendarFeed::CreatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(CalendarFeed::OwnerKind).col(CalendarFeed::OwnerId))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CalendarFeed::Table).to_owned()).await?;
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE booking DROP COLUMN fields").await?;
        db.execute_unprepared("ALTER TABLE resource DROP COLUMN booking_fields").await?;
        Ok(())
    }
}
