//! The duplicate rule on a customer with many bookings of one resource:
//! the right answers, and on PostgreSQL a few probes of the B-tree rather
//! than a walk of it (docs/design.md §36), in the full decision's form and
//! in the one-trip statement's, also on a plan made while the table was
//! empty (§41); and a hold that ran out next to the booking that replaced
//! it, judged at a clock before it ran out.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, TransactionTrait,
    sea_query::{PostgresQueryBuilder, SelectStatement},
};
use serde_json::json;

use crate::{
    helpers::{TestApp, hourly_bookings_sql, on_postgres, slot, uuid_of},
    policies::{app_at, resource},
};
use berth::{
    domain::{
        ids::{CustomerId, ResourceId},
        time_range::TimeRange,
    },
    store::bookings::OwnActive,
};

/// 2,000 bookings of half an hour, one every hour from `first`, written as
/// rows (the summary does not hold them: the rules read their intervals).
const MANY: i64 = 2_000;

/// What the duplicate rule reads about `customer`'s bookings of
/// `resource` (the longest booking 31 days, judged now).
fn own_of(resource: &serde_json::Value, customer: &serde_json::Value) -> OwnActive {
    OwnActive {
        customer: CustomerId(uuid_of(customer)),
        resource: ResourceId(uuid_of(resource)),
        max_duration_seconds: 31 * 86_400,
        now: Utc::now(),
        exclude: None,
        holds_at_read: false,
    }
}

/// `query` as a statement to run on PostgreSQL.
fn on_postgres_statement(query: &SelectStatement) -> sea_orm::Statement {
    let (sql, values) = query.build(PostgresQueryBuilder);
    sea_orm::Statement::from_sql_and_values(sea_orm::DatabaseBackend::Postgres, sql, values)
}

/// Index entries of bookings returned and index scans in this transaction
/// so far, over the indexes whose names match `index` (a `LIKE` pattern).
async fn index_reads(session: &DatabaseTransaction, index: &str) -> (i64, i64) {
    let row = session
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            format!(
                "SELECT coalesce(sum(pg_stat_get_xact_tuples_returned(indexrelid)), 0)::bigint AS read, \
                 coalesce(sum(pg_stat_get_xact_numscans(indexrelid)), 0)::bigint AS scans FROM pg_index \
                 WHERE indrelid = 'booking'::regclass AND indexrelid::regclass::text LIKE '{index}'"
            ),
        ))
        .await
        .unwrap()
        .expect("a row");
    (row.try_get::<i64>("", "read").unwrap(), row.try_get::<i64>("", "scans").unwrap())
}

#[tokio::test]
async fn a_customer_with_many_bookings_is_checked_by_a_few_index_probes() {
    if !on_postgres() {
        println!("skipped: needs TEST_DATABASE_URL on PostgreSQL");
        return;
    }
    let app = TestApp::spawn().await;
    let resource = app.create_resource("Room", 5).await;
    let customer = app.create_customer("house@example.com").await;
    let first: DateTime<Utc> = DateTime::parse_from_rfc3339(&slot(2, 0, 1).0).unwrap().with_timezone(&Utc);
    let at = |hour: i64, minutes: i64| first + Duration::hours(hour) + Duration::minutes(minutes);
    let (resource_id, customer_id) = (uuid_of(&resource), uuid_of(&customer));
    let rows =
        hourly_bookings_sql(&format!("= '{resource_id}'"), &customer_id.to_string(), &first.to_rfc3339(), MANY, false);
    app.db.execute_unprepared(&rows).await.unwrap();
    app.db.execute_unprepared("ANALYZE booking").await.unwrap();

    // The answers: a time overlapping the 1,500th booking is a duplicate of
    // it, whether it starts inside it or before it; the half hour after it
    // is free; a time overlapping two names the first.
    let when = |from: DateTime<Utc>, to: DateTime<Utc>| (from.to_rfc3339(), to.to_rfc3339());
    let duplicate_of = |from: DateTime<Utc>, to: DateTime<Utc>| {
        let app = &app;
        let (resource, customer) = (&resource, &customer);
        async move {
            let refused = app.book(resource, customer, &when(from, to), 1).await;
            let existing = refused.assert_problem(409, "duplicate-booking")["existing_booking_id"].clone();
            let found = app.get(&format!("/v1/bookings/{}", existing.as_str().unwrap())).await;
            found.body["start_at"].as_str().map(|s| s.parse::<DateTime<Utc>>().unwrap())
        }
    };
    assert_eq!(duplicate_of(at(1_499, 15), at(1_499, 45)).await, Some(at(1_499, 0)));
    assert_eq!(duplicate_of(at(1_498, 45), at(1_499, 15)).await, Some(at(1_499, 0)));
    assert_eq!(duplicate_of(at(10, 29), at(11, 1)).await, Some(at(10, 0)));
    app.booked(&resource, &customer, &when(at(1_499, 30), at(1_500, 0)), 1).await;

    // What it reads, as a generic plan runs it (berth's statements are
    // prepared; `berth_own_first`'s query is planned once per connection):
    // a few index entries, not the ~744 bookings that started within the
    // longest booking (31 days) before it.
    let own = own_of(&resource, &customer);
    let range = TimeRange::new(at(1_200, 40), at(1_200, 50)).unwrap();
    // The full decision's query (`berth_own_first`, which names the
    // booking) and the one-trip statement's (`EXISTS`, yes or no).
    let overlapping = on_postgres_statement(&own.overlapping_statement(&range));
    let exists = on_postgres_statement(&own.overlap_exists_statement(&range));
    for (name, statement) in [("berth_own_first", overlapping), ("EXISTS", exists)] {
        let session = app.db.begin().await.unwrap();
        session.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan").await.unwrap();
        assert!(session.query_all_raw(statement.clone()).await.unwrap().is_empty(), "{name}: nothing overlaps");
        let (before, lapsing_before) =
            (index_reads(&session, "%").await, index_reads(&session, "booking_customer_lapsing").await);
        assert!(session.query_all_raw(statement).await.unwrap().is_empty(), "{name}: nothing overlaps");
        let (after, lapsing_after) =
            (index_reads(&session, "%").await, index_reads(&session, "booking_customer_lapsing").await);
        session.rollback().await.unwrap();
        let entries = after.0 - before.0;
        assert!(entries <= 4, "{name}: {entries} index entries of bookings read");
        // `berth_own_first` probes the steady bookings twice (it names the
        // first), the one-trip check once (it asks whether, §42).
        let probes = if name == "EXISTS" { 2 } else { 3 };
        assert!(after.1 - before.1 <= probes, "{name}: {} index scans", after.1 - before.1);
        assert_eq!(lapsing_after.1 - lapsing_before.1, 1, "{name}: the holds' partial index is searched once");
    }
    // And the yes: a time overlapping a booking's end (the last one that
    // started before it), and a time a booking starts inside.
    for range in [TimeRange::new(at(1_200, 20), at(1_200, 40)), TimeRange::new(at(1_200, 50), at(1_201, 10))] {
        let statement = on_postgres_statement(&own.overlap_exists_statement(&range.unwrap()));
        assert_eq!(app.db.query_all_raw(statement).await.unwrap().len(), 1, "one overlaps");
    }
}

