//! Bundles: several things booked for one interval, all or nothing, and
//! then confirmed, cancelled and moved together.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, slot};

fn bundle(items: &[Value], customer: &Value, (start, end): &(String, String)) -> Value {
    json!({"items": items, "customer_id": customer["id"], "start_at": start, "end_at": end})
}

fn item(resource: &Value) -> Value {
    json!({"resource_id": resource["id"]})
}

async fn bookings_of(app: &TestApp, resource: &Value) -> Vec<Value> {
    let path = format!("/v1/bookings?resource_id={}", resource["id"].as_str().unwrap());
    app.get(&path).await.body["items"].as_array().unwrap().clone()
}

fn path(booking: &Value, action: &str) -> String {
    format!("/v1/bookings/{}/{action}", booking["id"].as_str().unwrap())
}

#[tokio::test]
async fn a_bundle_books_every_item_or_nothing_and_names_the_item_refused() {
    let app = TestApp::spawn().await;
    let room = app.create_resource("Room", 1).await;
    let instructor = app.create_resource("Instructor", 1).await;
    let court = app.create_resource("Court", 1).await;
    let ada = app.create_customer("ada@example.com").await;
    let when = slot(2, 9, 10);
    let made = app.post_json("/v1/bundles", &bundle(&[item(&room), item(&instructor)], &ada, &when)).await;
    made.assert_status(201);
    let bookings = made.body["bookings"].as_array().unwrap();
    assert_eq!(bookings.len(), 2);
    assert_eq!(bookings[0]["resource_id"], room["id"]);
    assert_eq!(bookings[1]["resource_id"], instructor["id"]);
    assert!(
        bookings.iter().all(|b| b["bundle_id"] == made.body["bundle_id"] && b["start_at"] == bookings[0]["start_at"])
    );
    let location = made.header("location").unwrap();
    assert_eq!(location, format!("/v1/bundles/{}", made.body["bundle_id"].as_str().unwrap()));
    assert_eq!(app.get(location).await.assert_status(200).body, made.body);
    // A customer sees its own bundles only.
    let stranger = app.create_customer("eve@example.com").await;
    let peek = app.client.get(app.url(location));
    app.send_as(peek, Some(&crate::helpers::customer_token(&stranger))).await.assert_problem(404, "not-found");

    // The instructor is taken: nothing of this bundle is booked.
    let bob = app.create_customer("bob@example.com").await;
    let refused = app.post_json("/v1/bundles", &bundle(&[item(&court), item(&instructor)], &bob, &when)).await;
    let problem = refused.assert_problem(409, "capacity-exceeded");
    assert_eq!(problem["item_pointer"], "/items/1");
    assert_eq!(problem["resource_id"], instructor["id"]);
    assert!(bookings_of(&app, &court).await.is_empty(), "the court was booked by a refused bundle");
}

#[tokio::test]
async fn bundle_items_are_checked_one_by_one() {
    let app = TestApp::spawn().await;
    let room = app.create_resource("Room", 1).await;
    let ada = app.create_customer("ada@example.com").await;
    let when = slot(2, 9, 10);
    let pointer_of = |reply: &Reply| reply.assert_problem(422, "validation-error")["errors"][0]["pointer"].clone();
    let one = app.post_json("/v1/bundles", &bundle(&[item(&room)], &ada, &when)).await;
    assert_eq!(pointer_of(&one), "/items");
    let both = json!({"resource_id": room["id"], "group_id": room["id"]});
    let reply = app.post_json("/v1/bundles", &bundle(&[item(&room), both], &ada, &when)).await;
    assert_eq!(pointer_of(&reply), "/items/1/group_id");
    let ghost = json!({"resource_id": uuid::Uuid::now_v7().to_string()});
    let reply = app.post_json("/v1/bundles", &bundle(&[item(&room), ghost], &ada, &when)).await;
    assert_eq!(pointer_of(&reply), "/items/1/resource_id");
    let too_many = json!({"resource_id": room["id"], "quantity": 2});
    let reply = app.post_json("/v1/bundles", &bundle(&[item(&room), too_many], &ada, &when)).await;
    assert_eq!(pointer_of(&reply), "/items/1/quantity");
    assert!(bookings_of(&app, &room).await.is_empty());
}

