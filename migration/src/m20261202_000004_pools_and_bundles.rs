//! Pools and bundles (docs/design.md §14, §15):
//!
//! - `resource_group`: a named set of resources and how a member is picked
//!   (`assignment`: `first_fit` or `least_used`); names unique ignoring
//!   case through `name_key`, like resources;
//! - `resource_group_member`: the members in order (`position`); a resource
//!   may be in several groups; deleting a group or a resource removes the
//!   membership, never the other side;
//! - `booking.group_id`: the group a booking was made through. No foreign
//!   key: deleting a group leaves its bookings (and this record of how they
//!   were made) alone;
//! - `booking.bundle_id` / `bundle_item`: the bundle a booking belongs to
//!   (all booked, moved and cancelled together) and which item of the
//!   request it was, indexed to find the rest of its bundle.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ResourceGroup {
    Table,
    Id,
    Name,
    NameKey,
    Assignment,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ResourceGroupMember {
    Table,
    GroupId,
    ResourceId,
    Position,
}

#[derive(DeriveIden)]
enum Resource {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Booking {
    Table,
    GroupId,
    BundleId,
    BundleItem,
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
                    .table(ResourceGroup::Table)
                    .col(ColumnDef::new(ResourceGroup::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(ResourceGroup::Name).text().not_null())
                    .col(ColumnDef::new(ResourceGroup::NameKey).text().not_null())
                    .col(ColumnDef::new(ResourceGroup::Assignment).string_len(16).not_null())
                    .col(ColumnDef::new(ResourceGroup::Version).big_integer().not_null())
                    .col(ColumnDef::new(ResourceGroup::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(ResourceGroup::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("resource_group_name_key")
                    .table(ResourceGroup::Table)
                    .col(ResourceGroup::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ResourceGroupMember::Table)
                    .col(ColumnDef::new(ResourceGroupMember::GroupId).uuid().not_null())
                    .col(ColumnDef::new(ResourceGroupMember::ResourceId).uuid().not_null())
                    .col(ColumnDef::new(ResourceGroupMember::Position).integer().not_null())
                    .primary_key(Index::create().col(ResourceGroupMember::GroupId).col(ResourceGroupMember::ResourceId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ResourceGroupMember::Table, ResourceGroupMember::GroupId)
                            .to(ResourceGroup::Table, ResourceGroup::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ResourceGroupMember::Table, ResourceGroupMember::ResourceId)
                            .to(Resource::Table, Resource::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("resource_group_member_resource")
                    .table(ResourceGroupMember::Table)
                    .col(ResourceGroupMember::ResourceId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Booking::Table)
                    .add_column(ColumnDef::new(Booking::GroupId).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Booking::Table)
                    .add_column(ColumnDef::new(Booking::BundleId).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Booking::Table)
                    .add_column(ColumnDef::new(Booking::BundleItem).small_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("booking_bundle").table(Booking::Table).col(Booking::BundleId).to_owned(),
            )
            .await?;
        Ok(())
    }
}
