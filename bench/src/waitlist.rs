//! Scenario `waitlist`: what a waiting list costs (docs/design.md §24).
//!
//! One resource of capacity C (50) whose one slot is full (C confirmed
//! bookings); N (1,000) customers join its queue one by one (quantity 1);
//! then the C bookings are cancelled one by one. It measures:
//!
//! - joining: the response time of `POST /v1/waitlist`, the first nine
//!   tenths of the queue apart from the last tenth (900-999 already
//!   waiting);
//! - cancel-to-offer: the offer is made in the cancel's own transaction, so
//!   the time from sending the cancel to the offer being visible is the
//!   cancel's response time.
//!
//! Each join must answer `waiting` at the next position; after each
//! cancel, the next entry in queue order and only it must be `offered`,
//! with a held booking for its customer, and the feed must show the
//! cancel's `booking.cancelled`, then the offer's `booking.created` and
//! `waitlist.offered`, and nothing else; at the end the queue (read page
//! by page in queue order) must be the join order, the first C `offered`
//! and the rest `waiting` at positions 1, 2, …. What does not hold is
//! printed, not worked around. One client throughout (`--concurrency`
//! does not apply): queue order is join order.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    RunArgs,
    client::{Api, Outcome, Recorded},
    limit::random_slot,
    report::{self, Row},
    scenarios::{booking, checked, customers, id_of, resource},
    server::Server,
};

type Slot = (DateTime<Utc>, DateTime<Utc>);

/// How many findings are printed one by one.
const SHOWN: usize = 10;

/// A place in the queue, as its join answered.
struct Place {
    id: Uuid,
    customer: Uuid,
}

pub async fn waitlist(args: &RunArgs, server: &Server, api: &Api, db: &DatabaseConnection) -> anyhow::Result<Vec<Row>> {
    let (capacity, waiting) = (args.size(50, 5), args.size(1_000, 20));
    let slot = random_slot();
    let hall = resource(api, "waitlist", capacity, None).await?;
    let seats = fill(api, hall, capacity, slot).await?;
    let people = customers(api, "waitlist", waiting).await?;
    let mut findings = Vec::new();
    let mut queue = Vec::with_capacity(waiting);
    let mut rows = Vec::new();
    let last_tenth = waiting - waiting / 10;
    for part in [&people[..last_tenth], &people[last_tenth..]] {
        if part.is_empty() {
            continue;
        }
        server.reset_peak_rss();
        let from = queue.len();
        let recorded = joins(api, hall, part, slot, &mut queue, &mut findings).await;
        let note = format!("{} joins of a full slot (capacity {capacity}), one by one, quantity 1", part.len());
        let name = format!("waitlist join, {from}-{} waiting", from + part.len() - 1);
        rows.push(report::print(&name, &recorded, server.peak_rss_mib(), note));
    }
    server.reset_peak_rss();
    let recorded = cancels(api, hall, &seats, &queue, &mut findings).await?;
    let offers = recorded.count("200") as usize;
    let end = final_queue(api, hall, &queue, offers, &mut findings).await?;
    let note = format!(
        "{capacity} confirmed bookings cancelled one by one with {} waiting (elapsed: the cancels alone, not the checks between them); {}; end: {end}; {}",
        queue.len(),
        verdict(&findings),
        checked(db).await
    );
    rows.push(report::print("waitlist cancel → offer", &recorded, server.peak_rss_mib(), note));
    print_findings(&findings);
    Ok(rows)
}

/// Books all `capacity` units of `slot`, one confirmed booking per
/// customer; returns the bookings.
async fn fill(api: &Api, hall: Uuid, capacity: usize, slot: Slot) -> anyhow::Result<Vec<Uuid>> {
    let mut seats = Vec::with_capacity(capacity);
    for customer in customers(api, "seat", capacity).await? {
        seats.push(id_of(&api.create("/v1/bookings", &booking(hall, customer, slot)).await?)?);
    }
    Ok(seats)
}

