//! Idempotency-Key: replays, concurrency, fingerprints, scopes, what is
//! stored and what is not, expiry, two runs of one key.

use futures::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, booking_json, customer_token, slot};

async fn setup() -> (TestApp, Value, Value) {
    let app = TestApp::spawn_with(|c| c.hold_sweep_interval_ms = 0).await;
    let resource = app.create_resource("Court", 1).await;
    let customer = app.create_customer("ada@example.com").await;
    (app, resource, customer)
}

fn booking_body(resource: &Value, customer: &Value, day: i64) -> Value {
    booking_json(resource, customer, &slot(day, 9, 10))
}

async fn post_keyed(app: &TestApp, path: &str, key: &str, body: &Value) -> Reply {
    app.send(app.client.post(app.url(path)).header("idempotency-key", key).json(body)).await
}

async fn bookings_in_db(app: &TestApp) -> u64 {
    entity::booking::Entity::find().count(&app.db).await.unwrap()
}

async fn events_in_db(app: &TestApp) -> u64 {
    entity::booking_event::Entity::find().count(&app.db).await.unwrap()
}

#[tokio::test]
async fn a_retry_replays_the_stored_response_byte_for_byte_and_runs_nothing() {
    let (app, resource, customer) = setup().await;
    let body = booking_body(&resource, &customer, 3);
    let first = post_keyed(&app, "/v1/bookings", "\"order-1\"", &body).await;
    first.assert_status(201);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = post_keyed(&app, "/v1/bookings", "\"order-1\"", &body).await;
    again.assert_status(201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, first.text);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), first.header("etag"));
    assert_eq!(again.header("content-type"), Some("application/json"));
    assert_eq!(bookings_in_db(&app).await, 1);
    assert_eq!(events_in_db(&app).await, 1);
}

