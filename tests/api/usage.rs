//! The usage summary (docs/design.md §21): every change of a booking keeps
//! it equal to what the bookings take, hour by hour, and a database that
//! had bookings before it existed gets them summed in by its migration.
//! That it is only ever an upper bound the rules admit by, never a reason
//! to refuse, is what the race tests show on top (they check it too).

use migration::{Migrator, MigratorTrait};
use serde_json::{Value, json};

use crate::helpers::{TestApp, hourly_bookings_sql, on_postgres, slot};

async fn setup() -> (TestApp, Value, Value) {
    let app = TestApp::spawn_with(|c| c.hold_sweep_interval_ms = 0).await;
    let body =
        json!({"name": "Hall", "capacity": 3, "policy": {"buffer_before_seconds": 900, "buffer_after_seconds": 600}});
    let resource = app.post_json("/v1/resources", &body).await.assert_status(201).body.clone();
    let customer = app.create_customer("ada@example.com").await;
    (app, resource, customer)
}

fn at(days: i64, hour: u32, minute: u32) -> String {
    let (day, _) = slot(days, 0, 1);
    let day = chrono::DateTime::parse_from_rfc3339(&day).unwrap();
    (day + chrono::Duration::minutes(i64::from(hour * 60 + minute))).to_rfc3339()
}

#[tokio::test]
async fn the_usage_summary_follows_every_change_of_a_booking() {
    let (app, resource, ada) = setup().await;
    let bob = app.create_customer("bob@example.com").await;
    let check = || app.assert_usage_summary_matches_bookings();

    // Held and confirmed, several units, buffers reaching into the hours
    // around them.
    let hold = app.held(&resource, &ada, &(at(3, 9, 30), at(3, 10, 45))).await;
    check().await;
    let two = app.booked(&resource, &bob, &(at(3, 10, 0), at(3, 12, 0)), 2).await;
    check().await;
    // The busiest hour is full (3 of 3), yet a booking beside the others
    // fits: the rule reads the intervals when the summary leaves no room.
    let dan = app.create_customer("dan@example.com").await;
    app.booked(&resource, &dan, &(at(3, 11, 15), at(3, 11, 45)), 1).await;
    check().await;
    let eve = app.create_customer("eve@example.com").await;
    app.book(&resource, &eve, &(at(3, 10, 15), at(3, 10, 30)), 1).await.assert_problem(409, "capacity-exceeded");
    check().await;

    app.act(&hold, "confirm").await.assert_status(200);
    check().await;
    // Moved, with another quantity.
    let path = format!("/v1/bookings/{}/reschedule", two["id"].as_str().unwrap());
    let moved = json!({"start_at": at(4, 13, 0), "end_at": at(4, 16, 30), "quantity": 3});
    app.post_json(&path, &moved).await.assert_status(200);
    check().await;
    app.act(&hold, "cancel").await.assert_status(200);
    check().await;
    app.act(&two, "cancel").await.assert_status(200);
    check().await;

    // A hold that runs out counts until the sweeper marks it expired.
    let running_out = app.held(&resource, &ada, &(at(5, 8, 0), at(5, 9, 0))).await;
    app.run_out_hold(&running_out).await;
    check().await;
    assert_eq!(berth::service::bookings::expire_due_holds(&app.services_db()).await.unwrap(), 1);
    check().await;

    // A customer deleted with a hold that ran out (not marked yet) takes
    // it along, and its units.
    let carol = app.create_customer("carol@example.com").await;
    let left_behind = app.held(&resource, &carol, &(at(6, 8, 0), at(6, 10, 0))).await;
    app.run_out_hold(&left_behind).await;
    app.delete(&format!("/v1/customers/{}", carol["id"].as_str().unwrap()), Some("*")).await.assert_status(204);
    check().await;
}

#[tokio::test]
async fn bookings_made_before_the_summary_existed_are_summed_in_by_its_migration() {
    let (app, resource, ada) = setup().await;
    let other = app.create_resource("Court", 2).await;
    let bob = app.create_customer("bob@example.com").await;
    app.held(&resource, &ada, &(at(3, 9, 30), at(3, 10, 45))).await;
    app.booked(&resource, &bob, &(at(3, 10, 0), at(3, 12, 0)), 2).await;
    let cancelled = app.booked(&other, &ada, &(at(3, 10, 0), at(3, 11, 0)), 1).await;
    app.act(&cancelled, "cancel").await.assert_status(200);
    app.booked(&other, &ada, &(at(4, 23, 30), at(5, 1, 0)), 2).await;

    // Back to the schema before the summary (and the counted versions that
    // came after it), and forward again.
    let names: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
    let summary =
        names.iter().position(|name| name == "m20261205_000007_usage_summary").expect("the summary's migration");
    let since = u32::try_from(names.len() - summary).unwrap();
    // On one connection of its own, as `berth migrate` would: every
    // statement of a migration (and the migrator's own pragmas) on the
    // connection that holds its transaction.
    let mut options = sea_orm::ConnectOptions::new(app.database_url.clone());
    options.max_connections(1).sqlx_logging(false);
    let one = sea_orm::Database::connect(options).await.expect("a connection of its own");
    Migrator::down(&one, Some(since)).await.expect("the summary's migration reverts, and every one after it");
    Migrator::up(&one, None).await.expect("and runs again");
    one.close().await.expect("closed");
    app.assert_usage_summary_matches_bookings().await;
    use sea_orm::{EntityTrait, PaginatorTrait};
    // Hours 9, 10, 11 and 12 of the hall (with its buffers), 23 and 0 of
    // the court.
    assert_eq!(entity::resource_usage::Entity::find().count(&app.db).await.unwrap(), 4 + 2);
}

