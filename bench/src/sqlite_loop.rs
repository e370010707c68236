//! The SQLite yardstick of the `peer` scenario: berth's statements for one
//! keyed booking run as a plain loop, through the same driver and pool
//! settings (`berth::store::connect`), with no HTTP and none of berth's
//! rules: the key look-up; `BEGIN IMMEDIATE`; the resource; the customer;
//! the customer's own bookings there with the usage summary's busiest hour;
//! the booking, its history event, its outbox event, its hour in the usage
//! summary and the key's record; `COMMIT`. The key
//! and the reads go through berth's own store functions, the inserts as the
//! entity inserts berth's statements are: the same statements berth runs
//! for a keyed booking on SQLite (its inserts there go one by one too).
//! `peer` prints berth's keyed figure as a share of it.

use std::time::Duration;

use berth::{
    domain::{
        ids::{BookingId, CustomerId, ResourceId},
        time_range::TimeRange,
    },
    store::{
        bookings::OwnActive,
        idempotency::{self, KeyScope, ResponseRow},
        usage,
    },
};
use chrono::{DateTime, Duration as Span, Utc};
use entity::{booking, booking_event, outbox_event, resource};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    DatabaseConnection, DbErr, EntityTrait,
};
use uuid::Uuid;

use crate::{
    client::{Outcome, Recorded, for_duration},
    peer::Slots,
};

/// Keyed bookings at the next `slots` on `resources`, for `duration`.
pub async fn run(
    db: &DatabaseConnection,
    resources: &[Uuid],
    customer: Uuid,
    slots: &Slots,
    concurrency: usize,
    duration: Duration,
) -> Recorded {
    for_duration(concurrency, duration, |_| {
        let (resource, start) = slots.next(resources);
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

async fn book(
    db: &DatabaseConnection,
    resource_id: Uuid,
    customer_id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(), anyhow::Error> {
    let key = Uuid::new_v4().to_string();
    let scope = KeyScope { principal: "admin:bench", key: &key, method: "POST", route: "/v1/bookings" };
    idempotency::find(db, scope).await?;
    let txn = berth::store::begin_write(db).await?;
    let now = Utc::now();
    let resource = resource::Entity::find_by_id(resource_id)
        .one(&txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("resource".into()))?;
    berth::store::customers::find(&txn, CustomerId(customer_id)).await?;
    // berth's own reads for the duplicate rule and the capacity sum.
    let range = TimeRange::new(start, end).ok_or_else(|| anyhow::anyhow!("an empty slot"))?;
    let own = OwnActive {
        customer: CustomerId(customer_id),
        resource: ResourceId(resource_id),
        max_duration_seconds: resource.max_booking_duration_seconds,
        now,
        exclude: None::<BookingId>,
        holds_at_read: false,
    };
    own.for_rules_with_summary(&txn, &range, Some(1), None, &range).await?;
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
    usage::Changes::new().take(ResourceId(resource_id), &range, 1).write(&txn).await?;
    let body = format!(r#"{{"id":"{id}","version":1}}"#).into_bytes();
    let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    let response = ResponseRow { status: 201, headers, body };
    idempotency::insert_completed(&txn, scope, &key, now, now + Span::days(1), &response).await?;
    txn.commit().await?;
    Ok(())
}
