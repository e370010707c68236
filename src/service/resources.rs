//! Resource use cases: create, read, list, update and delete, with
//! optimistic concurrency on the row version.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;

use super::{
    Context, Db, Expected, ServiceError, bookings,
    events::{self, EventType},
    idempotency::Seal,
    now, retrying,
    waitlist::queue::serve,
};
use crate::domain::{
    attributes::AttributeFilter,
    ids::ResourceId,
    resource::{NewResource, Resource, ResourceChanges},
};
use crate::store::{self, StoreError, resources};

fn name_taken(err: StoreError) -> ServiceError {
    match err {
        StoreError::Unique => ServiceError::AlreadyExists { field: "name" },
        other => other.into(),
    }
}

pub async fn create(
    db: &Db,
    new: NewResource,
    ctx: &Context,
    seal: &Seal<'_, Resource>,
) -> Result<Resource, ServiceError> {
    let resource = new.into_resource(ResourceId::generate(), now());
    if let Some(invalid) = resource.inconsistency() {
        return Err(invalid.into());
    }
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        resources::insert(&txn, &resource).await.map_err(name_taken)?;
        events::resource_changed(&txn, db, EventType::ResourceCreated, &resource, resource.created_at, ctx).await?;
        seal.store(&txn, resource.created_at, &resource).await?;
        txn.commit().await?;
        Ok(resource.clone())
    })
    .await
}

pub async fn get(db: &Db, id: ResourceId) -> Result<Resource, ServiceError> {
    resources::find(db.conn(), id).await?.ok_or(ServiceError::NotFound)
}

/// `limit` rows after `after`, in creation order, those whose attributes
/// match every filter.
pub async fn list(
    db: &Db,
    after: Option<ResourceId>,
    limit: u64,
    filters: &[AttributeFilter],
) -> Result<Vec<Resource>, ServiceError> {
    Ok(resources::list(db.conn(), after, limit, filters).await?)
}

/// Applies `changes` if the resource's version, under its lock, is one
/// `expected` allows.
pub async fn update(
    db: &Db,
    id: ResourceId,
    expected: &Expected,
    changes: ResourceChanges,
    ctx: &Context,
) -> Result<Resource, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let mut resource = resources::lock(&txn, id).await?.ok_or(ServiceError::NotFound)?;
        expected.check(resource.version)?;
        let locked_version = resource.version;
        let now = db.decision_clock(&txn).await?;
        let (old_capacity, old_max) = (resource.capacity, resource.max_booking_duration_seconds);
        resource.apply(changes.clone(), now);
        if let Some(invalid) = resource.inconsistency() {
            return Err(invalid.into());
        }
        if resource.capacity < old_capacity || resource.max_booking_duration_seconds < old_max {
            check_commitments(&txn, &resource, old_max, now).await?;
        }
        if !resources::update_if_version(&txn, &resource, locked_version).await.map_err(name_taken)? {
            // Another writer got in between our read and our write.
            let current = resources::find(&txn, id).await?.ok_or(ServiceError::NotFound)?;
            return Err(ServiceError::VersionMismatch { current_version: current.version });
        }
        events::resource_changed(&txn, db, EventType::ResourceUpdated, &resource, now, ctx).await?;
        // More capacity, wider hours, a looser policy: the queue gets what
        // they free before this commits (docs/design.md §24).
        serve(&txn, db, &resource, now, ctx).await?;
        txn.commit().await?;
        Ok(resource)
    })
    .await
}

/// Deletes the resource if its version, under its lock, is one `expected`
/// allows.
pub async fn delete(db: &Db, id: ResourceId, expected: &Expected, ctx: &Context) -> Result<(), ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let resource = resources::lock(&txn, id).await?.ok_or(ServiceError::NotFound)?;
        expected.check(resource.version)?;
        let now = db.decision_clock(&txn).await?;
        let blocking_bookings = bookings::reads::future_commitments(&txn, &resource, now).await?.bookings;
        if blocking_bookings > 0 {
            return Err(ServiceError::HasBookings { blocking_bookings });
        }
        if !resources::delete_if_version(&txn, id, resource.version).await? {
            return Err(ServiceError::VersionMismatch { current_version: resource.version });
        }
        events::resource_changed(&txn, db, EventType::ResourceDeleted, &resource, now, ctx).await?;
        txn.commit().await?;
        Ok(())
    })
    .await
}

/// Rule 4: capacity may not drop below the peak of the future blocking
/// bookings, and the longest allowed booking may not drop below the longest
/// future one (the overlap query's lower bound relies on it).
async fn check_commitments(
    txn: &DatabaseTransaction,
    changed: &Resource,
    old_max_duration_seconds: i64,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    // Search with the old bound: that is what the existing bookings obey.
    let mut searched = changed.clone();
    searched.max_booking_duration_seconds = old_max_duration_seconds;
    let commitments = bookings::reads::future_commitments(txn, &searched, now).await?;
    if commitments.peak_usage > i64::from(changed.capacity) {
        return Err(ServiceError::CapacityBelowCommitments { peak_usage: commitments.peak_usage });
    }
    let longest = commitments.longest_seconds;
    if longest > changed.max_booking_duration_seconds {
        return Err(ServiceError::invalid(
            "max_booking_duration_seconds",
            format!("a future booking lasts {longest} s; the limit cannot go below that"),
        ));
    }
    Ok(())
}
