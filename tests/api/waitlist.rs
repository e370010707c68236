//! Waiting lists (docs/design.md §24) over HTTP: joining a full slot,
//! positions, the offer made in the transaction that frees the unit (the
//! feed shows them together), walk-ins refused while the queue is served,
//! offers running out with no write at the instant (manual clock), decline
//! and leave passing it on, no second turn, first fit by whole quantity,
//! capacity raised and a group's queue, slot search net of the queue, and
//! two instances racing walk-ins against cancels.

use std::sync::Arc;

use berth::{
    http::events::Representations,
    service::{Clock, Db},
};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, customer_token, slot};
use crate::policies::{app_at, at, resource};

fn id(value: &Value) -> &str {
    value["id"].as_str().expect("an id")
}

async fn join(
    app: &TestApp,
    resource: &Value,
    customer: &Value,
    (start, end): &(String, String),
    quantity: i64,
) -> Reply {
    let body = json!({
        "resource_id": resource["id"], "customer_id": customer["id"],
        "start_at": start, "end_at": end, "quantity": quantity,
    });
    app.post_json("/v1/waitlist", &body).await
}

async fn joined(app: &TestApp, resource: &Value, customer: &Value, when: &(String, String), quantity: i64) -> Value {
    let reply = join(app, resource, customer, when, quantity).await;
    assert_eq!(reply.assert_status(201).body["status"], "waiting", "{}", reply.text);
    reply.body
}

async fn entry(app: &TestApp, entry: &Value) -> Value {
    app.get(&format!("/v1/waitlist/{}", id(entry))).await.assert_status(200).body.clone()
}

async fn booking(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/bookings/{id}")).await.assert_status(200).body.clone()
}

