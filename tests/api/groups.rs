//! Pools: groups of resources booked as "any one of them". The member is
//! picked inside the transaction that checks capacity, so concurrent
//! group bookings and direct bookings on members never oversell one.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, booking_json, slot};

async fn create_group(app: &TestApp, name: &str, members: &[&Value], assignment: &str) -> Value {
    let ids: Vec<_> = members.iter().map(|m| m["id"].clone()).collect();
    let reply =
        app.post_json("/v1/groups", &json!({"name": name, "resource_ids": ids, "assignment": assignment})).await;
    reply.assert_status(201);
    reply.body
}

async fn courts(app: &TestApp, n: usize) -> Vec<Value> {
    let mut courts = Vec::new();
    for i in 0..n {
        courts.push(app.create_resource(&format!("Court {i}"), 1).await);
    }
    courts
}

fn group_booking(group: &Value, customer: &Value, (start, end): &(String, String)) -> Value {
    json!({"group_id": group["id"], "customer_id": customer["id"], "start_at": start, "end_at": end})
}

async fn book_group(app: &TestApp, group: &Value, customer: &Value, when: &(String, String)) -> Reply {
    app.post_json("/v1/bookings", &group_booking(group, customer, when)).await
}

#[tokio::test]
async fn groups_are_created_read_listed_changed_and_deleted_without_touching_resources() {
    let app = TestApp::spawn().await;
    let [a, b] = <[Value; 2]>::try_from(courts(&app, 2).await).unwrap();
    let group = create_group(&app, "Courts", &[&b, &a], "least_used").await;
    assert_eq!(group["resource_ids"], json!([b["id"], a["id"]]));
    assert_eq!(group["assignment"], "least_used");
    let path = format!("/v1/groups/{}", group["id"].as_str().unwrap());
    let read = app.get(&path).await;
    assert_eq!(read.assert_status(200).header("etag"), Some("\"1\""));
    assert_eq!(app.get("/v1/groups").await.body["items"][0]["id"], group["id"]);

    // Members must exist, once each; names are unique ignoring case.
    let twice = app.post_json("/v1/groups", &json!({"name": "Twice", "resource_ids": [a["id"], a["id"]]})).await;
    assert_eq!(twice.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/resource_ids/1");
    let ghost = uuid::Uuid::now_v7();
    let missing = app.post_json("/v1/groups", &json!({"name": "Ghost", "resource_ids": [a["id"], ghost]})).await;
    assert_eq!(missing.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/resource_ids/1");
    let empty = app.post_json("/v1/groups", &json!({"name": "Empty", "resource_ids": []})).await;
    assert_eq!(empty.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/resource_ids");
    let taken = app.post_json("/v1/groups", &json!({"name": "COURTS", "resource_ids": [a["id"]]})).await;
    taken.assert_problem(409, "already-exists");

    app.patch_json(&path, &json!({"resource_ids": [a["id"]]}), None).await.assert_problem(428, "precondition-required");
    app.patch_json(&path, &json!({"resource_ids": [a["id"]]}), Some("\"7\""))
        .await
        .assert_problem(412, "precondition-failed");
    let changed =
        app.patch_json(&path, &json!({"resource_ids": [a["id"]], "assignment": "first_fit"}), Some("\"1\"")).await;
    assert_eq!(changed.assert_status(200).body["resource_ids"], json!([a["id"]]));
    assert_eq!(changed.body["version"], 2);

    let customer = app.create_customer("ada@example.com").await;
    let booked = book_group(&app, &group, &customer, &slot(1, 9, 10)).await;
    assert_eq!(booked.assert_status(201).body["group_id"], group["id"]);
    app.delete(&path, Some("\"2\"")).await.assert_status(204);
    app.get(&path).await.assert_problem(404, "not-found");
    // The resources and the booking made through the group stay.
    app.get(&format!("/v1/resources/{}", a["id"].as_str().unwrap())).await.assert_status(200);
    let kept = app.get(&format!("/v1/bookings/{}", booked.body["id"].as_str().unwrap())).await;
    assert_eq!(kept.assert_status(200).body["group_id"], group["id"]);
}

#[tokio::test]
async fn a_booking_names_a_resource_or_a_group_that_exists() {
    let app = TestApp::spawn().await;
    let court = app.create_resource("Court", 1).await;
    let customer = app.create_customer("ada@example.com").await;
    let (start, end) = slot(1, 9, 10);
    let neither = json!({"customer_id": customer["id"], "start_at": start, "end_at": end});
    let reply = app.post_json("/v1/bookings", &neither).await;
    assert_eq!(reply.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/resource_id");
    let group = create_group(&app, "Courts", &[&court], "first_fit").await;
    let mut both = booking_json(&court, &customer, &(start.clone(), end.clone()));
    both["group_id"] = group["id"].clone();
    let reply = app.post_json("/v1/bookings", &both).await;
    assert_eq!(reply.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/group_id");
    let unknown = json!({"id": uuid::Uuid::now_v7().to_string()});
    let reply = book_group(&app, &unknown, &customer, &(start, end)).await;
    assert_eq!(reply.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/group_id");
}

/// The race the issue names: 50 concurrent group bookings of one hour on a
/// pool of 5 capacity-1 courts.
#[tokio::test]
async fn fifty_concurrent_group_bookings_on_five_courts_give_five_bookings_one_per_court() {
    let app = TestApp::spawn().await;
    let courts = courts(&app, 5).await;
    let group = create_group(&app, "Courts", &courts.iter().collect::<Vec<_>>(), "first_fit").await;
    let mut people = Vec::new();
    for i in 0..50 {
        people.push(app.create_customer(&format!("player{i}@example.com")).await);
    }
    let when = slot(2, 18, 19);
    let replies = join_all(people.iter().map(|p| book_group(&app, &group, p, &when))).await;
    let won: Vec<&Reply> = replies.iter().filter(|r| r.status == 201).collect();
    assert_eq!(won.len(), 5, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    for lost in replies.iter().filter(|r| r.status != 201) {
        let problem = lost.assert_problem(409, "no-resource-available");
        assert_eq!(problem["group_id"], group["id"]);
        assert!(problem["alternatives"].as_array().is_some_and(|a| !a.is_empty()), "{problem}");
    }
    let mut assigned: Vec<_> = won.iter().map(|r| r.body["resource_id"].as_str().unwrap().to_owned()).collect();
    assigned.sort();
    assigned.dedup();
    assert_eq!(assigned.len(), 5, "a court was assigned twice");
    for court in &courts {
        app.assert_within_capacity(court).await;
    }
    app.assert_history_matches_bookings().await;
}

#[tokio::test]
async fn group_bookings_raced_with_direct_bookings_on_members_never_oversell_a_member() {
    let app = TestApp::spawn().await;
    let courts = courts(&app, 5).await;
    let group = create_group(&app, "Courts", &courts.iter().collect::<Vec<_>>(), "least_used").await;
    let mut people = Vec::new();
    for i in 0..40 {
        people.push(app.create_customer(&format!("player{i}@example.com")).await);
    }
    let when = slot(2, 18, 19);
    let app = &app;
    let requests = people.iter().enumerate().map(|(i, person)| {
        let body =
            if i % 2 == 0 { group_booking(&group, person, &when) } else { booking_json(&courts[i % 5], person, &when) };
        async move { app.post_json("/v1/bookings", &body).await }
    });
    let replies = join_all(requests).await;
    assert!(replies.iter().all(|r| r.status == 201 || r.status == 409), "a reply was neither 201 nor 409");
    assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 5);
    for court in &courts {
        app.assert_within_capacity(court).await;
    }
}

#[tokio::test]
async fn first_fit_fills_members_in_order_and_least_used_spreads_the_day() {
    let app = TestApp::spawn().await;
    let [a, b, c] = <[Value; 3]>::try_from(courts(&app, 3).await).unwrap();
    let customer = app.create_customer("ada@example.com").await;
    let in_order = create_group(&app, "In order", &[&a, &b, &c], "first_fit").await;
    let mut picked = Vec::new();
    for _ in 0..3 {
        picked.push(
            book_group(&app, &in_order, &customer, &slot(3, 9, 10)).await.assert_status(201).body["resource_id"]
                .clone(),
        );
    }
    assert_eq!(picked, [a["id"].clone(), b["id"].clone(), c["id"].clone()]);

    // Day 4: a has two bookings, b one, c none.
    app.booked(&a, &customer, &slot(4, 8, 9), 1).await;
    app.booked(&a, &customer, &slot(4, 10, 11), 1).await;
    app.booked(&b, &customer, &slot(4, 12, 13), 1).await;
    let spread = create_group(&app, "Spread", &[&a, &b, &c], "least_used").await;
    let first = book_group(&app, &spread, &customer, &slot(4, 15, 16)).await;
    assert_eq!(first.assert_status(201).body["resource_id"], c["id"]);
    // b and c have one each now: a tie goes to member order.
    let second = book_group(&app, &spread, &customer, &slot(4, 17, 18)).await;
    assert_eq!(second.assert_status(201).body["resource_id"], b["id"]);
}

#[tokio::test]
async fn a_member_closed_at_that_time_is_passed_over_and_none_fitting_offers_alternatives() {
    let app = TestApp::spawn().await;
    let days = json!(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]);
    let mornings = json!({"name": "Mornings", "capacity": 1, "schedule": {"weekly": [{"days": days, "from": "08:00", "to": "12:00"}]}});
    let mornings = app.post_json("/v1/resources", &mornings).await.assert_status(201).body.clone();
    let all_day = app.create_resource("All day", 1).await;
    let group = create_group(&app, "Rooms", &[&mornings, &all_day], "first_fit").await;
    let customer = app.create_customer("ada@example.com").await;
    let afternoon = book_group(&app, &group, &customer, &slot(2, 14, 15)).await;
    assert_eq!(afternoon.assert_status(201).body["resource_id"], all_day["id"]);
    let morning = book_group(&app, &group, &customer, &slot(2, 9, 10)).await;
    assert_eq!(morning.assert_status(201).body["resource_id"], mornings["id"]);
    // 14:00 again: the morning room is closed, the other is taken.
    let other = app.create_customer("bob@example.com").await;
    let refused = book_group(&app, &group, &other, &slot(2, 14, 15)).await;
    let problem = refused.assert_problem(409, "no-resource-available");
    let alternatives = problem["alternatives"].as_array().unwrap();
    assert!(!alternatives.is_empty());
    // Each alternative books.
    let first = alternatives[0].clone();
    let when = (first["start_at"].as_str().unwrap().to_owned(), first["end_at"].as_str().unwrap().to_owned());
    book_group(&app, &group, &other, &when).await.assert_status(201);
}

#[tokio::test]
async fn group_slots_sum_the_members_and_a_listed_slot_books() {
    let app = TestApp::spawn().await;
    let [a, b] = <[Value; 2]>::try_from(courts(&app, 2).await).unwrap();
    let group = create_group(&app, "Courts", &[&a, &b], "first_fit").await;
    let customer = app.create_customer("ada@example.com").await;
    app.booked(&a, &customer, &slot(3, 10, 11), 1).await;
    let (from, to) = slot(3, 9, 12);
    let path = format!(
        "/v1/groups/{}/slots?from={}&to={}&duration_seconds=3600",
        group["id"].as_str().unwrap(),
        from.replace('+', "%2B"),
        to.replace('+', "%2B")
    );
    let reply = app.get(&path).await;
    let slots = reply.assert_status(200).body["slots"].as_array().unwrap().clone();
    let available: Vec<_> = slots.iter().map(|s| s["available"].as_i64().unwrap()).collect();
    assert_eq!(available, [2, 1, 2], "{slots:?}");
    assert_eq!(reply.body["group_id"], group["id"]);
    let ten = (slots[1]["start_at"].as_str().unwrap().to_owned(), slots[1]["end_at"].as_str().unwrap().to_owned());
    let booked = book_group(&app, &group, &customer, &ten).await;
    assert_eq!(booked.assert_status(201).body["resource_id"], b["id"]);
    // Now nothing is left at 10:00.
    let after = app.get(&path).await;
    let starts: Vec<_> = after.body["slots"].as_array().unwrap().iter().map(|s| s["start_at"].clone()).collect();
    assert!(!starts.contains(&slots[1]["start_at"]), "{starts:?}");
}

#[tokio::test]
async fn a_group_booking_moves_to_another_member_only_when_its_own_is_taken() {
    let app = TestApp::spawn().await;
    let [a, b] = <[Value; 2]>::try_from(courts(&app, 2).await).unwrap();
    let group = create_group(&app, "Courts", &[&a, &b], "first_fit").await;
    let ada = app.create_customer("ada@example.com").await;
    let bob = app.create_customer("bob@example.com").await;
    let booking = book_group(&app, &group, &ada, &slot(3, 9, 10)).await.assert_status(201).body.clone();
    assert_eq!(booking["resource_id"], a["id"]);
    let path = format!("/v1/bookings/{}/reschedule", booking["id"].as_str().unwrap());
    let move_to = |when: (String, String)| json!({"start_at": when.0, "end_at": when.1});
    // a is free at 11:00: it stays on a.
    let stayed = app.post_json(&path, &move_to(slot(3, 11, 12))).await;
    assert_eq!(stayed.assert_status(200).body["resource_id"], a["id"]);
    // bob takes a at 14:00; moving there goes to b.
    app.booked(&a, &bob, &slot(3, 14, 15), 1).await;
    let moved = app.post_json(&path, &move_to(slot(3, 14, 15))).await;
    assert_eq!(moved.assert_status(200).body["resource_id"], b["id"]);
    assert_eq!(moved.body["group_id"], group["id"]);
    // Both taken at 16:00: nothing moves, and the problem says so.
    app.booked(&b, &bob, &slot(3, 16, 17), 1).await;
    app.booked(&a, &bob, &slot(3, 16, 17), 1).await;
    let refused = app.post_json(&path, &move_to(slot(3, 16, 17))).await;
    refused.assert_problem(409, "no-resource-available");
    let unchanged = app.get(&format!("/v1/bookings/{}", booking["id"].as_str().unwrap())).await;
    assert_eq!(unchanged.body["resource_id"], b["id"]);
    for court in [&a, &b] {
        app.assert_within_capacity(court).await;
    }
}
