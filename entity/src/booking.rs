use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "booking")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub resource_id: Uuid,
    /// The group it was booked through, if any (kept after the group is deleted).
    pub group_id: Option<Uuid>,
    /// The bundle it belongs to, and which item of the request it was.
    pub bundle_id: Option<Uuid>,
    pub bundle_item: Option<i16>,
    pub customer_id: Uuid,
    pub start_at: DateTimeUtc,
    pub end_at: DateTimeUtc,
    pub quantity: i32,
    pub status: String,
    /// Held: when the hold runs out; pending: when the request does.
    pub hold_expires_at: Option<DateTimeUtc>,
    pub notes: Option<String>,
    pub buffer_before_seconds: i32,
    pub buffer_after_seconds: i32,
    /// `start_at - buffer_before`, `end_at + buffer_after`: what capacity counts.
    pub occupied_start_at: DateTimeUtc,
    pub occupied_end_at: DateTimeUtc,
    pub version: i64,
    /// The version whose occupied hours the usage summary holds; behind
    /// `version` (or NULL) when a writer did not account the row.
    pub counted_version: Option<i64>,
    /// The waiting-list entry this hold was offered to.
    pub waitlist_entry_id: Option<Uuid>,
    /// The recurring series it is an occurrence of.
    pub series_id: Option<Uuid>,
    /// When a confirmed booking not checked in stops taking the rest of
    /// its interval (its resource's check-in window after the start).
    pub check_in_deadline_at: Option<DateTimeUtc>,
    /// The booking's answers to its resource's fields (JSON object text).
    pub fields: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
