//! Scenario `search`: search across resources (docs/design.md §27) at the
//! size of the issue. 1,000 resources, 50 of them indoor clay courts (the
//! filter `attr.surface=clay&attr.indoor=true`; the others differ in one
//! of the two or have neither), and a week with 20,000 one-hour bookings
//! spread over all of them (20 each, at distinct hours, seeded straight
//! into the database with their history and usage-summary hours).
//!
//! Timed: `GET /v1/search/slots` for the filter over one day and over the
//! week (one-hour slots; every matching resource is judged, 50 × 24 or
//! 50 × 168 candidates, to order them by earliest slot), 4 clients, p50
//! and p99. Counted: the SQL statements of one search, by running the
//! service's search on a connection of the bench's own that counts every
//! statement it sends (no background task shares it): the number is
//! printed with the number of resources, and is the same with 10 matching
//! or 1,000.
//!
//! Checked: every page of the week's search, followed by its cursor,
//! lists exactly the 50 matching resources once each, each with the 148
//! hours its bookings leave, in the promised order; the first slot of
//! each resource of the first page books (201); then the invariant check
//! and the audit. The seeded bookings have their history and summary
//! hours, like any berth wrote, and stay.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use rand::seq::SliceRandom;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    RunArgs,
    client::{Api, for_count},
    report::{self, Row},
    scenarios::{Seeded, checked, customers, id_of, seed_bookings},
    server::Server,
};

const FILTER: &str = "attr.surface=clay&attr.indoor=true";

pub async fn search(
    args: &RunArgs,
    server: &Server,
    api: &Api,
    db: &DatabaseConnection,
    url: &str,
) -> anyhow::Result<Vec<Row>> {
    let (n_resources, n_matching, per_resource) = (args.size(1_000, 40), args.size(50, 5), args.size(20, 5));
    let week_start = Utc::now().duration_trunc(Span::days(1))? + Span::days(2);
    let seeder = customers(api, "search-seed", 1).await?[0];
    let mut halls = Vec::with_capacity(n_resources);
    let mut matching = Vec::new();
    for i in 0..n_resources {
        // Every fourth is clay and indoor; the rest of the first
        // `n_matching * 4` miss one of the two; the others have neither.
        let attributes = match i % 4 {
            0 if matching.len() < n_matching => json!({"surface": "clay", "indoor": true, "seats": 4}),
            1 => json!({"surface": "clay", "indoor": false}),
            2 => json!({"surface": "grass", "indoor": true}),
            _ => json!({"seats": 2}),
        };
        let body = json!({"name": format!("search court {i:04}"), "capacity": 1, "attributes": attributes});
        let id = id_of(&api.create("/v1/resources", &body).await?)?;
        if attributes["surface"] == "clay" && attributes["indoor"] == true {
            matching.push(id);
        }
        halls.push(id);
    }
    anyhow::ensure!(matching.len() == n_matching, "{} matching resources, not {n_matching}", matching.len());
    let mut hours: Vec<i64> = (0..168).collect();
    let mut rng = rand::rng();
    for hall in &halls {
        hours.shuffle(&mut rng);
        let seeded: Vec<Seeded> = hours[..per_resource]
            .iter()
            .map(|h| {
                let start = week_start + Span::hours(*h);
                (seeder, (start, start + Span::hours(1)))
            })
            .collect();
        seed_bookings(db, *hall, &seeded).await?;
    }
    let bookings = n_resources * per_resource;

    let requests = args.size(200, 10) as u64;
    let mut rows = Vec::new();
    for (label, days) in [("one day", 1), ("the week", 7)] {
        let path = format!(
            "/v1/search/slots?from={}&to={}&duration_seconds=3600&{FILTER}",
            week_start.to_rfc3339().replace('+', "%2B"),
            (week_start + Span::days(days)).to_rfc3339().replace('+', "%2B")
        );
        server.reset_peak_rss();
        let recorded = for_count(4, requests, |_| api.get(&path)).await;
        let (p50, p99) = (
            recorded.latency.value_at_quantile(0.5) as f64 / 1000.0,
            recorded.latency.value_at_quantile(0.99) as f64 / 1000.0,
        );
        let note = format!(
            "{n_matching} of {n_resources} resources match, {} candidates each; {bookings} bookings in the week: p50 {p50:.2} ms, p99 {p99:.2} ms",
            24 * days
        );
        rows.push(report::print(&format!("search {label}"), &recorded, server.peak_rss_mib(), note));
    }

    let statements = statements_per_search(url, week_start).await?;
    println!(
        "\n== search: {statements} SQL statements for one search over {n_resources} resources ({n_matching} matching, {bookings} bookings in the week)"
    );
    check_pages(api, week_start, &matching, per_resource).await?;
    println!("   {}", checked(db).await);
    Ok(rows)
}

