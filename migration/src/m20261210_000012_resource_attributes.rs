//! Resource attributes (docs/design.md §27): `resource.attributes`, a flat
//! JSON object, `{}` by default. On PostgreSQL a `jsonb` column with a GIN
//! index (`jsonb_path_ops`), which answers the search's containment
//! filter (`attributes @> '{"surface": "clay"}'`); on SQLite JSON text,
//! filtered with `json_type`/`json_extract`.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared("ALTER TABLE resource ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}'").await?;
                db.execute_unprepared(
                    "CREATE INDEX resource_attributes ON resource USING gin (attributes jsonb_path_ops)",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared("ALTER TABLE resource ADD COLUMN attributes text NOT NULL DEFAULT '{}'").await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS resource_attributes").await?;
        db.execute_unprepared("ALTER TABLE resource DROP COLUMN attributes").await?;
        Ok(())
    }
}
