//! Bookings that need a person (docs/design.md §26) over HTTP, on a manual
//! decision clock: a customer's booking on an approval resource is
//! `pending` and holds its unit, an admin's is confirmed; approve and
//! decline with If-Match; a decline frees the unit to the queue in its own
//! transaction; a request that runs out is free at that instant with no
//! write and `declined` after a sweep; a confirmed booking not checked in
//! by its deadline frees the rest of its time at that instant, then is a
//! `no_show` (the queue offered in the sweep's transaction); a check-in in
//! time keeps its units; every refusal is a 409 with `allowed_actions`; the
//! summary and the audit stay exact throughout.

use std::sync::Arc;

use berth::{
    http::events::Representations,
    service::{Clock, Db},
};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, customer_token};
use crate::policies::{app_at, at, resource};

fn id(value: &Value) -> &str {
    value["id"].as_str().expect("an id")
}

/// Books `[start, end)` for `customer` with the customer's own token.
async fn request(app: &TestApp, resource: &Value, customer: &Value, start: &str, end: &str) -> Reply {
    let body = json!({"resource_id": resource["id"], "customer_id": customer["id"], "start_at": start, "end_at": end});
    app.send_as(app.client.post(app.url("/v1/bookings")).json(&body), Some(&customer_token(customer))).await
}

/// Books `[start, end)` for `customer` as the admin.
async fn book(app: &TestApp, resource: &Value, customer: &Value, start: &str, end: &str) -> Reply {
    let body = json!({"resource_id": resource["id"], "customer_id": customer["id"], "start_at": start, "end_at": end});
    app.post_json("/v1/bookings", &body).await
}

/// `action` on `booking` as the admin, at `version` (If-Match) when given.
async fn act(app: &TestApp, booking: &Value, action: &str, version: Option<i64>) -> Reply {
    let mut request = app.client.post(app.url(&format!("/v1/bookings/{}/{action}", id(booking))));
    if let Some(version) = version {
        request = request.header("if-match", format!("\"{version}\""));
    }
    app.send(request).await
}

async fn booking(app: &TestApp, booking: &Value) -> Value {
    app.get(&format!("/v1/bookings/{}", id(booking))).await.assert_status(200).body.clone()
}

/// The sweeper's turn, deciding by `clock`: holds and requests that ran
/// out, then missed check-ins.
async fn sweep(app: &TestApp, clock: &Clock) -> (u64, u64) {
    let db = Db::with_clock(app.db.clone(), clock.clone()).representing(Arc::new(Representations));
    let expired = berth::service::bookings::expire_due_holds(&db).await.unwrap();
    let released = berth::service::bookings::release_missed_check_ins(&db).await.unwrap();
    (expired, released)
}

/// The types of every event of the feed, in order, with their subjects.
async fn feed(app: &TestApp) -> Vec<(String, String)> {
    let events = app.get("/v1/events?limit=500").await.assert_status(200).body["items"].clone();
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap().to_owned(), e["subject_id"].as_str().unwrap().to_owned()))
        .collect()
}

fn refused(reply: &Reply, current: &str, allowed: &[&str]) {
    let problem = reply.assert_problem(409, "invalid-state-transition");
    assert_eq!(problem["current_status"], current, "{}", reply.text);
    assert_eq!(problem["allowed_actions"], json!(allowed), "{}", reply.text);
}

/// The start times `/slots` lists for hour-long bookings on 2027-01-04.
async fn free_hours(app: &TestApp, resource: &Value) -> Vec<String> {
    let path = format!(
        "/v1/resources/{}/slots?from=2027-01-04T09:00:00Z&to=2027-01-04T13:00:00Z&duration_seconds=3600",
        id(resource)
    );
    let slots = app.get(&path).await.assert_status(200).body["slots"].clone();
    slots.as_array().unwrap().iter().map(|s| s["start_at"].as_str().unwrap().to_owned()).collect()
}

fn approval_lab(timeout: i64) -> Value {
    json!({"policy": {"approval_required": true, "approval_timeout_seconds": timeout}})
}

