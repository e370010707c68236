//! SQLite's new bookings decided in turn in one shared transaction, each
//! in a savepoint (docs/design.md §46): bookings racing for one slot are
//! exact when several share a commit; a booking that fails inside the
//! shared transaction leaves nothing and costs the others nothing; a
//! booking dropped halfway (its client gone) leaves its turn, the others
//! still commit, and no write lock is left behind. On PostgreSQL nothing
//! is batched and the same races hold.

use std::sync::Arc;

use berth::{
    domain::{
        booking::{Booking, Target},
        ids::{CustomerId, ResourceId},
        time_range::TimeRange,
    },
    http::events::Representations,
    service::{
        Db, ServiceError,
        bookings::{self, Context, NewBooking},
        idempotency::{Seal, StoredResponse},
        schema,
    },
};
use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{TestApp, on_postgres, slot, uuid_of};

async fn services(app: &TestApp) -> Db {
    let db = Db::new(app.db.clone()).representing(Arc::new(Representations));
    schema::check(&db).await.unwrap();
    db
}

fn admin() -> Context {
    Context { actor: berth::auth::Principal::Admin { sub: "ops".into() }.actor(), request_id: None, reason: None }
}

fn render(booking: &Booking) -> StoredResponse {
    StoredResponse { status: 201, headers: vec![], body: booking.id.to_string().into_bytes() }
}

fn the_slot() -> TimeRange {
    let (start, end) = slot(4, 10, 11);
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    TimeRange::new(at(&start), at(&end)).unwrap()
}

fn booking_of(resource: &Value, customer: Uuid) -> NewBooking {
    NewBooking {
        target: Target::Resource(ResourceId(uuid_of(resource))),
        customer_id: CustomerId(customer),
        range: the_slot(),
        quantity: 1,
        hold: false,
        notes: None,
        fields: None,
        override_policy: false,
    }
}

async fn book(db: &Db, new: NewBooking) -> Result<Booking, ServiceError> {
    bookings::create(db, new, &admin(), &Seal::new(None, &render)).await
}

async fn bookings_of(app: &TestApp, resource: &Value) -> u64 {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    entity::booking::Entity::find()
        .filter(entity::booking::Column::ResourceId.eq(uuid_of(resource)))
        .count(&app.db)
        .await
        .unwrap()
}

async fn customers(app: &TestApp, count: usize) -> Vec<Uuid> {
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        out.push(uuid_of(&app.create_customer(&format!("batched{i}@example.com")).await));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bookings_racing_for_one_slot_share_commits_and_stay_exact() {
    let app = TestApp::spawn_with(|c| c.hold_sweep_interval_ms = 0).await;
    let db = services(&app).await;
    let resource = app.create_resource("Class", 5).await;
    let people = customers(&app, 40).await;
    // Forty customers for five places, four bookings for nobody (they fail
    // inside the shared transaction) and four more of the first customer.
    let mut asked: Vec<NewBooking> = people.iter().map(|c| booking_of(&resource, *c)).collect();
    asked.extend((0..4).map(|_| booking_of(&resource, Uuid::now_v7())));
    asked.extend((0..4).map(|_| booking_of(&resource, people[0])));
    let answers = join_all(asked.into_iter().map(|new| book(&db, new))).await;

    let admitted = answers.iter().filter(|a| a.is_ok()).count();
    let refused = answers.iter().filter(|a| matches!(a, Err(ServiceError::Refused { .. }))).count();
    let unknown = answers.iter().filter(|a| matches!(a, Err(ServiceError::Invalid { .. }))).count();
    assert_eq!(admitted, 5, "five places: {answers:?}");
    assert_eq!(unknown, 4, "no such customer, four times");
    assert_eq!(admitted + refused + unknown, 48, "every other booking was refused (full, or booked already)");
    let in_db = bookings_of(&app, &resource).await;
    assert_eq!(in_db, 5, "what was answered is what committed");

    let (commits, decided) = db.batched_bookings();
    if on_postgres() {
        assert_eq!((commits, decided), (0, 0), "PostgreSQL decides each in its own transaction");
    } else {
        assert_eq!(decided, 48, "every booking took its turn");
        assert!(commits < decided, "some commit carried more than one booking ({commits} for {decided})");
    }
    app.assert_within_capacity(&resource).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_dropped_halfway_leaves_its_turn_and_the_others_commit() {
    let app = TestApp::spawn_with(|c| c.hold_sweep_interval_ms = 0).await;
    let db = services(&app).await;
    let resource = app.create_resource("Hall", 100).await;
    let people = customers(&app, 60).await;
    // Every third booking's caller gives up after 0 to 2 ms: at any point of
    // its turn, or before it.
    let answers = join_all(people.iter().enumerate().map(|(i, customer)| {
        let (db, new) = (db.clone(), booking_of(&resource, *customer));
        async move {
            let booking = book(&db, new);
            if i % 3 == 0 {
                let patience = std::time::Duration::from_micros(((i / 3) % 3 * 1000) as u64);
                tokio::time::timeout(patience, booking).await.ok()
            } else {
                Some(booking.await)
            }
        }
    }))
    .await;
    let kept: Vec<_> = answers.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(_, a)| a).collect();
    assert_eq!(kept.len(), 40);
    let gave_up = answers.iter().filter(|a| a.is_none()).count();
    assert!(gave_up > 0, "some callers gave up before their answer");
    for answer in &kept {
        assert!(matches!(answer, Some(Ok(_))), "a booking whose caller waited was made: {answer:?}");
    }
    // Those given up on may or may not have committed; nothing half-made.
    let in_db = bookings_of(&app, &resource).await;
    assert!((40..=60).contains(&in_db), "{in_db} bookings");
    app.assert_within_capacity(&resource).await;
    // No write lock was left behind: another writer gets through at once.
    let late = app.create_customer("late@example.com").await;
    let (start, end) = slot(4, 12, 13);
    app.book(&resource, &late, &(start, end), 1).await.assert_status(201);
}
