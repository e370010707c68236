//! Resource rows: mapping to and from `domain::Resource`, and conditional
//! writes (`WHERE id = ? AND version = ?`) so that a stale writer changes
//! nothing.

use entity::resource::{ActiveModel, Column, Entity, Model};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::StoreResult;
use crate::domain::{ids::ResourceId, resource::Resource, uniqueness_key};

fn to_domain(m: Model) -> Resource {
    Resource {
        id: ResourceId(m.id),
        name: m.name,
        description: m.description,
        capacity: m.capacity,
        time_zone: m.time_zone,
        active: m.active,
        hold_ttl_seconds: m.hold_ttl_seconds,
        max_booking_duration_seconds: m.max_booking_duration_seconds,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

fn to_active(r: &Resource) -> ActiveModel {
    ActiveModel {
        id: Set(r.id.0),
        name: Set(r.name.clone()),
        name_key: Set(uniqueness_key(&r.name)),
        description: Set(r.description.clone()),
        capacity: Set(r.capacity),
        time_zone: Set(r.time_zone.clone()),
        active: Set(r.active),
        hold_ttl_seconds: Set(r.hold_ttl_seconds),
        max_booking_duration_seconds: Set(r.max_booking_duration_seconds),
        version: Set(r.version),
        created_at: Set(r.created_at),
        updated_at: Set(r.updated_at),
    }
}

/// Inserts a new resource. A taken name is `StoreError::Unique`.
pub async fn insert(conn: &impl ConnectionTrait, resource: &Resource) -> StoreResult<()> {
    Entity::insert(to_active(resource)).exec_without_returning(conn).await?;
    Ok(())
}

pub async fn find(conn: &impl ConnectionTrait, id: ResourceId) -> StoreResult<Option<Resource>> {
    Ok(Entity::find_by_id(id.0).one(conn).await?.map(to_domain))
}

/// One page of resources in creation order, starting after `after`.
pub async fn list(conn: &impl ConnectionTrait, after: Option<ResourceId>, limit: u64) -> StoreResult<Vec<Resource>> {
    let mut query = Entity::find().order_by_asc(Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after.0));
    }
    Ok(query.all(conn).await?.into_iter().map(to_domain).collect())
}

/// Writes `resource` over the row if the row is still at `expected_version`.
/// Returns whether a row was written.
pub async fn update_if_version(
    conn: &impl ConnectionTrait,
    resource: &Resource,
    expected_version: i64,
) -> StoreResult<bool> {
    let mut row = to_active(resource);
    row.id = NotSet;
    row.created_at = NotSet;
    let result = Entity::update_many()
        .set(row)
        .filter(Column::Id.eq(resource.id.0))
        .filter(Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Deletes the row if it is still at `expected_version`. Returns whether a
/// row was deleted.
pub async fn delete_if_version(
    conn: &impl ConnectionTrait,
    id: ResourceId,
    expected_version: i64,
) -> StoreResult<bool> {
    let result = Entity::delete_many()
        .filter(Column::Id.eq(id.0))
        .filter(Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Reads the resource and, on PostgreSQL, locks its row until the
/// transaction ends (`SELECT ... FOR UPDATE`). Every decision about a
/// resource's capacity takes this lock first, so deciders for one resource
/// run one after another (READ COMMITTED alone would lose such races);
/// on SQLite, `BEGIN IMMEDIATE` has already serialised all writers.
pub async fn lock(conn: &impl ConnectionTrait, id: ResourceId) -> StoreResult<Option<Resource>> {
    Ok(Entity::find_by_id(id.0).lock_exclusive().one(conn).await?.map(to_domain))
}
