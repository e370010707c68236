//! The outbox and its feed: one event per change, written in the change's
//! transaction, read in one order that misses nothing under concurrent
//! writers on several instances.

use std::collections::{HashMap, HashSet};

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{TestApp, slot};

/// Every event of the feed from the start, following `next_cursor`.
async fn drain(app: &TestApp, base: &str, mut cursor: String, seen: &mut Vec<Value>) -> String {
    loop {
        let url = format!("{base}/v1/events?limit=37&after={cursor}");
        let reply = app.send(app.client.get(url)).await;
        let page = reply.assert_status(200).body.clone();
        let items = page["items"].as_array().unwrap().clone();
        let next = page["next_cursor"].as_str().unwrap().to_owned();
        if items.is_empty() {
            assert_eq!(next, cursor, "an empty page keeps the cursor");
            return cursor;
        }
        seen.extend(items);
        cursor = next;
    }
}

fn types(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn every_change_appends_exactly_one_event_and_a_refusal_none() {
    let app = TestApp::spawn().await;
    let court = app.create_resource("Court A", 1).await;
    let other = app.create_resource("Court B", 1).await;
    let court_path = format!("/v1/resources/{}", court["id"].as_str().unwrap());
    app.patch_json(&court_path, &json!({"description": "clay"}), Some("\"1\"")).await.assert_status(200);
    let group = app
        .post_json("/v1/groups", &json!({"name": "Courts", "resource_ids": [court["id"], other["id"]]}))
        .await
        .assert_status(201)
        .body
        .clone();
    let group_path = format!("/v1/groups/{}", group["id"].as_str().unwrap());
    app.patch_json(&group_path, &json!({"assignment": "first_fit"}), Some("\"1\"")).await.assert_status(200);
    let ada = app.create_customer("ada@example.com").await;
    let bob = app.create_customer("bob@example.com").await;

    let held = app.held(&court, &ada, &slot(2, 9, 10)).await;
    app.act(&held, "confirm").await.assert_status(200);
    // Refused: no event.
    app.book(&court, &bob, &slot(2, 9, 10), 1).await.assert_problem(409, "capacity-exceeded");
    let through_group = json!({"group_id": group["id"], "customer_id": bob["id"], "start_at": slot(2, 11, 12).0, "end_at": slot(2, 11, 12).1});
    let grouped = app.post_json("/v1/bookings", &through_group).await.assert_status(201).body.clone();
    assert_eq!(grouped["resource_id"], court["id"]);
    // Court A is taken at 9:00: moving there reassigns it to court B.
    let moved = app
        .post_json(
            &format!("/v1/bookings/{}/reschedule", grouped["id"].as_str().unwrap()),
            &json!({"start_at": slot(2, 9, 10).0, "end_at": slot(2, 9, 10).1}),
        )
        .await;
    assert_eq!(moved.assert_status(200).body["resource_id"], other["id"]);
    app.post_json(
        &format!("/v1/bookings/{}/reschedule", grouped["id"].as_str().unwrap()),
        &json!({"start_at": slot(2, 13, 14).0, "end_at": slot(2, 13, 14).1}),
    )
    .await
    .assert_status(200);
    app.act(&grouped, "cancel").await.assert_status(200);
    let played = app.booked(&other, &ada, &slot(2, 15, 16), 1).await;
    app.act(&played, "check-in").await.assert_status(200);
    app.act(&played, "complete").await.assert_status(200);
    let missed = app.booked(&other, &ada, &slot(2, 17, 18), 1).await;
    app.act(&missed, "no-show").await.assert_status(200);
    let lapsing = app.held(&other, &ada, &slot(3, 9, 10)).await;
    app.run_out_hold(&lapsing).await;
    assert_eq!(berth::service::bookings::expire_due_holds(&app.services_db()).await.unwrap(), 1);
    app.delete(&group_path, Some("\"2\"")).await.assert_status(204);
    let spare = app.create_resource("Spare", 1).await;
    app.delete(&format!("/v1/resources/{}", spare["id"].as_str().unwrap()), Some("\"1\"")).await.assert_status(204);

    let mut seen = Vec::new();
    drain(&app, &app.base, "0".into(), &mut seen).await;
    assert_eq!(
        types(&seen),
        [
            "resource.created",
            "resource.created",
            "resource.updated",
            "group.created",
            "group.updated",
            "booking.created",
            "booking.confirmed",
            "booking.created",
            "booking.reassigned",
            "booking.rescheduled",
            "booking.cancelled",
            "booking.created",
            "booking.checked_in",
            "booking.completed",
            "booking.created",
            "booking.no_show",
            "booking.created",
            "booking.expired",
            "group.deleted",
            "resource.created",
            "resource.deleted",
        ]
    );
    let positions: Vec<i64> = seen.iter().map(|e| e["position"].as_i64().unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    // Data: the object as the API shows it, the actor, the status before.
    let confirmed = &seen[6];
    assert_eq!(confirmed["subject_id"], held["id"]);
    assert_eq!(confirmed["data"]["booking"]["status"], "confirmed");
    assert_eq!(confirmed["data"]["previous_status"], "held");
    assert_eq!(confirmed["data"]["actor"]["role"], "admin");
    assert!(confirmed["data"]["request_id"].is_string());
    assert_eq!(seen[8]["data"]["previous_resource_id"], court["id"]);
    assert_eq!(seen[17]["data"]["actor"]["role"], "system");
    assert_eq!(seen[18]["data"]["group"]["name"], "Courts");
    // Filtered by type; customers see nothing.
    let only = app.get("/v1/events?types=booking.cancelled,booking.expired").await;
    assert_eq!(types(only.body["items"].as_array().unwrap()), ["booking.cancelled", "booking.expired"]);
    // A filter that matches nothing still moves the cursor past what it read.
    let none = app.get("/v1/events?types=booking.reassigned&after=9").await;
    assert!(none.body["items"].as_array().unwrap().is_empty());
    assert_eq!(none.body["next_cursor"], seen.last().unwrap()["position"].to_string());
    let unknown = app.get("/v1/events?types=booking.teleported").await;
    assert_eq!(unknown.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/types");
    let customer = crate::helpers::customer_token(&ada);
    app.send_as(app.client.get(app.url("/v1/events")), Some(&customer)).await.assert_problem(403, "forbidden");
}

/// The guarantee: many writers on two instances, a consumer following
/// the feed all the while; afterwards it has seen every event of the table
/// exactly once, and each booking's events in the order they happened.
#[tokio::test]
async fn a_consumer_following_the_feed_under_concurrent_writers_sees_every_event_once_in_order() {
    let app = TestApp::spawn().await;
    let on_postgres = app.database_url.starts_with("postgres");
    let (second, _stop) = app.another_instance().await;
    let bases = if on_postgres { vec![app.base.clone(), second] } else { vec![app.base.clone()] };
    let court = app.create_resource("Hall", 1000).await;
    let mut people = Vec::new();
    for i in 0..40 {
        people.push(app.create_customer(&format!("writer{i}@example.com")).await);
    }
    // The classic trap, forced: a transaction takes an event id early and
    // commits only after many later ids did. A reader going by id would
    // have passed it; the feed must still deliver it. (PostgreSQL only:
    // on SQLite an open write transaction holds every other writer.)
    let slow = if on_postgres {
        use sea_orm::{ActiveValue::Set, EntityTrait, TransactionTrait};
        let txn = app.db.begin().await.unwrap();
        let row = entity::outbox_event::ActiveModel {
            position: Set(None),
            r#type: Set("resource.updated".into()),
            subject_id: Set(court["id"].as_str().unwrap().parse().unwrap()),
            occurred_at: Set(chrono::Utc::now()),
            data: Set("{}".into()),
            ..Default::default()
        };
        entity::outbox_event::Entity::insert(row).exec_without_returning(&txn).await.unwrap();
        Some(txn)
    } else {
        None
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    let consumer = async {
        let mut seen = Vec::new();
        let mut cursor = "0".to_owned();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            cursor = drain(&app, &app.base, cursor, &mut seen).await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        drain(&app, &app.base, cursor, &mut seen).await;
        seen
    };
    let writers = async {
        let work = people.iter().enumerate().map(|(i, person)| {
            let base = bases[i % bases.len()].clone();
            let app = &app;
            let court = &court;
            async move {
                for round in 0..3 {
                    let when = slot(4 + round, 8 + (i as u32 % 12), 9 + (i as u32 % 12));
                    let body = json!({"resource_id": court["id"], "customer_id": person["id"], "start_at": when.0, "end_at": when.1, "hold": true});
                    let made = app.send(app.client.post(format!("{base}/v1/bookings")).json(&body)).await;
                    let booking = made.assert_status(201).body.clone();
                    let id = booking["id"].as_str().unwrap();
                    for action in ["confirm", "cancel"] {
                        let url = format!("{base}/v1/bookings/{id}/{action}");
                        app.send(app.client.post(url)).await.assert_status(200);
                    }
                }
            }
        });
        join_all(work).await;
        // Let the consumer run past every later event first.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if let Some(txn) = slow {
            txn.commit().await.unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let (seen, ()) = futures::join!(consumer, writers);

    let booking_events: Vec<&Value> =
        seen.iter().filter(|e| e["type"].as_str().unwrap().starts_with("booking.")).collect();
    assert_eq!(booking_events.len(), 40 * 3 * 3, "every change seen");
    let positions: Vec<i64> = seen.iter().map(|e| e["position"].as_i64().unwrap()).collect();
    assert_eq!(positions.iter().collect::<HashSet<_>>().len(), positions.len(), "no event twice");
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in feed order");
    use sea_orm::{EntityTrait, PaginatorTrait};
    let in_table = entity::outbox_event::Entity::find().count(&app.db).await.unwrap();
    assert_eq!(seen.len() as u64, in_table, "the consumer saw exactly the table");
    if on_postgres {
        assert!(seen.iter().any(|e| e["type"] == "resource.updated"), "the late commit was skipped");
    }
    let mut per_booking: HashMap<String, Vec<String>> = HashMap::new();
    for event in &booking_events {
        per_booking
            .entry(event["subject_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(event["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(per_booking.len(), 120);
    for (booking, order) in per_booking {
        assert_eq!(order, ["booking.created", "booking.confirmed", "booking.cancelled"], "booking {booking}");
    }
}
