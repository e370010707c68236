//! `resource_usage.stamp`: a value every write of a summary row sets anew
//! (docs/design.md §31), so that a reader can tell that an hour's row is
//! the one it saw before, on both databases (PostgreSQL's `xmin` would do
//! there, SQLite has nothing like it). An instance's cached usage timeline
//! of a resource stays valid while the stamps of every hour it covers are
//! unchanged.
//!
//! Rows written before this migration keep 0 until their next write.
//! Releases before this one write rows without a new stamp; an instance
//! trusts stamps only once none of them can be writing (the same wait as
//! the one-round-trip booking's, §30). Adding a column with a constant
//! default rewrites nothing on either database.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ResourceUsage {
    Table,
    Stamp,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ResourceUsage::Table)
                    .add_column(ColumnDef::new(ResourceUsage::Stamp).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("ALTER TABLE resource_usage DROP COLUMN stamp").await?;
        Ok(())
    }
}