#[tokio::test]
async fn a_customers_booking_awaits_approval_holding_its_unit_and_an_admin_approves_it() {
    let (app, _clock) = app_at("2027-01-04T08:00:00Z").await;
    let [ada, bob] = [app.create_customer("ada@example.com").await, app.create_customer("bob@example.com").await];
    let lab = resource(&app, approval_lab(3600)).await;
    assert_eq!(lab["policy"]["approval_required"], true);

    let asked = request(&app, &lab, &ada, "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z").await;
    let pending = asked.assert_status(201).body.clone();
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["approval_expires_at"], "2027-01-04T09:00:00Z");
    assert_eq!(pending["hold_expires_at"], Value::Null);
    // It holds its unit: another customer is refused, slot search shows it taken.
    request(&app, &lab, &bob, "2027-01-04T10:30:00Z", "2027-01-04T11:30:00Z")
        .await
        .assert_problem(409, "capacity-exceeded");
    assert!(!free_hours(&app, &lab).await.contains(&"2027-01-04T10:00:00Z".to_owned()));
    // An admin's booking is confirmed at once.
    let direct = book(&app, &lab, &bob, "2027-01-04T12:00:00Z", "2027-01-04T13:00:00Z").await;
    assert_eq!(direct.assert_status(201).body["status"], "confirmed");

    // Only admins approve; If-Match guards it; a pending booking refuses
    // what is not its to do.
    let as_ada = app.client.post(app.url(&format!("/v1/bookings/{}/approve", id(&pending))));
    app.send_as(as_ada, Some(&customer_token(&ada))).await.assert_problem(403, "forbidden");
    refused(&act(&app, &pending, "check-in", None).await, "pending", &["approve", "decline", "cancel", "reschedule"]);
    act(&app, &pending, "approve", Some(7)).await.assert_problem(412, "precondition-failed");
    let approve = || {
        app.client
            .post(app.url(&format!("/v1/bookings/{}/approve", id(&pending))))
            .header("if-match", "\"1\"")
            .header("idempotency-key", "approve-once")
    };
    let approved = app.send(approve()).await;
    assert_eq!(approved.assert_status(200).header("etag"), Some("\"2\""));
    assert_eq!(approved.body["status"], "confirmed");
    assert_eq!(approved.body["approval_expires_at"], Value::Null);
    // A retry with the same key is the same answer, not a 412 or a 409.
    let again = app.send(approve()).await;
    assert_eq!(again.assert_status(200).header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, approved.body);
    refused(&act(&app, &pending, "approve", None).await, "confirmed", &["cancel", "check-in", "no-show", "reschedule"]);
    refused(&act(&app, &pending, "decline", None).await, "confirmed", &["cancel", "check-in", "no-show", "reschedule"]);

    let events = feed(&app).await;
    let mine: Vec<&str> = events.iter().filter(|(_, s)| s == id(&pending)).map(|(t, _)| t.as_str()).collect();
    assert_eq!(mine, ["booking.pending", "booking.approved"]);
    app.assert_history_matches_bookings().await;
}

#[tokio::test]
async fn a_decline_frees_the_unit_to_the_queue_and_a_customer_may_withdraw_a_request() {
    let (app, _clock) = app_at("2027-01-04T08:00:00Z").await;
    let [ada, bob, cat] = [
        app.create_customer("ada@example.com").await,
        app.create_customer("bob@example.com").await,
        app.create_customer("cat@example.com").await,
    ];
    let lab = resource(&app, approval_lab(3600)).await;
    let pending = request(&app, &lab, &ada, "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z").await.body.clone();
    assert_eq!(pending["status"], "pending");
    // The pending unit is taken: bob queues for it.
    let body = json!({"resource_id": lab["id"], "customer_id": bob["id"],
        "start_at": "2027-01-04T10:00:00Z", "end_at": "2027-01-04T11:00:00Z"});
    let entry = app.post_json("/v1/waitlist", &body).await.assert_status(201).body.clone();
    assert_eq!(entry["status"], "waiting");

    let declined = act(&app, &pending, "decline", Some(1)).await;
    assert_eq!(declined.assert_status(200).body["status"], "declined");
    // An admin's decline is no time running out.
    assert_eq!(declined.body["approval_expires_at"], Value::Null);
    refused(&act(&app, &pending, "approve", None).await, "declined", &[]);
    let offered = app.get(&format!("/v1/waitlist/{}", id(&entry))).await.body.clone();
    assert_eq!(offered["status"], "offered");
    // In the decline's transaction: side by side in the feed.
    let events = feed(&app).await;
    let at = events.iter().position(|(t, s)| t == "booking.declined" && s == id(&pending)).unwrap();
    assert_eq!(events[at + 1].0, "booking.created");
    assert_eq!(events[at + 2], ("waitlist.offered".to_owned(), id(&entry).to_owned()));

    // A customer may withdraw their own request.
    let other = request(&app, &lab, &cat, "2027-01-04T12:00:00Z", "2027-01-04T13:00:00Z").await.body.clone();
    let withdraw = app.client.post(app.url(&format!("/v1/bookings/{}/cancel", id(&other))));
    let withdrawn = app.send_as(withdraw, Some(&customer_token(&cat))).await;
    assert_eq!(withdrawn.assert_status(200).body["status"], "cancelled");
    app.assert_history_matches_bookings().await;
}

