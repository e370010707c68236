//! Page loads answered from a remembered timeline (docs/design.md §31).
//! Three instances on one database and one clock: one writes, one reads
//! and remembers, one never remembers and is the truth. After every step
//! of a random script (bookings, holds, confirmations, check-ins, moves,
//! cancellations, made on the writer or the reader, and time passing so
//! that holds run out and check-in deadlines pass) the reader's slots and
//! availability, read twice, must be the truth's. Then a change made
//! behind berth's back (no summary write) shows that the reader really
//! answers from memory, and that a real write next to it brings the
//! reader back to the truth.

use berth::service::Clock;
use chrono::Duration;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};
use crate::policies::{at, resource};

/// The three instances: `app` reads and remembers; `writer` and `truth`
/// are more instances on its database (`truth` remembers nothing).
struct World {
    app: TestApp,
    clock: Clock,
    writer: String,
    truth: String,
    _stops: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl World {
    async fn new(now: &str) -> Self {
        let clock = Clock::manual(at(now));
        // Every window is worth remembering here, however few its bookings.
        let app = TestApp::spawn_with(|c| {
            c.clock = clock.clone();
            c.hold_sweep_interval_ms = 0;
            c.timeline_cache_min_rows = 0;
        })
        .await;
        let (writer, stop_writer) = app
            .another_instance_with(|c| {
                c.clock = clock.clone();
                c.hold_sweep_interval_ms = 0;
            })
            .await;
        let (truth, stop_truth) = app
            .another_instance_with(|c| {
                c.clock = clock.clone();
                c.hold_sweep_interval_ms = 0;
                c.timeline_cache_stretches = 0;
            })
            .await;
        Self { app, clock, writer, truth, _stops: vec![stop_writer, stop_truth] }
    }

    async fn post(&self, base: &str, path: &str, body: &Value) -> Reply {
        self.app.send(self.app.client.post(format!("{base}{path}")).json(body)).await
    }

    async fn get(&self, base: &str, path: &str) -> Value {
        self.app.send(self.app.client.get(format!("{base}{path}"))).await.assert_status(200).body.clone()
    }

    /// The reader's page (read twice: remembered the second time) and the
    /// truth's.
    async fn pages(&self, path: &str) -> (Value, Value, Value) {
        let first = self.get(&self.app.base, path).await;
        let second = self.get(&self.app.base, path).await;
        (first, second, self.get(&self.truth, path).await)
    }

    /// Cancels `booking` behind berth's back: no summary row is written
    /// (which berth never does), so no stamp changes.
    async fn cancel_by_hand(&self, booking: &Value) {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        let booking: uuid::Uuid = id(booking).parse().expect("a uuid");
        entity::booking::Entity::update_many()
            .col_expr(entity::booking::Column::Status, Expr::value("cancelled"))
            .filter(entity::booking::Column::Id.eq(booking))
            .exec(&self.app.db)
            .await
            .expect("the update");
    }

    async fn assert_pages_true(&self, paths: &[String], step: &str) {
        for path in paths {
            let (first, second, truth) = self.pages(path).await;
            assert_eq!(first, truth, "{step}: {path}");
            assert_eq!(second, truth, "{step}: {path} (read again)");
        }
    }
}

/// The starts of a page of slots.
fn starts(page: &Value) -> Vec<String> {
    page["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .map(|s| s["start_at"].as_str().expect("a start").to_owned())
        .collect()
}

fn id(value: &Value) -> &str {
    value["id"].as_str().expect("an id")
}

/// The pages of `room` a venue's site loads: two windows of slots (one
/// starting off the hour), one of availability.
fn pages(room: &Value) -> Vec<String> {
    let room = id(room);
    vec![
        format!("/v1/resources/{room}/slots?from=2027-01-04T09:00:00Z&to=2027-01-04T14:00:00Z&duration_seconds=1800"),
        format!("/v1/resources/{room}/slots?from=2027-01-04T10:20:00Z&to=2027-01-04T12:00:00Z&duration_seconds=900"),
        format!("/v1/resources/{room}/availability?from=2027-01-04T08:00:00Z&to=2027-01-04T15:00:00Z"),
    ]
}

#[tokio::test]
async fn a_remembered_timeline_follows_every_change_made_on_any_instance() {
    for seed in 0..3_u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let world = World::new("2027-01-04T08:00:00Z").await;
        let capacity = rng.random_range(1..=3);
        let room = resource(
            &world.app,
            json!({"capacity": capacity, "hold_ttl_seconds": 600,
                   "policy": {"check_in_window_seconds": 900, "buffer_after_seconds": 300 * rng.random_range(0..2)}}),
        )
        .await;
        let mut customers = Vec::new();
        for n in 0..4 {
            customers.push(world.app.create_customer(&format!("c{n}-{seed}@example.com")).await);
        }
        let pages = pages(&room);
        let mut bookings: Vec<Value> = Vec::new();
        let mut now = at("2027-01-04T08:00:00Z");
        for step in 0..40 {
            let base = if rng.random_bool(0.5) { world.writer.clone() } else { world.app.base.clone() };
            let start = at("2027-01-04T09:00:00Z") + Duration::minutes(15 * rng.random_range(0..16));
            let end = start + Duration::minutes(15 * rng.random_range(1..7));
            let when = json!({"start_at": start, "end_at": end});
            let picked = (!bookings.is_empty()).then(|| bookings[rng.random_range(0..bookings.len())].clone());
            let what = match (rng.random_range(0..8), picked) {
                (0..=2, _) | (_, None) => {
                    let mut body = json!({"resource_id": room["id"],
                        "customer_id": customers[rng.random_range(0..customers.len())]["id"],
                        "hold": rng.random_bool(0.4)});
                    body.as_object_mut().expect("an object").extend(when.as_object().expect("an object").clone());
                    let reply = world.post(&base, "/v1/bookings", &body).await;
                    if reply.status == 201 {
                        bookings.push(reply.body.clone());
                    }
                    format!("book {body} → {}", reply.status)
                }
                (3, Some(b)) => action(&world, &base, &b, "confirm").await,
                (4, Some(b)) => action(&world, &base, &b, "cancel").await,
                (5, Some(b)) => action(&world, &base, &b, "check-in").await,
                (6, Some(b)) => {
                    let reply = world.post(&base, &format!("/v1/bookings/{}/reschedule", id(&b)), &when).await;
                    format!("move {} to {when} → {}", id(&b), reply.status)
                }
                _ => {
                    now += Duration::minutes(rng.random_range(1..25));
                    world.clock.set(now);
                    format!("the clock moves to {now}")
                }
            };
            world.assert_pages_true(&pages, &format!("seed {seed}, step {step}: {what}")).await;
        }
    }
}

async fn action(world: &World, base: &str, booking: &Value, action: &str) -> String {
    let path = format!("{base}/v1/bookings/{}/{action}", id(booking));
    let reply = world.app.send(world.app.client.post(path)).await;
    format!("{action} {} → {}", id(booking), reply.status)
}

#[tokio::test]
async fn a_hold_running_out_and_a_missed_check_in_free_a_remembered_timeline() {
    let world = World::new("2027-01-04T08:00:00Z").await;
    let room = resource(&world.app, json!({"hold_ttl_seconds": 600, "policy": {"check_in_window_seconds": 900}})).await;
    let ada = world.app.create_customer("ada@example.com").await;
    let bob = world.app.create_customer("bob@example.com").await;
    let body = |customer: &Value, start: &str, end: &str, hold: bool| json!({"resource_id": room["id"], "customer_id": customer["id"], "start_at": start, "end_at": end, "hold": hold});
    world.post(&world.writer, "/v1/bookings", &body(&ada, "2027-01-04T12:00:00Z", "2027-01-04T13:00:00Z", true)).await;
    world.post(&world.writer, "/v1/bookings", &body(&bob, "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z", false)).await;
    let slots = format!(
        "/v1/resources/{}/slots?from=2027-01-04T09:00:00Z&to=2027-01-04T14:00:00Z&duration_seconds=1800",
        id(&room)
    );
    let (_, remembered, _) = world.pages(&slots).await;
    assert!(!starts(&remembered).contains(&"2027-01-04T12:00:00Z".to_owned()), "{remembered}");
    assert!(!starts(&remembered).contains(&"2027-01-04T10:30:00Z".to_owned()), "{remembered}");
    // The hold runs out at 08:10 and Bob misses his check-in by 10:15:
    // no write happens, and both show at once.
    world.clock.set(at("2027-01-04T08:10:00Z"));
    world.assert_pages_true(std::slice::from_ref(&slots), "the hold ran out").await;
    assert!(starts(&world.get(&world.app.base, &slots).await).contains(&"2027-01-04T12:00:00Z".to_owned()));
    world.clock.set(at("2027-01-04T10:15:00Z"));
    world.assert_pages_true(std::slice::from_ref(&slots), "the check-in was missed").await;
    assert!(starts(&world.get(&world.app.base, &slots).await).contains(&"2027-01-04T10:30:00Z".to_owned()));
}

#[tokio::test]
async fn the_reader_answers_from_memory_until_a_write_touches_the_hour() {
    let world = World::new("2027-01-04T08:00:00Z").await;
    let room = resource(&world.app, json!({"capacity": 2})).await;
    let ada = world.app.create_customer("ada@example.com").await;
    let bob = world.app.create_customer("bob@example.com").await;
    let body = |customer: &Value, start: &str, end: &str| json!({"resource_id": room["id"], "customer_id": customer["id"], "start_at": start, "end_at": end});
    let booked =
        world.post(&world.writer, "/v1/bookings", &body(&ada, "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z")).await;
    let booked = booked.assert_status(201).body.clone();
    let pages = pages(&room);
    world.assert_pages_true(&pages, "booked").await;
    // Cancelled by hand: no summary row is written, which berth never does.
    world.cancel_by_hand(&booked).await;
    for path in &pages {
        let (first, second, truth) = world.pages(path).await;
        assert_ne!(first, truth, "the reader remembered {path}");
        assert_eq!(first, second);
    }
    // Any write touching that hour (a booking later in it) brings it back.
    let later =
        world.post(&world.writer, "/v1/bookings", &body(&bob, "2027-01-04T10:45:00Z", "2027-01-04T11:00:00Z")).await;
    later.assert_status(201);
    world.assert_pages_true(&pages, "a booking in the same hour").await;
}

#[tokio::test]
async fn a_write_in_one_hour_is_read_again_alone_and_the_other_hours_stay_remembered() {
    let world = World::new("2027-01-04T08:00:00Z").await;
    let room = resource(&world.app, json!({"capacity": 1})).await;
    let ada = world.app.create_customer("ada@example.com").await;
    let bob = world.app.create_customer("bob@example.com").await;
    let body = |customer: &Value, start: &str, end: &str| json!({"resource_id": room["id"], "customer_id": customer["id"], "start_at": start, "end_at": end});
    let booked =
        world.post(&world.writer, "/v1/bookings", &body(&ada, "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z")).await;
    let booked = booked.assert_status(201).body.clone();
    let slots = pages(&room).swap_remove(0);
    world.assert_pages_true(std::slice::from_ref(&slots), "booked").await;
    // Cancelled by hand at 10:00 (no summary write, which berth never
    // does), then a real booking at 13:00 on the writer.
    world.cancel_by_hand(&booked).await;
    let later =
        world.post(&world.writer, "/v1/bookings", &body(&bob, "2027-01-04T13:00:00Z", "2027-01-04T13:30:00Z")).await;
    later.assert_status(201);
    // The reader read 13:00's hour again (taken now) and not 10:00's (still
    // taken as remembered); the truth has 10:00 free.
    let (first, second, truth) = world.pages(&slots).await;
    for page in [&first, &second] {
        assert!(!starts(page).contains(&"2027-01-04T13:00:00Z".to_owned()), "{page}");
        assert!(!starts(page).contains(&"2027-01-04T10:00:00Z".to_owned()), "{page}");
    }
    assert!(starts(&truth).contains(&"2027-01-04T10:00:00Z".to_owned()), "{truth}");
    assert!(!starts(&truth).contains(&"2027-01-04T13:00:00Z".to_owned()), "{truth}");
    // A write touching 10:00's hour brings that hour back to the truth.
    let touch =
        world.post(&world.writer, "/v1/bookings", &body(&bob, "2027-01-04T10:45:00Z", "2027-01-04T11:00:00Z")).await;
    touch.assert_status(201);
    world.assert_pages_true(std::slice::from_ref(&slots), "a booking in the same hour").await;
}
