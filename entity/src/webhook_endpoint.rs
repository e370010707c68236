use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoint")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    /// A JSON array of event types; `[]` is every type.
    pub types: String,
    pub secret: String,
    pub enabled: bool,
    pub disabled_at: Option<DateTimeUtc>,
    pub failing_since: Option<DateTimeUtc>,
    /// The feed position up to which deliveries have been made.
    pub feed_position: i64,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