#[tokio::test]
async fn key_order_and_whitespace_do_not_change_the_request() {
    let (app, resource, customer) = setup().await;
    let body = booking_body(&resource, &customer, 3);
    post_keyed(&app, "/v1/bookings", "k", &body).await.assert_status(201);
    let reordered = serde_json::to_string_pretty(&json!({
        "end_at": body["end_at"], "start_at": body["start_at"],
        "customer_id": body["customer_id"], "resource_id": body["resource_id"],
    }))
    .unwrap();
    let request = app.client.post(app.url("/v1/bookings")).header("idempotency-key", "k");
    let again = app.send(request.header("content-type", "application/json").body(reordered)).await;
    assert_eq!(again.assert_status(201).header("idempotent-replayed"), Some("true"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_key_execute_exactly_once() {
    for concurrency in [2, 20] {
        let (app, resource, customer) = setup().await;
        let body = booking_body(&resource, &customer, 3);
        let replies = join_all((0..concurrency).map(|_| post_keyed(&app, "/v1/bookings", "same", &body))).await;
        let fresh = replies.iter().filter(|r| r.status == 201 && r.header("idempotent-replayed").is_none()).count();
        assert_eq!(fresh, 1, "exactly one execution out of {concurrency}");
        for reply in &replies {
            match reply.status.as_u16() {
                201 => {}
                _ => {
                    reply.assert_problem(409, "idempotency-key-in-use");
                    assert_eq!(reply.header("retry-after"), Some("1"));
                }
            }
        }
        assert_eq!(bookings_in_db(&app).await, 1);
        assert_eq!(events_in_db(&app).await, 1);
    }
}

#[tokio::test]
async fn the_same_key_with_another_request_is_a_422_and_runs_nothing() {
    let (app, resource, customer) = setup().await;
    post_keyed(&app, "/v1/bookings", "k1", &booking_body(&resource, &customer, 3)).await.assert_status(201);
    let other = post_keyed(&app, "/v1/bookings", "k1", &booking_body(&resource, &customer, 4)).await;
    other.assert_problem(422, "idempotency-key-reused");
    assert_eq!(bookings_in_db(&app).await, 1);
}

#[tokio::test]
async fn keys_are_scoped_to_the_caller() {
    let (app, resource, customer) = setup().await;
    let other_customer = app.create_customer("bob@example.com").await;
    let mine = booking_body(&resource, &customer, 3);
    let theirs = booking_body(&resource, &other_customer, 4);
    let as_ada = app.client.post(app.url("/v1/bookings")).header("idempotency-key", "shared").json(&mine);
    app.send_as(as_ada, Some(&customer_token(&customer))).await.assert_status(201);
    let as_bob = app.client.post(app.url("/v1/bookings")).header("idempotency-key", "shared").json(&theirs);
    let reply = app.send_as(as_bob, Some(&customer_token(&other_customer))).await;
    assert_eq!(reply.assert_status(201).header("idempotent-replayed"), None);
    assert_eq!(bookings_in_db(&app).await, 2);
}

#[tokio::test]
async fn a_capacity_refusal_is_stored_and_replayed_as_the_same_409() {
    let (app, resource, customer) = setup().await;
    let bob = app.create_customer("bob@example.com").await;
    app.booked(&resource, &bob, &slot(3, 9, 10), 1).await;
    let body = booking_body(&resource, &customer, 3);
    let first = post_keyed(&app, "/v1/bookings", "k", &body).await;
    first.assert_problem(409, "capacity-exceeded");
    // Capacity frees up, but the key's outcome is final.
    let bobs = app.get("/v1/bookings").await.body["items"][0].clone();
    app.act(&bobs, "cancel").await.assert_status(200);
    let again = post_keyed(&app, "/v1/bookings", "k", &body).await;
    again.assert_problem(409, "capacity-exceeded");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, first.text);
    // A new key books.
    post_keyed(&app, "/v1/bookings", "k2", &body).await.assert_status(201);
}

#[tokio::test]
async fn a_refusal_before_execution_does_not_use_up_the_key() {
    let (app, resource, customer) = setup().await;
    let mut body = booking_body(&resource, &customer, 3);
    body["quantity"] = json!(0);
    post_keyed(&app, "/v1/bookings", "k", &body).await.assert_problem(422, "validation-error");
    body["quantity"] = json!(1);
    let fixed = post_keyed(&app, "/v1/bookings", "k", &body).await;
    assert_eq!(fixed.assert_status(201).header("idempotent-replayed"), None);
    // A customer's 403 does not store anything either.
    let bob = app.create_customer("bob@example.com").await;
    let forbidden = app
        .client
        .post(app.url("/v1/bookings"))
        .header("idempotency-key", "b")
        .json(&booking_body(&resource, &customer, 5));
    app.send_as(forbidden, Some(&customer_token(&bob))).await.assert_problem(403, "forbidden");
    let allowed =
        app.client.post(app.url("/v1/bookings")).header("idempotency-key", "b").json(&booking_body(&resource, &bob, 5));
    app.send_as(allowed, Some(&customer_token(&bob))).await.assert_status(201);
}

#[tokio::test]
async fn malformed_keys_are_a_400_and_change_nothing() {
    let (app, resource, customer) = setup().await;
    let body = booking_body(&resource, &customer, 3);
    for key in ["", "\"\"", "has space", &"k".repeat(256), "\"unterminated"] {
        let reply = post_keyed(&app, "/v1/bookings", key, &body).await;
        reply.assert_problem(400, "idempotency-key-invalid");
    }
    assert_eq!(bookings_in_db(&app).await, 0);
}

#[tokio::test]
async fn a_key_still_in_flight_is_a_409_and_an_abandoned_one_is_taken_over() {
    let (app, resource, customer) = setup().await;
    post_keyed(&app, "/v1/bookings", "k", &booking_body(&resource, &customer, 4)).await.assert_status(201);
    // Make the record look like its first request is still running.
    use entity::idempotency_record::{Column, Entity};
    let set_in_flight = |created: chrono::DateTime<chrono::Utc>| {
        Entity::update_many()
            .col_expr(Column::State, Expr::value("in_flight"))
            .col_expr(Column::CreatedAt, Expr::value(created))
            .filter(Column::IdempotencyKey.eq("k"))
            .exec(&app.db)
    };
    set_in_flight(chrono::Utc::now()).await.unwrap();
    let busy = post_keyed(&app, "/v1/bookings", "k", &booking_body(&resource, &customer, 4)).await;
    busy.assert_problem(409, "idempotency-key-in-use");
    assert_eq!(busy.header("retry-after"), Some("1"));
    // An hour later nobody can still be running it: the retry takes over.
    set_in_flight(chrono::Utc::now() - chrono::Duration::hours(1)).await.unwrap();
    let retried = post_keyed(&app, "/v1/bookings", "k", &booking_body(&resource, &customer, 4)).await;
    // It runs again: the earlier booking exists, so this one is a duplicate.
    retried.assert_problem(409, "duplicate-booking");
}

#[tokio::test]
async fn an_expired_key_is_fresh_again_and_the_cleanup_forgets_it() {
    let (app, resource, customer) = setup().await;
    post_keyed(&app, "/v1/bookings", "k", &booking_body(&resource, &customer, 3)).await.assert_status(201);
    use entity::idempotency_record::{Column, Entity};
    Entity::update_many()
        .col_expr(Column::ExpiresAt, Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)))
        .exec(&app.db)
        .await
        .unwrap();
    let fresh = post_keyed(&app, "/v1/bookings", "k", &booking_body(&resource, &customer, 4)).await;
    assert_eq!(fresh.assert_status(201).header("idempotent-replayed"), None);
    Entity::update_many()
        .col_expr(Column::ExpiresAt, Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)))
        .exec(&app.db)
        .await
        .unwrap();
    let deleted = berth::service::idempotency::delete_expired(&app.services_db()).await.unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(Entity::find().count(&app.db).await.unwrap(), 0);
}