#[tokio::test]
async fn any_booking_of_a_bundle_confirms_cancels_and_moves_all_of_it() {
    let app = TestApp::spawn().await;
    let room = app.create_resource("Room", 1).await;
    let instructor = app.create_resource("Instructor", 1).await;
    let ada = app.create_customer("ada@example.com").await;
    let mut held = bundle(&[item(&room), item(&instructor)], &ada, &slot(2, 9, 10));
    held["hold"] = json!(true);
    let made = app.post_json("/v1/bundles", &held).await.assert_status(201).body.clone();
    let [first, second] = <[Value; 2]>::try_from(made["bookings"].as_array().unwrap().clone()).unwrap();
    assert_eq!(first["status"], "held");

    let confirmed = app.act(&second, "confirm").await;
    assert_eq!(confirmed.assert_status(200).body["id"], second["id"]);
    let other = app.get(&format!("/v1/bookings/{}", first["id"].as_str().unwrap())).await;
    assert_eq!(other.body["status"], "confirmed");

    // Moving one moves both; a stale ETag on the one addressed moves none.
    let move_to = |when: (String, String)| json!({"start_at": when.0, "end_at": when.1});
    let stale = app.client.post(app.url(&path(&first, "reschedule"))).header("if-match", "\"1\"");
    app.send(stale.json(&move_to(slot(2, 11, 12)))).await.assert_problem(412, "precondition-failed");
    let moved = app.post_json(&path(&first, "reschedule"), &move_to(slot(2, 11, 12))).await;
    moved.assert_status(200);
    let other = app.get(&format!("/v1/bookings/{}", second["id"].as_str().unwrap())).await;
    assert_eq!(other.body["start_at"], moved.body["start_at"]);

    // The instructor is taken at 14:00: the room does not move either.
    let bob = app.create_customer("bob@example.com").await;
    app.booked(&instructor, &bob, &slot(2, 14, 15), 1).await;
    let refused = app.post_json(&path(&first, "reschedule"), &move_to(slot(2, 14, 15))).await;
    assert_eq!(refused.assert_problem(409, "capacity-exceeded")["item_pointer"], "/items/1");
    let room_booking = app.get(&format!("/v1/bookings/{}", first["id"].as_str().unwrap())).await;
    assert_eq!(room_booking.body["start_at"], moved.body["start_at"]);
    let quantity = app
        .post_json(
            &path(&first, "reschedule"),
            &json!({"start_at": slot(2, 16, 17).0, "end_at": slot(2, 16, 17).1, "quantity": 1}),
        )
        .await;
    assert_eq!(quantity.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/quantity");

    let cancelled = app.act(&first, "cancel").await;
    assert_eq!(cancelled.assert_status(200).body["status"], "cancelled");
    let other = app.get(&format!("/v1/bookings/{}", second["id"].as_str().unwrap())).await;
    assert_eq!(other.body["status"], "cancelled");
    let history = app.get(&format!("/v1/bookings/{}/events", second["id"].as_str().unwrap())).await;
    let actions: Vec<_> = history.body["items"].as_array().unwrap().iter().map(|e| e["action"].clone()).collect();
    assert_eq!(actions, ["create", "confirm", "reschedule", "cancel"]);
    app.assert_history_matches_bookings().await;
}

#[tokio::test]
async fn a_bundle_item_may_be_a_group_and_a_keyed_bundle_replays() {
    let app = TestApp::spawn().await;
    let court_a = app.create_resource("Court A", 1).await;
    let court_b = app.create_resource("Court B", 1).await;
    let coach = app.create_resource("Coach", 2).await;
    let courts = app
        .post_json("/v1/groups", &json!({"name": "Courts", "resource_ids": [court_a["id"], court_b["id"]]}))
        .await
        .assert_status(201)
        .body
        .clone();
    let ada = app.create_customer("ada@example.com").await;
    let when = slot(2, 9, 10);
    app.booked(&court_a, &ada, &when, 1).await;
    let body = bundle(&[json!({"group_id": courts["id"]}), item(&coach)], &ada, &when);
    let send = || app.send(app.client.post(app.url("/v1/bundles")).header("idempotency-key", "lesson-1").json(&body));
    let first = send().await;
    first.assert_status(201);
    assert_eq!(first.body["bookings"][0]["resource_id"], court_b["id"]);
    assert_eq!(first.body["bookings"][0]["group_id"], courts["id"]);
    let again = send().await;
    assert_eq!(again.assert_status(201).header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(bookings_of(&app, &coach).await.len(), 1);
    // Both courts are taken now: the group item is refused, without
    // alternatives (another time would have to suit the coach too).
    let bob = app.create_customer("bob@example.com").await;
    let full =
        app.post_json("/v1/bundles", &bundle(&[json!({"group_id": courts["id"]}), item(&coach)], &bob, &when)).await;
    let problem = full.assert_problem(409, "no-resource-available");
    assert_eq!(problem["item_pointer"], "/items/0");
    assert_eq!(problem["group_id"], courts["id"]);
    assert!(problem.get("alternatives").is_none(), "{problem}");
    assert_eq!(bookings_of(&app, &coach).await.len(), 1);
}

/// Crossing bundles: A+B and B+A at once, 50 of them, on PostgreSQL the
/// case where locking in request order would deadlock.
#[tokio::test]
async fn crossing_bundles_raced_never_deadlock_a_client_or_oversell() {
    let app = TestApp::spawn().await;
    let a = app.create_resource("A", 5).await;
    let b = app.create_resource("B", 5).await;
    let mut people = Vec::new();
    for i in 0..50 {
        people.push(app.create_customer(&format!("p{i}@example.com")).await);
    }
    let when = slot(3, 9, 10);
    let app = &app;
    let requests = people.iter().enumerate().map(|(i, person)| {
        let items = if i % 2 == 0 { [item(&a), item(&b)] } else { [item(&b), item(&a)] };
        let body = bundle(&items, person, &when);
        async move { app.post_json("/v1/bundles", &body).await }
    });
    let replies = join_all(requests).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 5, "{statuses:?}");
    for reply in replies.iter().filter(|r| r.status == 409) {
        reply.assert_problem(409, "capacity-exceeded");
    }
    app.assert_within_capacity(&a).await;
    app.assert_within_capacity(&b).await;
    // Every bundle is whole: as many bookings on A as on B.
    assert_eq!(bookings_of(app, &a).await.len(), 5);
    assert_eq!(bookings_of(app, &b).await.len(), 5);
}

/// A bundle is held as one: every item until the shortest hold of its
/// resources ends, and one item's hold running out ends them all.
#[tokio::test]
async fn a_bundles_hold_ends_for_all_of_it_at_once() {
    let app = TestApp::spawn().await;
    let room = app
        .post_json("/v1/resources", &json!({"name": "Room", "capacity": 1, "hold_ttl_seconds": 600}))
        .await
        .body
        .clone();
    let coach = app
        .post_json("/v1/resources", &json!({"name": "Coach", "capacity": 1, "hold_ttl_seconds": 300}))
        .await
        .body
        .clone();
    let ada = app.create_customer("ada@example.com").await;
    let mut held = bundle(&[item(&room), item(&coach)], &ada, &slot(2, 9, 10));
    held["hold"] = json!(true);
    let made = app.post_json("/v1/bundles", &held).await.assert_status(201).body.clone();
    let [first, second] = <[Value; 2]>::try_from(made["bookings"].as_array().unwrap().clone()).unwrap();
    assert_eq!(first["hold_expires_at"], second["hold_expires_at"], "one hold for the bundle");
    let expires = chrono::DateTime::parse_from_rfc3339(first["hold_expires_at"].as_str().unwrap()).unwrap();
    let created = chrono::DateTime::parse_from_rfc3339(first["created_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires - created).num_seconds(), 300, "the shorter hold");
    // The coach's hold runs out: confirming through the room confirms nothing.
    app.run_out_hold(&second).await;
    let refused = app.act(&first, "confirm").await;
    refused.assert_problem(409, "hold-expired");
    for booking in [&first, &second] {
        let now = app.get(&format!("/v1/bookings/{}", booking["id"].as_str().unwrap())).await;
        assert_eq!(now.body["status"], "expired");
    }
}

/// A customer's move of a bundle past one item's cut-off is refused for
/// that item, named by its place in the bundle; nothing moves.
#[tokio::test]
async fn a_customers_move_of_a_bundle_past_an_items_cutoff_names_that_item() {
    use crate::policies::{app_at, at, resource};
    let (app, clock) = app_at("2027-01-01T00:00:00Z").await;
    let room = resource(&app, json!({})).await;
    let instructor = resource(&app, json!({"policy": {"reschedule_cutoff_seconds": 7200}})).await;
    let ada = app.create_customer("ada@example.com").await;
    let when = ("2027-01-04T10:00:00Z".to_owned(), "2027-01-04T11:00:00Z".to_owned());
    let made = app.post_json("/v1/bundles", &bundle(&[item(&room), item(&instructor)], &ada, &when)).await;
    let first = made.assert_status(201).body["bookings"][0].clone();

    clock.set(at("2027-01-04T08:00:00.000001Z"));
    let target = json!({"start_at": "2027-01-04T12:00:00Z", "end_at": "2027-01-04T13:00:00Z"});
    let request = app.client.post(app.url(&path(&first, "reschedule"))).json(&target);
    let refused = app.send_as(request, Some(&crate::helpers::customer_token(&ada))).await;
    let problem = refused.assert_problem(409, "cutoff-passed");
    assert_eq!(problem["item_pointer"], "/items/1");
    assert_eq!(problem["cutoff_at"], "2027-01-04T08:00:00Z");
    let unmoved = app.get(&format!("/v1/bookings/{}", first["id"].as_str().unwrap())).await;
    assert_eq!(unmoved.body["start_at"], first["start_at"]);
}