/// The sweeper's turn at the queues, deciding by `clock`.
async fn serve_idle_queues(app: &TestApp, clock: &Clock) {
    let db = Db::with_clock(app.db.clone(), clock.clone()).representing(Arc::new(Representations));
    berth::service::waitlist::serve_idle_queues(&db).await.unwrap();
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

#[tokio::test]
async fn a_full_slot_queues_and_a_cancel_offers_exactly_the_first_in_its_own_transaction() {
    let app = TestApp::spawn().await;
    let court = app.create_resource("Court", 1).await;
    let [ada, bob, cat, dan, eve] = [
        app.create_customer("ada@example.com").await,
        app.create_customer("bob@example.com").await,
        app.create_customer("cat@example.com").await,
        app.create_customer("dan@example.com").await,
        app.create_customer("eve@example.com").await,
    ];
    let when = slot(3, 18, 19);
    // A free slot needs no queue.
    let free = join(&app, &court, &bob, &when, 1).await;
    assert_eq!(free.assert_problem(409, "waitlist-not-needed")["available"], 1);
    let taken = app.booked(&court, &ada, &when, 1).await;
    let first = joined(&app, &court, &bob, &when, 1).await;
    let second = joined(&app, &court, &cat, &when, 1).await;
    let third = joined(&app, &court, &dan, &when, 1).await;
    assert_eq!([&first, &second, &third].map(|e| e["position"].as_i64()), [Some(1), Some(2), Some(3)]);
    // One place per customer and interval.
    let again = join(&app, &court, &bob, &when, 1).await;
    assert_eq!(again.assert_problem(409, "already-on-waitlist")["entry_id"], first["id"]);
    // A walk-in hears how many wait.
    let walk_in = app.book(&court, &eve, &when, 1).await;
    assert_eq!(walk_in.assert_problem(409, "capacity-exceeded")["waitlist_length"], 3);

    app.act(&taken, "cancel").await.assert_status(200);
    let offered = entry(&app, &first).await;
    assert_eq!(offered["status"], "offered");
    assert_eq!(offered["position"], Value::Null);
    let hold = booking(&app, offered["booking_id"].as_str().unwrap()).await;
    assert_eq!((hold["status"].as_str(), hold["customer_id"].as_str()), (Some("held"), bob["id"].as_str()));
    assert_eq!(hold["waitlist_entry_id"], first["id"]);
    assert_eq!(hold["hold_expires_at"], offered["offer_expires_at"]);
    // The others moved up; nobody else was offered anything.
    assert_eq!(entry(&app, &second).await["position"], 1);
    assert_eq!(entry(&app, &third).await["position"], 2);
    // In the cancel's transaction: the feed has them side by side.
    let events = feed(&app).await;
    let cancelled = events.iter().position(|(t, s)| t == "booking.cancelled" && s == id(&taken)).unwrap();
    assert_eq!(
        events[cancelled + 1..cancelled + 3],
        [("booking.created".to_owned(), id(&hold).to_owned()), ("waitlist.offered".to_owned(), id(&first).to_owned())]
    );
    // The walk-in still gets nothing; the freed unit is bob's to take.
    app.book(&court, &eve, &when, 1).await.assert_problem(409, "capacity-exceeded");
    app.act(&hold, "confirm").await.assert_status(200);
    assert_eq!(entry(&app, &first).await["status"], "accepted");
    assert_eq!(feed(&app).await.last().unwrap().0, "waitlist.accepted");
    app.assert_within_capacity(&court).await;
    app.assert_history_matches_bookings().await;
}

#[tokio::test]
async fn an_offer_that_runs_out_passes_on_with_no_write_at_the_instant() {
    let (app, clock) = app_at("2027-01-04T08:00:00Z").await;
    let court = resource(&app, json!({"policy": {"waitlist_offer_seconds": 600}})).await;
    let [ada, bob, cat, eve] = [
        app.create_customer("ada@example.com").await,
        app.create_customer("bob@example.com").await,
        app.create_customer("cat@example.com").await,
        app.create_customer("eve@example.com").await,
    ];
    let when = ("2027-01-04T18:00:00Z".to_owned(), "2027-01-04T19:00:00Z".to_owned());
    let taken = app.booked(&court, &ada, &when, 1).await;
    let first = joined(&app, &court, &bob, &when, 1).await;
    let second = joined(&app, &court, &cat, &when, 1).await;
    app.act(&taken, "cancel").await.assert_status(200);
    let offered = entry(&app, &first).await;
    assert_eq!(offered["offer_expires_at"], "2027-01-04T08:10:00Z");
    let events_before = feed(&app).await.len();

    // The offer runs out: nothing is written at that instant.
    clock.set(at("2027-01-04T08:10:00Z"));
    assert_eq!(entry(&app, &first).await["status"], "offered");
    assert_eq!(booking(&app, offered["booking_id"].as_str().unwrap()).await["status"], "held");
    assert_eq!(feed(&app).await.len(), events_before);
    // The next decision serves the queue first: the unit goes to cat, not
    // to the walk-in.
    app.book(&court, &eve, &when, 1).await.assert_problem(409, "capacity-exceeded");
    assert_eq!(entry(&app, &first).await["status"], "expired");
    assert_eq!(booking(&app, offered["booking_id"].as_str().unwrap()).await["status"], "expired");
    let next = entry(&app, &second).await;
    assert_eq!(next["status"], "offered");
    assert_eq!(next["offer_expires_at"], "2027-01-04T08:20:00Z");
    // Bob's confirm comes too late.
    let late = json!({"id": offered["booking_id"]});
    app.act(&late, "confirm").await.assert_problem(409, "hold-expired");

    // Cat's runs out too, and this time nobody asks: the sweeper serves
    // the queue, and with nobody left the unit is free for the walk-in.
    clock.set(at("2027-01-04T08:20:00Z"));
    serve_idle_queues(&app, &clock).await;
    assert_eq!(entry(&app, &second).await["status"], "expired");
    app.booked(&court, &eve, &when, 1).await;
    app.assert_within_capacity(&court).await;
    app.assert_history_matches_bookings().await;
}

#[tokio::test]
async fn decline_and_leave_pass_the_unit_on_and_nobody_gets_a_second_turn() {
    let app = TestApp::spawn().await;
    let court = app.create_resource("Court", 1).await;
    let [ada, bob, cat, dan, eve] = [
        app.create_customer("ada@example.com").await,
        app.create_customer("bob@example.com").await,
        app.create_customer("cat@example.com").await,
        app.create_customer("dan@example.com").await,
        app.create_customer("eve@example.com").await,
    ];
    let when = slot(2, 10, 11);
    let taken = app.booked(&court, &ada, &when, 1).await;
    let entries = [
        joined(&app, &court, &bob, &when, 1).await,
        joined(&app, &court, &cat, &when, 1).await,
        joined(&app, &court, &dan, &when, 1).await,
        joined(&app, &court, &eve, &when, 1).await,
    ];
    app.act(&taken, "cancel").await.assert_status(200);
    // Bob declines by cancelling the offer: cat is offered.
    let bobs = entry(&app, &entries[0]).await;
    let as_bob = customer_token(&bob);
    let cancel = format!("/v1/bookings/{}/cancel", bobs["booking_id"].as_str().unwrap());
    app.send_as(app.client.post(app.url(&cancel)), Some(&as_bob)).await.assert_status(200);
    assert_eq!(entry(&app, &entries[0]).await["status"], "declined");
    let cats = entry(&app, &entries[1]).await;
    assert_eq!(cats["status"], "offered");
    // Cat leaves (If-Match on the entry): the offer is cancelled, dan is offered.
    let leave = format!("/v1/waitlist/{}/leave", id(&cats));
    let stale =
        app.send_as(app.client.post(app.url(&leave)).header("if-match", "\"1\""), Some(&customer_token(&cat))).await;
    stale.assert_problem(412, "precondition-failed");
    let tag = format!("\"{}\"", cats["version"]);
    let left = app.send_as(app.client.post(app.url(&leave)).header("if-match", tag), Some(&customer_token(&cat))).await;
    assert_eq!(left.assert_status(200).body["status"], "left");
    assert_eq!(booking(&app, cats["booking_id"].as_str().unwrap()).await["status"], "cancelled");
    app.send(app.client.post(app.url(&leave))).await.assert_problem(409, "waitlist-entry-closed");
    let dans = entry(&app, &entries[2]).await;
    assert_eq!(dans["status"], "offered");
    // Dan accepts, then cancels the booking later: the unit goes to eve,
    // never back to an entry that had its turn.
    let dans_booking = json!({"id": dans["booking_id"]});
    app.act(&dans_booking, "confirm").await.assert_status(200);
    app.act(&dans_booking, "cancel").await.assert_status(200);
    assert_eq!(entry(&app, &entries[2]).await["status"], "accepted");
    assert_eq!(entry(&app, &entries[3]).await["status"], "offered");
    for (entry_before, status) in entries.iter().zip(["declined", "left", "accepted"]) {
        assert_eq!(entry(&app, entry_before).await["status"], status);
    }
    let offers = feed(&app).await.into_iter().filter(|(t, _)| t == "waitlist.offered").count();
    assert_eq!(offers, 4, "one offer per entry");
    app.assert_within_capacity(&court).await;
    app.assert_history_matches_bookings().await;
}

#[tokio::test]
async fn quantities_are_offered_whole_first_fit_in_queue_order() {
    let app = TestApp::spawn().await;
    let hall = app.create_resource("Hall", 3).await;
    let [ada, bob, cat] = [
        app.create_customer("ada@example.com").await,
        app.create_customer("bob@example.com").await,
        app.create_customer("cat@example.com").await,
    ];
    let when = slot(2, 9, 10);
    let taken = [
        app.booked(&hall, &ada, &(when.0.clone(), when.1.clone()), 1).await,
        app.booked(&hall, &app.create_customer("x@example.com").await, &when, 1).await,
        app.booked(&hall, &app.create_customer("y@example.com").await, &when, 1).await,
    ];
    let pair = joined(&app, &hall, &bob, &when, 2).await;
    let single = joined(&app, &hall, &cat, &when, 1).await;
    app.act(&taken[0], "cancel").await.assert_status(200);
    // One unit: the pair does not fit, the single after it does.
    assert_eq!(entry(&app, &pair).await["status"], "waiting");
    assert_eq!(entry(&app, &single).await["status"], "offered");
    app.act(&taken[1], "cancel").await.assert_status(200);
    assert_eq!(entry(&app, &pair).await["status"], "waiting", "one unit is never part of two");
    app.act(&taken[2], "cancel").await.assert_status(200);
    let offered = entry(&app, &pair).await;
    assert_eq!(offered["status"], "offered");
    assert_eq!(booking(&app, offered["booking_id"].as_str().unwrap()).await["quantity"], 2);
    app.assert_within_capacity(&hall).await;
}

#[tokio::test]
async fn raising_capacity_offers_in_the_patch_transaction_and_slot_search_is_net_of_the_queue() {
    // No sweeper: it would serve the queue the run-out hold freed before
    // the PATCH does (a flake on PostgreSQL, where the test is slower).
    let app = TestApp::spawn_with(|c| c.hold_sweep_interval_ms = 0).await;
    let court = app.create_resource("Court", 1).await;
    let [ada, bob, cat] = [
        app.create_customer("ada@example.com").await,
        app.create_customer("bob@example.com").await,
        app.create_customer("cat@example.com").await,
    ];
    let when = slot(2, 10, 11);
    let hold = app.held(&court, &ada, &when).await;
    let waiting = joined(&app, &court, &bob, &when, 1).await;
    // Ada's hold runs out with no write: slot search shows the unit as the
    // queue's, not free.
    app.run_out_hold(&hold).await;
    let day = slot(2, 0, 24);
    let slots_path = |quantity: u32| {
        format!(
            "/v1/resources/{}/slots?from={}&to={}&duration_seconds=3600&quantity={quantity}",
            id(&court),
            day.0.replace('+', "%2B"),
            day.1.replace('+', "%2B")
        )
    };
    let found = app.get(&slots_path(1)).await.assert_status(200).body.clone();
    let starts: Vec<&str> =
        found["slots"].as_array().unwrap().iter().map(|s| s["start_at"].as_str().unwrap()).collect();
    let ten = chrono::DateTime::parse_from_rfc3339(&when.0).unwrap().with_timezone(&chrono::Utc);
    assert!(!starts.iter().any(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap() == ten), "{starts:?}");
    // Capacity 2: bob is offered in the PATCH's transaction, and the
    // second unit is free for cat.
    let etag = app.get(&format!("/v1/resources/{}", id(&court))).await.header("etag").unwrap().to_owned();
    app.patch_json(&format!("/v1/resources/{}", id(&court)), &json!({"capacity": 2}), Some(&etag))
        .await
        .assert_status(200);
    assert_eq!(entry(&app, &waiting).await["status"], "offered");
    let events = feed(&app).await;
    let updated = events.iter().position(|(t, _)| t == "resource.updated").unwrap();
    assert_eq!(events[updated + 2].0, "waitlist.offered", "{events:?}");
    app.booked(&court, &cat, &when, 1).await;
    app.assert_within_capacity(&court).await;
}

#[tokio::test]
async fn a_groups_queue_is_offered_the_member_that_frees() {
    let app = TestApp::spawn().await;
    let (one, two) = (app.create_resource("Court 1", 1).await, app.create_resource("Court 2", 1).await);
    let group = app
        .post_json("/v1/groups", &json!({"name": "Courts", "resource_ids": [one["id"], two["id"]]}))
        .await
        .assert_status(201)
        .body
        .clone();
    let [ada, bob, cat] = [
        app.create_customer("ada@example.com").await,
        app.create_customer("bob@example.com").await,
        app.create_customer("cat@example.com").await,
    ];
    let when = slot(2, 10, 11);
    app.booked(&one, &ada, &when, 1).await;
    let on_two = app.booked(&two, &cat, &when, 1).await;
    let body = json!({"group_id": group["id"], "start_at": when.0, "end_at": when.1});
    let as_bob = customer_token(&bob);
    let joined = app
        .send_as(app.client.post(app.url("/v1/waitlist")).json(&body), Some(&as_bob))
        .await
        .assert_status(201)
        .body
        .clone();
    assert_eq!((joined["group_id"].clone(), joined["position"].clone()), (group["id"].clone(), json!(1)));
    // A booking through the group hears about the queue too.
    let through = json!({"group_id": group["id"], "customer_id": ada["id"], "start_at": when.0, "end_at": when.1});
    let refused = app.post_json("/v1/bookings", &through).await;
    assert_eq!(refused.assert_problem(409, "no-resource-available")["waitlist_length"], 1);
    app.act(&on_two, "cancel").await.assert_status(200);
    let offered = entry(&app, &joined).await;
    assert_eq!(offered["status"], "offered");
    let hold = booking(&app, offered["booking_id"].as_str().unwrap()).await;
    assert_eq!((hold["resource_id"].clone(), hold["group_id"].clone()), (two["id"].clone(), group["id"].clone()));
    // Customers list only their own entries.
    let mine = app.send_as(app.client.get(app.url("/v1/waitlist")), Some(&as_bob)).await;
    assert_eq!(mine.assert_status(200).body["items"].as_array().unwrap().len(), 1);
    let theirs = app.send_as(app.client.get(app.url("/v1/waitlist")), Some(&customer_token(&ada))).await;
    assert!(theirs.assert_status(200).body["items"].as_array().unwrap().is_empty());
    app.send_as(app.client.get(app.url(&format!("/v1/waitlist/{}", id(&joined)))), Some(&customer_token(&ada)))
        .await
        .assert_problem(404, "not-found");
}

#[tokio::test]
async fn joining_is_judged_like_a_booking_first() {
    let (app, clock) = app_at("2027-01-04T08:00:00Z").await;
    let nine_to_five =
        json!({"weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"}]});
    let court = resource(&app, json!({"schedule": nine_to_five})).await;
    let ada = app.create_customer("ada@example.com").await;
    let bob = app.create_customer("bob@example.com").await;
    let evening = ("2027-01-04T18:00:00Z".to_owned(), "2027-01-04T19:00:00Z".to_owned());
    join(&app, &court, &bob, &evening, 1).await.assert_problem(409, "outside-opening-hours");
    let past = ("2027-01-04T07:00:00Z".to_owned(), "2027-01-04T09:30:00Z".to_owned());
    join(&app, &court, &bob, &past, 1).await.assert_problem(422, "validation-error");
    let morning = ("2027-01-04T10:00:00Z".to_owned(), "2027-01-04T11:00:00Z".to_owned());
    join(&app, &court, &bob, &morning, 2).await.assert_problem(422, "validation-error");
    app.booked(&court, &ada, &morning, 1).await;
    // A customer waits for itself only.
    let body =
        json!({"resource_id": court["id"], "customer_id": ada["id"], "start_at": morning.0, "end_at": morning.1});
    app.send_as(app.client.post(app.url("/v1/waitlist")).json(&body), Some(&customer_token(&bob)))
        .await
        .assert_problem(403, "forbidden");
    // Ada already holds the slot: her own booking is a duplicate, not a queue.
    join(&app, &court, &ada, &morning, 1).await.assert_problem(409, "duplicate-booking");
    let body = json!({"resource_id": uuid::Uuid::now_v7(), "customer_id": bob["id"], "start_at": morning.0, "end_at": morning.1});
    app.post_json("/v1/waitlist", &body).await.assert_problem(422, "validation-error");
    // An entry whose interval can no longer be booked lapses.
    let waiting = joined(&app, &court, &bob, &morning, 1).await;
    clock.set(at("2027-01-04T10:30:00Z"));
    serve_idle_queues(&app, &clock).await;
    assert_eq!(entry(&app, &waiting).await["status"], "lapsed");
    let listed = app.get(&format!("/v1/waitlist?resource_id={}&status=lapsed", id(&court))).await;
    assert_eq!(listed.assert_status(200).body["items"][0]["id"], waiting["id"]);
}