#[tokio::test]
async fn a_replay_wins_over_a_now_stale_precondition() {
    let (app, resource, customer) = setup().await;
    let booking = app.booked(&resource, &customer, &slot(3, 9, 10), 1).await;
    let path = format!("/v1/bookings/{}/cancel", booking["id"].as_str().unwrap());
    let request = || app.client.post(app.url(&path)).header("idempotency-key", "c").header("if-match", "\"1\"");
    let first = app.send(request()).await;
    first.assert_status(200);
    let again = app.send(request()).await;
    assert_eq!(again.assert_status(200).header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, first.text);
    // Without the key the same request is a 412: the booking moved on.
    app.send(app.client.post(app.url(&path)).header("if-match", "\"1\""))
        .await
        .assert_problem(412, "precondition-failed");
}

#[tokio::test]
async fn keys_work_on_every_post() {
    let (app, resource, customer) = setup().await;
    let created = post_keyed(&app, "/v1/resources", "r", &json!({"name": "Hall", "capacity": 2})).await;
    let replayed = post_keyed(&app, "/v1/resources", "r", &json!({"name": "Hall", "capacity": 2})).await;
    assert_eq!((created.status, replayed.header("idempotent-replayed")), (reqwest::StatusCode::CREATED, Some("true")));
    let c = post_keyed(&app, "/v1/customers", "c", &json!({"email": "x@example.com", "name": "X"})).await;
    assert_eq!(c.status, 201);
    let taken = post_keyed(&app, "/v1/customers", "c2", &json!({"email": "X@example.com", "name": "X"})).await;
    taken.assert_problem(409, "already-exists");
    let booking = app.booked(&resource, &customer, &slot(3, 9, 10), 1).await;
    let move_to = booking_body(&resource, &customer, 4);
    let path = format!("/v1/bookings/{}/reschedule", booking["id"].as_str().unwrap());
    let body = json!({"start_at": move_to["start_at"], "end_at": move_to["end_at"]});
    post_keyed(&app, &path, "m", &body).await.assert_status(200);
    assert_eq!(post_keyed(&app, &path, "m", &body).await.header("idempotent-replayed"), Some("true"));
    let events = app.get(&format!("/v1/bookings/{}/events", booking["id"].as_str().unwrap())).await;
    assert_eq!(events.body["items"].as_array().unwrap().len(), 2, "one reschedule, not two");
}