#[tokio::test]
async fn a_request_that_runs_out_is_free_at_that_instant_with_no_write_and_declined_by_the_sweeper() {
    let (app, clock) = app_at("2027-01-04T08:00:00Z").await;
    let [ada, bob, cat] = [
        app.create_customer("ada@example.com").await,
        app.create_customer("bob@example.com").await,
        app.create_customer("cat@example.com").await,
    ];
    let lab =
        resource(&app, json!({"capacity": 2, "policy": {"approval_required": true, "approval_timeout_seconds": 600}}))
            .await;
    let ada_asks = request(&app, &lab, &ada, "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z").await.body.clone();
    let cat_asks = request(&app, &lab, &cat, "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z").await.body.clone();
    assert_eq!(ada_asks["approval_expires_at"], "2027-01-04T08:10:00Z");
    book(&app, &lab, &bob, "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z")
        .await
        .assert_problem(409, "capacity-exceeded");

    // A microsecond before, still taken; at the instant, free, and nothing
    // was written.
    clock.set(at("2027-01-04T08:09:59.999999Z"));
    book(&app, &lab, &bob, "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z")
        .await
        .assert_problem(409, "capacity-exceeded");
    assert!(!free_hours(&app, &lab).await.contains(&"2027-01-04T10:00:00Z".to_owned()));
    clock.set(at("2027-01-04T08:10:00Z"));
    assert!(free_hours(&app, &lab).await.contains(&"2027-01-04T10:00:00Z".to_owned()));
    let walk_in = book(&app, &lab, &bob, "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z").await;
    assert_eq!(walk_in.assert_status(201).body["status"], "confirmed");
    assert_eq!(booking(&app, &ada_asks).await["status"], "pending");
    assert_eq!(booking(&app, &ada_asks).await["version"], 1);
    // The summary still counts the unmarked requests (an upper bound);
    // the audit, judging at the clock, finds nothing over capacity.
    app.assert_history_matches_bookings().await;

    // An approval that comes too late marks it declined and is refused.
    refused(&act(&app, &cat_asks, "approve", Some(1)).await, "declined", &[]);
    let swept = sweep(&app, &clock).await;
    assert_eq!(swept, (1, 0));
    let declined = booking(&app, &ada_asks).await;
    assert_eq!(declined["status"], "declined");
    assert_eq!(declined["approval_expires_at"], "2027-01-04T08:10:00Z");
    let history = app.get(&format!("/v1/bookings/{}/events", id(&ada_asks))).await.body.clone();
    let last = history["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["action"].as_str(), last["actor"]["role"].as_str()), (Some("expire"), Some("system")));
    let events = feed(&app).await;
    assert!(events.contains(&("booking.declined".to_owned(), id(&ada_asks).to_owned())));
    app.assert_history_matches_bookings().await;
}

#[tokio::test]
async fn a_missed_check_in_frees_the_rest_of_its_time_at_the_deadline_then_is_a_no_show() {
    let (app, clock) = app_at("2027-01-04T08:00:00Z").await;
    let [ada, bob, cat, dan] = [
        app.create_customer("ada@example.com").await,
        app.create_customer("bob@example.com").await,
        app.create_customer("cat@example.com").await,
        app.create_customer("dan@example.com").await,
    ];
    // Ten minutes kept free before each booking, so time before a
    // deadline can still be asked for after it.
    let room = resource(&app, json!({"policy": {"check_in_window_seconds": 900, "buffer_before_seconds": 600}})).await;
    let ada_booked = book(&app, &room, &ada, "2027-01-04T10:00:00Z", "2027-01-04T12:00:00Z").await.body.clone();
    assert_eq!(ada_booked["check_in_deadline_at"], "2027-01-04T10:15:00Z");
    let dan_booked = book(&app, &room, &dan, "2027-01-04T14:00:00Z", "2027-01-04T15:00:00Z").await.body.clone();
    let cat_booked = book(&app, &room, &cat, "2027-01-04T16:00:00Z", "2027-01-04T17:00:00Z").await.body.clone();

    clock.set(at("2027-01-04T10:14:59.999999Z"));
    book(&app, &room, &bob, "2027-01-04T10:30:00Z", "2027-01-04T11:30:00Z")
        .await
        .assert_problem(409, "capacity-exceeded");
    clock.set(at("2027-01-04T10:15:00Z"));
    // The rest is free at the instant, with no write: slot search agrees.
    let path = format!(
        "/v1/resources/{}/slots?from=2027-01-04T10:00:00Z&to=2027-01-04T12:00:00Z&duration_seconds=1800",
        id(&room)
    );
    let slots = app.get(&path).await.assert_status(200).body["slots"].clone();
    assert_eq!(slots[0]["start_at"], "2027-01-04T10:30:00Z", "{slots}");
    // Its buffer would reach back before the deadline: refused.
    book(&app, &room, &bob, "2027-01-04T10:20:00Z", "2027-01-04T11:00:00Z")
        .await
        .assert_problem(409, "capacity-exceeded");
    let rest = book(&app, &room, &bob, "2027-01-04T10:25:00Z", "2027-01-04T11:00:00Z").await;
    assert_eq!(rest.assert_status(201).body["status"], "confirmed");
    assert_eq!(booking(&app, &ada_booked).await["status"], "confirmed");
    // Ada may book the rest of her own time again.
    book(&app, &room, &ada, "2027-01-04T11:10:00Z", "2027-01-04T12:00:00Z").await.assert_status(201);
    app.assert_usage_summary_matches_bookings().await;
    app.assert_audit_clean().await;

    assert_eq!(sweep(&app, &clock).await, (0, 1));
    let no_show = booking(&app, &ada_booked).await;
    assert_eq!(no_show["status"], "no_show");
    let history = app.get(&format!("/v1/bookings/{}/events", id(&ada_booked))).await.body.clone();
    let last = history["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["action"].as_str(), last["actor"]["role"].as_str()), (Some("no-show"), Some("system")));
    refused(&act(&app, &ada_booked, "check-in", None).await, "no_show", &[]);

    // A check-in after the deadline, before any sweep: marked, and refused.
    clock.set(at("2027-01-04T14:15:00Z"));
    refused(&act(&app, &dan_booked, "check-in", Some(1)).await, "no_show", &[]);
    assert_eq!(booking(&app, &dan_booked).await["status"], "no_show");

    // Checked in in time, it keeps its units past the deadline.
    clock.set(at("2027-01-04T16:10:00Z"));
    assert_eq!(act(&app, &cat_booked, "check-in", Some(1)).await.assert_status(200).body["status"], "checked_in");
    clock.set(at("2027-01-04T16:20:00Z"));
    book(&app, &room, &bob, "2027-01-04T16:40:00Z", "2027-01-04T17:00:00Z")
        .await
        .assert_problem(409, "capacity-exceeded");
    // Bob's and Ada's bookings of the morning missed theirs too; Cat's stays.
    assert_eq!(sweep(&app, &clock).await, (0, 2));
    assert_eq!(booking(&app, &cat_booked).await["status"], "checked_in");
    app.assert_history_matches_bookings().await;
}

#[tokio::test]
async fn the_time_a_missed_check_in_frees_goes_to_the_queue_first() {
    let (app, clock) = app_at("2027-01-04T08:00:00Z").await;
    let [ada, bob, cat, dan] = [
        app.create_customer("ada@example.com").await,
        app.create_customer("bob@example.com").await,
        app.create_customer("cat@example.com").await,
        app.create_customer("dan@example.com").await,
    ];
    let [first, second] = [
        resource(&app, json!({"policy": {"check_in_window_seconds": 900}})).await,
        resource(&app, json!({"policy": {"check_in_window_seconds": 900}})).await,
    ];
    let mut entries = Vec::new();
    let mut missed = Vec::new();
    for room in [&first, &second] {
        missed.push(book(&app, room, &ada, "2027-01-04T10:00:00Z", "2027-01-04T12:00:00Z").await.body.clone());
        let body = json!({"resource_id": room["id"], "customer_id": bob["id"],
            "start_at": "2027-01-04T11:00:00Z", "end_at": "2027-01-04T12:00:00Z"});
        entries.push(app.post_json("/v1/waitlist", &body).await.assert_status(201).body.clone());
    }
    let second_missed = missed[1].clone();
    clock.set(at("2027-01-04T10:16:00Z"));
    // Lazily: the next decision on the first room serves its queue before
    // the walk-in, who is refused.
    book(&app, &first, &cat, "2027-01-04T11:00:00Z", "2027-01-04T12:00:00Z")
        .await
        .assert_problem(409, "capacity-exceeded");
    let entry = app.get(&format!("/v1/waitlist/{}", id(&entries[0]))).await.body.clone();
    assert_eq!(entry["status"], "offered");
    // The sweeper marks the no-shows, and offers the second room's time in
    // the same transaction.
    assert_eq!(sweep(&app, &clock).await, (0, 2));
    let events = feed(&app).await;
    let offered = events.iter().position(|(t, s)| t == "waitlist.offered" && s == id(&entries[1])).unwrap();
    let hold = app.get(&format!("/v1/waitlist/{}", id(&entries[1]))).await.body["booking_id"].clone();
    assert_eq!(events[offered - 1], ("booking.created".to_owned(), hold.as_str().unwrap().to_owned()));
    assert_eq!(events[offered - 2], ("booking.no_show".to_owned(), id(&second_missed).to_owned()));
    book(&app, &second, &dan, "2027-01-04T11:00:00Z", "2027-01-04T12:00:00Z")
        .await
        .assert_problem(409, "capacity-exceeded");
    app.assert_history_matches_bookings().await;
}

#[tokio::test]
async fn confirming_a_hold_or_moving_a_booking_is_a_request_and_a_bundle_is_approved_whole() {
    let (app, _clock) = app_at("2027-01-04T08:00:00Z").await;
    let ada = app.create_customer("ada@example.com").await;
    let token = customer_token(&ada);
    let lab = resource(&app, approval_lab(172_800)).await;
    let desk = resource(&app, json!({})).await;

    // A hold confirmed by its customer awaits approval, never past its start.
    let body = json!({"resource_id": lab["id"], "customer_id": ada["id"], "hold": true,
        "start_at": "2027-01-04T10:00:00Z", "end_at": "2027-01-04T11:00:00Z"});
    let hold = app.send_as(app.client.post(app.url("/v1/bookings")).json(&body), Some(&token)).await.body.clone();
    assert_eq!(hold["status"], "held");
    let confirm = app.client.post(app.url(&format!("/v1/bookings/{}/confirm", id(&hold))));
    let asked = app.send_as(confirm, Some(&token)).await;
    assert_eq!(asked.assert_status(200).body["status"], "pending");
    assert_eq!(asked.body["approval_expires_at"], "2027-01-04T10:00:00Z");
    let approved = act(&app, &hold, "approve", None).await.body.clone();
    assert_eq!(approved["status"], "confirmed");
    // The customer moving it asks again.
    let moved = app
        .client
        .post(app.url(&format!("/v1/bookings/{}/reschedule", id(&hold))))
        .json(&json!({"start_at": "2027-01-05T10:00:00Z", "end_at": "2027-01-05T11:00:00Z"}));
    let moved = app.send_as(moved, Some(&token)).await;
    assert_eq!(moved.assert_status(200).body["status"], "pending");
    // Two days from now would be past the new start.
    assert_eq!(moved.body["approval_expires_at"], "2027-01-05T10:00:00Z");

    // A bundle with one resource that asks for approval awaits it whole.
    let body = json!({"customer_id": ada["id"], "start_at": "2027-01-06T10:00:00Z", "end_at": "2027-01-06T11:00:00Z",
        "items": [{"resource_id": desk["id"]}, {"resource_id": lab["id"]}]});
    let bundle = app.send_as(app.client.post(app.url("/v1/bundles")).json(&body), Some(&token)).await;
    let items = bundle.assert_status(201).body["bookings"].clone();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|b| b["status"] == "pending"), "{items:?}");
    act(&app, &items[0], "approve", None).await.assert_status(200);
    for item in items {
        assert_eq!(booking(&app, item).await["status"], "confirmed");
    }
    app.assert_history_matches_bookings().await;
}

