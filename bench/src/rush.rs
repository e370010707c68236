//! Scenarios `rush` and `storm`: the two moments a venue's booking page is
//! hammered (issue #32).
//!
//! - `rush`: tickets open. N clients (10,000; `--rush-clients`) ask at the
//!   same instant for one unit each of a resource with C units (100), each
//!   its own customer, each on its own connection. Exact means: C admitted, N − C refused
//!   with `capacity-exceeded` (nothing else: no 5xx, no other problem), and
//!   the audit clean. Latencies are printed apart for the admitted and the
//!   refused, since a refusal should not wait behind the admissions.
//! - `storm`: holds run out while bookings continue. R resources (50) of C
//!   units (100) are filled with holds (5,000, `hold_ttl_seconds` 30, the
//!   least a resource allows); once the last has run out, 5,000 bookings of
//!   the same units arrive from 32 clients while the sweeper marks the
//!   holds expired. Every one must be admitted: a refusal would be a
//!   booking the expired holds made room for.
//!
//! What does not hold is printed, not worked around.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde_json::json;
use uuid::Uuid;

use crate::{
    RunArgs,
    client::{Api, Recorded, for_count},
    limit::random_slot,
    report::{self, Row},
    scenarios::{booking, checked, id_of},
    server::Server,
};

pub async fn rush(args: &RunArgs, server: &Server, api: &Api, db: &DatabaseConnection) -> anyhow::Result<Vec<Row>> {
    let (capacity, clients) = (args.size(100, 10), args.rush_clients.unwrap_or(args.size(10_000, 200)));
    let hall = create_resource(api, "rush", capacity, None).await?;
    let people = many_customers(api, "rush", clients).await?;
    let slot = random_slot();
    server.reset_peak_rss();
    let started = Instant::now();
    // Every request in flight at once: one task each, no client-side limit.
    let sent = people.iter().map(|&customer| async move {
        let sent = Instant::now();
        let outcome = api.post("/v1/bookings", &booking(hall, customer, slot), None).await;
        (outcome, sent.elapsed())
    });
    let answers = futures::future::join_all(sent).await;
    let elapsed = started.elapsed();
    let rss = server.peak_rss_mib();
    let (mut admitted, mut refused) = (Recorded::new(), Recorded::new());
    for (outcome, latency) in &answers {
        if outcome.status == 201 { admitted.record(outcome, *latency) } else { refused.record(outcome, *latency) }
    }
    admitted.elapsed = elapsed;
    refused.elapsed = elapsed;
    let full = refused.count("409 capacity-exceeded");
    let exact = admitted.requests == capacity.min(clients) as u64 && full + admitted.requests == clients as u64;
    let verdict = if exact {
        format!("exact: {} admitted of {capacity} units, {full} refused capacity-exceeded", admitted.requests)
    } else {
        format!(
            "NOT EXACT: {} admitted of {capacity}; {} refused otherwise",
            admitted.requests,
            clients as u64 - full - admitted.requests
        )
    };
    let audit = checked(db).await;
    let whole =
        format!("{clients} clients at once for {capacity} units in {:.2} s; {verdict}; {audit}", elapsed.as_secs_f64());
    Ok(vec![
        report::print("rush: admitted", &admitted, rss, whole),
        report::print("rush: refused", &refused, rss, "the same run's refusals".into()),
    ])
}

pub async fn storm(args: &RunArgs, server: &Server, api: &Api, db: &DatabaseConnection) -> anyhow::Result<Row> {
    let (resources, capacity) = (args.size(50, 2), args.size(100, 5));
    let holds = resources * capacity;
    let slot = random_slot();
    let mut halls = Vec::with_capacity(resources);
    for n in 0..resources {
        halls.push(create_resource(api, &format!("storm-{n}"), capacity, Some(30)).await?);
    }
    let holders = many_customers(api, "storm-holder", holds).await?;
    let bookers = many_customers(api, "storm-booker", holds).await?;
    let unit = |n: u64| (halls[n as usize / capacity], n as usize);
    let held = for_count(args.concurrency, holds as u64, |n| {
        let (hall, i) = unit(n);
        let mut body = booking(hall, holders[i], slot);
        body["hold"] = json!(true);
        async move { api.post("/v1/bookings", &body, None).await }
    })
    .await;
    anyhow::ensure!(held.count("201") == holds as u64, "holds: {:?}", held.outcomes);
    // Wait until the last hold has run out (the sweeper has not yet marked
    // most of them: it runs every 5 s and marks in batches).
    let last = latest_hold_end(db).await?;
    let wait = (last - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(50);
    tokio::time::sleep(wait).await;
    server.reset_peak_rss();
    let booked = for_count(args.concurrency, holds as u64, |n| {
        let (hall, i) = unit(n);
        let body = booking(hall, bookers[i], slot);
        async move { api.post("/v1/bookings", &body, None).await }
    })
    .await;
    let refused = booked.requests - booked.count("201");
    let verdict = if refused == 0 {
        "exact: every booking the run-out holds made room for was admitted".to_owned()
    } else {
        format!("NOT EXACT: {refused} refused ({:?})", booked.outcomes)
    };
    let note = format!(
        "{holds} holds on {resources} resources of {capacity} ran out; as many bookings of the same units by {} clients; {verdict}; {}",
        args.concurrency,
        checked(db).await
    );
    Ok(report::print("storm: bookings of run-out holds", &booked, server.peak_rss_mib(), note))
}

async fn create_resource(api: &Api, name: &str, capacity: usize, hold_ttl: Option<i64>) -> anyhow::Result<Uuid> {
    let mut body = json!({"name": name, "capacity": capacity});
    if let Some(ttl) = hold_ttl {
        body["hold_ttl_seconds"] = json!(ttl);
    }
    id_of(&api.create("/v1/resources", &body).await?)
}

/// `count` customers, made by 32 clients (setup, not measured).
async fn many_customers(api: &Api, prefix: &str, count: usize) -> anyhow::Result<Vec<Uuid>> {
    let made = std::sync::Mutex::new(vec![Uuid::nil(); count]);
    let recorded = for_count(32, count as u64, |n| {
        let made = &made;
        async move {
            let body = json!({"email": format!("{prefix}-{n}@bench.example"), "name": format!("Bench {n}")});
            let outcome = api.post("/v1/customers", &body, None).await;
            if let Ok(id) = id_of(&outcome.body) {
                made.lock().expect("not poisoned")[n as usize] = id;
            }
            outcome
        }
    })
    .await;
    anyhow::ensure!(recorded.count("201") == count as u64, "customers: {:?}", recorded.outcomes);
    Ok(made.into_inner().expect("not poisoned"))
}

/// When the last hold runs out.
async fn latest_hold_end(db: &DatabaseConnection) -> anyhow::Result<DateTime<Utc>> {
    use entity::booking::{Column, Entity};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    let last: Option<Option<DateTime<Utc>>> = Entity::find()
        .select_only()
        .column(Column::HoldExpiresAt)
        .filter(Column::Status.eq("held"))
        .order_by_desc(Column::HoldExpiresAt)
        .into_tuple()
        .one(db)
        .await?;
    last.flatten().ok_or_else(|| anyhow::anyhow!("no hold"))
}
