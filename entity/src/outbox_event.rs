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
    /// Whose occupied time the change touched, and where (NULL: all).
    pub resource_id: Option<Uuid>,
    pub previous_resource_id: Option<Uuid>,
    pub window_start: Option<DateTimeUtc>,
    pub window_end: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
