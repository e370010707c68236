//! Races that really race: many simultaneous HTTP requests against one
//! resource, exact counts of winners and losers, then the capacity invariant
//! re-checked in the database. On PostgreSQL the app gets a pool of 20
//! connections so deciders truly run at the same time.

use std::time::Instant;

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, slot};

async fn racing_app() -> TestApp {
    TestApp::spawn_with(|c| {
        c.db_pool_size = 20;
        c.hold_sweep_interval_ms = 0;
    })
    .await
}

async fn customers(app: &TestApp, count: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        out.push(app.create_customer(&format!("racer{i}@example.com")).await);
    }
    out
}

fn count(replies: &[Reply], status: u16) -> usize {
    replies.iter().filter(|r| r.status.as_u16() == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_requests_for_ten_units_give_exactly_ten_bookings() {
    let app = racing_app().await;
    let resource = app.create_resource("Class", 10).await;
    let people = customers(&app, 100).await;
    let when = slot(5, 9, 10);
    let started = Instant::now();
    let replies = join_all(people.iter().map(|c| app.book(&resource, c, &when, 1))).await;
    let elapsed = started.elapsed();
    assert_eq!(count(&replies, 201), 10, "winners");
    assert_eq!(count(&replies, 409), 90, "losers");
    for loser in replies.iter().filter(|r| r.status == 409) {
        let problem = loser.assert_problem(409, "capacity-exceeded");
        assert_eq!(problem["available"], 0);
    }
    println!("100 concurrent bookings for 10 units: {elapsed:?}");
    app.assert_within_capacity(&resource).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_identical_concurrent_requests_of_one_customer_give_one_booking() {
    let app = racing_app().await;
    let resource = app.create_resource("Court", 50).await;
    let customer = app.create_customer("eager@example.com").await;
    let when = slot(5, 9, 10);
    let replies = join_all((0..20).map(|_| app.book(&resource, &customer, &when, 1))).await;
    assert_eq!(count(&replies, 201), 1);
    for loser in replies.iter().filter(|r| r.status != 201) {
        loser.assert_problem(409, "duplicate-booking");
    }
    let listed = app.get(&format!("/v1/bookings?customer_id={}", customer["id"].as_str().unwrap())).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reschedules_cancels_and_bookings_never_overfill_a_resource() {
    let app = racing_app().await;
    let resource = app.create_resource("Hall", 3).await;
    let people = customers(&app, 16).await;
    let (slot_a, slot_b) = (slot(5, 9, 10), slot(5, 11, 12));
    // Both slots full: three bookings in A, three in B.
    let mut in_a = Vec::new();
    let mut in_b = Vec::new();
    for c in &people[0..3] {
        in_a.push(app.booked(&resource, c, &slot_a, 1).await);
    }
    for c in &people[3..6] {
        in_b.push(app.booked(&resource, c, &slot_b, 1).await);
    }
    // At once: B's bookings cancel, A's move to B, ten newcomers want B.
    let move_body = json!({"start_at": slot_b.0, "end_at": slot_b.1});
    let move_paths: Vec<String> =
        in_a.iter().map(|b| format!("/v1/bookings/{}/reschedule", b["id"].as_str().unwrap())).collect();
    let moves = move_paths.iter().map(|path| app.post_json(path, &move_body));
    let cancels = in_b.iter().map(|b| app.act(b, "cancel"));
    let newcomers = people[6..16].iter().map(|c| app.book(&resource, c, &slot_b, 1));
    let (moved, cancelled, booked) = futures::join!(join_all(moves), join_all(cancels), join_all(newcomers));

    assert_eq!(count(&cancelled, 200), 3, "cancels always succeed");
    for reply in moved.iter().chain(booked.iter()) {
        match reply.status.as_u16() {
            200 | 201 => {}
            _ => {
                reply.assert_problem(409, "capacity-exceeded");
            }
        }
    }
    let winners = count(&moved, 200) + count(&booked, 201);
    assert!(winners <= 3, "{winners} bookings won 3 units");
    // A refused move left its booking where it was.
    for (reply, original) in moved.iter().zip(&in_a) {
        if reply.status == 409 {
            let now = app.get(&format!("/v1/bookings/{}", original["id"].as_str().unwrap())).await;
            assert_eq!(&now.body, original);
        }
    }
    app.assert_within_capacity(&resource).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_confirms_and_bookings_on_a_full_resource_keep_the_invariant() {
    let app = racing_app().await;
    let resource = app.create_resource("Desk", 5).await;
    let people = customers(&app, 25).await;
    let when = slot(5, 9, 10);
    let mut holds = Vec::new();
    for c in &people[0..5] {
        holds.push(app.held(&resource, c, &when).await);
    }
    let confirms = holds.iter().map(|h| app.act(h, "confirm"));
    let others = people[5..25].iter().map(|c| app.book(&resource, c, &when, 1));
    let (confirmed, booked) = futures::join!(join_all(confirms), join_all(others));
    assert_eq!(count(&confirmed, 200), 5, "running holds are always confirmable");
    assert_eq!(count(&booked, 201), 0, "the holds took every unit");
    app.assert_within_capacity(&resource).await;
}

/// A customer deleted while bookings for it are being made: every booking
/// answered 201 still exists afterwards (the delete either saw it and said
/// 409, or ran first and the bookings were refused), never a silently
/// cascaded acknowledged booking.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_customer_while_it_books_never_loses_an_acknowledged_booking() {
    let app = racing_app().await;
    let resource = app.create_resource("Hall", 50).await;
    for round in 0..5 {
        let customer = app.create_customer(&format!("leaving{round}@example.com")).await;
        let path = format!("/v1/customers/{}", customer["id"].as_str().unwrap());
        let slots: Vec<_> = (0..8).map(|day| slot(2 + day, 9, 10)).collect();
        let bookings = slots.iter().map(|when| app.book(&resource, &customer, when, 1));
        let (booked, deleted) = futures::join!(join_all(bookings), app.delete(&path, Some("*")));
        match deleted.status.as_u16() {
            204 => {}
            _ => {
                deleted.assert_problem(409, "resource-has-bookings");
            }
        }
        for reply in &booked {
            match reply.status.as_u16() {
                201 => {
                    let id = reply.body["id"].as_str().unwrap();
                    app.get(&format!("/v1/bookings/{id}")).await.assert_status(200);
                }
                _ => {
                    reply.assert_problem(422, "validation-error");
                }
            }
        }
    }
}

/// Deciders read the clock after their locks; on PostgreSQL it is the
/// database's clock at that moment (`clock_timestamp()`), not the
/// transaction's start (`now()`), which would come before the lock wait and
/// break "lock order = time order".
#[tokio::test]
async fn the_decision_clock_is_read_at_the_moment_not_at_the_transaction_start() {
    use sea_orm::TransactionTrait;
    let app = TestApp::spawn().await;
    let txn = app.db.begin().await.unwrap();
    let first = berth::store::decision_clock(&txn).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let second = berth::store::decision_clock(&txn).await.unwrap();
    txn.commit().await.unwrap();
    assert!(second - first >= chrono::Duration::milliseconds(40), "{first} then {second}");
    let skew = (chrono::Utc::now() - second).num_milliseconds().abs();
    assert!(skew < 5_000, "the database clock is {skew} ms off this host's");
}

/// A request the committed state already refuses is answered while
/// another decision holds the resource's lock; one that could fit waits
/// for the lock and is decided under it (docs/design.md §18). PostgreSQL
/// only: SQLite has no row locks (its writers run one at a time).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refusal_the_snapshot_shows_does_not_wait_for_the_lock() {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};
    let app = racing_app().await;
    if !app.database_url.starts_with("postgres") {
        return;
    }
    let resource = app.create_resource("Court", 1).await;
    let people = customers(&app, 3).await;
    let full = slot(5, 9, 10);
    app.book(&resource, &people[0], &full, 1).await.assert_status(201);

    // Another decision holds the resource's lock.
    let holder = app.db.begin().await.unwrap();
    let lock = Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT id FROM resource WHERE id = $1 FOR UPDATE",
        [resource["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap().into()],
    );
    holder.execute_raw(lock).await.unwrap();

    let free = slot(5, 11, 12);
    let waiting = {
        let (app_base, client, admin) = (app.base.clone(), app.client.clone(), app.admin.clone());
        let body = json!({"resource_id": resource["id"], "customer_id": people[2]["id"], "start_at": free.0, "end_at": free.1});
        tokio::spawn(async move {
            client.post(format!("{app_base}/v1/bookings")).bearer_auth(admin).json(&body).send().await.unwrap().status()
        })
    };
    let refused = tokio::time::timeout(std::time::Duration::from_secs(10), app.book(&resource, &people[1], &full, 1))
        .await
        .expect("answered while the lock is held");
    let problem = refused.assert_problem(409, "capacity-exceeded");
    assert!(!problem["alternatives"].as_array().unwrap().is_empty(), "{problem}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "a request that could fit waits for the lock");
    holder.rollback().await.unwrap();
    assert_eq!(waiting.await.unwrap().as_u16(), 201);
    app.assert_within_capacity(&resource).await;
}

/// While a booking being decided holds the hour buckets of a time (§20),
/// a request there that the committed state refuses is answered from the
/// snapshot with a shorter read path (§18: the lock's statement read the
/// resource, the customer and the clock; the rules and the alternatives
/// share one read of the two weeks around). Its answer must be the one a
/// decision under the lock gives, alternatives and all: checked for a
/// capacity and a duplicate refusal. PostgreSQL only (no locks on SQLite).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refusal_while_its_time_is_locked_says_what_the_decision_under_the_lock_says() {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};
    let app = racing_app().await;
    if !app.database_url.starts_with("postgres") {
        return;
    }
    let body = json!({"name": "Court", "capacity": 1, "policy": {"buffer_after_seconds": 900}});
    let resource = app.post_json("/v1/resources", &body).await.assert_status(201).body.clone();
    let people = customers(&app, 2).await;
    let full = slot(5, 9, 10);
    app.book(&resource, &people[0], &full, 1).await.assert_status(201);
    app.book(&resource, &people[0], &slot(5, 12, 13), 1).await.assert_status(201);
    app.book(&resource, &people[1], &slot(4, 9, 10), 1).await.assert_status(201);
    let overlapping_own = {
        let start = chrono::DateTime::parse_from_rfc3339(&full.0).unwrap() + chrono::Duration::minutes(30);
        (start.to_rfc3339(), (start + chrono::Duration::hours(1)).to_rfc3339())
    };
    let answers = || async {
        let capacity = app.book(&resource, &people[1], &full, 1).await;
        let duplicate = app.book(&resource, &people[0], &overlapping_own, 1).await;
        capacity.assert_problem(409, "capacity-exceeded");
        duplicate.assert_problem(409, "duplicate-booking");
        [capacity, duplicate].map(|reply| {
            let mut body = reply.body;
            body.as_object_mut().unwrap().remove("instance");
            body
        })
    };
    let under_the_lock = answers().await;
    for answer in &under_the_lock {
        assert!(!answer["alternatives"].as_array().unwrap().is_empty(), "{answer}");
    }

    // A booking being decided at that time holds its hour buckets.
    let id: uuid::Uuid = resource["id"].as_str().unwrap().parse().unwrap();
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc);
    let occupied = berth::domain::time_range::TimeRange::new(at(&full.0), at(&full.1) + chrono::Duration::minutes(15));
    let keys = berth::store::locks::bucket_keys(berth::domain::ids::ResourceId(id), &occupied.unwrap()).unwrap();
    let holder = app.db.begin().await.unwrap();
    for key in keys {
        let take = if key.shared { "pg_advisory_xact_lock_shared" } else { "pg_advisory_xact_lock" };
        let lock = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            format!("SELECT {take}($1)::text"),
            [key.key.into()],
        );
        holder.execute_raw(lock).await.unwrap();
    }
    let from_the_snapshot = tokio::time::timeout(std::time::Duration::from_secs(10), answers())
        .await
        .expect("answered while the time is locked");
    holder.rollback().await.unwrap();
    assert_eq!(from_the_snapshot, under_the_lock);
    app.assert_within_capacity(&resource).await;
}

/// Every decision takes the resource row before its hour buckets (design
/// §20). A booking that finds the row taken, here by a change of the
/// resource itself, waits for the row holding none of its buckets: one
/// holding a bucket while it waits would close a cycle with a booking that
/// holds the row and waits for that bucket (PostgreSQL reports a deadlock
/// after a second, and under load the pool runs dry meanwhile).
#[tokio::test]
async fn a_booking_waiting_for_the_resource_row_holds_none_of_its_buckets() {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};
    let app = racing_app().await;
    if !app.database_url.starts_with("postgres") {
        return;
    }
    let resource = app.create_resource("Court", 1).await;
    let person = app.create_customer("waiter@example.com").await;
    let holder = app.db.begin().await.unwrap();
    let lock_row = Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT id FROM resource WHERE id = $1 FOR UPDATE",
        [resource["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap().into()],
    );
    holder.execute_raw(lock_row).await.unwrap();
    let pid = |row: sea_orm::QueryResult| row.try_get::<i32>("", "pid").unwrap();
    let holder_pid = pid(holder
        .query_one_raw(Statement::from_string(DatabaseBackend::Postgres, "SELECT pg_backend_pid() AS pid"))
        .await
        .unwrap()
        .unwrap());
    // The backends the holder blocks, and the advisory locks those hold
    // (other advisory locks of the app, its outbox sequencer's, are not
    // the booking's).
    let blocked = Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pid FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))",
        [holder_pid.into()],
    );
    let observer = async {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let waiting = loop {
            if let Some(row) = app.db.query_one_raw(blocked.clone()).await.unwrap() {
                break pid(row);
            }
            assert!(tokio::time::Instant::now() < deadline, "the booking never waited for the row");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        let held = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $1",
            [waiting.into()],
        );
        let buckets = app.db.query_one_raw(held).await.unwrap().unwrap().try_get::<i64>("", "n").unwrap();
        holder.commit().await.unwrap();
        buckets
    };
    let when = slot(5, 9, 10);
    let (booked, buckets_held_while_waiting) = futures::join!(app.book(&resource, &person, &when, 1), observer);
    assert_eq!(buckets_held_while_waiting, 0, "a bucket held while waiting for the row");
    booked.assert_status(201);
    app.assert_within_capacity(&resource).await;
}

