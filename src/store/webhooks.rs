//! Webhook endpoint rows (conditional writes on `version`, locks for the
//! fan-out) and delivery rows (made by the fan-out, claimed by a worker
//! with `FOR UPDATE SKIP LOCKED` and a lease, settled, read as a log,
//! forgotten after the retention).

use chrono::{DateTime, Utc};
use entity::{webhook_delivery as delivery, webhook_endpoint as endpoint};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict},
};

use super::{StoreError, StoreResult};
use crate::domain::{
    event::EventType,
    ids::WebhookId,
    webhook::{Delivery, DeliveryStatus, Endpoint},
};

fn to_domain(m: endpoint::Model) -> StoreResult<Endpoint> {
    let names: Vec<String> = serde_json::from_str(&m.types)
        .map_err(|e| StoreError::Corrupt(format!("webhook {} has unreadable types: {e}", m.id)))?;
    let types = names
        .iter()
        .map(|name| {
            EventType::parse(name)
                .ok_or_else(|| StoreError::Corrupt(format!("webhook {} names an unknown type {name}", m.id)))
        })
        .collect::<StoreResult<_>>()?;
    Ok(Endpoint {
        id: WebhookId(m.id),
        url: m.url,
        description: m.description,
        types,
        secret: m.secret,
        enabled: m.enabled,
        disabled_at: m.disabled_at,
        failing_since: m.failing_since,
        feed_position: m.feed_position,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn to_domain_all(rows: Vec<endpoint::Model>) -> StoreResult<Vec<Endpoint>> {
    rows.into_iter().map(to_domain).collect()
}

fn to_active(e: &Endpoint) -> endpoint::ActiveModel {
    let names: Vec<&str> = e.types.iter().map(|t| t.as_str()).collect();
    endpoint::ActiveModel {
        id: Set(e.id.0),
        url: Set(e.url.clone()),
        description: Set(e.description.clone()),
        types: Set(serde_json::Value::from(names).to_string()),
        secret: Set(e.secret.clone()),
        enabled: Set(e.enabled),
        disabled_at: Set(e.disabled_at),
        failing_since: Set(e.failing_since),
        feed_position: Set(e.feed_position),
        version: Set(e.version),
        created_at: Set(e.created_at),
        updated_at: Set(e.updated_at),
    }
}

pub async fn insert(conn: &impl ConnectionTrait, e: &Endpoint) -> StoreResult<()> {
    endpoint::Entity::insert(to_active(e)).exec_without_returning(conn).await?;
    Ok(())
}

pub async fn find(conn: &impl ConnectionTrait, id: WebhookId) -> StoreResult<Option<Endpoint>> {
    endpoint::Entity::find_by_id(id.0).one(conn).await?.map(to_domain).transpose()
}

/// Reads the endpoint and, on PostgreSQL, locks its row (`FOR UPDATE`).
pub async fn lock(conn: &impl ConnectionTrait, id: WebhookId) -> StoreResult<Option<Endpoint>> {
    endpoint::Entity::find_by_id(id.0).lock_exclusive().one(conn).await?.map(to_domain).transpose()
}

/// The endpoints with these ids (any order).
pub async fn find_many(conn: &impl ConnectionTrait, ids: &[WebhookId]) -> StoreResult<Vec<Endpoint>> {
    let rows = endpoint::Entity::find().filter(endpoint::Column::Id.is_in(ids.iter().map(|id| id.0))).all(conn).await?;
    to_domain_all(rows)
}

/// One page of endpoints in creation order, starting after `after`.
pub async fn list(conn: &impl ConnectionTrait, after: Option<WebhookId>, limit: u64) -> StoreResult<Vec<Endpoint>> {
    let mut query = endpoint::Entity::find().order_by_asc(endpoint::Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(endpoint::Column::Id.gt(after.0));
    }
    to_domain_all(query.all(conn).await?)
}

/// Up to `limit` switched-on endpoints whose deliveries stop before feed
/// position `newest`, the furthest behind first, locked for this
/// transaction; rows another instance has locked are skipped.
pub async fn lock_behind(conn: &impl ConnectionTrait, newest: i64, limit: u64) -> StoreResult<Vec<Endpoint>> {
    let rows = endpoint::Entity::find()
        .filter(endpoint::Column::Enabled.eq(true))
        .filter(endpoint::Column::FeedPosition.lt(newest))
        .order_by_asc(endpoint::Column::FeedPosition)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(conn)
        .await?;
    to_domain_all(rows)
}

/// Whether a switched-on endpoint's deliveries stop before `newest` (a
/// read, so an idle worker opens no write transaction).
pub async fn any_behind(conn: &impl ConnectionTrait, newest: i64) -> StoreResult<bool> {
    let found = endpoint::Entity::find()
        .select_only()
        .column(endpoint::Column::Id)
        .filter(endpoint::Column::Enabled.eq(true))
        .filter(endpoint::Column::FeedPosition.lt(newest))
        .into_tuple::<uuid::Uuid>()
        .one(conn)
        .await?;
    Ok(found.is_some())
}

/// Writes `e` if its row is still at `expected_version`. Returns whether
/// it was written.
pub async fn update_if_version(conn: &impl ConnectionTrait, e: &Endpoint, expected_version: i64) -> StoreResult<bool> {
    let mut row = to_active(e);
    row.id = NotSet;
    row.created_at = NotSet;
    let result = endpoint::Entity::update_many()
        .set(row)
        .filter(endpoint::Column::Id.eq(e.id.0))
        .filter(endpoint::Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Moves the endpoint's fan-out to feed position `position`.
pub async fn set_feed_position(conn: &impl ConnectionTrait, id: WebhookId, position: i64) -> StoreResult<()> {
    endpoint::Entity::update_many()
        .col_expr(endpoint::Column::FeedPosition, Expr::value(position))
        .filter(endpoint::Column::Id.eq(id.0))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes the endpoint (its deliveries go with it) if its row is still at
/// `expected_version`. Returns whether a row was deleted.
pub async fn delete_if_version(conn: &impl ConnectionTrait, id: WebhookId, expected_version: i64) -> StoreResult<bool> {
    let result = endpoint::Entity::delete_many()
        .filter(endpoint::Column::Id.eq(id.0))
        .filter(endpoint::Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// An event to deliver to one endpoint.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub endpoint_id: WebhookId,
    pub position: i64,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub payload: String,
    pub made_at: DateTime<Utc>,
    /// When it may first be sent (later than `made_at` behind a retry).
    pub due_at: DateTime<Utc>,
}

/// Inserts deliveries; one already made for the same endpoint and event is
/// left as it is.
pub async fn insert_deliveries(conn: &impl ConnectionTrait, rows: Vec<NewDelivery>) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let rows = rows.into_iter().map(|d| delivery::ActiveModel {
        id: NotSet,
        endpoint_id: Set(d.endpoint_id.0),
        position: Set(d.position),
        event_type: Set(d.event_type),
        occurred_at: Set(d.occurred_at),
        payload: Set(d.payload),
        status: Set(DeliveryStatus::Pending.as_str().to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(d.due_at),
        leased_until: Set(None),
        last_attempt_at: Set(None),
        last_status: Set(None),
        last_error: Set(None),
        delivered_at: Set(None),
        created_at: Set(d.made_at),
    });
    delivery::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([delivery::Column::EndpointId, delivery::Column::Position]).do_nothing().to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Whether a pending delivery is due at `now` (a read, like `any_behind`).
pub async fn any_due(conn: &impl ConnectionTrait, now: DateTime<Utc>) -> StoreResult<bool> {
    let found = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Id)
        .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .filter(delivery::Column::NextAttemptAt.lte(now))
        .into_tuple::<i64>()
        .one(conn)
        .await?;
    Ok(found.is_some())
}

/// A delivery a worker has claimed: its attempt number and what to send.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: i64,
    pub endpoint_id: WebhookId,
    pub position: i64,
    pub occurred_at: DateTime<Utc>,
    pub payload: String,
    pub attempt: i32,
}

/// Claims up to `limit` deliveries due at `now`, each the oldest pending
/// one of its endpoint (so an endpoint gets its events in order) and not
/// leased by a worker still sending it: locks them with `FOR UPDATE SKIP
/// LOCKED` (rows another instance is claiming are passed over), counts the
/// attempt and leases them until `leased_until`.
pub async fn claim_due(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    leased_until: DateTime<Utc>,
    limit: u64,
) -> StoreResult<Vec<Claimed>> {
    let pending = DeliveryStatus::Pending.as_str();
    let rows = delivery::Entity::find()
        .filter(delivery::Column::Status.eq(pending))
        .filter(delivery::Column::NextAttemptAt.lte(now))
        .filter(
            Condition::any().add(delivery::Column::LeasedUntil.is_null()).add(delivery::Column::LeasedUntil.lte(now)),
        )
        .filter(Expr::cust(
            "NOT EXISTS (SELECT 1 FROM webhook_delivery AS earlier \
             WHERE earlier.endpoint_id = webhook_delivery.endpoint_id \
             AND earlier.status = 'pending' AND earlier.position < webhook_delivery.position)",
        ))
        .order_by_asc(delivery::Column::NextAttemptAt)
        .order_by_asc(delivery::Column::Id)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(conn)
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    delivery::Entity::update_many()
        .col_expr(delivery::Column::Attempts, Expr::col(delivery::Column::Attempts).add(1))
        .col_expr(delivery::Column::LeasedUntil, Expr::value(leased_until))
        .col_expr(delivery::Column::LastAttemptAt, Expr::value(now))
        .filter(delivery::Column::Id.is_in(rows.iter().map(|row| row.id)))
        .exec(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| Claimed {
            id: row.id,
            endpoint_id: WebhookId(row.endpoint_id),
            position: row.position,
            occurred_at: row.occurred_at,
            payload: row.payload,
            attempt: row.attempts + 1,
        })
        .collect())
}

/// How an attempt ended, as the log keeps it.
#[derive(Clone, Debug)]
pub struct Settled {
    pub status: DeliveryStatus,
    /// Pending: when to try again.
    pub next_attempt_at: DateTime<Utc>,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Records the end of attempt `attempt` of delivery `id`, unless the
/// delivery has moved on since it was claimed (another attempt, or given
/// up). Returns whether it was recorded.
pub async fn settle(conn: &impl ConnectionTrait, id: i64, attempt: i32, settled: Settled) -> StoreResult<bool> {
    let result = delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value(settled.status.as_str()))
        .col_expr(delivery::Column::NextAttemptAt, Expr::value(settled.next_attempt_at))
        .col_expr(delivery::Column::LeasedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(delivery::Column::LastStatus, Expr::value(settled.http_status.map(i32::from)))
        .col_expr(delivery::Column::LastError, Expr::value(settled.error))
        .col_expr(delivery::Column::DeliveredAt, Expr::value(settled.delivered_at))
        .filter(delivery::Column::Id.eq(id))
        .filter(delivery::Column::Attempts.eq(attempt))
        .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Makes the endpoint's pending deliveries wait at least until `until`
/// (its oldest is retried then; the others could not go before it anyway,
/// and a worker then does not look at them every time it polls).
pub async fn hold_back(conn: &impl ConnectionTrait, endpoint_id: WebhookId, until: DateTime<Utc>) -> StoreResult<()> {
    delivery::Entity::update_many()
        .col_expr(delivery::Column::NextAttemptAt, Expr::value(until))
        .filter(delivery::Column::EndpointId.eq(endpoint_id.0))
        .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .filter(delivery::Column::NextAttemptAt.lt(until))
        .exec(conn)
        .await?;
    Ok(())
}

/// The latest time a pending delivery of the endpoint waits for, if any.
pub async fn held_back_until(
    conn: &impl ConnectionTrait,
    endpoint_id: WebhookId,
) -> StoreResult<Option<DateTime<Utc>>> {
    let latest: Option<Option<DateTime<Utc>>> = delivery::Entity::find()
        .select_only()
        .column_as(delivery::Column::NextAttemptAt.max(), "latest")
        .filter(delivery::Column::EndpointId.eq(endpoint_id.0))
        .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(latest.flatten())
}

/// Gives up every pending delivery of an endpoint (it was switched off).
pub async fn give_up_pending(conn: &impl ConnectionTrait, endpoint_id: WebhookId) -> StoreResult<u64> {
    let result = delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value(DeliveryStatus::Failed.as_str()))
        .col_expr(delivery::Column::LeasedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(delivery::Column::EndpointId.eq(endpoint_id.0))
        .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

fn delivery_to_domain(m: delivery::Model) -> StoreResult<Delivery> {
    let status = DeliveryStatus::parse(&m.status)
        .ok_or_else(|| StoreError::Corrupt(format!("delivery {} has an unknown status", m.id)))?;
    Ok(Delivery {
        id: m.id,
        position: m.position,
        event_type: m.event_type,
        occurred_at: m.occurred_at,
        status,
        attempts: u32::try_from(m.attempts).unwrap_or(0),
        next_attempt_at: (status == DeliveryStatus::Pending).then_some(m.next_attempt_at),
        last_attempt_at: m.last_attempt_at,
        last_status: m.last_status.and_then(|s| u16::try_from(s).ok()),
        last_error: m.last_error,
        delivered_at: m.delivered_at,
        created_at: m.created_at,
    })
}

/// One page of an endpoint's deliveries, newest first, before delivery
/// `before`, of `status` when given.
pub async fn deliveries(
    conn: &impl ConnectionTrait,
    endpoint_id: WebhookId,
    before: Option<i64>,
    status: Option<DeliveryStatus>,
    limit: u64,
) -> StoreResult<Vec<Delivery>> {
    let mut query = delivery::Entity::find()
        .filter(delivery::Column::EndpointId.eq(endpoint_id.0))
        .order_by_desc(delivery::Column::Id)
        .limit(limit);
    if let Some(before) = before {
        query = query.filter(delivery::Column::Id.lt(before));
    }
    if let Some(status) = status {
        query = query.filter(delivery::Column::Status.eq(status.as_str()));
    }
    query.all(conn).await?.into_iter().map(delivery_to_domain).collect()
}

/// Deletes up to `batch` finished deliveries made before `before`; returns
/// how many.
pub async fn forget_deliveries(conn: &impl ConnectionTrait, before: DateTime<Utc>, batch: u64) -> StoreResult<u64> {
    let ids: Vec<i64> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Id)
        .filter(delivery::Column::CreatedAt.lt(before))
        .filter(delivery::Column::Status.ne(DeliveryStatus::Pending.as_str()))
        .order_by_asc(delivery::Column::Id)
        .limit(batch)
        .into_tuple()
        .all(conn)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let result = delivery::Entity::delete_many().filter(delivery::Column::Id.is_in(ids)).exec(conn).await?;
    Ok(result.rows_affected)
}
