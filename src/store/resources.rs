//! Resource rows: mapping to and from `domain::Resource`, and conditional
//! writes (`WHERE id = ? AND version = ?`) so that a stale writer changes
//! nothing.

use chrono::{DateTime, SubsecRound, Utc};
use entity::resource::{ActiveModel, Column, Entity, Model};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Statement,
    sea_query::Expr,
};

use super::{
    StoreError, StoreResult,
    locks::{BucketLock, Taking, in_order},
    settings_json::{policy_from_json, policy_to_json, schedule_from_json, schedule_to_json},
};
use crate::domain::{
    attributes::{AttributeFilter, AttributeValue},
    ids::{CustomerId, ResourceId},
    resource::Resource,
    uniqueness_key,
};

fn to_domain(m: Model) -> StoreResult<Resource> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("resource {} has {what}", m.id));
    Ok(Resource {
        id: ResourceId(m.id),
        time_zone: m.time_zone.parse().map_err(|_| corrupt("an unknown time zone"))?,
        schedule: m
            .schedule
            .as_deref()
            .map(|s| schedule_from_json(s).ok_or_else(|| corrupt("a bad schedule")))
            .transpose()?,
        policy: m
            .policy
            .as_deref()
            .map(|p| policy_from_json(p).ok_or_else(|| corrupt("a bad policy")))
            .transpose()?
            .unwrap_or_default(),
        name: m.name,
        description: m.description,
        capacity: m.capacity,
        active: m.active,
        hold_ttl_seconds: m.hold_ttl_seconds,
        max_booking_duration_seconds: m.max_booking_duration_seconds,
        version: m.version,
        waitlist_active: m.waitlist_active,
        attributes: crate::attributes_json::from_json(&m.attributes).ok_or_else(|| corrupt("bad attributes"))?,
        booking_fields: m.booking_fields,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn to_active(r: &Resource) -> ActiveModel {
    ActiveModel {
        id: Set(r.id.0),
        name: Set(r.name.clone()),
        name_key: Set(uniqueness_key(&r.name)),
        description: Set(r.description.clone()),
        capacity: Set(r.capacity),
        time_zone: Set(r.time_zone.name().to_owned()),
        active: Set(r.active),
        hold_ttl_seconds: Set(r.hold_ttl_seconds),
        max_booking_duration_seconds: Set(r.max_booking_duration_seconds),
        schedule: Set(r.schedule.as_ref().map(schedule_to_json)),
        policy: Set(policy_to_json(&r.policy)),
        version: Set(r.version),
        // Written only by the waiting lists' own statements (`waitlist`).
        waitlist_active: NotSet,
        attributes: Set(crate::attributes_json::to_json(&r.attributes)),
        booking_fields: Set(r.booking_fields.clone()),
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
    Entity::find_by_id(id.0).one(conn).await?.map(to_domain).transpose()
}

/// One page of resources in creation order, starting after `after`,
/// those whose attributes match every filter.
pub async fn list(
    conn: &impl ConnectionTrait,
    after: Option<ResourceId>,
    limit: u64,
    filters: &[AttributeFilter],
) -> StoreResult<Vec<Resource>> {
    let mut query = Entity::find().order_by_asc(Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after.0));
    }
    if !filters.is_empty() {
        query = query.filter(attributes_match(conn.get_database_backend(), filters));
    }
    query.all(conn).await?.into_iter().map(to_domain).collect()
}

/// What a search across resources looks for (docs/design.md §27).
pub struct Wanted<'a> {
    pub filters: &'a [AttributeFilter],
    pub min_capacity: Option<i32>,
    /// Only these (a group's members); any resource when `None`.
    pub among: Option<&'a [ResourceId]>,
}

/// Every active resource `wanted` describes, in one statement, filtered
/// in SQL (on PostgreSQL by the GIN index of the attributes).
pub async fn matching(conn: &impl ConnectionTrait, wanted: &Wanted<'_>) -> StoreResult<Vec<Resource>> {
    let mut query = Entity::find().filter(Column::Active.eq(true)).order_by_asc(Column::Id);
    if !wanted.filters.is_empty() {
        query = query.filter(attributes_match(conn.get_database_backend(), wanted.filters));
    }
    if let Some(min) = wanted.min_capacity {
        query = query.filter(Column::Capacity.gte(min));
    }
    if let Some(among) = wanted.among {
        query = query.filter(Column::Id.is_in(among.iter().map(|id| id.0)));
    }
    query.all(conn).await?.into_iter().map(to_domain).collect()
}

