//! Trust (docs/design.md §22, §23): rows written beside berth (by hand, or
//! by an older release that kept no usage summary) never let it oversell,
//! the audit finds what was planted and `repair-usage` mends the summary,
//! a binary older than its database refuses writes, the clock is read
//! after the customer's lock, and no slot ends past year 9999.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, slot, uuid_of};

fn parse(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

/// A confirmed booking of one unit on `resource` for `customer`, version 1,
/// without buffers, with `counted_version` as given.
fn confirmed_row(
    id: uuid::Uuid,
    resource: &Value,
    customer: &Value,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    counted_version: Option<i64>,
) -> entity::booking::ActiveModel {
    let now = Utc::now();
    entity::booking::ActiveModel {
        id: Set(id),
        resource_id: Set(uuid_of(resource)),
        group_id: Set(None),
        bundle_id: Set(None),
        bundle_item: Set(None),
        customer_id: Set(uuid_of(customer)),
        start_at: Set(start),
        end_at: Set(end),
        quantity: Set(1),
        status: Set("confirmed".into()),
        hold_expires_at: Set(None),
        notes: Set(None),
        buffer_before_seconds: Set(0),
        buffer_after_seconds: Set(0),
        occupied_start_at: Set(start),
        occupied_end_at: Set(end),
        version: Set(1),
        counted_version: Set(counted_version),
        waitlist_entry_id: Set(None),
        series_id: Set(None),
        check_in_deadline_at: Set(None),
        fields: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// A confirmed booking written as a release without the usage summary
/// wrote it (the row and its history, no summary, not counted), or as a
/// person with SQL would (`with_history: false`).
async fn plant(
    app: &TestApp,
    resource: &Value,
    customer: &Value,
    (start, end): &(String, String),
    with_history: bool,
) -> uuid::Uuid {
    let (start, end) = (parse(start), parse(end));
    let id = uuid::Uuid::now_v7();
    entity::booking::Entity::insert(confirmed_row(id, resource, customer, (start, end), None))
        .exec_without_returning(&app.db)
        .await
        .expect("planted");
    if with_history {
        entity::booking_event::Entity::insert(entity::booking_event::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            booking_id: Set(id),
            from_status: Set(None),
            to_status: Set("confirmed".into()),
            action: Set("create".into()),
            actor_sub: Set("old-release".into()),
            actor_role: Set("admin".into()),
            reason: Set(None),
            request_id: Set(None),
            policy_overridden: Set(false),
            at: Set(Utc::now()),
        })
        .exec_without_returning(&app.db)
        .await
        .expect("history planted");
    }
    id
}

async fn audit(app: &TestApp, query: &str) -> Value {
    app.get(&format!("/v1/audit{query}")).await.assert_status(200).body.clone()
}

fn kinds(report: &Value) -> Vec<String> {
    let mut kinds: Vec<String> =
        report["violations"].as_array().unwrap().iter().map(|v| v["kind"].as_str().unwrap().to_owned()).collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

#[tokio::test]
async fn a_booking_written_without_its_summary_is_never_booked_past_and_the_audit_is_clean_after() {
    let app = TestApp::spawn().await;
    let room = app.create_resource("Room", 1).await;
    let (ada, bob) = (app.create_customer("ada@example.com").await, app.create_customer("bob@example.com").await);
    let hour = slot(3, 10, 11);
    plant(&app, &room, &ada, &hour, true).await;

    // The summary knows nothing of the planted booking: berth must not
    // admit by it.
    app.book(&room, &bob, &hour, 1).await.assert_problem(409, "capacity-exceeded");
    app.book(&room, &bob, &slot(3, 10, 12), 1).await.assert_problem(409, "capacity-exceeded");
    app.booked(&room, &bob, &slot(3, 11, 12), 1).await;

    // The decision counted the row it found: summary and audit agree now.
    app.assert_usage_summary_matches_bookings().await;
    let report = audit(&app, "").await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["complete"], true);
    assert_eq!(report["checked"]["resources"], 1);
    assert_eq!(report["checked"]["bookings"], 2);
}

#[tokio::test]
async fn cancelling_a_booking_the_summary_never_held_takes_nothing_from_it() {
    let app = TestApp::spawn().await;
    let room = app.create_resource("Room", 1).await;
    let (ada, bob, cy) = (
        app.create_customer("ada@example.com").await,
        app.create_customer("bob@example.com").await,
        app.create_customer("cy@example.com").await,
    );
    let hour = slot(3, 10, 11);
    let planted = plant(&app, &room, &ada, &hour, true).await;
    // Cancelled through berth before any decision near it counted it: the
    // summary must not lose a unit it never had (it went to -1 before).
    app.act(&json!({"id": planted.to_string()}), "cancel").await.assert_status(200);
    let below_zero = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM resource_usage WHERE units < 0",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(below_zero, 0);
    app.booked(&room, &bob, &hour, 1).await;
    app.book(&room, &cy, &hour, 1).await.assert_problem(409, "capacity-exceeded");
    app.assert_usage_summary_matches_bookings().await;
    assert_eq!(audit(&app, "").await["ok"], true);
}

#[tokio::test]
async fn the_summary_never_goes_below_zero_in_the_database() {
    let app = TestApp::spawn().await;
    let room = app.create_resource("Room", 1).await;
    let backend = app.db.get_database_backend();
    let resource = uuid_of(&room).simple().to_string();
    let uuid = match backend {
        sea_orm::DatabaseBackend::Postgres => format!("'{resource}'::uuid"),
        _ => format!("X'{resource}'"),
    };
    let insert = format!("INSERT INTO resource_usage (resource_id, bucket, units) VALUES ({uuid}, 1, -1)");
    assert!(app.db.execute_raw(Statement::from_string(backend, insert)).await.is_err(), "a negative row");
    let insert = format!("INSERT INTO resource_usage (resource_id, bucket, units) VALUES ({uuid}, 1, 1)");
    app.db.execute_raw(Statement::from_string(backend, insert)).await.unwrap();
    let lower = format!(
        "INSERT INTO resource_usage (resource_id, bucket, units) VALUES ({uuid}, 1, -1) \
ON CONFLICT (resource_id, bucket) DO UPDATE SET units = resource_usage.units + excluded.units"
    );
    app.db.execute_raw(Statement::from_string(backend, lower.clone())).await.expect("down to 0 is fine");
    assert!(app.db.execute_raw(Statement::from_string(backend, lower)).await.is_err(), "below 0 is refused");
}

#[tokio::test]
async fn the_audit_reports_what_was_planted_and_repair_usage_mends_the_summary() {
    let app = TestApp::spawn().await;
    let room = app.create_resource("Room", 1).await;
    let hall = app.create_resource("Hall", 5).await;
    let (ada, bob) = (app.create_customer("ada@example.com").await, app.create_customer("bob@example.com").await);
    app.booked(&hall, &bob, &slot(2, 9, 10), 2).await;
    // Two of Ada's bookings over one another on a room for one, one of
    // them without any history.
    let first = plant(&app, &room, &ada, &slot(3, 10, 12), true).await;
    let second = plant(&app, &room, &ada, &slot(3, 11, 13), false).await;

    let report = audit(&app, "").await;
    assert_eq!(report["ok"], false);
    assert_eq!(kinds(&report), ["duplicate_booking", "history_mismatch", "over_capacity", "usage_summary_mismatch"]);
    let violations = report["violations"].as_array().unwrap();
    let over = violations.iter().find(|v| v["kind"] == "over_capacity").unwrap();
    assert_eq!(over["resource_id"], room["id"]);
    assert_eq!(parse(over["at"].as_str().unwrap()), parse(&slot(3, 11, 12).0));
    assert_eq!((over["expected"].as_str(), over["found"].as_str()), (Some("1"), Some("2")));
    let ids = |v: &Value| -> Vec<String> {
        v["booking_ids"].as_array().unwrap().iter().map(|id| id.as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(over), [first.to_string(), second.to_string()]);
    let duplicate = violations.iter().find(|v| v["kind"] == "duplicate_booking").unwrap();
    assert_eq!(ids(duplicate), [first.to_string(), second.to_string()]);
    let history = violations.iter().find(|v| v["kind"] == "history_mismatch").unwrap();
    assert_eq!(ids(history), [second.to_string()]);
    // Hours 10, 11 and 12 of the room miss their units.
    let mismatched: Vec<&Value> = violations.iter().filter(|v| v["kind"] == "usage_summary_mismatch").collect();
    assert_eq!(mismatched.len(), 3, "{report}");
    assert!(mismatched.iter().all(|v| v["found"] == "0" && v["resource_id"] == room["id"]));
    assert_eq!(mismatched[1]["expected"], "2");
    // One resource at a time, or the hall alone: clean.
    assert_eq!(audit(&app, &format!("?resource_id={}", hall["id"].as_str().unwrap())).await["ok"], true);
    let page = audit(&app, "?limit=1").await;
    assert_eq!((page["complete"].as_bool(), page["checked"]["resources"].as_i64()), (Some(false), Some(1)));
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = audit(&app, &format!("?limit=1&cursor={cursor}")).await;
    assert_eq!((rest["complete"].as_bool(), rest["checked"]["resources"].as_i64()), (Some(true), Some(1)));
    app.get("/v1/audit?limit=0").await.assert_problem(422, "validation-error");
    app.get(&format!("/v1/audit?resource_id={}", uuid::Uuid::now_v7())).await.assert_problem(404, "not-found");
    let ada_token = crate::helpers::customer_token(&ada);
    app.send_as(app.client.get(app.url("/v1/audit")), Some(&ada_token)).await.assert_problem(403, "forbidden");

    // The command line says the same, and exits 1.
    let berth = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .env("BERTH_DATABASE_URL", &app.database_url)
            .env("RUST_LOG", "error")
            .output()
            .expect("berth runs")
    };
    let out = berth(&["audit"]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(printed.contains("over_capacity") && printed.contains("usage_summary_mismatch"), "{printed}");

    let out = berth(&["repair-usage"]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed} {}", String::from_utf8_lossy(&out.stderr));
    assert!(printed.contains("2 resources rebuilt, 3 hours changed"), "{printed}");
    app.assert_usage_summary_matches_bookings().await;
    let report = audit(&app, "").await;
    assert_eq!(kinds(&report), ["duplicate_booking", "history_mismatch", "over_capacity"], "{report}");
    // Counted now: a booking beside them is decided by the summary again.
    app.booked(&room, &bob, &slot(3, 14, 15), 1).await;
    app.book(&room, &bob, &slot(3, 12, 13), 1).await.assert_problem(409, "capacity-exceeded");
}

#[tokio::test]
async fn a_database_ahead_of_the_binary_gets_no_writes_from_it_until_it_is_known_again() {
    let app = TestApp::spawn_with(|c| c.schema_check_seconds = 1).await;
    let room = app.create_resource("Room", 1).await;
    let backend = app.db.get_database_backend();
    let from_the_future = "m20991231_000001_from_a_newer_release";
    let sql = format!("INSERT INTO seaql_migrations (version, applied_at) VALUES ('{from_the_future}', 0)");
    app.db.execute_raw(Statement::from_string(backend, sql)).await.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ready = app.get("/readyz").await;
        if ready.status == 503 {
            ready.assert_problem(503, "schema-ahead-of-binary");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still ready after 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let refused = app.post_json("/v1/customers", &json!({"email": "ada@example.com", "name": "Ada"})).await;
    refused.assert_problem(503, "schema-ahead-of-binary");
    assert_eq!(refused.header("retry-after"), Some("30"));
    let path = format!("/v1/resources/{}", room["id"].as_str().unwrap());
    app.patch_json(&path, &json!({"capacity": 2}), Some("*")).await.assert_problem(503, "schema-ahead-of-binary");
    // Reads are served.
    app.get(&path).await.assert_status(200);
    app.get("/v1/audit").await.assert_status(200);
    let metrics = app.get("/metrics").await;
    assert!(metrics.text.contains("berth_schema_ahead_of_binary"), "{}", metrics.text);

    // A new instance of this binary on that database starts (it does not
    // try to migrate it) behind the same fence.
    let (other, _stop) = app.another_instance_with(|c| c.migrate_on_start = true).await;
    let reply = app.client.get(format!("{other}/readyz")).send().await.unwrap();
    assert_eq!(reply.status(), 503);

    // The newer release rolled back: writes come back.
    let sql = format!("DELETE FROM seaql_migrations WHERE version = '{from_the_future}'");
    app.db.execute_raw(Statement::from_string(backend, sql)).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.get("/readyz").await.status != 200 {
        assert!(tokio::time::Instant::now() < deadline, "not ready again after 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.post_json("/v1/customers", &json!({"email": "ada@example.com", "name": "Ada"})).await.assert_status(201);
}

#[tokio::test]
async fn a_booking_that_waited_for_its_customer_lock_is_judged_by_the_clock_after_it() {
    let Some(_) = std::env::var("TEST_DATABASE_URL").ok().filter(|u| u.starts_with("postgres")) else {
        println!("skipped: the customer's lock is PostgreSQL's (SQLite's writers are serial)");
        return;
    };
    let app = TestApp::spawn().await;
    let body = json!({"name": "Court", "capacity": 4, "policy": {"max_active_bookings_per_customer": 3}});
    let court = app.post_json("/v1/resources", &body).await.assert_status(201).body.clone();
    let ada = app.create_customer("ada@example.com").await;
    // Someone holds Ada's lock on this court, as a booking of hers would.
    let key = berth::store::locks::customer_key(
        berth::domain::ids::ResourceId(uuid_of(&court)),
        berth::domain::ids::CustomerId(uuid_of(&ada)),
    );
    let holder = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let backend = holder.get_database_backend();
    holder
        .execute_raw(Statement::from_sql_and_values(backend, "SELECT pg_advisory_lock($1)", [key.into()]))
        .await
        .unwrap();

    // Starting two seconds from now: fine when it arrives, in the past by
    // the time the lock is free.
    let start = Utc::now() + chrono::Duration::seconds(2);
    let start = Utc.timestamp_opt(start.timestamp(), 0).unwrap();
    let when = (start.to_rfc3339(), (start + chrono::Duration::hours(1)).to_rfc3339());
    let booking = {
        let body = crate::helpers::booking_json(&court, &ada, &when);
        let request = app.client.post(app.url("/v1/bookings")).bearer_auth(&app.admin).json(&body);
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!booking.is_finished(), "the booking did not wait for the customer's lock");
    holder
        .execute_raw(Statement::from_sql_and_values(backend, "SELECT pg_advisory_unlock($1)", [key.into()]))
        .await
        .unwrap();
    let reply = booking.await.unwrap();
    let status = reply.status().as_u16();
    let body: Value = reply.json().await.unwrap();
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/start_at", "{body}");
}

#[tokio::test]
async fn no_slot_ends_past_the_year_9999() {
    let app = TestApp::spawn().await;
    let room = app.create_resource("Room", 1).await;
    let path = format!(
        "/v1/resources/{}/slots?from=9999-12-31T20:00:00Z&to=9999-12-31T23:59:59Z&duration_seconds=3600",
        room["id"].as_str().unwrap()
    );
    let reply = app.get(&path).await;
    let slots = reply.assert_status(200).body["slots"].as_array().unwrap().clone();
    let ends: Vec<&str> = slots.iter().map(|s| s["end_at"].as_str().unwrap()).collect();
    assert_eq!(ends, ["9999-12-31T21:00:00Z", "9999-12-31T22:00:00Z", "9999-12-31T23:00:00Z"], "{}", reply.text);
    // Every slot listed books.
    let ada = app.create_customer("ada@example.com").await;
    let last = slots.last().unwrap();
    let when = (last["start_at"].as_str().unwrap().to_owned(), last["end_at"].as_str().unwrap().to_owned());
    app.booked(&room, &ada, &when, 1).await;
}

#[tokio::test]
async fn a_refusal_from_a_snapshot_never_adds_a_hold_that_ran_out_to_a_booking_made_after() {
    let Some(_) = std::env::var("TEST_DATABASE_URL").ok().filter(|u| u.starts_with("postgres")) else {
        println!("skipped: refusals from a snapshot are PostgreSQL's (SQLite's writers are serial)");
        return;
    };
    use sea_orm::TransactionTrait;
    let app = TestApp::spawn_with(|c| c.hold_sweep_interval_ms = 0).await;
    let hall = app.create_resource("Hall", 2).await;
    let (ada, bob, cy) = (
        app.create_customer("ada@example.com").await,
        app.create_customer("bob@example.com").await,
        app.create_customer("cy@example.com").await,
    );
    let when = slot(3, 10, 11);
    let hold = app.held(&hall, &ada, &when).await;
    let hour = berth::domain::time_range::TimeRange::new(parse(&when.0), parse(&when.1)).unwrap();
    let bucket = berth::store::locks::bucket_keys(berth::domain::ids::ResourceId(uuid_of(&hall)), &hour).unwrap();
    let other = |sql: &str| Statement::from_string(sea_orm::DatabaseBackend::Postgres, sql.to_owned());

    // The hour is taken (Cy's booking goes to a snapshot), and the summary
    // cannot be read yet (the snapshot waits after reading its clock).
    let holder = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let buckets = holder.begin().await.unwrap();
    buckets.execute_raw(other(&format!("SELECT pg_advisory_xact_lock({})", bucket[0].key))).await.unwrap();
    let later = holder.begin().await.unwrap();
    later.execute_raw(other("LOCK TABLE resource_usage IN ACCESS EXCLUSIVE MODE")).await.unwrap();
    let booking = {
        let body = crate::helpers::booking_json(&hall, &cy, &when);
        let request = app.client.post(app.url("/v1/bookings")).bearer_auth(&app.admin).json(&body);
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Meanwhile Ada's hold runs out, and Bob's booking of the same hour
    // commits: at no instant did both block.
    // Ada's hold runs out now: after the snapshot read its clock, before it
    // reads what occupies the hour.
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
    entity::booking::Entity::update_many()
        .col_expr(entity::booking::Column::HoldExpiresAt, Expr::value(Utc::now()))
        .filter(entity::booking::Column::Id.eq(uuid_of(&hold)))
        .exec(&app.db)
        .await
        .unwrap();
    let (start, end) = (parse(&when.0), parse(&when.1));
    entity::booking::Entity::insert(confirmed_row(uuid::Uuid::now_v7(), &hall, &bob, (start, end), Some(1)))
        .exec_without_returning(&later)
        .await
        .unwrap();
    let hour_number = start.timestamp() / 3_600;
    later
        .execute_raw(other(&format!(
            "UPDATE resource_usage SET units = units + 1 WHERE resource_id = '{}' AND bucket = {hour_number}",
            uuid_of(&hall)
        )))
        .await
        .unwrap();
    later.commit().await.unwrap();
    // The snapshot now sees Ada's hold (ran out) and Bob's booking: one
    // unit blocks, one is free. Then the hour is free too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    buckets.commit().await.unwrap();
    let reply = booking.await.unwrap();
    let status = reply.status().as_u16();
    assert_eq!(status, 201, "{}", reply.text().await.unwrap());
}

#[tokio::test]
async fn a_booking_the_summary_never_held_is_counted_as_it_is_once_berth_changes_it() {
    let app = TestApp::spawn().await;
    let room = app.create_resource("Room", 2).await;
    let (ada, bob) = (app.create_customer("ada@example.com").await, app.create_customer("bob@example.com").await);
    let moved = plant(&app, &room, &ada, &slot(3, 10, 11), true).await;
    let cancelled = plant(&app, &room, &bob, &slot(3, 10, 11), true).await;
    // Moved near where it was (the decision sees it in its window), then
    // another one cancelled: each counted as it is now, never twice.
    let path = format!("/v1/bookings/{moved}/reschedule");
    let (start, end) = slot(3, 10, 12);
    app.post_json(&path, &json!({"start_at": start, "end_at": end})).await.assert_status(200);
    app.assert_usage_summary_matches_bookings().await;
    app.act(&json!({"id": cancelled.to_string()}), "cancel").await.assert_status(200);
    app.assert_usage_summary_matches_bookings().await;
    // A decision beside the moved booking finds it counted: nothing to add.
    let cy = app.create_customer("cy@example.com").await;
    app.booked(&room, &cy, &slot(3, 11, 12), 1).await;
    app.assert_usage_summary_matches_bookings().await;
    assert_eq!(audit(&app, "").await["ok"], true);
}

#[tokio::test]
async fn a_summary_edited_below_its_bookings_is_rebuilt_by_the_write_it_would_refuse() {
    let app = TestApp::spawn_with(|c| c.hold_sweep_interval_ms = 0).await;
    let room = app.create_resource("Room", 2).await;
    let ada = app.create_customer("ada@example.com").await;
    let booking = app.booked(&room, &ada, &slot(3, 10, 11), 1).await;
    let hold = app.held(&room, &ada, &slot(4, 10, 11)).await;
    app.run_out_hold(&hold).await;
    let backend = app.db.get_database_backend();
    app.db.execute_raw(Statement::from_string(backend, "UPDATE resource_usage SET units = 0")).await.unwrap();
    // The cancel's guard refuses to take the hour below zero: the summary
    // is rebuilt and the cancel goes through.
    app.act(&booking, "cancel").await.assert_status(200);
    // The sweeper likewise (it would have failed every batch).
    assert_eq!(berth::service::bookings::expire_due_holds(&app.services_db()).await.unwrap(), 1);
    app.assert_usage_summary_matches_bookings().await;
    assert_eq!(audit(&app, "").await["ok"], true);
}
