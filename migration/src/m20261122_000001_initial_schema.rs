//! The whole initial schema: resources, customers, bookings, their history and
//! idempotency records, with the CHECK constraints, foreign keys and indexes
//! the rules rely on. Later features add behaviour, not tables.
//!
//! Case-insensitive uniqueness is kept in `name_key` / `email_key` columns
//! (lower-cased in Rust) so that SQLite and PostgreSQL agree on what "the
//! same name" means (SQLite's `lower()` only folds ASCII).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Resource {
    Table,
    Id,
    Name,
    NameKey,
    Description,
    Capacity,
    TimeZone,
    Active,
    HoldTtlSeconds,
    MaxBookingDurationSeconds,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Customer {
    Table,
    Id,
    Email,
    EmailKey,
    Name,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Booking {
    Table,
    Id,
    ResourceId,
    CustomerId,
    StartAt,
    EndAt,
    Quantity,
    Status,
    HoldExpiresAt,
    Notes,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BookingEvent {
    Table,
    Id,
    BookingId,
    FromStatus,
    ToStatus,
    Action,
    ActorSub,
    ActorRole,
    Reason,
    RequestId,
    At,
}

#[derive(DeriveIden)]
enum IdempotencyRecord {
    Table,
    Id,
    Principal,
    IdempotencyKey,
    Method,
    Route,
    Fingerprint,
    State,
    ResponseStatus,
    ResponseHeaders,
    ResponseBody,
    CreatedAt,
    ExpiresAt,
}

const BOOKING_STATUSES: [&str; 7] = ["held", "confirmed", "cancelled", "expired", "checked_in", "completed", "no_show"];

fn timestamps(table: &mut TableCreateStatement, created: impl IntoIden, updated: impl IntoIden) {
    table
        .col(ColumnDef::new(created).timestamp_with_time_zone().not_null())
        .col(ColumnDef::new(updated).timestamp_with_time_zone().not_null());
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// All or nothing on SQLite too (sea-orm only wraps PostgreSQL by
    /// default): a start-up killed half-way must not leave a schema that the
    /// next start can neither use nor migrate.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut resource = Table::create();
        resource
            .table(Resource::Table)
            .col(ColumnDef::new(Resource::Id).uuid().not_null().primary_key())
            .col(ColumnDef::new(Resource::Name).string_len(200).not_null())
            .col(ColumnDef::new(Resource::NameKey).string_len(200).not_null())
            .col(ColumnDef::new(Resource::Description).text().null())
            .col(
                ColumnDef::new(Resource::Capacity)
                    .integer()
                    .not_null()
                    .check(Expr::col(Resource::Capacity).between(1, 1_000_000)),
            )
            .col(ColumnDef::new(Resource::TimeZone).string_len(64).not_null())
            .col(ColumnDef::new(Resource::Active).boolean().not_null())
            .col(
                ColumnDef::new(Resource::HoldTtlSeconds)
                    .integer()
                    .not_null()
                    .check(Expr::col(Resource::HoldTtlSeconds).between(30, 86_400)),
            )
            .col(
                ColumnDef::new(Resource::MaxBookingDurationSeconds)
                    .big_integer()
                    .not_null()
                    .check(Expr::col(Resource::MaxBookingDurationSeconds).gte(60)),
            )
            .col(ColumnDef::new(Resource::Version).big_integer().not_null().check(Expr::col(Resource::Version).gte(1)));
        timestamps(&mut resource, Resource::CreatedAt, Resource::UpdatedAt);
        manager.create_table(resource).await?;
        manager
            .create_index(
                Index::create()
                    .name("resource_name_key_unique")
                    .table(Resource::Table)
                    .col(Resource::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;

        let mut customer = Table::create();
        customer
            .table(Customer::Table)
            .col(ColumnDef::new(Customer::Id).uuid().not_null().primary_key())
            .col(ColumnDef::new(Customer::Email).string_len(254).not_null())
            .col(ColumnDef::new(Customer::EmailKey).string_len(254).not_null())
            .col(ColumnDef::new(Customer::Name).string_len(200).not_null())
            .col(ColumnDef::new(Customer::Version).big_integer().not_null().check(Expr::col(Customer::Version).gte(1)));
        timestamps(&mut customer, Customer::CreatedAt, Customer::UpdatedAt);
        manager.create_table(customer).await?;
        manager
            .create_index(
                Index::create()
                    .name("customer_email_key_unique")
                    .table(Customer::Table)
                    .col(Customer::EmailKey)
                    .unique()
                    .to_owned(),
            )
            .await?;

        let mut booking = Table::create();
        booking
            .table(Booking::Table)
            .col(ColumnDef::new(Booking::Id).uuid().not_null().primary_key())
            .col(ColumnDef::new(Booking::ResourceId).uuid().not_null())
            .col(ColumnDef::new(Booking::CustomerId).uuid().not_null())
            .col(ColumnDef::new(Booking::StartAt).timestamp_with_time_zone().not_null())
            .col(ColumnDef::new(Booking::EndAt).timestamp_with_time_zone().not_null())
            .col(ColumnDef::new(Booking::Quantity).integer().not_null().check(Expr::col(Booking::Quantity).gte(1)))
            .col(
                ColumnDef::new(Booking::Status)
                    .string_len(16)
                    .not_null()
                    .check(Expr::col(Booking::Status).is_in(BOOKING_STATUSES)),
            )
            .col(ColumnDef::new(Booking::HoldExpiresAt).timestamp_with_time_zone().null())
            .col(ColumnDef::new(Booking::Notes).text().null())
            .col(ColumnDef::new(Booking::Version).big_integer().not_null().check(Expr::col(Booking::Version).gte(1)))
            .check(Expr::col(Booking::EndAt).gt(Expr::col(Booking::StartAt)))
            // A hold always carries its expiry (an expired hold keeps it).
            .check(Expr::col(Booking::Status).ne("held").or(Expr::col(Booking::HoldExpiresAt).is_not_null()))
            .foreign_key(
                ForeignKey::create()
                    .name("booking_resource_fk")
                    .from(Booking::Table, Booking::ResourceId)
                    .to(Resource::Table, Resource::Id)
                    // Deleting a resource (allowed only without future
                    // blocking bookings) takes its past bookings with it.
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .foreign_key(
                ForeignKey::create()
                    .name("booking_customer_fk")
                    .from(Booking::Table, Booking::CustomerId)
                    .to(Customer::Table, Customer::Id)
                    .on_delete(ForeignKeyAction::Cascade),
            );
        timestamps(&mut booking, Booking::CreatedAt, Booking::UpdatedAt);
        manager.create_table(booking).await?;
        // The overlap query: `resource_id = ? AND start_at < new_end AND
        // start_at > new_start - max_duration` is a bounded range on this
        // index, and the columns after `start_at` cover the capacity rule's
        // reads (end, status, hold expiry, quantity) without touching rows.
        manager
            .create_index(
                Index::create()
                    .name("booking_resource_start")
                    .table(Booking::Table)
                    .col(Booking::ResourceId)
                    .col(Booking::StartAt)
                    .col(Booking::EndAt)
                    .col(Booking::Status)
                    .col(Booking::HoldExpiresAt)
                    .col(Booking::Quantity)
                    .to_owned(),
            )
            .await?;
        // The duplicate rule and "my bookings" lists.
        manager
            .create_index(
                Index::create()
                    .name("booking_customer_resource_start")
                    .table(Booking::Table)
                    .col(Booking::CustomerId)
                    .col(Booking::ResourceId)
                    .col(Booking::StartAt)
                    .to_owned(),
            )
            .await?;
        // The hold sweeper: `status = 'held' AND hold_expires_at <= now`.
        manager
            .create_index(
                Index::create()
                    .name("booking_status_hold_expires")
                    .table(Booking::Table)
                    .col(Booking::Status)
                    .col(Booking::HoldExpiresAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BookingEvent::Table)
                    .col(ColumnDef::new(BookingEvent::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(BookingEvent::BookingId).uuid().not_null())
                    .col(ColumnDef::new(BookingEvent::FromStatus).string_len(16).null())
                    .col(ColumnDef::new(BookingEvent::ToStatus).string_len(16).not_null())
                    .col(ColumnDef::new(BookingEvent::Action).string_len(32).not_null())
                    .col(ColumnDef::new(BookingEvent::ActorSub).string_len(255).not_null())
                    .col(ColumnDef::new(BookingEvent::ActorRole).string_len(16).not_null())
                    .col(ColumnDef::new(BookingEvent::Reason).text().null())
                    .col(ColumnDef::new(BookingEvent::RequestId).string_len(128).null())
                    .col(ColumnDef::new(BookingEvent::At).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("booking_event_booking_fk")
                            .from(BookingEvent::Table, BookingEvent::BookingId)
                            .to(Booking::Table, Booking::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("booking_event_booking_at")
                    .table(BookingEvent::Table)
                    .col(BookingEvent::BookingId)
                    .col(BookingEvent::At)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyRecord::Table)
                    .col(ColumnDef::new(IdempotencyRecord::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(IdempotencyRecord::Principal).string_len(255).not_null())
                    .col(ColumnDef::new(IdempotencyRecord::IdempotencyKey).string_len(255).not_null())
                    .col(ColumnDef::new(IdempotencyRecord::Method).string_len(16).not_null())
                    .col(ColumnDef::new(IdempotencyRecord::Route).string_len(255).not_null())
                    .col(ColumnDef::new(IdempotencyRecord::Fingerprint).string_len(128).not_null())
                    .col(
                        ColumnDef::new(IdempotencyRecord::State)
                            .string_len(16)
                            .not_null()
                            .check(Expr::col(IdempotencyRecord::State).is_in(["in_flight", "completed"])),
                    )
                    .col(ColumnDef::new(IdempotencyRecord::ResponseStatus).integer().null())
                    .col(ColumnDef::new(IdempotencyRecord::ResponseHeaders).text().null())
                    .col(ColumnDef::new(IdempotencyRecord::ResponseBody).blob().null())
                    .col(ColumnDef::new(IdempotencyRecord::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(IdempotencyRecord::ExpiresAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idempotency_record_scope_unique")
                    .table(IdempotencyRecord::Table)
                    .col(IdempotencyRecord::Principal)
                    .col(IdempotencyRecord::IdempotencyKey)
                    .col(IdempotencyRecord::Method)
                    .col(IdempotencyRecord::Route)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idempotency_record_expires")
                    .table(IdempotencyRecord::Table)
                    .col(IdempotencyRecord::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            IdempotencyRecord::Table.into_iden(),
            BookingEvent::Table.into_iden(),
            Booking::Table.into_iden(),
            Customer::Table.into_iden(),
            Resource::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