/// Bookings side by side within one hour do not wait for each other
/// (design §32): while a transaction holds what a booking of 9:00-9:30
/// holds, a booking of 9:30-10:00 goes through at once, and one of
/// 9:15-9:45, which overlaps it, waits (two units: it fits, so no
/// snapshot refuses it without the lock, §18).
#[tokio::test]
async fn bookings_side_by_side_in_one_hour_do_not_wait_for_each_other() {
    use berth::{
        domain::{ids::ResourceId, time_range::TimeRange},
        store::{locks, resources},
    };
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};
    let app = racing_app().await;
    if !app.database_url.starts_with("postgres") {
        return;
    }
    let resource = app.create_resource("Court", 2).await;
    let (first, second) =
        (app.create_customer("first@example.com").await, app.create_customer("second@example.com").await);
    let nine = chrono::DateTime::parse_from_rfc3339(&slot(5, 9, 10).0).unwrap().with_timezone(&chrono::Utc);
    let at = |minutes: i64| nine + chrono::Duration::minutes(minutes);
    let when = |from: i64, to: i64| (at(from).to_rfc3339(), at(to).to_rfc3339());
    let id = ResourceId(resource["id"].as_str().unwrap().parse().unwrap());
    let held = locks::bucket_keys(id, &TimeRange::new(at(0), at(30)).unwrap()).unwrap();
    let holder = app.db.begin().await.unwrap();
    resources::lock_waiting(&holder, id, resources::Hold::Buckets(&held)).await.unwrap().unwrap();
    let (beside, overlapping) = (when(30, 60), when(15, 45));
    let beside = tokio::time::timeout(std::time::Duration::from_secs(10), app.book(&resource, &first, &beside, 1));
    beside.await.expect("a booking beside the held half hour waited for it").assert_status(201);
    let holder_pid = holder
        .query_one_raw(Statement::from_string(DatabaseBackend::Postgres, "SELECT pg_backend_pid() AS pid"))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i32>("", "pid")
        .unwrap();
    let blocked = Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT count(*) AS n FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))",
        [holder_pid.into()],
    );
    let overlapping = app.book(&resource, &second, &overlapping, 1);
    let observer = async {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let n = app.db.query_one_raw(blocked.clone()).await.unwrap().unwrap().try_get::<i64>("", "n").unwrap();
            if n > 0 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the overlapping booking never waited");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        holder.commit().await.unwrap();
    };
    let (reply, ()) = futures::join!(overlapping, observer);
    reply.assert_status(201);
    app.assert_within_capacity(&resource).await;
}

