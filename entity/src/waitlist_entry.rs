use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "waitlist_entry")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Exactly one of `resource_id` and `group_id` is set.
    pub resource_id: Option<Uuid>,
    pub group_id: Option<Uuid>,
    pub customer_id: Uuid,
    pub start_at: DateTimeUtc,
    pub end_at: DateTimeUtc,
    pub quantity: i32,
    /// `waiting`, `offered`, `accepted`, `declined`, `expired`, `left` or `lapsed`.
    pub status: String,
    /// The held booking it was offered.
    pub booking_id: Option<Uuid>,
    pub offer_expires_at: Option<DateTimeUtc>,
    pub offered_at: Option<DateTimeUtc>,
    /// When it stopped being waiting or offered.
    pub closed_at: Option<DateTimeUtc>,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