/// Two instances, one resource of capacity 5 booked out, ten waiting; five
/// cancels on one instance race fifty walk-ins on both. Every freed unit
/// goes to the queue, in order; no walk-in is admitted past it; the
/// resource is never over capacity.
#[tokio::test]
async fn walk_ins_racing_cancels_on_two_instances_never_pass_the_queue() {
    let app = TestApp::spawn().await;
    let (second, _stop) = app.another_instance().await;
    let court = app.create_resource("Court", 5).await;
    let when = slot(4, 12, 13);
    let mut taken = Vec::new();
    for n in 0..5 {
        let customer = app.create_customer(&format!("booked{n}@example.com")).await;
        taken.push(app.booked(&court, &customer, &when, 1).await);
    }
    let mut queue = Vec::new();
    for n in 0..10 {
        let customer = app.create_customer(&format!("waits{n}@example.com")).await;
        queue.push(joined(&app, &court, &customer, &when, 1).await);
    }
    let mut walk_ins = Vec::new();
    for n in 0..50 {
        walk_ins.push(app.create_customer(&format!("walks{n}@example.com")).await);
    }
    let app = std::sync::Arc::new(app);
    let mut tasks = tokio::task::JoinSet::new();
    for booking in taken.clone() {
        let app = app.clone();
        tasks.spawn(async move { app.act(&booking, "cancel").await.status.as_u16() });
    }
    for (n, customer) in walk_ins.iter().enumerate() {
        let body =
            json!({"resource_id": court["id"], "customer_id": customer["id"], "start_at": when.0, "end_at": when.1});
        let (app, second) = (app.clone(), second.clone());
        tasks.spawn(async move {
            let base = if n % 2 == 0 { app.base.clone() } else { second };
            app.send(app.client.post(format!("{base}/v1/bookings")).json(&body)).await.status.as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 5, "every cancel: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 0, "no walk-in passes the queue: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 50, "{statuses:?}");
    let mut offered = Vec::new();
    for waiting in &queue {
        offered.push(entry(&app, waiting).await["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(offered, [["offered"; 5].as_slice(), ["waiting"; 5].as_slice()].concat(), "offers in queue order");
    app.assert_within_capacity(&court).await;
    app.assert_history_matches_bookings().await;
}

#[tokio::test]
async fn an_offer_never_holds_past_the_start() {
    let (app, clock) = app_at("2027-01-04T08:00:00Z").await;
    let court = resource(&app, json!({})).await;
    let (ada, bob) = (app.create_customer("ada@example.com").await, app.create_customer("bob@example.com").await);
    let when = ("2027-01-04T08:05:00Z".to_owned(), "2027-01-04T09:00:00Z".to_owned());
    let taken = app.booked(&court, &ada, &when, 1).await;
    let waiting = joined(&app, &court, &bob, &when, 1).await;
    clock.set(at("2027-01-04T08:01:00Z"));
    app.act(&taken, "cancel").await.assert_status(200);
    let offered = entry(&app, &waiting).await;
    assert_eq!(offered["offer_expires_at"], "2027-01-04T08:05:00Z");
}

#[tokio::test]
async fn a_reschedule_away_and_a_member_added_to_the_group_offer_in_their_own_transactions() {
    let app = TestApp::spawn().await;
    let (one, two) = (app.create_resource("Court 1", 1).await, app.create_resource("Court 2", 1).await);
    let group = app
        .post_json("/v1/groups", &json!({"name": "Courts", "resource_ids": [one["id"]]}))
        .await
        .assert_status(201)
        .body
        .clone();
    let [ada, bob, cat, dan] = [
        app.create_customer("ada@example.com").await,
        app.create_customer("bob@example.com").await,
        app.create_customer("cat@example.com").await,
        app.create_customer("dan@example.com").await,
    ];
    let (when, later) = (slot(2, 10, 11), slot(2, 14, 15));
    let moving = app.booked(&one, &ada, &when, 1).await;
    let waits_for_one = joined(&app, &one, &bob, &when, 1).await;
    let body = json!({"group_id": group["id"], "customer_id": cat["id"], "start_at": when.0, "end_at": when.1});
    let waits_for_group = app.post_json("/v1/waitlist", &body).await.assert_status(201).body.clone();
    // Ada moves away: bob, first in the resource's queue, gets the unit.
    let path = format!("/v1/bookings/{}/reschedule", id(&moving));
    app.post_json(&path, &json!({"start_at": later.0, "end_at": later.1})).await.assert_status(200);
    assert_eq!(entry(&app, &waits_for_one).await["status"], "offered");
    assert_eq!(entry(&app, &waits_for_group).await["status"], "waiting");
    // Court 2 joins the group: cat's entry is offered there, in the
    // group's PATCH.
    app.booked(&two, &dan, &later, 1).await;
    let etag = app.get(&format!("/v1/groups/{}", id(&group))).await.header("etag").unwrap().to_owned();
    let members = json!({"resource_ids": [one["id"], two["id"]]});
    app.patch_json(&format!("/v1/groups/{}", id(&group)), &members, Some(&etag)).await.assert_status(200);
    let offered = entry(&app, &waits_for_group).await;
    assert_eq!(offered["status"], "offered");
    assert_eq!(booking(&app, offered["booking_id"].as_str().unwrap()).await["resource_id"], two["id"]);
    app.assert_within_capacity(&one).await;
    app.assert_within_capacity(&two).await;
}

#[tokio::test]
async fn the_audit_finds_an_offer_out_of_order_and_a_booking_past_the_queue() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let app = TestApp::spawn().await;
    let court = app.create_resource("Court", 1).await;
    let [ada, bob, cat, dan] = [
        app.create_customer("ada@example.com").await,
        app.create_customer("bob@example.com").await,
        app.create_customer("cat@example.com").await,
        app.create_customer("dan@example.com").await,
    ];
    let when = slot(2, 10, 11);
    let taken = app.booked(&court, &ada, &when, 1).await;
    let first = joined(&app, &court, &bob, &when, 1).await;
    let second = joined(&app, &court, &cat, &when, 1).await;
    app.act(&taken, "cancel").await.assert_status(200);
    app.assert_audit_clean().await;
    // By hand: the offer moved from the first entry to the second, and a
    // walk-in's booking written beside the queue.
    let entry_id = |e: &Value| -> uuid::Uuid { id(e).parse().unwrap() };
    let offered = entry(&app, &first).await;
    for (entry, status, booking) in
        [(&first, "waiting", Value::Null), (&second, "offered", offered["booking_id"].clone())]
    {
        let booking: Option<uuid::Uuid> = booking.as_str().map(|b| b.parse().unwrap());
        entity::waitlist_entry::Entity::update_many()
            .col_expr(entity::waitlist_entry::Column::Status, Expr::value(status))
            .col_expr(entity::waitlist_entry::Column::BookingId, Expr::value(booking))
            .col_expr(entity::waitlist_entry::Column::OfferedAt, Expr::value(booking.map(|_| chrono::Utc::now())))
            .filter(entity::waitlist_entry::Column::Id.eq(entry_id(entry)))
            .exec(&app.db)
            .await
            .unwrap();
    }
    let hold: uuid::Uuid = offered["booking_id"].as_str().unwrap().parse().unwrap();
    entity::booking::Entity::update_many()
        .col_expr(entity::booking::Column::CustomerId, Expr::value(id(&cat).parse::<uuid::Uuid>().unwrap()))
        .col_expr(entity::booking::Column::WaitlistEntryId, Expr::value(entry_id(&second)))
        .filter(entity::booking::Column::Id.eq(hold))
        .exec(&app.db)
        .await
        .unwrap();
    let report = app.get("/v1/audit").await.assert_status(200).body.clone();
    let kinds: Vec<&str> =
        report["violations"].as_array().unwrap().iter().map(|v| v["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"waitlist_order"), "{report}");
    let walk_in = app.booked(&app.create_resource("Other", 1).await, &dan, &when, 1).await;
    entity::booking::Entity::update_many()
        .col_expr(entity::booking::Column::ResourceId, Expr::value(id(&court).parse::<uuid::Uuid>().unwrap()))
        .filter(entity::booking::Column::Id.eq(id(&walk_in).parse::<uuid::Uuid>().unwrap()))
        .exec(&app.db)
        .await
        .unwrap();
    let report = app.get("/v1/audit").await.assert_status(200).body.clone();
    let past: Vec<&Value> =
        report["violations"].as_array().unwrap().iter().filter(|v| v["kind"] == "booked_past_queue").collect();
    assert_eq!(past.len(), 1, "{report}");
    assert_eq!(past[0]["booking_ids"], json!([walk_in["id"], first["id"]]));
}

#[tokio::test]
async fn the_list_pages_in_queue_order_and_a_cursor_outlives_its_entry() {
    let app = TestApp::spawn().await;
    let court = app.create_resource("Court", 1).await;
    let when = slot(2, 10, 11);
    app.booked(&court, &app.create_customer("ada@example.com").await, &when, 1).await;
    let mut queue = Vec::new();
    for n in 0..7 {
        let customer = app.create_customer(&format!("c{n}@example.com")).await;
        queue.push(joined(&app, &court, &customer, &when, 1).await["id"].clone());
    }
    let (mut seen, mut cursor) = (Vec::new(), String::new());
    loop {
        let page = app.get(&format!("/v1/waitlist?resource_id={}&limit=3{cursor}", id(&court))).await;
        let body = page.assert_status(200).body.clone();
        seen.extend(body["items"].as_array().unwrap().iter().map(|e| e["id"].clone()));
        match body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, queue);
    // A cursor marks a place, not an entry: the third one leaving changes
    // nothing for the page after it.
    let first = app.get(&format!("/v1/waitlist?resource_id={}&limit=3", id(&court))).await.body.clone();
    let leave = format!("/v1/waitlist/{}/leave", queue[2].as_str().unwrap());
    app.send(app.client.post(app.url(&leave))).await.assert_status(200);
    let next = first["next_cursor"].as_str().unwrap();
    let rest = app.get(&format!("/v1/waitlist?resource_id={}&limit=3&cursor={next}", id(&court))).await;
    assert_eq!(rest.assert_status(200).body["items"][0]["id"], queue[3]);
    app.get("/v1/waitlist?cursor=AAAA").await.assert_problem(422, "validation-error");
    // Any well-formed cursor is a place: far past every entry, or before all.
    let past_all = app.get(&format!("/v1/waitlist?cursor={}", "f".repeat(32))).await;
    assert!(past_all.assert_status(200).body["items"].as_array().unwrap().is_empty());
    let before_all = app.get(&format!("/v1/waitlist?resource_id={}&cursor=gA{}", id(&court), "A".repeat(30))).await;
    assert_eq!(before_all.assert_status(200).body["items"][0]["id"], queue[0]);
}
