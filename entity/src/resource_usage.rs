use sea_orm::entity::prelude::*;

/// Per resource and UTC hour (`bucket`, hours since the Unix epoch), the
/// units of the bookings that take or may take that hour.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "resource_usage")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub resource_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub bucket: i64,
    pub units: i64,
    /// Set anew by every write of the row (docs/design.md §31).
    pub stamp: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