#[tokio::test]
async fn the_one_trip_check_planned_on_an_empty_table_still_probes_once_it_is_full() {
    // berth's statements are prepared and the one-trip statement's plan is
    // kept per connection (docs/design.md §39, §41): a plan made while the
    // table was empty or small must still probe once the customer has
    // thousands of bookings of the resource.
    if !on_postgres() {
        println!("skipped: needs TEST_DATABASE_URL on PostgreSQL");
        return;
    }
    let app = TestApp::spawn().await;
    let resource = app.create_resource("Room", 5).await;
    let customer = app.create_customer("house@example.com").await;
    let first: DateTime<Utc> = DateTime::parse_from_rfc3339(&slot(2, 0, 1).0).unwrap().with_timezone(&Utc);
    let at = |hour: i64, minutes: i64| first + Duration::hours(hour) + Duration::minutes(minutes);
    let own = own_of(&resource, &customer);
    let exists = |range: TimeRange| on_postgres_statement(&own.overlap_exists_statement(&range));
    let free = TimeRange::new(at(1_200, 40), at(1_200, 50)).unwrap();
    let session = app.db.begin().await.unwrap();
    session.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan").await.unwrap();
    assert!(session.query_all_raw(exists(free)).await.unwrap().is_empty(), "planned on an empty table");
    let rows = hourly_bookings_sql(
        &format!("= '{}'", uuid_of(&resource)),
        &uuid_of(&customer).to_string(),
        &first.to_rfc3339(),
        MANY,
        false,
    );
    session.execute_unprepared(&rows).await.unwrap();
    let before = index_reads(&session, "%").await;
    assert!(session.query_all_raw(exists(free)).await.unwrap().is_empty(), "nothing overlaps");
    let after = index_reads(&session, "%").await;
    let inside = TimeRange::new(at(1_200, 50), at(1_201, 10)).unwrap();
    assert_eq!(session.query_all_raw(exists(inside)).await.unwrap().len(), 1, "one starts inside");
    session.rollback().await.unwrap();
    let entries = after.0 - before.0;
    assert!(entries <= 4, "{entries} index entries of bookings read by the plan made on an empty table");
}

#[tokio::test]
async fn a_hold_that_ran_out_next_to_the_booking_that_replaced_it_counts_at_a_clock_before() {
    // A decision may judge at a `now` a little behind the database's (the
    // one-round-trip statement's, §30) and see a hold that ran out next to
    // the booking made after it: the two overlap. Steady bookings never
    // do, so the rule must read holds whole, not by the next one before.
    let (app, clock) = app_at("2027-01-04T08:00:00Z").await;
    let room = resource(&app, json!({"capacity": 5})).await;
    let ada = app.create_customer("ada@example.com").await;
    let when = |from: &str, to: &str| (format!("2027-01-05T{from}:00Z"), format!("2027-01-05T{to}:00Z"));
    let hold = app.held(&room, &ada, &when("10:00", "12:00")).await;
    let ran_out: DateTime<Utc> = hold["hold_expires_at"].as_str().unwrap().parse().unwrap();
    clock.set(ran_out);
    app.booked(&room, &ada, &when("11:00", "11:30"), 1).await;

    clock.set(ran_out - Duration::microseconds(1));
    let refused = app.book(&room, &ada, &when("11:45", "12:30"), 1).await;
    assert_eq!(refused.assert_problem(409, "duplicate-booking")["existing_booking_id"], hold["id"]);
    clock.set(ran_out);
    app.booked(&room, &ada, &when("11:45", "12:30"), 1).await;
}
