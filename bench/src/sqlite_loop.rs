//! The SQLite yardstick of the `peer` scenario: berth's statements for one
//! keyed booking run as a plain loop, through the same driver and pool
//! settings (`berth::store::connect`), with no HTTP and none of berth's
//! rules: the key look-up; `BEGIN IMMEDIATE`; the resource; the customer;
//! the customer's own bookings there; the capacity sum; the booking, its
//! history event, its outbox event and the key's record; `COMMIT`. The
//! same statements berth runs for a keyed booking on SQLite (its inserts
//! there go one by one too). `peer` prints berth's keyed figure as a share
//! of it.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use entity::{booking, booking_event, customer, idempotency_record, outbox_event, resource};
use rand::Rng;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::OnConflict,
};
use uuid::Uuid;

use crate::client::{Outcome, Recorded, for_duration};

/// Keyed bookings on `resources` (a random one each time), each in the
/// next hour counted by `slots` after `base`, for `duration`.
pub async fn run(
    db: &DatabaseConnection,
    resources: &[Uuid],
    customer: Uuid,
    slots: &AtomicU64,
    concurrency: usize,
    duration: Duration,
) -> Recorded {
    let base = Utc::now().duration_trunc(Span::hours(1)).unwrap_or_else(|_| Utc::now()) + Span::days(1);
    for_duration(concurrency, duration, |_| {
        let n = slots.fetch_add(1, Ordering::Relaxed);
        let resource = resources[rand::rng().random_range(0..resources.len())];
        let start = base + Span::hours(i64::try_from(n).unwrap_or(i64::MAX / 7200));
        async move {
            let (status, problem) = match book(db, resource, customer, start, start + Span::minutes(30)).await {
                Ok(()) => (201, None),
                Err(err) => (500, Some(err.to_string().chars().take(80).collect())),
            };
            Outcome { status, problem, body: serde_json::Value::Null, replayed: false }
        }
    })
    .await
}

/// What berth counts as blocking at `now`.
fn blocking(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(booking::Column::Status.is_in(["confirmed", "checked_in"]))
        .add(Condition::all().add(booking::Column::Status.eq("held")).add(booking::Column::HoldExpiresAt.gt(now)))
}

async fn book(
    db: &DatabaseConnection,
    resource_id: Uuid,
    customer_id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(), DbErr> {
    let key = Uuid::new_v4().to_string();
    let scope = |query: sea_orm::Select<idempotency_record::Entity>| {
        query
            .filter(idempotency_record::Column::Principal.eq("admin:bench"))
            .filter(idempotency_record::Column::IdempotencyKey.eq(key.as_str()))
            .filter(idempotency_record::Column::Method.eq("POST"))
            .filter(idempotency_record::Column::Route.eq("/v1/bookings"))
    };
    scope(idempotency_record::Entity::find()).one(db).await?;
    let txn = berth::store::begin_write(db).await?;
    let now = Utc::now();
    let resource = resource::Entity::find_by_id(resource_id)
        .one(&txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("resource".into()))?;
    customer::Entity::find_by_id(customer_id).one(&txn).await?;
    let reach = start - Span::seconds(resource.max_booking_duration_seconds);
    let _own: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)> = booking::Entity::find()
        .select_only()
        .columns([booking::Column::Id, booking::Column::StartAt, booking::Column::EndAt])
        .filter(booking::Column::CustomerId.eq(customer_id))
        .filter(booking::Column::ResourceId.eq(resource_id))
        .filter(booking::Column::StartAt.lt(end))
        .filter(booking::Column::StartAt.gt(reach))
        .filter(booking::Column::EndAt.gt(start))
        .filter(blocking(now))
        .order_by_asc(booking::Column::StartAt)
        .limit(1)
        .into_tuple()
        .all(&txn)
        .await?;
    let _total: Option<Option<i64>> = booking::Entity::find()
        .select_only()
        .column_as(booking::Column::Quantity.sum(), "total")
        .filter(booking::Column::ResourceId.eq(resource_id))
        .filter(booking::Column::OccupiedStartAt.lt(end))
        .filter(booking::Column::OccupiedStartAt.gt(reach))
        .filter(booking::Column::OccupiedEndAt.gt(start))
        .filter(blocking(now))
        .into_tuple()
        .one(&txn)
        .await?;
    let id = Uuid::now_v7();
    booking::Entity::insert(crate::scenarios::confirmed_row(id, resource_id, customer_id, (start, end), now))
        .exec_without_returning(&txn)
        .await?;
    booking_event::Entity::insert(booking_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        booking_id: Set(id),
        from_status: Set(None),
        to_status: Set("confirmed".into()),
        action: Set("create".into()),
        actor_sub: Set("bench".into()),
        actor_role: Set("admin".into()),
        reason: Set(None),
        request_id: Set(None),
        policy_overridden: Set(false),
        at: Set(now),
    })
    .exec_without_returning(&txn)
    .await?;
    outbox_event::Entity::insert(outbox_event::ActiveModel {
        id: NotSet,
        position: Set(None),
        r#type: Set("booking.created".into()),
        subject_id: Set(id),
        occurred_at: Set(now),
        data: Set(format!(r#"{{"booking":{{"id":"{id}"}}}}"#)),
        resource_id: Set(Some(resource_id)),
        previous_resource_id: Set(None),
        window_start: Set(Some(start)),
        window_end: Set(Some(end)),
    })
    .exec_without_returning(&txn)
    .await?;
    let body = format!(r#"{{"id":"{id}","version":1}}"#).into_bytes();
    idempotency_record::Entity::insert(idempotency_record::ActiveModel {
        id: Set(Uuid::now_v7()),
        principal: Set("admin:bench".into()),
        idempotency_key: Set(key.clone()),
        method: Set("POST".into()),
        route: Set("/v1/bookings".into()),
        fingerprint: Set(key.clone()),
        state: Set("completed".into()),
        response_status: Set(Some(201)),
        response_headers: Set(Some(r#"[["content-type","application/json"]]"#.into())),
        response_body: Set(Some(body)),
        created_at: Set(now),
        expires_at: Set(now + Span::days(1)),
    })
    .on_conflict(
        OnConflict::columns([
            idempotency_record::Column::Principal,
            idempotency_record::Column::IdempotencyKey,
            idempotency_record::Column::Method,
            idempotency_record::Column::Route,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await
}
