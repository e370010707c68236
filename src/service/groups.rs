//! Group (pool) use cases: create, read, list, update and delete, with
//! optimistic concurrency on the row version. Deleting a group never
//! touches its resources or the bookings made through it.

use sea_orm::DatabaseTransaction;

use super::{
    Context, Db, Expected, ServiceError,
    decision::lock_in_order,
    events::{self, EventType},
    idempotency::Seal,
    now, retrying,
    waitlist::queue::serve,
};
use crate::domain::{
    group::{Group, GroupChanges, NewGroup, member_problems},
    ids::{GroupId, ResourceId},
};
use crate::store::{self, StoreError, groups, resources, waitlist};

fn stored(err: StoreError) -> ServiceError {
    match err {
        StoreError::Unique => ServiceError::AlreadyExists { field: "name" },
        // A member deleted between our check and the insert.
        StoreError::ForeignKey => ServiceError::invalid("resource_ids", "names a resource that does not exist"),
        other => other.into(),
    }
}

/// 422 unless `members` are 1 to 50 distinct resources that exist.
async fn check_members(txn: &DatabaseTransaction, members: &[ResourceId]) -> Result<(), ServiceError> {
    if let Some(invalid) = member_problems(members).into_iter().next() {
        return Err(invalid.into());
    }
    for (index, member) in members.iter().enumerate() {
        if resources::find(txn, *member).await?.is_none() {
            return Err(ServiceError::invalid(
                crate::domain::field::Field::named("resource_ids").at(index),
                "no resource with this id",
            ));
        }
    }
    Ok(())
}

pub async fn create(db: &Db, new: NewGroup, ctx: &Context, seal: &Seal<'_, Group>) -> Result<Group, ServiceError> {
    let group = new.into_group(GroupId::generate(), now());
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        check_members(&txn, &group.members).await?;
        groups::insert(&txn, &group).await.map_err(stored)?;
        events::group_changed(&txn, db, EventType::GroupCreated, &group, group.created_at, ctx).await?;
        seal.store(&txn, group.created_at, &group).await?;
        txn.commit().await?;
        Ok(group.clone())
    })
    .await
}

pub async fn get(db: &Db, id: GroupId) -> Result<Group, ServiceError> {
    groups::find(db.conn(), id).await?.ok_or(ServiceError::NotFound)
}

/// `limit` rows after `after`, in creation order.
pub async fn list(db: &Db, after: Option<GroupId>, limit: u64) -> Result<Vec<Group>, ServiceError> {
    Ok(groups::list(db.conn(), after, limit).await?)
}

/// Applies `changes` if the group's version, under its lock, is one
/// `expected` allows.
pub async fn update(
    db: &Db,
    id: GroupId,
    expected: &Expected,
    changes: GroupChanges,
    ctx: &Context,
) -> Result<Group, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let mut group = groups::lock(&txn, id).await?.ok_or(ServiceError::NotFound)?;
        expected.check(group.version)?;
        let locked_version = group.version;
        if let Some(members) = &changes.members {
            check_members(&txn, members).await?;
        }
        // A member added to a group with a queue is one more place its
        // entries may be served (docs/design.md §24): locked before the
        // clock is read, like every decider's resources.
        let added: Vec<ResourceId> =
            changes.members.iter().flatten().filter(|member| !group.members.contains(member)).copied().collect();
        let mut joined = lock_in_order(&txn, &added).await?;
        let now = db.decision_clock(&txn).await?;
        group.apply(changes.clone(), now);
        if !groups::update_if_version(&txn, &group, locked_version).await.map_err(stored)? {
            return Err(ServiceError::VersionMismatch { current_version: locked_version });
        }
        events::group_changed(&txn, db, EventType::GroupUpdated, &group, group.updated_at, ctx).await?;
        let waiting = waitlist::active_in_group(&txn, group.id).await?;
        if waiting > 0 {
            let ids: Vec<ResourceId> = joined.keys().copied().collect();
            waitlist::count_in(&txn, &ids, waiting).await?;
            for resource in joined.values_mut() {
                resource.waitlist_active =
                    resource.waitlist_active.saturating_add(i32::try_from(waiting).unwrap_or(i32::MAX));
                serve(&txn, db, resource, now, ctx).await?;
            }
        }
        txn.commit().await?;
        Ok(group)
    })
    .await
}

/// Deletes the group if its version, under its lock, is one `expected`
/// allows. Its resources and bookings stay.
pub async fn delete(db: &Db, id: GroupId, expected: &Expected, ctx: &Context) -> Result<(), ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let group = groups::lock(&txn, id).await?.ok_or(ServiceError::NotFound)?;
        expected.check(group.version)?;
        if !groups::delete_if_version(&txn, id, group.version).await? {
            return Err(ServiceError::VersionMismatch { current_version: group.version });
        }
        let now = db.decision_clock(&txn).await?;
        events::group_changed(&txn, db, EventType::GroupDeleted, &group, now, ctx).await?;
        txn.commit().await?;
        Ok(())
    })
    .await
}