/// `people` join `hall`'s queue for `slot` one by one, timed; each 201 is
/// appended to `queue`, and must be `waiting` at the next position.
async fn joins(
    api: &Api,
    hall: Uuid,
    people: &[Uuid],
    (start, end): Slot,
    queue: &mut Vec<Place>,
    findings: &mut Vec<String>,
) -> Recorded {
    let started = Instant::now();
    let mut recorded = Recorded::new();
    for &customer in people {
        let body = json!({"resource_id": hall, "customer_id": customer, "start_at": start.to_rfc3339(),
                          "end_at": end.to_rfc3339(), "quantity": 1});
        let sent = Instant::now();
        let outcome = api.post("/v1/waitlist", &body, None).await;
        recorded.record(&outcome, sent.elapsed());
        let expected = queue.len() + 1;
        let id = match (outcome.status, id_of(&outcome.body)) {
            (201, Ok(id)) => id,
            _ => {
                findings.push(format!("join #{expected}: {} {}", outcome.status, outcome.body));
                continue;
            }
        };
        if outcome.body["status"] != "waiting" || outcome.body["position"] != expected {
            findings.push(format!(
                "join #{expected}: status {}, position {} (expected waiting, {expected})",
                outcome.body["status"], outcome.body["position"]
            ));
        }
        queue.push(Place { id, customer });
    }
    recorded.elapsed = started.elapsed();
    recorded
}

/// Cancels `seats` one by one, timing each cancel (its response carries
/// the offer made in its transaction), and after each checks, untimed,
/// that the next place of `queue` and only it was offered. `elapsed` is
/// the cancels' own time.
async fn cancels(
    api: &Api,
    hall: Uuid,
    seats: &[Uuid],
    queue: &[Place],
    findings: &mut Vec<String>,
) -> anyhow::Result<Recorded> {
    let mut cursor = feed_position(api).await?;
    let mut recorded = Recorded::new();
    let mut busy = Duration::ZERO;
    let mut offered = 0;
    for (n, seat) in seats.iter().enumerate() {
        let sent = Instant::now();
        let outcome = api.post(&format!("/v1/bookings/{seat}/cancel"), &json!({"reason": "bench"}), None).await;
        let took = sent.elapsed();
        recorded.record(&outcome, took);
        busy += took;
        if outcome.status != 200 {
            findings.push(format!("cancel #{}: {} {}", n + 1, outcome.status, outcome.body));
            continue;
        }
        offered += 1;
        let Some(next) = queue.get(offered - 1) else { continue };
        let mut seen = offers_after_cancel(api, hall, queue, offered).await?;
        seen.extend(feed_after_cancel(api, &mut cursor, *seat, next).await?);
        findings.extend(seen.into_iter().map(|finding| format!("cancel #{}: {finding}", n + 1)));
    }
    recorded.elapsed = busy;
    Ok(recorded)
}

/// The offered entries are exactly the first `count` places of `queue`, in
/// queue order, and the newest one holds a held booking for its customer.
async fn offers_after_cancel(api: &Api, hall: Uuid, queue: &[Place], count: usize) -> anyhow::Result<Vec<String>> {
    let expected = &queue[..count];
    let offered = entries(api, hall, Some("offered")).await?;
    let ids: Vec<Uuid> = offered.iter().filter_map(|entry| id_of(entry).ok()).collect();
    if ids.iter().ne(expected.iter().map(|place| &place.id)) {
        let places: Vec<String> = ids.iter().map(|id| place_in(queue, *id)).collect();
        return Ok(vec![format!(
            "{} offered, expected the first {}; offered: {}",
            ids.len(),
            expected.len(),
            places.join(", ")
        )]);
    }
    let (Some(newest), Some(place)) = (offered.last(), expected.last()) else { return Ok(Vec::new()) };
    let hold = match newest["booking_id"].as_str() {
        Some(id) => api.get(&format!("/v1/bookings/{id}")).await.body,
        None => return Ok(vec![format!("the offered entry {} has no booking_id: {newest}", place.id)]),
    };
    let customer = place.customer.to_string();
    let entry = place.id.to_string();
    if hold["status"] != "held"
        || hold["customer_id"] != customer.as_str()
        || hold["waitlist_entry_id"] != entry.as_str()
    {
        return Ok(vec![format!(
            "the offer's booking is {} for customer {} (entry {}), expected held for {customer} (entry {entry})",
            hold["status"], hold["customer_id"], hold["waitlist_entry_id"]
        )]);
    }
    Ok(Vec::new())
}

/// Where `id` is in the queue (`#1` first), or `not in the queue`.
fn place_in(queue: &[Place], id: Uuid) -> String {
    match queue.iter().position(|place| place.id == id) {
        Some(i) => format!("#{}", i + 1),
        None => format!("{id} (not in the queue)"),
    }
}

