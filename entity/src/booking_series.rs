use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "booking_series")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Exactly one of `resource_id` and `group_id` is set.
    pub resource_id: Option<Uuid>,
    pub group_id: Option<Uuid>,
    pub customer_id: Uuid,
    /// The first occurrence, as asked.
    pub start_at: DateTimeUtc,
    pub end_at: DateTimeUtc,
    /// The RFC 5545 `RRULE` value, as given.
    pub rrule: String,
    pub quantity: i32,
    /// `all_or_nothing` or `skip_conflicts`.
    pub mode: String,
    /// `active` or `cancelled`.
    pub status: String,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
