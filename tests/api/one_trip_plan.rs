//! The one-round-trip statement (docs/design.md §30, §39) as the gatherers
//! run it: on a generic plan, planned once per connection without its
//! values. On a resource with thousands of bookings beside resources with
//! few, a booking that the summary cannot prove room for (its hour's row
//! is full) reads, through the indexes, the bookings near it (twice:
//! before and after its locks, `berth_near`), the customer's own near it
//! and the partial index of bookings the summary does not hold; never the
//! whole table, the whole resource or all the customer's bookings.

use berth::{
    domain::{
        ids::{BookingId, CustomerId, ResourceId},
        time_range::TimeRange,
    },
    store::{
        bookings::{self, OwnActive},
        locks,
        one_trip::{self, Ran, Statements, Trip},
        resources, usage,
    },
};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, sqlx};

use crate::helpers::{TestApp, hourly_bookings_sql, on_postgres, slot, uuid_of};

/// Half-hour bookings of the busy resource, one an hour.
const BUSY: i64 = 5_000;

/// Runs `sql` on `conn` and answers its one row's first column.
async fn one_number(conn: &mut sqlx::PgConnection, sql: &str) -> i64 {
    use sqlx::Row;
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(conn).await.expect("a row");
    row.try_get(0).expect("a number")
}

#[tokio::test]
async fn the_one_trip_statement_on_a_generic_plan_reads_only_the_bookings_near() {
    if !on_postgres() {
        println!("skipped: needs TEST_DATABASE_URL on PostgreSQL");
        return;
    }
    let app = TestApp::spawn().await;
    let court = app.create_resource("Court", 1).await;
    for room in 0..3 {
        app.create_resource(&format!("Room {room}"), 1).await;
    }
    let ada = app.create_customer("ada@example.com").await;
    let first: DateTime<Utc> = DateTime::parse_from_rfc3339(&slot(2, 0, 1).0).unwrap().with_timezone(&Utc);
    let (court_id, ada_id) = (ResourceId(uuid_of(&court)), CustomerId(uuid_of(&ada)));
    // Ada's bookings: 5,000 on the court, 20 on each room; the summary
    // holds them all, one unit in each hour, so every hour is full.
    for (which, count) in [(format!("= '{court_id}'"), BUSY), (format!("<> '{court_id}'"), 20)] {
        let rows = hourly_bookings_sql(&which, &ada_id.to_string(), &first.to_rfc3339(), count, true);
        app.db.execute_unprepared(&rows).await.unwrap();
    }
    app.db
        .execute_unprepared(
            "INSERT INTO resource_usage (resource_id, bucket, units, stamp) \
             SELECT resource_id, floor(extract(epoch FROM occupied_start_at) / 3600)::bigint, sum(quantity), 0 \
             FROM booking GROUP BY 1, 2",
        )
        .await
        .unwrap();
    app.db.execute_unprepared("ANALYZE").await.unwrap();

    // Ada books the free second half of the court's 2,500th hour.
    let resource = resources::find(&app.db, court_id).await.unwrap().expect("the court");
    let start = first + Duration::hours(2_500) + Duration::minutes(30);
    let range = TimeRange::new(start, start + Duration::minutes(30)).unwrap();
    let now = Utc::now();
    let max_duration = resource.max_booking_duration_seconds;
    let own = OwnActive {
        customer: ada_id,
        resource: court_id,
        max_duration_seconds: max_duration,
        now,
        exclude: None,
        holds_at_read: false,
    };
    let reach_from = bookings::reach_from(range.start(), max_duration);
    let trip = Trip {
        booking: BookingId::generate(),
        resource: court_id,
        version: resource.version,
        capacity: 1,
        customer: ada_id,
        quantity: 1,
        occupied: range,
        reach_from,
        bucket_keys: locks::bucket_keys(court_id, &range).expect("one hour"),
        own: own.overlap_exists(&range),
        uncounted: usage::uncounted_query(court_id, &range),
        now,
        latest: None,
        inserts: Vec::new(),
        key_record: None,
    };

    let mut conn = app.db.get_postgres_connection_pool().acquire().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe("BEGIN; SET LOCAL plan_cache_mode = force_generic_plan"))
        .execute(&mut *conn)
        .await
        .unwrap();
    // Index blocks fetched (the entries a scan passes over, not only those
    // it returns), and sequential scans.
    let read = "SELECT coalesce(sum(pg_stat_get_xact_blocks_fetched(indexrelid)), 0)::bigint \
                FROM pg_index WHERE indrelid = 'booking'::regclass";
    let full_scans = "SELECT (pg_stat_get_xact_numscans('booking'::regclass) \
                      + pg_stat_get_xact_numscans('resource_usage'::regclass))::bigint";
    let part = trip.part();
    // Planned on the first run (the planner reads index metapages);
    // measured on the second, decided the same way (the part inserts no
    // booking; its units go on the summary twice, rolled back).
    let mut statements = Statements::default();
    let first_ran = one_trip::run(&mut conn, &mut statements, &[&part]).await.unwrap();
    let (read_before, scans_before) = (one_number(&mut conn, read).await, one_number(&mut conn, full_scans).await);
    let ran = one_trip::run(&mut conn, &mut statements, &[&part]).await.unwrap();
    let (read_after, scans_after) = (one_number(&mut conn, read).await, one_number(&mut conn, full_scans).await);
    // The index the capacity reads take, most of it the court's bookings.
    let court_pages =
        one_number(&mut conn, "SELECT (pg_relation_size('booking_resource_occupancy') / 8192)::bigint").await;
    sqlx::raw_sql(sqlx::AssertSqlSafe("ROLLBACK")).execute(&mut *conn).await.unwrap();

    assert!(matches!(first_ran, Ran::Written(_)), "the intervals prove room where the summary cannot: {first_ran:?}");
    assert!(matches!(ran, Ran::Written(_)), "and again: {ran:?}");
    assert_eq!(scans_after - scans_before, 0, "no sequential scan of the bookings or the summary");
    // `berth_near` reads the index entries of the court's bookings that
    // started within its longest booking (and two buffers) before it (~800
    // entries, a few pages), once before its locks and once after; the own
    // bookings' read and the uncounted bookings' partial index a page or
    // two each. A plan that read the court's whole range even once would
    // fetch most of the index.
    let blocks = read_after - read_before;
    assert!(blocks < court_pages, "{blocks} index blocks fetched; the capacity index has {court_pages}");
}
