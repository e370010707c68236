//! Columns whose length a client can push past the declared one, widened to
//! `text` on PostgreSQL (SQLite does not enforce declared lengths):
//! lower-casing can lengthen a name (`İ` → `i̇`; e-mail addresses are
//! ASCII), an identity provider's `sub` can be long, and an
//! Idempotency-Key's scope holds the raw request path. Each used to be a
//! 500 ("value too long") instead of an answer.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Resource {
    Table,
    NameKey,
}

#[derive(DeriveIden)]
enum BookingEvent {
    Table,
    ActorSub,
}

#[derive(DeriveIden)]
enum IdempotencyRecord {
    Table,
    Principal,
    Route,
}

fn widen(table: impl IntoIden, column: impl IntoIden) -> TableAlterStatement {
    Table::alter().table(table).modify_column(ColumnDef::new(column).text().not_null()).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DbBackend::Postgres {
            return Ok(());
        }
        manager.alter_table(widen(Resource::Table, Resource::NameKey)).await?;
        manager.alter_table(widen(BookingEvent::Table, BookingEvent::ActorSub)).await?;
        manager.alter_table(widen(IdempotencyRecord::Table, IdempotencyRecord::Principal)).await?;
        manager.alter_table(widen(IdempotencyRecord::Table, IdempotencyRecord::Route)).await?;
        Ok(())
    }
}
