//! The sequencer's update of an outbox row stays on the row's page
//! (migration `m20261219_000021`, docs/design.md §43): only then does
//! PostgreSQL log the bytes that changed instead of the whole row again.

use berth::store::outbox;
use chrono::Utc;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseTransaction, Statement, TransactionTrait};

use crate::helpers::{TestApp, on_postgres};

/// Events written, each the size of a booking's (its JSON ~700 bytes).
const EVENTS: usize = 40;

/// Each event of `subject`'s page in the table and its position, by id.
async fn pages(txn: &DatabaseTransaction, subject: uuid::Uuid) -> Vec<(i64, i64, Option<i64>)> {
    let sql = format!(
        "SELECT id, (ctid::text::point)[0]::bigint AS page, position FROM outbox_event \
         WHERE subject_id = '{subject}' ORDER BY id"
    );
    let rows = txn.query_all_raw(Statement::from_string(txn.get_database_backend(), sql)).await.unwrap();
    rows.iter()
        .map(|row| {
            (row.try_get("", "id").unwrap(), row.try_get("", "page").unwrap(), row.try_get("", "position").unwrap())
        })
        .collect()
}

#[tokio::test]
async fn the_sequencer_gives_positions_without_moving_rows_off_their_pages() {
    if !on_postgres() {
        println!("skipped: needs TEST_DATABASE_URL on PostgreSQL");
        return;
    }
    let app = TestApp::spawn().await;
    let one =
        Database::connect(ConnectOptions::new(app.database_url.clone()).max_connections(1).to_owned()).await.unwrap();
    // Written and numbered in one transaction: the server's own sequencer
    // never sees these rows.
    let txn = one.begin().await.unwrap();
    let subject = uuid::Uuid::now_v7();
    for n in 0..EVENTS {
        let data = format!("{{\"n\":{n},\"padding\":\"{}\"}}", "x".repeat(680));
        outbox::append(&txn, "booking.created", subject, Utc::now(), data, None).await.unwrap();
    }
    let inserted = pages(&txn, subject).await;
    assert_eq!(inserted.len(), EVENTS);
    assert!(inserted.iter().all(|(_, _, position)| position.is_none()));
    // Half-filled pages: about four such rows each (a full page holds nine).
    let used: std::collections::BTreeSet<i64> = inserted.iter().map(|(_, page, _)| *page).collect();
    assert!(used.len() >= EVENTS / 5, "{} rows on {} pages", EVENTS, used.len());

    let numbered = outbox::sequence(&txn, 1_000).await.unwrap();
    assert!(numbered >= EVENTS as u64);
    let after = pages(&txn, subject).await;
    for ((id, page, _), (id_after, page_after, position)) in inserted.iter().zip(&after) {
        assert_eq!(id, id_after);
        assert!(position.is_some(), "row {id} numbered");
        assert_eq!(page, page_after, "row {id}'s new version stays on page {page}");
    }
    txn.rollback().await.unwrap();
}