#[tokio::test]
async fn approval_and_check_in_values_out_of_range_are_refused_with_pointers() {
    let app = TestApp::spawn().await;
    let body = json!({"name": "Lab", "capacity": 1, "policy": {"approval_required": "yes"}});
    let reply = app.post_json("/v1/resources", &body).await;
    assert_eq!(reply.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/policy/approval_required");
    let body = json!({"name": "Lab", "capacity": 1,
        "policy": {"approval_timeout_seconds": 4, "check_in_window_seconds": 86_401}});
    let reply = app.post_json("/v1/resources", &body).await;
    let problem = reply.assert_problem(422, "validation-error");
    let pointers: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
    assert!(pointers.contains(&"/policy/approval_timeout_seconds"), "{pointers:?}");
    assert!(pointers.contains(&"/policy/check_in_window_seconds"), "{pointers:?}");
}

#[tokio::test]
async fn a_hold_confirmed_too_late_ends_and_a_moved_request_keeps_before_its_start() {
    let (app, clock) = app_at("2027-01-04T08:00:00Z").await;
    let ada = app.create_customer("ada@example.com").await;
    let token = customer_token(&ada);
    let room = resource(&app, json!({"hold_ttl_seconds": 86_400, "policy": {"check_in_window_seconds": 600}})).await;
    let lab = resource(&app, json!({"hold_ttl_seconds": 86_400, "policy": {"approval_required": true}})).await;
    let hold = |resource: &Value, start: &str, end: &str| {
        let body = json!({"resource_id": resource["id"], "customer_id": ada["id"], "hold": true,
            "start_at": start, "end_at": end});
        app.send_as(app.client.post(app.url("/v1/bookings")).json(&body), Some(&token))
    };
    let late = hold(&room, "2027-01-04T09:00:00Z", "2027-01-04T10:00:00Z").await.body.clone();
    let asked = hold(&lab, "2027-01-04T09:00:00Z", "2027-01-04T10:00:00Z").await.body.clone();
    // Past the check-in deadline, and past the start of a request nobody
    // could approve: confirming would keep nothing, so the holds end.
    clock.set(at("2027-01-04T09:10:00Z"));
    for held in [&late, &asked] {
        let confirm = app.client.post(app.url(&format!("/v1/bookings/{}/confirm", id(held))));
        let problem = app.send_as(confirm, Some(&token)).await;
        assert_eq!(problem.assert_problem(409, "hold-expired")["hold_expired_at"], "2027-01-04T09:10:00Z");
        assert_eq!(booking(&app, held).await["status"], "expired");
    }

    // A customer's move of a confirmed booking is a request (booking.pending);
    // an admin moving a request earlier keeps it before its new start.
    let body = json!({"resource_id": lab["id"], "customer_id": ada["id"],
        "start_at": "2027-01-08T10:00:00Z", "end_at": "2027-01-08T11:00:00Z"});
    let direct = app.post_json("/v1/bookings", &body).await.assert_status(201).body.clone();
    assert_eq!(direct["status"], "confirmed");
    let moved = app.client.post(app.url(&format!("/v1/bookings/{}/reschedule", id(&direct))));
    let moved = moved.json(&json!({"start_at": "2027-01-07T10:00:00Z", "end_at": "2027-01-07T11:00:00Z"}));
    let moved = app.send_as(moved, Some(&token)).await;
    assert_eq!(moved.assert_status(200).body["status"], "pending");
    assert_eq!(moved.body["approval_expires_at"], "2027-01-06T09:10:00Z");
    assert_eq!(feed(&app).await.last().unwrap(), &("booking.pending".to_owned(), id(&direct).to_owned()));
    let earlier = app
        .post_json(
            &format!("/v1/bookings/{}/reschedule", id(&direct)),
            &json!({"start_at": "2027-01-05T10:00:00Z", "end_at": "2027-01-05T11:00:00Z"}),
        )
        .await;
    assert_eq!(earlier.assert_status(200).body["status"], "pending");
    assert_eq!(earlier.body["approval_expires_at"], "2027-01-05T10:00:00Z");
    app.assert_history_matches_bookings().await;
}
