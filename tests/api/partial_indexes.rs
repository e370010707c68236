//! The partial indexes of migration `m20261218_000020` (docs/design.md
//! §41) are the ones the store's queries take, on generic plans too: a
//! query whose conditions do not imply an index's predicate whatever its
//! values are cannot use that index once PostgreSQL plans it without
//! values, and would fall back to reading the whole table.
//!
//! Each query runs as the store writes it, on one connection under
//! `force_generic_plan`, inside a transaction that also wrote the rows it
//! finds (so the server's own sweeper and sequencer never see them), and
//! the transaction's own scan counts tell which indexes it used.

use berth::{
    domain::ids::{BundleId, ResourceId},
    store::{bookings, outbox},
};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseTransaction, TransactionTrait};

use crate::helpers::{TestApp, hourly_bookings_sql, on_postgres, slot, uuid_of};

/// Sequenced outbox rows, one a second ending ten days ago.
const SEQUENCED: i64 = 5_000;

/// Scans of `relation` (a table or an index) in this transaction so far.
async fn scans(txn: &DatabaseTransaction, relation: &str) -> i64 {
    let sql = format!("SELECT pg_stat_get_xact_numscans('{relation}'::regclass)::bigint AS n");
    let row = txn.query_one_raw(sea_orm::Statement::from_string(txn.get_database_backend(), sql)).await.unwrap();
    row.expect("a row").try_get("", "n").expect("a count")
}

/// Runs `query` and answers which of `indexes` it scanned, and whether it
/// read a table whole.
async fn scanned<T>(
    txn: &DatabaseTransaction,
    indexes: &[&str],
    query: impl AsyncFnOnce(&DatabaseTransaction) -> T,
) -> (T, Vec<String>, bool) {
    let tables = async |txn| scans(txn, "booking").await + scans(txn, "outbox_event").await;
    let index_scans = async |txn| {
        let mut counts = Vec::new();
        for index in indexes {
            counts.push(scans(txn, index).await);
        }
        counts
    };
    let (tables_before, before) = (tables(txn).await, index_scans(txn).await);
    let answer = query(txn).await;
    let (tables_after, after) = (tables(txn).await, index_scans(txn).await);
    let used = indexes.iter().zip(before.iter().zip(&after)).filter(|(_, (b, a))| a > b).map(|(i, _)| i.to_string());
    // A table's own count is its sequential scans: index scans count on the index.
    (answer, used.collect(), tables_after > tables_before)
}