/// Attributes equal to every filter, compared as JSON: on PostgreSQL one
/// containment test (`attributes @> {filters}`, which the GIN index
/// answers; numbers compare by value), on SQLite each key's JSON type and
/// value (`json_type` tells the string "4" from the number 4 and `true`
/// from 1).
fn attributes_match(backend: DatabaseBackend, filters: &[AttributeFilter]) -> Condition {
    if backend == DatabaseBackend::Postgres {
        let wanted: serde_json::Map<String, serde_json::Value> =
            filters.iter().map(|f| (f.key.clone(), crate::attributes_json::value_to_json(&f.value))).collect();
        let wanted = sea_orm::Value::Json(Some(Box::new(serde_json::Value::Object(wanted))));
        return Condition::all().add(Expr::cust_with_values("resource.attributes @> $1::jsonb", [wanted]));
    }
    filters.iter().fold(Condition::all(), |all, filter| {
        // Keys match `^[a-z][a-z0-9_]*$`, so the path needs no quoting.
        let path = format!("$.{}", filter.key);
        let (types, value): (&str, Option<sea_orm::Value>) = match &filter.value {
            AttributeValue::Text(text) => ("'text'", Some(text.clone().into())),
            AttributeValue::Number(number) => ("'integer', 'real'", Some(number.value().into())),
            AttributeValue::Flag(true) => ("'true'", None),
            AttributeValue::Flag(false) => ("'false'", None),
        };
        let typed = Expr::cust_with_values(format!("json_type(resource.attributes, ?) IN ({types})"), [path.clone()]);
        let all = all.add(typed);
        match value {
            Some(value) => all.add(Expr::cust_with_values(
                "json_extract(resource.attributes, ?) = ?",
                [sea_orm::Value::from(path), value],
            )),
            None => all,
        }
    })
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
    Entity::find_by_id(id.0).lock_exclusive().one(conn).await?.map(to_domain).transpose()
}

/// A resource locked for a decision, with what the decision reads next.
pub struct Locked {
    pub resource: Resource,
    /// Whether the booking's customer exists.
    pub customer_exists: bool,
    /// The database clock, read after the lock (PostgreSQL only).
    pub clock: Option<DateTime<Utc>>,
}

/// How a booking on one resource holds it on PostgreSQL: the whole row
/// (`FOR UPDATE`, like every other decision), or the row `FOR KEY SHARE`
/// and the hour buckets of its occupied time (`store::locks`, in order).
#[derive(Clone, Copy, Debug)]
pub enum Hold<'a> {
    Whole,
    Buckets(&'a [BucketLock]),
}

/// What `lock_if_free_with` found.
pub enum Attempt {
    /// Everything held, with what the decision reads next.
    Held(Locked),
    /// Something taken. When it was a bucket (the row itself was free), the
    /// statement still read the resource as committed, the customer and
    /// the clock: what the §18 snapshot needs. `None` when the row was
    /// taken or there is no such resource.
    Taken(Option<Locked>),
}

