//! The duplicate rule on a customer with many bookings of one resource:
//! the right answers, and on PostgreSQL the search of the GiST index of
//! booked time rather than a walk of the B-tree (docs/design.md §34).

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, TransactionTrait, sea_query::PostgresQueryBuilder};
use serde_json::Value;

use crate::helpers::{TestApp, slot};
use berth::{
    domain::{
        ids::{CustomerId, ResourceId},
        time_range::TimeRange,
    },
    store::bookings::OwnActive,
};

fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty())
}

fn id(value: &Value) -> uuid::Uuid {
    value["id"].as_str().and_then(|id| id.parse().ok()).expect("an id")
}

/// 2,000 bookings of half an hour, one every hour from `first`, written as
/// rows (the summary does not hold them: the rules read their intervals).
const MANY: i64 = 2_000;

#[tokio::test]
async fn a_customer_with_many_bookings_is_checked_by_one_index_search() {
    if !on_postgres() {
        println!("skipped: needs TEST_DATABASE_URL on PostgreSQL");
        return;
    }
    let app = TestApp::spawn().await;
    let resource = app.create_resource("Room", 5).await;
    let customer = app.create_customer("house@example.com").await;
    let first: DateTime<Utc> = DateTime::parse_from_rfc3339(&slot(2, 0, 1).0).unwrap().with_timezone(&Utc);
    let at = |hour: i64, minutes: i64| first + Duration::hours(hour) + Duration::minutes(minutes);
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO booking (id, resource_id, customer_id, start_at, end_at, quantity, status, \
             buffer_before_seconds, buffer_after_seconds, occupied_start_at, occupied_end_at, version, \
             created_at, updated_at) \
             SELECT gen_random_uuid(), '{r}', '{c}', s, s + interval '30 minutes', 1, 'confirmed', 0, 0, \
             s, s + interval '30 minutes', 1, now(), now() \
             FROM generate_series(timestamptz '{f}', timestamptz '{f}' + interval '{n} hours', interval '1 hour') AS s",
            r = id(&resource),
            c = id(&customer),
            f = first.to_rfc3339(),
            n = MANY - 1,
        ))
        .await
        .unwrap();
    app.db.execute_unprepared("ANALYZE booking").await.unwrap();

    // The answers: a time overlapping the 1,500th booking is a duplicate of
    // it; the half hour after it is free.
    let when = |from: DateTime<Utc>, to: DateTime<Utc>| (from.to_rfc3339(), to.to_rfc3339());
    let overlapping = app.book(&resource, &customer, &when(at(1_499, 15), at(1_499, 45)), 1).await;
    let existing = overlapping.assert_problem(409, "duplicate-booking")["existing_booking_id"].clone();
    let found = app.get(&format!("/v1/bookings/{}", existing.as_str().unwrap())).await;
    assert_eq!(found.body["start_at"].as_str().map(|s| s.parse::<DateTime<Utc>>().unwrap()), Some(at(1_499, 0)));
    app.booked(&resource, &customer, &when(at(1_499, 30), at(1_500, 0)), 1).await;
    app.book(&resource, &customer, &when(at(10, 29), at(11, 1)), 1).await.assert_problem(409, "duplicate-booking");

    // The plan, as a prepared statement's generic plan (berth's statements
    // are prepared): the GiST index, not the B-tree walked in start order.
    let own = OwnActive {
        customer: CustomerId(id(&customer)),
        resource: ResourceId(id(&resource)),
        max_duration_seconds: 31 * 86_400,
        now: Utc::now(),
        exclude: None,
        holds_at_read: false,
    };
    let range = TimeRange::new(at(1_200, 40), at(1_200, 50)).unwrap();
    let (sql, values) = own.overlapping_statement(&range).build(PostgresQueryBuilder);
    let literals: Vec<String> = values
        .0
        .iter()
        .map(|value| sea_orm::sea_query::QueryBuilder::value_to_string(&PostgresQueryBuilder, value))
        .collect();
    let session = app.db.begin().await.unwrap();
    session.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan").await.unwrap();
    session.execute_unprepared(&format!("PREPARE own_overlapping AS {sql}")).await.unwrap();
    let explained = session
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            format!("EXPLAIN EXECUTE own_overlapping({})", literals.join(", ")),
        ))
        .await
        .unwrap();
    let plan: Vec<String> = explained.iter().map(|row| row.try_get_by_index::<String>(0).unwrap()).collect();
    let plan = plan.join("\n");
    session.rollback().await.unwrap();
    assert!(plan.contains("booking_customer_time"), "the GiST index is searched:\n{plan}");
    assert!(!plan.contains("booking_customer_resource_start"), "the B-tree is not walked:\n{plan}");
}
