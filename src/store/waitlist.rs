//! Waiting-list rows (docs/design.md §24): mapping to and from
//! `domain::waitlist::Entry`, conditional writes, the queue of a resource
//! (its own entries and its groups', in order), and the resource's count of
//! active entries (`resource.waitlist_active`), which only this module
//! writes.

use entity::{
    resource, resource_group_member as member,
    waitlist_entry::{ActiveModel, Column, Entity, Model},
};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait,
    sea_query::{Expr, ExprTrait, InsertStatement, Query},
};

use super::{StoreError, StoreResult};
use crate::domain::{
    booking::Target,
    ids::{BookingId, CustomerId, GroupId, ResourceId, WaitlistEntryId},
    time_range::TimeRange,
    waitlist::{Entry, EntryFilter, EntryStatus},
};

const ACTIVE: [&str; 2] = ["waiting", "offered"];

fn to_domain(m: Model) -> StoreResult<Entry> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("waiting-list entry {} has {what}", m.id));
    let target = match (m.resource_id, m.group_id) {
        (Some(resource), None) => Target::Resource(ResourceId(resource)),
        (None, Some(group)) => Target::Group(GroupId(group)),
        _ => return Err(corrupt("not exactly one of a resource and a group")),
    };
    Ok(Entry {
        id: WaitlistEntryId(m.id),
        target,
        customer_id: CustomerId(m.customer_id),
        range: TimeRange::new(m.start_at, m.end_at).ok_or_else(|| corrupt("an empty interval"))?,
        quantity: m.quantity,
        status: EntryStatus::parse(&m.status).ok_or_else(|| corrupt("an unknown status"))?,
        booking_id: m.booking_id.map(BookingId),
        offer_expires_at: m.offer_expires_at,
        offered_at: m.offered_at,
        closed_at: m.closed_at,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn to_active(e: &Entry) -> ActiveModel {
    let (resource_id, group_id) = e.target.parts();
    ActiveModel {
        id: Set(e.id.0),
        resource_id: Set(resource_id.map(|r| r.0)),
        group_id: Set(group_id.map(|g| g.0)),
        customer_id: Set(e.customer_id.0),
        start_at: Set(e.range.start()),
        end_at: Set(e.range.end()),
        quantity: Set(e.quantity),
        status: Set(e.status.as_str().to_owned()),
        booking_id: Set(e.booking_id.map(|b| b.0)),
        offer_expires_at: Set(e.offer_expires_at),
        offered_at: Set(e.offered_at),
        closed_at: Set(e.closed_at),
        version: Set(e.version),
        created_at: Set(e.created_at),
        updated_at: Set(e.updated_at),
    }
}

fn all(rows: Vec<Model>) -> StoreResult<Vec<Entry>> {
    rows.into_iter().map(to_domain).collect()
}

/// The insert of a new entry, to run with its outbox event.
pub fn insert_statement(entry: &Entry) -> InsertStatement {
    Entity::insert(to_active(entry)).into_query()
}

/// Writes `entry` over its row if the row is still at `expected`.
pub async fn update_if_version(conn: &impl ConnectionTrait, entry: &Entry, expected: i64) -> StoreResult<bool> {
    let mut row = to_active(entry);
    row.id = NotSet;
    row.created_at = NotSet;
    let result = Entity::update_many()
        .set(row)
        .filter(Column::Id.eq(entry.id.0))
        .filter(Column::Version.eq(expected))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn find(conn: &impl ConnectionTrait, id: WaitlistEntryId) -> StoreResult<Option<Entry>> {
    Entity::find_by_id(id.0).one(conn).await?.map(to_domain).transpose()
}

/// Entries of `resource` itself or of a group it is a member of.
fn concerning(resource: ResourceId) -> Condition {
    let groups = Query::select()
        .column(member::Column::GroupId)
        .from(member::Entity)
        .and_where(member::Column::ResourceId.eq(resource.0))
        .to_owned();
    Condition::any().add(Column::ResourceId.eq(resource.0)).add(Column::GroupId.in_subquery(groups))
}

fn of_target(target: Target) -> Condition {
    match target {
        Target::Resource(id) => Condition::all().add(Column::ResourceId.eq(id.0)),
        Target::Group(id) => Condition::all().add(Column::GroupId.eq(id.0)),
    }
}

fn overlapping(range: &TimeRange) -> Condition {
    Condition::all().add(Column::StartAt.lt(range.end())).add(Column::EndAt.gt(range.start()))
}

/// The active entries (waiting or offered) that concern `resource`, in
/// queue order. Not locked: the caller holds the resource's lock, and an
/// entry of a group, which a decider on another member may write too, is
/// written conditionally on its version.
pub async fn queue_of(conn: &impl ConnectionTrait, resource: ResourceId) -> StoreResult<Vec<Entry>> {
    let rows = Entity::find()
        .filter(Column::Status.is_in(ACTIVE))
        .filter(concerning(resource))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .all(conn)
        .await?;
    all(rows)
}

/// The waiting entries that concern `resource` and overlap `range`, in
/// queue order (slot search: what the queue would take).
pub async fn waiting_overlapping(
    conn: &impl ConnectionTrait,
    resource: ResourceId,
    range: &TimeRange,
) -> StoreResult<Vec<Entry>> {
    let rows = Entity::find()
        .filter(Column::Status.eq(EntryStatus::Waiting.as_str()))
        .filter(concerning(resource))
        .filter(overlapping(range))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .all(conn)
        .await?;
    all(rows)
}

/// The entries of `resource` itself (any status) whose intervals end
/// after `after` (the audit's look at the queues still to come).
pub async fn of_resource_ending_after(
    conn: &impl ConnectionTrait,
    resource: ResourceId,
    after: chrono::DateTime<chrono::Utc>,
) -> StoreResult<Vec<Entry>> {
    let rows = Entity::find()
        .filter(Column::ResourceId.eq(resource.0))
        .filter(Column::EndAt.gt(after))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .all(conn)
        .await?;
    all(rows)
}

/// How many entries wait for intervals of `target` overlapping `range`.
pub async fn waiting_count(conn: &impl ConnectionTrait, target: Target, range: &TimeRange) -> StoreResult<i64> {
    let count = Entity::find()
        .filter(Column::Status.eq(EntryStatus::Waiting.as_str()))
        .filter(of_target(target))
        .filter(overlapping(range))
        .count(conn)
        .await?;
    Ok(i64::try_from(count).unwrap_or(i64::MAX))
}

/// The customer's active entry of `target` for an interval overlapping
/// `range`, if any.
pub async fn active_of_customer(
    conn: &impl ConnectionTrait,
    customer: CustomerId,
    target: Target,
    range: &TimeRange,
) -> StoreResult<Option<Entry>> {
    Entity::find()
        .filter(Column::CustomerId.eq(customer.0))
        .filter(Column::Status.is_in(ACTIVE))
        .filter(of_target(target))
        .filter(overlapping(range))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

/// Where a waiting entry stands: 1 + the waiting entries of its target, for
/// overlapping intervals, ahead of it in queue order.
pub async fn position(conn: &impl ConnectionTrait, entry: &Entry) -> StoreResult<i64> {
    let ahead = Condition::any()
        .add(Column::CreatedAt.lt(entry.created_at))
        .add(Condition::all().add(Column::CreatedAt.eq(entry.created_at)).add(Column::Id.lt(entry.id.0)));
    let count = Entity::find()
        .filter(Column::Status.eq(EntryStatus::Waiting.as_str()))
        .filter(of_target(entry.target))
        .filter(overlapping(&entry.range))
        .filter(ahead)
        .count(conn)
        .await?;
    Ok(i64::try_from(count).unwrap_or(i64::MAX) + 1)
}

/// One page of entries in queue order, after the place `after` (a
/// `created_at` and an id).
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: &EntryFilter,
    after: Option<(chrono::DateTime<chrono::Utc>, WaitlistEntryId)>,
    limit: u64,
) -> StoreResult<Vec<Entry>> {
    let mut query = Entity::find().order_by_asc(Column::CreatedAt).order_by_asc(Column::Id).limit(limit);
    if let Some((created_at, id)) = after {
        query = query.filter(
            Condition::any()
                .add(Column::CreatedAt.gt(created_at))
                .add(Condition::all().add(Column::CreatedAt.eq(created_at)).add(Column::Id.gt(id.0))),
        );
    }
    if let Some(resource) = filter.resource_id {
        query = query.filter(Column::ResourceId.eq(resource.0));
    }
    if let Some(group) = filter.group_id {
        query = query.filter(Column::GroupId.eq(group.0));
    }
    if let Some(customer) = filter.customer_id {
        query = query.filter(Column::CustomerId.eq(customer.0));
    }
    if let Some(status) = filter.status {
        query = query.filter(Column::Status.eq(status.as_str()));
    }
    all(query.all(conn).await?)
}

/// Adds `count` to the active entries of each of `resources` (a join, or
/// a member added to a group with a queue), under their locks.
pub async fn count_in(conn: &impl ConnectionTrait, resources: &[ResourceId], count: i64) -> StoreResult<()> {
    if resources.is_empty() || count == 0 {
        return Ok(());
    }
    resource::Entity::update_many()
        .col_expr(resource::Column::WaitlistActive, Expr::col(resource::Column::WaitlistActive).add(count))
        .filter(resource::Column::Id.is_in(resources.iter().map(|r| r.0)))
        .exec(conn)
        .await?;
    Ok(())
}

/// Sets the resource's count of active entries to what its queue, read
/// under its lock in this transaction, holds.
pub async fn recount(conn: &impl ConnectionTrait, resource: ResourceId, active: usize) -> StoreResult<()> {
    resource::Entity::update_many()
        .col_expr(resource::Column::WaitlistActive, Expr::value(i32::try_from(active).unwrap_or(i32::MAX)))
        .filter(resource::Column::Id.eq(resource.0))
        .exec(conn)
        .await?;
    Ok(())
}

/// The active entries of `group`: how many a member added to it gains.
pub async fn active_in_group(conn: &impl ConnectionTrait, group: GroupId) -> StoreResult<i64> {
    let count =
        Entity::find().filter(Column::Status.is_in(ACTIVE)).filter(Column::GroupId.eq(group.0)).count(conn).await?;
    Ok(i64::try_from(count).unwrap_or(i64::MAX))
}

/// Resources whose count says they may have a queue (the sweeper serves
/// them), up to `limit`, after `after`.
pub async fn resources_with_queue(
    conn: &impl ConnectionTrait,
    after: Option<ResourceId>,
    limit: u64,
) -> StoreResult<Vec<ResourceId>> {
    let mut query = resource::Entity::find()
        .select_only()
        .column(resource::Column::Id)
        .filter(resource::Column::WaitlistActive.gt(0))
        .order_by_asc(resource::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(resource::Column::Id.gt(after.0));
    }
    let ids: Vec<uuid::Uuid> = query.into_tuple().all(conn).await?;
    Ok(ids.into_iter().map(ResourceId).collect())
}
