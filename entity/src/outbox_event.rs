use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The feed's order; NULL until the sequencer gives it one.
    pub position: Option<i64>,
    pub r#type: String,
    pub subject_id: Uuid,
    pub occurred_at: DateTimeUtc,
    /// JSON.
    pub data: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