/// Capacity 1, many bookings at once of 10 to 40 minutes starting on any
/// minute of three hours: side by side and overlapping in every way
/// within and across hours. None of those admitted may overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bookings_within_hours_at_once_never_overlap_on_one_unit() {
    let app = racing_app().await;
    let resource = app.create_resource("Booth", 1).await;
    let people = customers(&app, 48).await;
    let nine = chrono::DateTime::parse_from_rfc3339(&slot(6, 9, 10).0).unwrap();
    let times: Vec<(String, String)> = (0..48i64)
        .map(|i| {
            let start = nine + chrono::Duration::minutes((i * 29) % 170);
            (start.to_rfc3339(), (start + chrono::Duration::minutes(10 + (i * 7) % 31)).to_rfc3339())
        })
        .collect();
    let replies = join_all(people.iter().zip(&times).map(|(person, when)| app.book(&resource, person, when, 1))).await;
    let admitted = count(&replies, 201);
    assert_eq!(admitted + count(&replies, 409), 48, "only 201s and 409s");
    assert!(admitted >= 4 && count(&replies, 409) > 0, "{admitted} admitted");
    app.assert_within_capacity(&resource).await;
}

/// `n` intervals of 20 to 150 minutes starting every 10 to 50 minutes over
/// one day, so that they cross hour boundaries and overlap in every way.
fn close_times(day: i64, n: usize) -> Vec<(String, String)> {
    let midnight = chrono::DateTime::parse_from_rfc3339(&slot(day, 0, 1).0).unwrap();
    (0..n)
        .map(|i| {
            let start = midnight + chrono::Duration::minutes(((i * 37) % 600) as i64 + 360);
            let end = start + chrono::Duration::minutes(20 + ((i * 53) % 131) as i64);
            (start.to_rfc3339(), end.to_rfc3339())
        })
        .collect()
}