#[tokio::test]
async fn the_queries_of_holds_bundles_and_the_outbox_take_their_partial_indexes_on_generic_plans() {
    if !on_postgres() {
        println!("skipped: needs TEST_DATABASE_URL on PostgreSQL");
        return;
    }
    let app = TestApp::spawn().await;
    let court = app.create_resource("Court", 1).await;
    let ada = app.create_customer("ada@example.com").await;
    let court_id = ResourceId(uuid_of(&court));
    // The server's own events (the court's, Ada's) sequenced first.
    while outbox::any_unnumbered(&app.db).await.unwrap() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let base = outbox::latest_position(&app.db).await.unwrap();
    let one =
        Database::connect(ConnectOptions::new(app.database_url.clone()).max_connections(1).to_owned()).await.unwrap();
    let txn = one.begin().await.unwrap();
    // 5,000 confirmed bookings; ten of them holds that ran out, three a
    // bundle's; 5,000 sequenced outbox rows of the court and seven still
    // without a position.
    let first = slot(2, 0, 1).0;
    let bundle = BundleId(uuid::Uuid::now_v7());
    for sql in [
        "SET LOCAL plan_cache_mode = force_generic_plan".to_owned(),
        hourly_bookings_sql(&format!("= '{court_id}'"), &uuid_of(&ada).to_string(), &first, 5_000, true),
        "UPDATE booking SET status = 'held', hold_expires_at = now() - interval '1 minute' \
         WHERE id IN (SELECT id FROM booking ORDER BY start_at LIMIT 10)"
            .to_owned(),
        format!(
            "UPDATE booking SET bundle_id = '{}', bundle_item = 0 \
             WHERE id IN (SELECT id FROM booking ORDER BY start_at DESC LIMIT 3)",
            bundle.0
        ),
        format!(
            "INSERT INTO outbox_event (position, type, subject_id, occurred_at, data, resource_id) \
             SELECT {base} + n, 'booking.created', \
             gen_random_uuid(), now() - interval '10 days' - make_interval(secs => {SEQUENCED} - n), '{{}}', \
             '{court_id}' FROM generate_series(1, {SEQUENCED}) AS n"
        ),
        format!(
            "INSERT INTO outbox_event (type, subject_id, occurred_at, data, resource_id) \
             SELECT 'booking.created', gen_random_uuid(), now(), '{{}}', '{court_id}' FROM generate_series(1, 7)"
        ),
        "ANALYZE booking, outbox_event".to_owned(),
    ] {
        txn.execute_unprepared(&sql).await.unwrap();
    }
    // The transaction's `now()`, which the rows were written by.
    let now: DateTime<Utc> = txn
        .query_one_raw(sea_orm::Statement::from_string(txn.get_database_backend(), "SELECT now() AS now"))
        .await
        .unwrap()
        .expect("a row")
        .try_get("", "now")
        .unwrap();

    let (due, used, whole) =
        scanned(&txn, &["booking_hold_expires"], async |txn| bookings::lock_due_holds(txn, now, 100).await).await;
    assert_eq!((due.unwrap().len(), used, whole), (10, vec!["booking_hold_expires".into()], false), "the sweeper");

    let (members, used, whole) =
        scanned(&txn, &["booking_bundle_members"], async |txn| bookings::in_bundle(txn, bundle).await).await;
    assert_eq!((members.unwrap().len(), used, whole), (3, vec!["booking_bundle_members".into()], false), "a bundle");

    let (waiting, used, whole) =
        scanned(&txn, &["outbox_event_unnumbered"], async |txn| outbox::any_unnumbered(txn).await).await;
    assert_eq!(
        (waiting.unwrap(), used, whole),
        (true, vec!["outbox_event_unnumbered".into()], false),
        "any unnumbered"
    );

    let indexes = ["outbox_event_unnumbered", "outbox_event_sequenced"];
    let (numbered, used, whole) = scanned(&txn, &indexes, async |txn| outbox::sequence(txn, 100).await).await;
    assert_eq!((numbered.unwrap(), used, whole), (7, indexes.map(String::from).to_vec(), false), "the sequencer");

    // By the resource's changes, or along the positions after the cursor
    // (here only seven): the planner's choice; never the whole table.
    let indexes =
        ["outbox_event_resource_sequenced", "outbox_event_previous_resource_sequenced", "outbox_event_sequenced"];
    let (changes, used, whole) =
        scanned(&txn, &indexes, async |txn| outbox::resource_changes(txn, court_id.0, base + SEQUENCED, 100).await)
            .await;
    assert_eq!(changes.unwrap().len(), 7, "the court's changes after the sequenced ones");
    assert!(!whole && !used.is_empty(), "a resource's changes: {used:?}, whole table: {whole}");

    let (rows, used, whole) = scanned(&txn, &["outbox_event_sequenced"], async |txn| {
        outbox::list(txn, base + SEQUENCED - 10, 100, &[]).await
    })
    .await;
    assert_eq!((rows.unwrap().len(), used, whole), (17, vec!["outbox_event_sequenced".into()], false), "the feed");

    let before = now - Duration::days(10) - Duration::seconds(SEQUENCED - 20);
    let (forgotten, used, whole) =
        scanned(&txn, &["outbox_event_occurred_sequenced"], async |txn| outbox::forget(txn, before, 1_000).await).await;
    assert_eq!(
        (forgotten.unwrap(), used, whole),
        (19, vec!["outbox_event_occurred_sequenced".into()], false),
        "the retention"
    );
    txn.rollback().await.unwrap();
}
