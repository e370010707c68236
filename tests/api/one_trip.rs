//! The one-round-trip booking (docs/design.md §30) against the full
//! decision. Two apps on two databases go through the same random script
//! (resources with random capacities and policies, bookings, holds,
//! cancellations, moves within and across hours); one decides new bookings
//! in one round trip where it can, the other never does. Every answer must
//! be the same, and each case ends with one more booking decided through
//! the service layer on both, where the first also says whether it took
//! the one trip. Then bookings on many resources at once, gathered into
//! shared statements (§39), each decided as the full decision decides it
//! alone. Then a race on PostgreSQL: one-trip bookings (gathered where
//! their hours differ), moves and cancellations at once on a small
//! resource, and afterwards nothing over capacity, no customer booked
//! twice at once, the audit clean. On SQLite the one trip is never taken
//! (its writers are serial, a statement costs no round trip), and the
//! tests check that too.

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
    },
};
use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{TestApp, on_postgres, slot, uuid_of};

/// A small deterministic generator (xorshift64*): the seed in a failure
/// message replays the case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> i64 {
        i64::try_from(self.next() % n).unwrap()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A service handle on `app`'s database, which has looked at its
/// migrations as an instance does at start (the one trip waits for that).
async fn services(app: &TestApp, one_trip: bool) -> Db {
    let db = Db::new(app.db.clone()).representing(Arc::new(Representations)).with_one_trip(one_trip);
    berth::service::schema::check(&db).await.unwrap();
    db
}

fn admin() -> Context {
    Context { actor: berth::auth::Principal::Admin { sub: "ops".into() }.actor(), request_id: None, reason: None }
}

/// The day the cases book on, at midnight UTC.
fn day() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&slot(3, 0, 1).0).unwrap().with_timezone(&Utc)
}

/// A random interval between 09:00 and 13:30 of `day`, on the quarter hour.
fn interval(rng: &mut Rng) -> TimeRange {
    interval_starting_within(rng, 18)
}

/// A random interval of 15 to 90 minutes starting at one of the first
/// `quarters` quarter hours from 09:00 of `day`.
fn interval_starting_within(rng: &mut Rng, quarters: u64) -> TimeRange {
    let start = day() + Duration::minutes(9 * 60 + 15 * rng.below(quarters));
    TimeRange::new(start, start + Duration::minutes(15 * (1 + rng.below(6)))).unwrap()
}

fn body(resource: &Value, customer: &Value, range: &TimeRange, quantity: i64, hold: bool) -> Value {
    json!({
        "resource_id": resource["id"], "customer_id": customer["id"], "quantity": quantity, "hold": hold,
        "start_at": range.start().to_rfc3339(), "end_at": range.end().to_rfc3339(),
    })
}

/// What an answer says, without ids: its status and problem type.
fn said(reply: &crate::helpers::Reply) -> String {
    format!("{} {}", reply.status, reply.body["code"].as_str().unwrap_or(""))
}

/// What a decision said, without ids or times of day.
fn decided(result: &Result<Booking, ServiceError>) -> String {
    match result {
        Ok(booking) => format!("booked {:?} x{} {:?}", booking.status, booking.quantity, booking.range),
        Err(ServiceError::Refused { refusal, .. }) => {
            let name = format!("{refusal:?}");
            format!("refused {}", name.split([' ', '{', '(']).next().unwrap_or(""))
        }
        Err(other) => format!("error {}", format!("{other:?}").split([' ', '{', '(']).next().unwrap_or("")),
    }
}

fn new_booking(resource: &Value, customer: &Value, range: TimeRange, quantity: i64) -> NewBooking {
    NewBooking {
        target: Target::Resource(ResourceId(uuid_of(resource))),
        customer_id: CustomerId(uuid_of(customer)),
        range,
        quantity: i32::try_from(quantity).unwrap(),
        hold: false,
        notes: None,
        fields: None,
        override_policy: false,
    }
}

fn render(booking: &Booking) -> StoredResponse {
    StoredResponse { status: 201, headers: vec![], body: booking.id.to_string().into_bytes() }
}