/// On PostgreSQL a booking locks the hour buckets of its time, not the
/// whole resource (design §20): decisions far apart run side by side, and
/// the capacity rule must still hold at every instant. Buffers widen what
/// a booking occupies; this instance has never seen them, so its first
/// guess of the buckets is too narrow and must be caught. A resource
/// change (here the capacity going down) takes the whole resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bookings_at_close_times_never_exceed_the_capacity_at_any_instant() {
    let app = racing_app().await;
    let body = json!({"name": "Studio", "capacity": 3, "policy": {"buffer_after_seconds": 900}});
    let resource = app.post_json("/v1/resources", &body).await.assert_status(201).body.clone();
    let people = customers(&app, 60).await;
    let times = close_times(7, 60);
    let path = format!("/v1/resources/{}", resource["id"].as_str().unwrap());
    let (replies, lowered) = tokio::join!(
        join_all(people.iter().zip(&times).map(|(person, when)| app.book(&resource, person, when, 1))),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            app.patch_json(&path, &json!({"capacity": 2}), Some("*")).await
        }
    );
    let admitted = count(&replies, 201);
    assert_eq!(admitted + count(&replies, 409), 60, "only 201s and 409s");
    assert!(admitted >= 6, "bookings far apart were admitted ({admitted})");
    assert!(count(&replies, 409) > 0, "the times overlap more than 3 deep: some must be refused");
    assert!(matches!(lowered.status.as_u16(), 200 | 409), "{}", lowered.text);
    app.assert_within_capacity(&resource).await;
}