/// Like `lock`, but only if nothing has to wait (`SKIP LOCKED`, advisory
/// `try` locks). Never waits. On PostgreSQL one statement also says whether
/// `customer` exists and reads the clock. Each step reads what the one
/// before materialised, so they run in order: the row lock, the buckets,
/// then the clock (after every lock, §5). The buckets must not be tried
/// in the locking query's own select list: PostgreSQL computes it before
/// the row lock, and a bucket taken there for a row then skipped would be
/// held by a transaction about to wait for the row, against the order
/// every decision keeps (row, then buckets), and deadlock. Buckets are tried in
/// order and the first one taken stops the rest (nested `CASE`), so what
/// is held on `Taken` is a prefix, and `lock_waiting` takes the rest in
/// order. SQLite has no row locks and no round trips: there it is
/// `lock` and a lookup (docs/design.md §18, §19, §20).
pub async fn lock_if_free_with(
    conn: &impl ConnectionTrait,
    id: ResourceId,
    customer: CustomerId,
    hold: Hold<'_>,
) -> StoreResult<Attempt> {
    if conn.get_database_backend() != DatabaseBackend::Postgres {
        let Some(resource) = lock(conn, id).await? else { return Ok(Attempt::Taken(None)) };
        let customer_exists = super::customers::find(conn, customer).await?.is_some();
        return Ok(Attempt::Held(Locked { resource, customer_exists, clock: None }));
    }
    let mut values: Vec<sea_orm::Value> = vec![id.0.into(), customer.0.into()];
    let (columns, row_lock) = match hold {
        Hold::Whole => ("true AS berth_got".to_owned(), "FOR UPDATE"),
        Hold::Buckets(keys) => {
            let tried = in_order(keys, Taking::Try, |key| bind(&mut values, key));
            (format!("{tried} AS berth_got"), "FOR KEY SHARE")
        }
    };
    let sql = format!(
        "WITH locked AS MATERIALIZED (SELECT resource.* FROM resource WHERE id = $1 {row_lock} SKIP LOCKED), \
tried AS MATERIALIZED (SELECT locked.*, {columns} FROM locked) \
SELECT tried.*, EXISTS (SELECT 1 FROM customer WHERE id = $2) AS berth_customer_exists, \
clock_timestamp() AS berth_clock FROM tried"
    );
    let Some(row) = conn.query_one_raw(Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values)).await?
    else {
        return Ok(Attempt::Taken(None));
    };
    // NULL when a bucket was taken (the `CASE` has no `ELSE`).
    let got = row.try_get::<Option<bool>>("", "berth_got")?.unwrap_or(false);
    let clock = row.try_get::<DateTime<Utc>>("", "berth_clock")?.trunc_subsecs(6);
    let resource = to_domain(Model::from_query_result(&row, "")?)?;
    let customer_exists = row.try_get::<bool>("", "berth_customer_exists")?;
    let read = Locked { resource, customer_exists, clock: Some(clock) };
    Ok(if got { Attempt::Held(read) } else { Attempt::Taken(Some(read)) })
}

/// `lock_if_free_with`'s locks, waiting for each: the row (`FOR UPDATE`,
/// or `FOR KEY SHARE` and then each bucket in order, in one statement, as
/// `lock_if_free_with` orders them). Locks already held are taken again at
/// once (advisory locks stack). `None` when there is no such resource.
pub async fn lock_waiting(
    conn: &impl ConnectionTrait,
    id: ResourceId,
    hold: Hold<'_>,
) -> StoreResult<Option<Resource>> {
    let keys = match hold {
        Hold::Buckets(keys) if conn.get_database_backend() == DatabaseBackend::Postgres => keys,
        _ => return lock(conn, id).await,
    };
    let mut values: Vec<sea_orm::Value> = vec![id.0.into()];
    let taken = in_order(keys, Taking::Wait, |key| bind(&mut values, key));
    let sql = format!(
        "WITH locked AS MATERIALIZED (SELECT resource.* FROM resource WHERE id = $1 FOR KEY SHARE), \
taken AS MATERIALIZED (SELECT {taken} AS berth_taken FROM locked) \
SELECT locked.* FROM locked, taken WHERE taken.berth_taken"
    );
    let Some(row) = conn.query_one_raw(Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values)).await?
    else {
        return Ok(None);
    };
    to_domain(Model::from_query_result(&row, "")?).map(Some)
}

/// Adds `key` to `values`; its placeholder.
fn bind(values: &mut Vec<sea_orm::Value>, key: i64) -> String {
    values.push(key.into());
    format!("${}", values.len())
}

/// Waits for the advisory lock `key` (exclusive) until the transaction
/// ends (PostgreSQL; nothing on SQLite, whose writers are serial).
pub async fn lock_key(conn: &impl ConnectionTrait, key: i64) -> StoreResult<()> {
    take(conn, BucketLock { key, shared: false }).await
}

async fn take(conn: &impl ConnectionTrait, lock: BucketLock) -> StoreResult<()> {
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        let function = if lock.shared { "pg_advisory_xact_lock_shared" } else { "pg_advisory_xact_lock" };
        let sql = format!("SELECT {function}($1)::text AS locked");
        conn.query_one_raw(Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, [lock.key.into()])).await?;
    }
    Ok(())
}