/// Values a client controls that outgrow the columns they land in were 500s
/// on PostgreSQL ("value too long"): a long path in the key's scope, a long
/// `sub` from an identity provider, a name that lower-cases longer.
#[tokio::test]
async fn long_paths_subjects_and_folded_names_are_answers_not_500s() {
    let (app, _, _) = setup().await;
    let long_path = format!("/v1/bookings/{}/cancel", "x".repeat(300));
    post_keyed(&app, &long_path, "k1", &json!({})).await.assert_problem(404, "not-found");
    // Found from outside: 3,000 characters were a 500 on PostgreSQL (the
    // key's scope outgrew its unique index entry).
    // Random characters: a repeated one compresses under the limit.
    let random: String = (0..100).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect::<String>()[..3000].into();
    let longer_path = format!("/v1/bookings/{random}/cancel");
    post_keyed(&app, &longer_path, "k1", &json!({})).await.assert_problem(404, "not-found");

    // A subject of 255 characters (OpenID Connect's most), 510 bytes,
    // keeps its keys too, and a retry replays.
    let long_admin = crate::helpers::token(berth::auth::Role::Admin, &"é".repeat(255));
    for expected in [None, Some("true")] {
        let request = app.client.post(app.url("/v1/resources")).header("idempotency-key", "k3");
        let created = app.send_as(request.json(&json!({"name": "Annex", "capacity": 1})), Some(&long_admin)).await;
        assert_eq!(created.assert_status(201).header("idempotent-replayed"), expected);
    }
    // A longer one is no token for berth.
    let too_long = crate::helpers::token(berth::auth::Role::Admin, &"a".repeat(256));
    let request = app.client.post(app.url("/v1/resources")).header("idempotency-key", "k4");
    let refused = app.send_as(request.json(&json!({"name": "Shed", "capacity": 1})), Some(&too_long)).await;
    refused.assert_problem(401, "unauthenticated");

    // Found from outside: an internationalised address that lower-cases
    // past 254 characters was a 500 on PostgreSQL; too long is a 422.
    let labels = vec!["İ".repeat(20); 7].join(".");
    let email = format!("a@{labels}.com");
    let reply = app.post_json("/v1/customers", &json!({"email": email, "name": "Ada"})).await;
    assert_eq!(reply.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/email");
    let customer = app.create_customer("eve@example.com").await;
    let path = format!("/v1/customers/{}", customer["id"].as_str().unwrap());
    let reply = app.patch_json(&path, &json!({"email": email}), Some("*")).await;
    assert_eq!(reply.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/email");

    let folded = "İ".repeat(200); // 200 characters, 400 once lower-cased
    let created = app.post_json("/v1/resources", &json!({"name": folded, "capacity": 1})).await;
    assert_eq!(created.assert_status(201).body["name"], folded);
}

/// Two runs of one key (the second looked the key up before the first
/// committed) take effect once: the second finds the key taken when it
/// records, inside its own booking transaction, which rolls back, and it
/// learns what the key holds. A refusal recorded later gives way to it too;
/// another request under the key is told the key was reused.
#[tokio::test]
async fn a_second_run_of_a_key_rolls_back_and_answers_what_the_key_holds() {
    use berth::domain::{ids::*, time_range::TimeRange};
    use berth::service::{
        Db, ServiceError,
        bookings::{self, Context, NewBooking, Target},
        idempotency::{Found, Key, Policy, Scope, Seal, StoredResponse, look_up, record_refusal},
    };
    let (app, resource, customer) = setup().await;
    let db = Db::new(app.db.clone());
    let key = |fingerprint: &str| Key {
        scope: Scope {
            principal: "admin:ops".into(),
            key: "k".into(),
            method: "POST".into(),
            route: "/v1/bookings".into(),
        },
        fingerprint: fingerprint.into(),
        policy: Policy { ttl: chrono::Duration::hours(24), lease: chrono::Duration::seconds(60) },
        looked_up: true,
    };
    let (first, second) = (key("same request"), key("same request"));
    assert!(matches!(look_up(&db, &first).await.unwrap(), Found::Nothing));
    assert!(matches!(look_up(&db, &second).await.unwrap(), Found::Nothing));
    let render = |b: &berth::domain::booking::Booking| StoredResponse {
        status: 201,
        headers: vec![],
        body: b.id.to_string().into_bytes(),
    };
    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&chrono::Utc);
    let new = |day: i64| {
        let (start, end) = crate::helpers::slot(day, 9, 10);
        NewBooking {
            target: Target::Resource(ResourceId(resource["id"].as_str().unwrap().parse().unwrap())),
            customer_id: CustomerId(customer["id"].as_str().unwrap().parse().unwrap()),
            range: TimeRange::new(at(&start), at(&end)).unwrap(),
            quantity: 1,
            hold: false,
            notes: None,
            fields: None,
            override_policy: false,
        }
    };
    let ctx =
        Context { actor: berth::auth::Principal::Admin { sub: "ops".into() }.actor(), request_id: None, reason: None };
    let made = bookings::create(&db, new(3), &ctx, &Seal::new(Some(&first), &render)).await.unwrap();
    // The second run would be admitted (another day), but the key is taken.
    let seal = Seal::new(Some(&second), &render);
    let late = bookings::create(&db, new(4), &ctx, &seal).await;
    assert!(matches!(late, Err(ServiceError::IdempotencyKeyTaken)), "{late:?}");
    let Some(Found::Replay(held)) = seal.taken() else { panic!("the key's answer was not returned") };
    assert_eq!((held.status, held.body), (201, made.id.to_string().into_bytes()));
    assert_eq!(bookings_in_db(&app).await, 1, "the second run's booking rolled back");
    assert_eq!(events_in_db(&app).await, 1);
    // A refusal gives way to what the key holds.
    let refusal = StoredResponse { status: 409, headers: vec![], body: b"{}".to_vec() };
    let instead = record_refusal(&db, &second, &refusal).await.unwrap();
    assert!(matches!(instead, Found::Replay(ref r) if r.status == 201), "{instead:?}");
    // Another request under the key: reused, and nothing of it stays.
    let other = key("another request");
    let seal = Seal::new(Some(&other), &render);
    let reused = bookings::create(&db, new(5), &ctx, &seal).await;
    assert!(matches!(reused, Err(ServiceError::IdempotencyKeyTaken)), "{reused:?}");
    assert!(matches!(seal.taken(), Some(Found::Reused)));
    assert_eq!(bookings_in_db(&app).await, 1);
}
