//! Group rows and their member rows: mapping to and from `domain::Group`,
//! and conditional writes (`WHERE id = ? AND version = ?`). A group's
//! members are replaced whole when it changes, in the same transaction.

use std::collections::HashMap;

use entity::{resource_group as group, resource_group_member as member};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::{StoreError, StoreResult};
use crate::domain::{
    group::{Assignment, Group},
    ids::{GroupId, ResourceId},
    uniqueness_key,
};

fn to_domain(m: group::Model, members: Vec<ResourceId>) -> StoreResult<Group> {
    let assignment = Assignment::parse(&m.assignment)
        .ok_or_else(|| StoreError::Corrupt(format!("group {} has an unknown assignment", m.id)))?;
    Ok(Group {
        id: GroupId(m.id),
        name: m.name,
        members,
        assignment,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn to_active(g: &Group) -> group::ActiveModel {
    group::ActiveModel {
        id: Set(g.id.0),
        name: Set(g.name.clone()),
        name_key: Set(uniqueness_key(&g.name)),
        assignment: Set(g.assignment.as_str().to_owned()),
        version: Set(g.version),
        created_at: Set(g.created_at),
        updated_at: Set(g.updated_at),
    }
}

/// Writes the member rows of `g`. A member that names no resource is
/// `StoreError::ForeignKey`. Rows go in by resource id: each one's foreign
/// key check share-locks its resource, and resources are locked in id
/// order everywhere (docs/design.md §5).
async fn insert_members(conn: &impl ConnectionTrait, g: &Group) -> StoreResult<()> {
    let mut members: Vec<_> = g.members.iter().enumerate().collect();
    members.sort_by_key(|(_, resource)| **resource);
    let rows = members.into_iter().map(|(position, resource)| member::ActiveModel {
        group_id: Set(g.id.0),
        resource_id: Set(resource.0),
        position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
    });
    member::Entity::insert_many(rows).exec_without_returning(conn).await?;
    Ok(())
}

/// Inserts a new group and its members. A taken name is
/// `StoreError::Unique`, a member that names nothing `StoreError::ForeignKey`.
pub async fn insert(conn: &impl ConnectionTrait, g: &Group) -> StoreResult<()> {
    group::Entity::insert(to_active(g)).exec_without_returning(conn).await?;
    insert_members(conn, g).await
}

/// The members of `groups`, each list in order.
async fn members_of(
    conn: &impl ConnectionTrait,
    groups: &[uuid::Uuid],
) -> StoreResult<HashMap<uuid::Uuid, Vec<ResourceId>>> {
    let rows = member::Entity::find()
        .filter(member::Column::GroupId.is_in(groups.iter().copied()))
        .order_by_asc(member::Column::GroupId)
        .order_by_asc(member::Column::Position)
        .all(conn)
        .await?;
    let mut members: HashMap<uuid::Uuid, Vec<ResourceId>> = HashMap::new();
    for row in rows {
        members.entry(row.group_id).or_default().push(ResourceId(row.resource_id));
    }
    Ok(members)
}

async fn with_members(conn: &impl ConnectionTrait, rows: Vec<group::Model>) -> StoreResult<Vec<Group>> {
    let ids: Vec<_> = rows.iter().map(|row| row.id).collect();
    let mut members = members_of(conn, &ids).await?;
    rows.into_iter()
        .map(|row| {
            let list = members.remove(&row.id).unwrap_or_default();
            to_domain(row, list)
        })
        .collect()
}

pub async fn find(conn: &impl ConnectionTrait, id: GroupId) -> StoreResult<Option<Group>> {
    let Some(row) = group::Entity::find_by_id(id.0).one(conn).await? else { return Ok(None) };
    Ok(with_members(conn, vec![row]).await?.pop())
}

/// Reads the group and, on PostgreSQL, locks its row (`FOR UPDATE`), so
/// that changes to one group run one after another.
pub async fn lock(conn: &impl ConnectionTrait, id: GroupId) -> StoreResult<Option<Group>> {
    let Some(row) = group::Entity::find_by_id(id.0).lock_exclusive().one(conn).await? else { return Ok(None) };
    Ok(with_members(conn, vec![row]).await?.pop())
}

/// One page of groups in creation order, starting after `after`.
pub async fn list(conn: &impl ConnectionTrait, after: Option<GroupId>, limit: u64) -> StoreResult<Vec<Group>> {
    let mut query = group::Entity::find().order_by_asc(group::Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(group::Column::Id.gt(after.0));
    }
    with_members(conn, query.all(conn).await?).await
}

/// Writes `g` (its members replaced whole) if the row is still at
/// `expected_version`. Returns whether it was written.
pub async fn update_if_version(conn: &impl ConnectionTrait, g: &Group, expected_version: i64) -> StoreResult<bool> {
    let mut row = to_active(g);
    row.id = NotSet;
    row.created_at = NotSet;
    let result = group::Entity::update_many()
        .set(row)
        .filter(group::Column::Id.eq(g.id.0))
        .filter(group::Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    if result.rows_affected != 1 {
        return Ok(false);
    }
    member::Entity::delete_many().filter(member::Column::GroupId.eq(g.id.0)).exec(conn).await?;
    insert_members(conn, g).await?;
    Ok(true)
}

/// Deletes the group (its memberships go with it) if the row is still at
/// `expected_version`. Returns whether a row was deleted.
pub async fn delete_if_version(conn: &impl ConnectionTrait, id: GroupId, expected_version: i64) -> StoreResult<bool> {
    let result = group::Entity::delete_many()
        .filter(group::Column::Id.eq(id.0))
        .filter(group::Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}