/// On PostgreSQL, the probe for bookings the summary may not hold (§22),
/// asked by every page load's stamps read and every write's summary read,
/// reads its partial index (empty in normal operation) and nothing else
/// of the bookings, even as a generic plan runs it (berth's statements
/// are prepared; docs/design.md §38): with most bookings on one resource
/// (an `EXISTS` read the whole table), and with many resources (it read
/// every booking of the window through the occupancy index).
#[tokio::test]
async fn the_probe_for_bookings_the_summary_does_not_hold_reads_only_its_index() {
    use berth::{
        domain::{ids::ResourceId, time_range::TimeRange},
        store::usage,
    };
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};

    if !on_postgres() {
        println!("skipped: needs TEST_DATABASE_URL on PostgreSQL");
        return;
    }
    let (app, resource, ada) = setup().await;
    let id = |value: &Value| value["id"].as_str().unwrap().to_owned();
    let (resource, ada) = (id(&resource), id(&ada));
    let first = at(1, 0, 0);
    let insert = |which: &str, count: i64, counted: bool| hourly_bookings_sql(which, &ada, &first, count, counted);
    let session = app.db.begin().await.unwrap();
    session.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan").await.unwrap();
    // Index scans of each of booking's indexes, and sequential scans of it.
    let scans = || {
        let session = &session;
        async move {
            let rows = session
                .query_all_raw(Statement::from_string(
                    DatabaseBackend::Postgres,
                    "SELECT indexrelid::regclass::text AS name, pg_stat_get_xact_numscans(indexrelid) AS scans \
                     FROM pg_index WHERE indrelid = 'booking'::regclass \
                     UNION ALL SELECT 'booking', pg_stat_get_xact_numscans('booking'::regclass)"
                        .to_owned(),
                ))
                .await
                .unwrap();
            rows.iter()
                .map(|row| (row.try_get::<String>("", "name").unwrap(), row.try_get::<i64>("", "scans").unwrap()))
                .collect::<std::collections::BTreeMap<_, _>>()
        }
    };
    let resource_id = ResourceId(resource.parse().unwrap());
    let start: chrono::DateTime<chrono::Utc> = first.parse().unwrap();
    let week = TimeRange::new(start, start + chrono::Duration::days(7)).unwrap();
    let hour = TimeRange::new(start + chrono::Duration::hours(30), start + chrono::Duration::hours(31)).unwrap();
    // The stamps read of a week and the summary read of an hour: what they
    // scanned besides the partial index (nothing), and how often it.
    let probe = || {
        let session = &session;
        async move {
            let before = scans().await;
            let (stamps, uncounted) = usage::stamps(session, resource_id, &week).await.unwrap();
            assert_eq!((stamps.len(), uncounted), (0, false), "no summary rows were written; every booking counts");
            assert!(!usage::read(session, resource_id, &hour).await.unwrap().uncounted);
            // By index name (a BTreeMap's order), those scanned.
            scans()
                .await
                .into_iter()
                .map(|(name, scans)| (name.clone(), scans - before.get(&name).copied().unwrap_or(0)))
                .filter(|(_, delta)| *delta != 0)
                .collect::<Vec<_>>()
        }
    };
    let only_the_partial_index = vec![("booking_uncounted".to_owned(), 2)];

    // 2,000 bookings on this resource and no other.
    session.execute_unprepared(&insert(&format!("= '{resource}'"), 2_000, true)).await.unwrap();
    session.execute_unprepared("ANALYZE booking").await.unwrap();
    assert_eq!(probe().await, only_the_partial_index, "one resource's bookings");

    // And five each on 1,000 other resources.
    session
        .execute_unprepared(&format!(
            "INSERT INTO resource SELECT (jsonb_populate_record(r, jsonb_build_object('id', gen_random_uuid(), \
             'name_key', gen_random_uuid()::text))).* FROM resource r, generate_series(1, 1000) \
             WHERE r.id = '{resource}'"
        ))
        .await
        .unwrap();
    session.execute_unprepared(&insert(&format!("<> '{resource}'"), 5, true)).await.unwrap();
    session.execute_unprepared("ANALYZE booking").await.unwrap();
    assert_eq!(probe().await, only_the_partial_index, "many resources' bookings");

    // The answer: one booking the summary does not hold, in the week.
    session.execute_unprepared(&insert(&format!("= '{resource}'"), 1, false)).await.unwrap();
    assert!(usage::stamps(&session, resource_id, &week).await.unwrap().1);
    let its_hour = TimeRange::new(start, start + chrono::Duration::hours(1)).unwrap();
    assert!(usage::read(&session, resource_id, &its_hour).await.unwrap().uncounted);
    assert!(!usage::read(&session, resource_id, &hour).await.unwrap().uncounted, "it is not near this hour");
    session.rollback().await.unwrap();
}