/// A booking limit counts a customer's bookings at every time, so it must
/// hold when one customer books far-apart times at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_limit_holds_for_far_apart_bookings_made_at_once() {
    let app = racing_app().await;
    let body = json!({"name": "Desk", "capacity": 5, "policy": {"max_active_bookings_per_customer": 2}});
    let resource = app.post_json("/v1/resources", &body).await.assert_status(201).body.clone();
    let person = app.create_customer("limited@example.com").await;
    let days: Vec<_> = (0..20).map(|day| slot(day + 2, 9, 10)).collect();
    let replies = join_all(days.iter().map(|when| app.book(&resource, &person, when, 1))).await;
    assert_eq!(count(&replies, 201), 2, "the limit is 2");
    for reply in replies.iter().filter(|r| r.status.as_u16() != 201) {
        reply.assert_problem(409, "booking-limit-reached");
    }
}

/// Buffers make bookings in different hours collide: each hour's booking
/// here occupies the next two hours too. This instance has never seen the
/// resource, so every booking of the burst first guesses no buffers and
/// locks only its own hour; the guess must be caught under the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn buffers_this_instance_has_not_seen_yet_still_keep_bookings_apart() {
    let app = racing_app().await;
    let people = customers(&app, 24).await;
    let hours: Vec<_> = (0..24).map(|h| slot(6, h, h + 1)).collect();
    // Three resources, one after the other: each burst meets one unknown.
    for lab in 0..3 {
        let body = json!({"name": format!("Lab {lab}"), "capacity": 1, "policy": {"buffer_after_seconds": 7200}});
        let resource = app.post_json("/v1/resources", &body).await.assert_status(201).body.clone();
        let replies =
            join_all(people.iter().zip(&hours).map(|(person, when)| app.book(&resource, person, when, 1))).await;
        assert_eq!(count(&replies, 201) + count(&replies, 409), 24, "only 201s and 409s");
        assert!(count(&replies, 201) >= 1);
        app.assert_within_capacity(&resource).await;
    }
}