/// One random booking or hold, the same on both apps (a resource and the
/// customers as each app knows them): both replies, and what was asked.
async fn book_on_both(
    (fast, full): (&TestApp, &TestApp),
    people: &[(Value, Value)],
    (r_fast, r_full): (&Value, &Value),
    capacity: i64,
    rng: &mut Rng,
) -> (crate::helpers::Reply, crate::helpers::Reply, String) {
    let (who, range) = (rng.below(3) as usize, interval(rng));
    let (quantity, hold) = (1 + rng.below(capacity as u64), rng.chance(25));
    let a = fast.post_json("/v1/bookings", &body(r_fast, &people[who].0, &range, quantity, hold)).await;
    let b = full.post_json("/v1/bookings", &body(r_full, &people[who].1, &range, quantity, hold)).await;
    (a, b, format!("booking {range:?} x{quantity}"))
}

/// A random policy: buffers, a slot grid, a booking limit, a notice the
/// cases' day cannot meet, or none of them.
fn policy(rng: &mut Rng) -> Value {
    let mut policy = serde_json::Map::new();
    if rng.chance(40) {
        policy.insert("buffer_after_seconds".into(), json!(900));
    }
    if rng.chance(20) {
        policy.insert("buffer_before_seconds".into(), json!(1800));
    }
    if rng.chance(20) {
        policy.insert("slot_step_seconds".into(), json!(1800));
    }
    if rng.chance(15) {
        policy.insert("max_active_bookings_per_customer".into(), json!(2));
    }
    if rng.chance(10) {
        policy.insert("min_notice_seconds".into(), json!(7 * 86_400));
    }
    Value::Object(policy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_one_trip_admits_exactly_what_the_full_decision_admits() {
    let (fast, full) = (TestApp::spawn().await, TestApp::spawn_with(|c| c.one_trip_bookings = false).await);
    let (fast_db, full_db) = (services(&fast, true).await, services(&full, false).await);
    let mut people = Vec::new();
    for n in 0..3 {
        let email = format!("p{n}@example.com");
        people.push((fast.create_customer(&email).await, full.create_customer(&email).await));
    }
    let (mut finals_admitted, mut answers) = (0, 0);
    for case in 0..40u64 {
        let seed = 0x9E37_79B9_7F4A_7C15 ^ (case + 1);
        let rng = &mut Rng(seed);
        let capacity = 1 + rng.below(3);
        let resource = json!({"name": format!("Case {case}"), "capacity": capacity, "policy": policy(rng)});
        let (on_fast, on_full) =
            (fast.post_json("/v1/resources", &resource).await, full.post_json("/v1/resources", &resource).await);
        let (r_fast, r_full) = (on_fast.assert_status(201).body.clone(), on_full.assert_status(201).body.clone());
        // Bookings and holds, the same on both.
        let mut made = Vec::new();
        for _ in 0..rng.below(8) {
            let (a, b, asked) = book_on_both((&fast, &full), &people, (&r_fast, &r_full), capacity, rng).await;
            assert_eq!(said(&a), said(&b), "seed {seed:#x}: {asked}");
            answers += 1;
            if a.status == 201 {
                made.push((a.body.clone(), b.body.clone()));
            }
        }
        // Cancellations and moves (often within the same hours), the same on both.
        for (a, b) in &made {
            let (path_a, path_b) = (uuid_of(a), uuid_of(b));
            if rng.chance(20) {
                let (x, y) = (fast.act(a, "cancel").await, full.act(b, "cancel").await);
                assert_eq!(said(&x), said(&y), "seed {seed:#x}: cancel");
            } else if rng.chance(30) {
                let start: DateTime<Utc> = a["start_at"].as_str().unwrap().parse().unwrap();
                let end: DateTime<Utc> = a["end_at"].as_str().unwrap().parse().unwrap();
                let shift = Duration::minutes(15 * (rng.below(5) - 2));
                let to = json!({"start_at": (start + shift).to_rfc3339(), "end_at": (end + shift).to_rfc3339()});
                let x = fast.post_json(&format!("/v1/bookings/{path_a}/reschedule"), &to).await;
                let y = full.post_json(&format!("/v1/bookings/{path_b}/reschedule"), &to).await;
                assert_eq!(said(&x), said(&y), "seed {seed:#x}: move by {shift}");
            }
        }
        // One more, through the service layer: did it take the one trip?
        let (who, range) = (rng.below(3) as usize, interval(rng));
        let quantity = 1 + rng.below(capacity as u64);
        let book = |db: &Db, resource: &Value, customer: &Value| {
            let new = new_booking(resource, customer, range, quantity);
            let db = db.clone();
            async move { bookings::create(&db, new, &admin(), &Seal::new(None, &render)).await }
        };
        let before = fast_db.one_trip_bookings();
        let a = book(&fast_db, &r_fast, &people[who].0).await;
        let one_trip = fast_db.one_trip_bookings() > before;
        let b = book(&full_db, &r_full, &people[who].1).await;
        assert_eq!(decided(&a), decided(&b), "seed {seed:#x}: the last booking (one trip: {one_trip})");
        if b.is_ok() {
            finals_admitted += 1;
        }
        fast.assert_within_capacity(&r_fast).await;
    }
    assert_eq!(full_db.one_trip_bookings(), 0, "switched off, it is never taken");
    let taken = fast_db.one_trip_bookings();
    if on_postgres() {
        // Every final booking's resource had been booked by the app first,
        // but the service handle is new: it reads each resource once and then
        // takes the trip whenever nothing stands in the way.
        assert!(taken * 2 >= finals_admitted, "one trip for {taken} of {finals_admitted} admitted bookings");
    } else {
        assert_eq!(taken, 0, "SQLite never takes it");
    }
    assert!(answers > 100, "the script made {answers} bookings");
    fast.assert_history_matches_bookings().await;
    full.assert_history_matches_bookings().await;
}

/// Bookings on many resources at once, which the gatherers put into
/// shared statements (docs/design.md §39): each must be decided as the full
/// decision decides it alone, whatever else its statement carried and
/// whichever of its parts fell back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bookings_gathered_into_shared_statements_are_each_decided_as_alone() {
    let (fast, full) = (TestApp::spawn().await, TestApp::spawn_with(|c| c.one_trip_bookings = false).await);
    // One gatherer: while it runs a statement, the others wait and gather.
    let fast_db = services(&fast, true).await.with_one_trip_gatherers(1);
    let full_db = services(&full, false).await;
    let mut people = Vec::new();
    for n in 0..3 {
        let email = format!("g{n}@example.com");
        people.push((fast.create_customer(&email).await, full.create_customer(&email).await));
    }
    let book = |db: &Db, new: NewBooking| {
        let db = db.clone();
        async move { bookings::create(&db, new, &admin(), &Seal::new(None, &render)).await }
    };
    // Four rounds; on PostgreSQL more (up to twelve) while no statement
    // has carried two bookings yet: whether parts meet at the gatherer
    // depends on timing, which a loaded machine stretches.
    for round in 0..12u64 {
        if round >= 4 && (!on_postgres() || fast_db.one_trip_bookings_shared() > 0) {
            break;
        }
        let seed = 0x6A7E_5EED_0000 ^ (round + 1);
        let rng = &mut Rng(seed);
        let mut finals = Vec::new();
        for n in 0..16 {
            let capacity = 1 + rng.below(3);
            // Every other one without a policy, its last booking the first
            // half of an hour: parts of one shape, which may share a statement.
            let policy = if n % 2 == 0 { policy(rng) } else { json!({}) };
            let resource = json!({"name": format!("Round {round} #{n}"), "capacity": capacity, "policy": policy});
            let r_fast = fast.post_json("/v1/resources", &resource).await.assert_status(201).body.clone();
            let r_full = full.post_json("/v1/resources", &resource).await.assert_status(201).body.clone();
            for _ in 0..rng.below(6) {
                let (a, b, asked) = book_on_both((&fast, &full), &people, (&r_fast, &r_full), capacity, rng).await;
                assert_eq!(said(&a), said(&b), "seed {seed:#x}: {asked}");
            }
            let range = if n % 2 == 0 {
                interval(rng)
            } else {
                let start = day() + Duration::hours(9 + rng.below(4));
                TimeRange::new(start, start + Duration::minutes(30)).unwrap()
            };
            let (who, quantity) = (rng.below(3) as usize, 1 + rng.below(capacity as u64));
            finals.push((r_fast, r_full, who, range, quantity));
        }
        // All at once on the one, one after another on the other.
        let at_once =
            join_all(finals.iter().map(|(r, _, who, range, quantity)| {
                book(&fast_db, new_booking(r, &people[*who].0, *range, *quantity))
            }))
            .await;
        for (n, ((r_fast, r_full, who, range, quantity), a)) in finals.iter().zip(&at_once).enumerate() {
            let b = book(&full_db, new_booking(r_full, &people[*who].1, *range, *quantity)).await;
            assert_eq!(decided(a), decided(&b), "seed {seed:#x}: the final booking of resource #{n}");
            fast.assert_within_capacity(r_fast).await;
        }
    }
    if on_postgres() {
        assert!(fast_db.one_trip_bookings_shared() > 0, "no statement ever carried two bookings");
    } else {
        assert_eq!(fast_db.one_trip_bookings(), 0, "SQLite never takes it");
    }
    fast.assert_history_matches_bookings().await;
    full.assert_history_matches_bookings().await;
}

/// The backends of `app`'s database (PostgreSQL) whose current or last
/// statement is a one-trip statement (PostgreSQL keeps its first
/// kilobyte) and that meet `condition`, a predicate on `pg_stat_activity`.
async fn one_trip_backends(app: &TestApp, condition: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let sql = format!(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND ({condition}) \
         AND query LIKE 'WITH t0_locked AS MATERIALIZED (SELECT id FROM resource %'"
    );
    app.db
        .query_one_raw(sea_orm::Statement::from_string(sea_orm::DatabaseBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
}

/// A lone client's one-trip bookings all go to the gatherer that came
/// back last (docs/design.md §44): one connection runs them all, however
/// many gatherers there are. Taken in turn, they went round all eight.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lone_clients_bookings_stay_on_one_gatherers_connection() {
    if !on_postgres() {
        println!("skipped: needs TEST_DATABASE_URL on PostgreSQL");
        return;
    }
    let app = TestApp::spawn().await;
    let db = services(&app, true).await.with_one_trip_gatherers(8);
    let customer = app.create_customer("lone@example.com").await;
    let mut resources = Vec::new();
    for n in 0..4 {
        resources.push(app.create_resource(&format!("Lone {n}"), 1).await);
    }
    for n in 0..24 {
        let start = day() + Duration::hours(n);
        let range = TimeRange::new(start, start + Duration::minutes(30)).unwrap();
        let new = new_booking(&resources[n as usize % resources.len()], &customer, range, 1);
        let booked = bookings::create(&db, new, &admin(), &Seal::new(None, &render)).await;
        assert!(booked.is_ok(), "booking {n}: {booked:?}");
    }
    assert_eq!(db.one_trip_bookings(), 24, "every booking in one trip");
    // The gatherers' connections are the backends whose last statement was
    // a one-trip statement.
    let connections = one_trip_backends(&app, "TRUE").await;
    assert_eq!(connections, 1, "one client's bookings ran on {connections} connections");
}

/// Fails when a customer holds two blocking bookings of one resource
/// whose intervals overlap.
async fn assert_nobody_booked_twice_at_once(app: &TestApp) {
    use sea_orm::EntityTrait;
    let now = Utc::now();
    let rows = entity::booking::Entity::find().all(&app.db).await.unwrap();
    let blocking: Vec<_> = rows
        .iter()
        .filter(|b| match b.status.as_str() {
            "confirmed" | "checked_in" => true,
            "held" | "pending" => b.hold_expires_at.is_some_and(|at| at > now),
            _ => false,
        })
        .collect();
    for (n, a) in blocking.iter().enumerate() {
        for b in &blocking[n + 1..] {
            let same = a.customer_id == b.customer_id && a.resource_id == b.resource_id;
            assert!(!(same && a.start_at < b.end_at && b.start_at < a.end_at), "{} and {} overlap", a.id, b.id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_trip_bookings_racing_moves_and_cancels_never_oversell_or_double_book() {
    let app = TestApp::spawn().await;
    // Every booking tries the trip, however busy its hours just were.
    let db = services(&app, true).await.with_one_trip_pause(std::time::Duration::ZERO);
    let rng = &mut Rng(0x005E_ED0F_0A7E);
    let resource = app
        .post_json("/v1/resources", &json!({"name": "Studio", "capacity": 3, "policy": {"buffer_after_seconds": 900}}))
        .await
        .assert_status(201)
        .body
        .clone();
    let mut people = Vec::new();
    for n in 0..4 {
        people.push(app.create_customer(&format!("r{n}@example.com")).await);
    }
    let mut seeded = Vec::new();
    while seeded.len() < 8 {
        let ask = body(&resource, &people[seeded.len() % 4], &interval(rng), 1, false);
        let reply = app.post_json("/v1/bookings", &ask).await;
        if reply.status == 201 {
            seeded.push(reply.body.clone());
        }
    }
    let app = &app;
    for round in 0..3usize {
        let asks: Vec<_> = (0..30).map(|_| (rng.below(4) as usize, interval_starting_within(rng, 40))).collect();
        let books = asks.iter().map(|(who, range)| {
            let (db, new) = (db.clone(), new_booking(&resource, &people[*who], *range, 1));
            async move { bookings::create(&db, new, &admin(), &Seal::new(None, &render)).await }
        });
        let moves = seeded.iter().take(4).map(|b| {
            let start: DateTime<Utc> = b["start_at"].as_str().unwrap().parse().unwrap();
            let to = start + Duration::minutes(15 * (1 + round as i64));
            let to = json!({"start_at": to.to_rfc3339(), "end_at": (to + Duration::minutes(30)).to_rfc3339()});
            let path = format!("/v1/bookings/{}/reschedule", uuid_of(b));
            async move { app.post_json(&path, &to).await }
        });
        let cancels = seeded.iter().skip(4 + round).take(1).map(|b| app.act(b, "cancel"));
        let (booked, moved, _) = futures::join!(join_all(books), join_all(moves), join_all(cancels));
        for result in &booked {
            assert!(
                matches!(result, Ok(_) | Err(ServiceError::Refused { .. })),
                "a booking is admitted or refused: {result:?}"
            );
        }
        for reply in &moved {
            assert!(matches!(reply.status.as_u16(), 200 | 409), "a move: {}", reply.text);
        }
        app.assert_within_capacity(&resource).await;
        assert_nobody_booked_twice_at_once(app).await;
    }
    if on_postgres() {
        assert!(db.one_trip_bookings() > 0, "the race took the one trip at least once");
    } else {
        assert_eq!(db.one_trip_bookings(), 0);
    }
    app.assert_history_matches_bookings().await;
}

#[tokio::test]
async fn a_keyed_booking_in_one_trip_is_replayed_and_its_key_cannot_be_reused() {
    let app = TestApp::spawn().await;
    let resource = app.create_resource("Desk", 2).await;
    let customer = app.create_customer("k@example.com").await;
    // The first booking shows the resource to the instance.
    app.booked(&resource, &customer, &slot(4, 9, 10), 1).await;
    let keyed = |when: &(String, String)| {
        app.client
            .post(app.url("/v1/bookings"))
            .header("idempotency-key", "one-trip-key")
            .json(&crate::helpers::booking_json(&resource, &customer, when))
    };
    let first = app.send(keyed(&slot(4, 11, 12))).await;
    first.assert_status(201);
    let again = app.send(keyed(&slot(4, 11, 12))).await;
    again.assert_status(201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body, "the answer stored with the booking");
    let other = app.send(keyed(&slot(4, 13, 14))).await;
    other.assert_problem(422, "idempotency-key-reused");
    let listed = app.get(&format!("/v1/bookings?customer_id={}", uuid_of(&customer))).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2, "one booking per key");
    app.assert_history_matches_bookings().await;
}

/// Two half hours side by side fill one hour's summary row of a one-unit
/// resource twice, so the summary cannot prove room for the second; and a
/// neighbour committing while a statement runs gives the row a version the
/// statement's snapshot did not see. Both used to send the booking the full
/// way. The statement now reads the bookings near it again after its locks
/// (`berth_room_after_locks`, docs/design.md §35): nothing there, so it is
/// written in one trip, one after the other and all at once; a booking
/// that does overlap is still refused (the full way).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bookings_side_by_side_in_one_hour_are_written_in_one_trip() {
    let app = TestApp::spawn().await;
    let db = services(&app, true).await;
    let resource = app.create_resource("Court", 1).await;
    let customer = app.create_customer("side@example.com").await;
    let half_hour = |n: i64| {
        let start = day() + Duration::minutes(9 * 60 + 30 * n);
        TimeRange::new(start, start + Duration::minutes(30)).unwrap()
    };
    let book = |range: TimeRange| {
        let (db, new) = (db.clone(), new_booking(&resource, &customer, range, 1));
        async move { bookings::create(&db, new, &admin(), &Seal::new(None, &render)).await }
    };
    for n in 0..2 {
        let booked = book(half_hour(n)).await;
        assert!(booked.is_ok(), "half hour {n}: {booked:?}");
    }
    let at_once = join_all((2..10).map(|n| book(half_hour(n)))).await;
    for (n, booked) in at_once.iter().enumerate() {
        assert!(booked.is_ok(), "half hour {}: {booked:?}", n + 2);
    }
    let before = db.one_trip_bookings();
    let across = TimeRange::new(half_hour(3).start() + Duration::minutes(15), half_hour(4).end()).unwrap();
    let refused = book(across).await;
    assert!(matches!(refused, Err(ServiceError::Refused { .. })), "{refused:?}");
    assert_eq!(db.one_trip_bookings(), before, "a refusal is never written");
    if on_postgres() {
        assert_eq!(db.one_trip_bookings(), 10, "every half hour in one trip");
    } else {
        assert_eq!(db.one_trip_bookings(), 0);
    }
    app.assert_within_capacity(&resource).await;
    app.assert_history_matches_bookings().await;
}

/// What the race above hits only by chance, made to happen: while the
/// one-trip statement waits for a summary row, another transaction that
/// holds the row moves the customer's booking into the requested time
/// (within the same hour: its units there stay the same, but its write
/// makes a new version of the row, as berth's own writers do) and commits.
/// The statement's snapshot predates that commit, so its own duplicate
/// check saw the booking where it was; the row's new version is what sends
/// it the full way, which refuses the duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_summary_row_written_after_the_statement_began_sends_it_the_full_way() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    if !on_postgres() {
        println!("skipped: needs TEST_DATABASE_URL on PostgreSQL");
        return;
    }
    let app = TestApp::spawn().await;
    let db = services(&app, true).await;
    let resource = app.create_resource("Room", 2).await;
    let customer = app.create_customer("moving@example.com").await;
    let at = |minutes: i64| day() + Duration::minutes(10 * 60 + minutes);
    let existing = app.booked(&resource, &customer, &(at(40).to_rfc3339(), at(55).to_rfc3339()), 1).await;
    let moving = app.db.begin().await.unwrap();
    let sql = format!(
        "UPDATE booking SET start_at = '{s}', end_at = '{e}', occupied_start_at = '{s}', occupied_end_at = '{e}', \
         version = version + 1, counted_version = version + 1 WHERE id = '{id}'",
        s = at(15).to_rfc3339(),
        e = at(30).to_rfc3339(),
        id = uuid_of(&existing)
    );
    moving.execute_unprepared(&sql).await.unwrap();
    moving
        .execute_unprepared(&format!(
            "UPDATE resource_usage SET units = units + 0 WHERE resource_id = '{}'",
            uuid_of(&resource)
        ))
        .await
        .unwrap();
    let asked = new_booking(&resource, &customer, TimeRange::new(at(0), at(30)).unwrap(), 1);
    let booking = tokio::spawn({
        let db = db.clone();
        async move { bookings::create(&db, asked, &admin(), &Seal::new(None, &render)).await }
    });
    // Until the statement waits for the row the move holds.
    let mut waited = false;
    for _ in 0..100 {
        let waiting = one_trip_backends(&app, "wait_event_type = 'Lock'").await;
        if waiting > 0 {
            waited = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(waited, "the one-trip statement never waited for the row");
    moving.commit().await.unwrap();
    let result = booking.await.unwrap();
    assert!(
        matches!(&result, Err(ServiceError::Refused { refusal: berth::domain::rules::Refusal::Duplicate { .. }, .. })),
        "{result:?}"
    );
    assert_eq!(db.one_trip_bookings(), 0, "nothing was written in one trip");
}
