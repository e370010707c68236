use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "resource")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub name_key: String,
    pub description: Option<String>,
    pub capacity: i32,
    pub time_zone: String,
    pub active: bool,
    pub hold_ttl_seconds: i32,
    pub max_booking_duration_seconds: i64,
    /// JSON; NULL: always open.
    pub schedule: Option<String>,
    /// JSON; NULL: no policy.
    pub policy: Option<String>,
    pub version: i64,
    /// Active waiting-list entries that may concern it (never below the truth).
    pub waitlist_active: i32,
    /// A flat JSON object of string, number and boolean values (`jsonb` on
    /// PostgreSQL, text on SQLite).
    #[sea_orm(column_type = "JsonBinary")]
    pub attributes: Json,
    /// JSON Schema text a booking's `fields` must satisfy; NULL: no fields.
    pub booking_fields: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
