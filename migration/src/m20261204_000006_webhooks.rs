//! Webhooks: the endpoints admins register (`webhook_endpoint`: where, which
//! event types, the signing secret, how far into the feed it has been
//! fanned out, since when it fails) and one row per event to deliver to one
//! endpoint (`webhook_delivery`: the body as signed, the attempts, the next
//! one, the lease of the instance sending it, the last outcome).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoint {
    Table,
    Id,
    Url,
    Description,
    Types,
    Secret,
    Enabled,
    DisabledAt,
    FailingSince,
    FeedPosition,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDelivery {
    Table,
    Id,
    EndpointId,
    Position,
    EventType,
    OccurredAt,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LeasedUntil,
    LastAttemptAt,
    LastStatus,
    LastError,
    DeliveredAt,
    CreatedAt,
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
                    .table(WebhookEndpoint::Table)
                    .col(ColumnDef::new(WebhookEndpoint::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(WebhookEndpoint::Url).string_len(2048).not_null())
                    .col(ColumnDef::new(WebhookEndpoint::Description).string_len(500).null())
                    // A JSON array of event types; `[]` is every type.
                    .col(ColumnDef::new(WebhookEndpoint::Types).text().not_null())
                    .col(ColumnDef::new(WebhookEndpoint::Secret).string_len(64).not_null())
                    .col(ColumnDef::new(WebhookEndpoint::Enabled).boolean().not_null())
                    .col(ColumnDef::new(WebhookEndpoint::DisabledAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(WebhookEndpoint::FailingSince).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(WebhookEndpoint::FeedPosition).big_integer().not_null())
                    .col(ColumnDef::new(WebhookEndpoint::Version).big_integer().not_null())
                    .col(ColumnDef::new(WebhookEndpoint::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(WebhookEndpoint::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDelivery::Table)
                    .col(ColumnDef::new(WebhookDelivery::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(WebhookDelivery::EndpointId).uuid().not_null())
                    .col(ColumnDef::new(WebhookDelivery::Position).big_integer().not_null())
                    .col(ColumnDef::new(WebhookDelivery::EventType).string_len(32).not_null())
                    .col(ColumnDef::new(WebhookDelivery::OccurredAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(WebhookDelivery::Payload).text().not_null())
                    // `pending`, `delivered` or `failed`.
                    .col(ColumnDef::new(WebhookDelivery::Status).string_len(16).not_null())
                    .col(ColumnDef::new(WebhookDelivery::Attempts).integer().not_null())
                    .col(ColumnDef::new(WebhookDelivery::NextAttemptAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(WebhookDelivery::LeasedUntil).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(WebhookDelivery::LastAttemptAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(WebhookDelivery::LastStatus).integer().null())
                    .col(ColumnDef::new(WebhookDelivery::LastError).string_len(500).null())
                    .col(ColumnDef::new(WebhookDelivery::DeliveredAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(WebhookDelivery::CreatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookDelivery::Table, WebhookDelivery::EndpointId)
                            .to(WebhookEndpoint::Table, WebhookEndpoint::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One delivery per event and endpoint; the log reads it in order.
        manager
            .create_index(
                Index::create()
                    .name("webhook_delivery_endpoint_position")
                    .table(WebhookDelivery::Table)
                    .col(WebhookDelivery::EndpointId)
                    .col(WebhookDelivery::Position)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Each endpoint's queue: the oldest pending delivery is the one that
        // may be sent (partial, so a long delivered history costs nothing;
        // both databases take this syntax).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX webhook_delivery_pending ON webhook_delivery (endpoint_id, position) \
                 WHERE status = 'pending'",
            )
            .await?;
        // The worker's scan for what is due.
        manager
            .create_index(
                Index::create()
                    .name("webhook_delivery_due")
                    .table(WebhookDelivery::Table)
                    .col(WebhookDelivery::Status)
                    .col(WebhookDelivery::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_delivery_created")
                    .table(WebhookDelivery::Table)
                    .col(WebhookDelivery::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