/// The statements one search of the week sends, on a connection that
/// counts them.
async fn statements_per_search(url: &str, week_start: DateTime<Utc>) -> anyhow::Result<u64> {
    use berth::domain::{attributes::AttributeFilter, attributes::AttributeValue, time_range::TimeRange};
    let mut conn = berth::store::connect(url, 2, std::time::Duration::from_secs(10)).await?;
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    conn.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let db = berth::service::Db::new(conn);
    let filter = |key: &str, value: AttributeValue| AttributeFilter { key: key.into(), value };
    let search = berth::service::search::Search {
        window: TimeRange::new(week_start, week_start + Span::days(7)).ok_or_else(|| anyhow::anyhow!("no week"))?,
        duration_seconds: 3600,
        quantity: 1,
        min_capacity: None,
        group: None,
        filters: vec![
            filter("surface", AttributeValue::Text("clay".into())),
            filter("indoor", AttributeValue::Flag(true)),
        ],
        customer: None,
        limit: 20,
        after: None,
    };
    sent.store(0, Ordering::Relaxed);
    let page = berth::service::search::slots(&db, &search).await?;
    anyhow::ensure!(!page.matches.is_empty(), "the counted search found nothing");
    Ok(sent.load(Ordering::Relaxed))
}

/// Follows the week's pages: every matching resource once, in order, each
/// with every hour its bookings leave; the first slot of each resource of
/// the first page books.
async fn check_pages(
    api: &Api,
    week_start: DateTime<Utc>,
    matching: &[Uuid],
    per_resource: usize,
) -> anyhow::Result<()> {
    let base = format!(
        "/v1/search/slots?from={}&to={}&duration_seconds=3600&{FILTER}",
        week_start.to_rfc3339().replace('+', "%2B"),
        (week_start + Span::days(7)).to_rfc3339().replace('+', "%2B")
    );
    let mut seen: Vec<(String, String, Uuid)> = Vec::new();
    let mut first_page: Vec<Value> = Vec::new();
    let mut path = base.clone();
    loop {
        let outcome = api.get(&path).await;
        anyhow::ensure!(outcome.status == 200, "search: {} {}", outcome.status, outcome.body);
        let items = outcome.body["items"].as_array().cloned().unwrap_or_default();
        if first_page.is_empty() {
            first_page = items.clone();
        }
        for item in &items {
            let slots = item["slots"].as_array().map_or(0, Vec::len);
            anyhow::ensure!(slots == 168 - per_resource, "{slots} slots on {}", item["resource"]["name"]);
            seen.push((
                item["slots"][0]["start_at"].as_str().unwrap_or_default().to_owned(),
                item["resource"]["name"].as_str().unwrap_or_default().to_owned(),
                id_of(&item["resource"])?,
            ));
        }
        match outcome.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("{base}&cursor={cursor}"),
            None => break,
        }
    }
    let mut ids: Vec<Uuid> = seen.iter().map(|(_, _, id)| *id).collect();
    ids.sort_unstable();
    let mut wanted = matching.to_vec();
    wanted.sort_unstable();
    anyhow::ensure!(ids == wanted, "the pages list {} resources, not the {} matching", ids.len(), wanted.len());
    anyhow::ensure!(seen.windows(2).all(|w| w[0] <= w[1]), "the pages are not by earliest slot, then name");
    let booker = customers(api, "search-book", 1).await?[0];
    for item in &first_page {
        let body = json!({"resource_id": item["resource"]["id"], "customer_id": booker,
            "start_at": item["slots"][0]["start_at"], "end_at": item["slots"][0]["end_at"]});
        let booked = api.post("/v1/bookings", &body, None).await;
        anyhow::ensure!(booked.status == 201, "a listed slot did not book: {} {}", booked.status, booked.body);
    }
    println!(
        "   checked: {} resources over the pages, in order; every first slot of the first page booked",
        seen.len()
    );
    Ok(())
}
