//! Calendar feed tokens (docs/design.md §28): one per resource or customer,
//! stored as its SHA-256; writing one replaces (revokes) the one before.

use chrono::{DateTime, Utc};
use entity::calendar_feed::{ActiveModel, Column, Entity};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::OnConflict};

use super::StoreResult;

/// Stores `token_hash` as the feed token of (`kind`, `owner`), replacing
/// any before it.
pub async fn replace(
    conn: &impl ConnectionTrait,
    kind: &str,
    owner: uuid::Uuid,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let row = ActiveModel {
        owner_kind: Set(kind.to_owned()),
        owner_id: Set(owner),
        token_hash: Set(token_hash.to_owned()),
        created_at: Set(now),
    };
    Entity::insert(row)
        .on_conflict(
            OnConflict::columns([Column::OwnerKind, Column::OwnerId])
                .update_columns([Column::TokenHash, Column::CreatedAt])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The stored hash of (`kind`, `owner`)'s feed token, if it has one.
pub async fn token_hash(conn: &impl ConnectionTrait, kind: &str, owner: uuid::Uuid) -> StoreResult<Option<String>> {
    Ok(Entity::find()
        .filter(Column::OwnerKind.eq(kind))
        .filter(Column::OwnerId.eq(owner))
        .one(conn)
        .await?
        .map(|row| row.token_hash))
}
