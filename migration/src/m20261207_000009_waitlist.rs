//! Waiting lists (docs/design.md §24).
//!
//! - `waitlist_entry`: one row per place in a queue, for a resource or a
//!   group, with the offer it got (`booking_id`, `offer_expires_at`,
//!   `offered_at`) and when it stopped being active (`closed_at`). The
//!   queue of a resource is read in order from a partial index of the
//!   active entries, so a long history of closed ones costs nothing.
//! - `resource.waitlist_active`: how many active entries (waiting or
//!   offered) may concern the resource, its own and its groups'. Written
//!   exactly (up) by a join under the resource's lock and down only to the
//!   true count by a decision that read the queue under the same lock, so
//!   it is never below the truth: a decision that reads 0 in the row it
//!   locks knows there is no queue to serve without another read. A
//!   partial index finds the resources above 0 for the sweeper.
//! - `booking.waitlist_entry_id`: the entry a held booking was offered to.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WaitlistEntry {
    Table,
    Id,
    ResourceId,
    GroupId,
    CustomerId,
    StartAt,
    EndAt,
    Quantity,
    Status,
    BookingId,
    OfferExpiresAt,
    OfferedAt,
    ClosedAt,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Resource {
    Table,
    Id,
    WaitlistActive,
}

#[derive(DeriveIden)]
enum ResourceGroup {
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
    WaitlistEntryId,
}

/// Partial indexes (both databases take this syntax): each queue in order,
/// active entries only; and the offer's booking, at most one entry each.
const INDEXES: &[&str] = &[
    "CREATE INDEX waitlist_entry_resource_queue ON waitlist_entry (resource_id, created_at, id) \
WHERE status IN ('waiting', 'offered')",
    "CREATE INDEX waitlist_entry_group_queue ON waitlist_entry (group_id, created_at, id) \
WHERE status IN ('waiting', 'offered')",
    "CREATE UNIQUE INDEX waitlist_entry_booking ON waitlist_entry (booking_id) WHERE booking_id IS NOT NULL",
];

/// The resources the sweeper serves: those whose count is above 0 (none in
/// most databases), found without reading every resource.
const QUEUED_RESOURCES: &str = "CREATE INDEX resource_queued ON resource (id) WHERE waitlist_active > 0";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WaitlistEntry::Table)
                    .col(ColumnDef::new(WaitlistEntry::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(WaitlistEntry::ResourceId).uuid().null())
                    .col(ColumnDef::new(WaitlistEntry::GroupId).uuid().null())
                    .col(ColumnDef::new(WaitlistEntry::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(WaitlistEntry::StartAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(WaitlistEntry::EndAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(WaitlistEntry::Quantity).integer().not_null())
                    // waiting, offered, accepted, declined, expired, left, lapsed
                    .col(ColumnDef::new(WaitlistEntry::Status).string_len(16).not_null())
                    .col(ColumnDef::new(WaitlistEntry::BookingId).uuid().null())
                    .col(ColumnDef::new(WaitlistEntry::OfferExpiresAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(WaitlistEntry::OfferedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(WaitlistEntry::ClosedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(WaitlistEntry::Version).big_integer().not_null())
                    .col(ColumnDef::new(WaitlistEntry::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(WaitlistEntry::UpdatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("waitlist_entry_resource_fk")
                            .from(WaitlistEntry::Table, WaitlistEntry::ResourceId)
                            .to(Resource::Table, Resource::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("waitlist_entry_group_fk")
                            .from(WaitlistEntry::Table, WaitlistEntry::GroupId)
                            .to(ResourceGroup::Table, ResourceGroup::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("waitlist_entry_customer_fk")
                            .from(WaitlistEntry::Table, WaitlistEntry::CustomerId)
                            .to(Customer::Table, Customer::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("waitlist_entry_customer")
                    .table(WaitlistEntry::Table)
                    .col(WaitlistEntry::CustomerId)
                    .col(WaitlistEntry::CreatedAt)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        for sql in INDEXES {
            db.execute_unprepared(sql).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Resource::Table)
                    .add_column(ColumnDef::new(Resource::WaitlistActive).integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared(QUEUED_RESOURCES).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Booking::Table)
                    .add_column(ColumnDef::new(Booking::WaitlistEntryId).uuid().null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(WaitlistEntry::Table).to_owned()).await?;
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS resource_queued").await?;
        db.execute_unprepared("ALTER TABLE resource DROP COLUMN waitlist_active").await?;
        db.execute_unprepared("ALTER TABLE booking DROP COLUMN waitlist_entry_id").await?;
        Ok(())
    }
}