/// The feed after `cursor` is the cancel's `booking.cancelled`, then the
/// offer's `booking.created` (naming `next`) and `waitlist.offered`;
/// moves `cursor` past them.
async fn feed_after_cancel(api: &Api, cursor: &mut String, seat: Uuid, next: &Place) -> anyhow::Result<Vec<String>> {
    let page = get_ok(api, &format!("/v1/events?after={cursor}&limit=100")).await?;
    if let Some(next) = page["next_cursor"].as_str() {
        *cursor = next.to_owned();
    }
    let events = page["items"].as_array().cloned().unwrap_or_default();
    let seen: Vec<(&str, &str)> =
        events.iter().map(|e| (e["type"].as_str().unwrap_or("?"), e["subject_id"].as_str().unwrap_or("?"))).collect();
    let (seat, entry) = (seat.to_string(), next.id.to_string());
    let expected = matches!(seen[..], [("booking.cancelled", s), ("booking.created", _), ("waitlist.offered", e)]
        if s == seat && e == entry)
        && events[1]["data"]["waitlist_entry_id"] == entry.as_str();
    if expected {
        return Ok(Vec::new());
    }
    let shown: Vec<String> = seen.iter().map(|(kind, subject)| format!("{kind} {subject}")).collect();
    Ok(vec![format!(
        "the feed after it: [{}], expected booking.cancelled {seat}, booking.created (entry {entry}), waitlist.offered {entry}",
        shown.join(", ")
    )])
}

/// The feed's newest position (a page of a type that never occurs reads
/// up to it).
async fn feed_position(api: &Api) -> anyhow::Result<String> {
    let page = get_ok(api, "/v1/events?types=webhook.disabled&limit=1").await?;
    Ok(page["next_cursor"].as_str().unwrap_or("0").to_owned())
}

/// The whole queue, page by page in queue order: the join order, the first
/// `offers` places `offered`, the rest `waiting` at positions 1, 2, ….
/// Returns what it saw.
async fn final_queue(
    api: &Api,
    hall: Uuid,
    queue: &[Place],
    offers: usize,
    findings: &mut Vec<String>,
) -> anyhow::Result<String> {
    let all = entries(api, hall, None).await?;
    let ids: Vec<Uuid> = all.iter().filter_map(|entry| id_of(entry).ok()).collect();
    if ids.iter().ne(queue.iter().map(|place| &place.id)) {
        findings.push(format!(
            "the queue read at the end ({} entries) is not the join order ({})",
            ids.len(),
            queue.len()
        ));
    }
    let mut wrong = 0;
    for (i, entry) in all.iter().enumerate() {
        let (status, position) = if i < offers { ("offered", Value::Null) } else { ("waiting", json!(i - offers + 1)) };
        if entry["status"] != status || entry["position"] != position {
            wrong += 1;
            findings.push(format!(
                "at the end, queue #{}: {} at position {}, expected {status} at {position}",
                i + 1,
                entry["status"],
                entry["position"]
            ));
        }
    }
    let offered = all.iter().filter(|entry| entry["status"] == "offered").count();
    let waiting = all.iter().filter(|entry| entry["status"] == "waiting").count();
    Ok(format!("{offered} offered, {waiting} waiting, {wrong} of {} not where expected", all.len()))
}

/// Every entry of `hall`'s queue (with `status`, when given), in queue
/// order, following `next_cursor`.
async fn entries(api: &Api, hall: Uuid, status: Option<&str>) -> anyhow::Result<Vec<Value>> {
    let filter = status.map(|s| format!("&status={s}")).unwrap_or_default();
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get_ok(api, &format!("/v1/waitlist?resource_id={hall}{filter}&limit=200{cursor}")).await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return Ok(items),
        }
    }
}

/// GETs and insists on 200.
async fn get_ok(api: &Api, path: &str) -> anyhow::Result<Value> {
    let Outcome { status, body, .. } = api.get(path).await;
    anyhow::ensure!(status == 200, "GET {path}: {status} {body}");
    Ok(body)
}

/// What the checks found, in one phrase: `exact`, or `WRONG` with the count.
fn verdict(findings: &[String]) -> String {
    match findings.len() {
        0 => {
            "every offer to the next in queue order, as a hold for its customer, beside its cancel in the feed (exact)"
                .to_owned()
        }
        n => format!("{n} findings (WRONG)"),
    }
}

/// The first findings, one a line (under the scenario's last block).
fn print_findings(findings: &[String]) {
    for finding in findings.iter().take(SHOWN) {
        println!("   WAITLIST WRONG: {finding}");
    }
    if findings.len() > SHOWN {
        println!("   WAITLIST WRONG: … and {} more", findings.len() - SHOWN);
    }
}
