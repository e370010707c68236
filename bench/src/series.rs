//! Scenario `series`: how long berth takes to decide a recurring series
//! (docs/design.md §25) on a busy resource, and that it decides each one
//! in one transaction.
//!
//! One resource of capacity 4 with a week pattern of confirmed bookings
//! over the next 60 weeks, seeded straight into the database: 6 hours of
//! the week full (4 bookings) and 13 half full (2), every week (3,000
//! bookings), and 10 more hours full in the 52nd week only (40). Then, one
//! request at a time, weekly series of 52 one-hour occurrences
//! (`FREQ=WEEKLY;COUNT=52`, `all_or_nothing`), each for its own customer:
//!
//! - 60 where every occurrence fits, two on each half-full hour (filling
//!   it exactly) and the rest one to an empty hour: first all of them with
//!   `?dry_run=true` (200, nothing written), then for real (201);
//! - 10 on a full hour: every occurrence refused (409 `series-conflict`
//!   listing all 52);
//! - 10 on an hour full in the 52nd week only: 51 occurrences pass and are
//!   inserted, the last is refused and everything rolls back (409 listing
//!   the 52nd alone).
//!
//! Checked: every answer's status and shape (a 409 is
//! `application/problem+json` listing exactly the refused occurrences,
//! each `capacity-exceeded`); afterwards every series that answered 201
//! read back (`GET /v1/series/{id}`) with its 52 confirmed bookings at
//! the expected hours, and the resource holding exactly the seeded
//! bookings plus 52 per series made (the dry runs and the 409s wrote
//! nothing); then the audit.
//!
//! On PostgreSQL, that a series is one transaction, two ways: the bench
//! database's `pg_stat_database.xact_commit` over the 201s, less the
//! commits of an idle interval as long right after and the event
//! numbering's own commits that follow the writes (one per 200 ms tick
//! that finds new events), per series made; and every row a series wrote
//! (its row, its bookings, their create events) carrying one transaction
//! id (`xmin`). The dry runs and 409s are counted likewise (commits and
//! rollbacks per request). The database is vacuumed and analysed after
//! seeding, as autovacuum soon would, so that autovacuum has no reason to
//! run inside the counted intervals (if it does anyway, that is printed).
//!
//! What does not hold is printed, not worked around. One client
//! throughout (`--concurrency` does not apply).

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, Statement,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Engine, RunArgs,
    client::{Api, Outcome, Recorded},
    report::{self, Row},
    scenarios::{checked, customers, id_of, resource, seed_bookings},
    server::Server,
};

type Slot = (DateTime<Utc>, DateTime<Utc>);

const CAPACITY: usize = 4;
/// Weeks of the seeded pattern (the series cover the first 52).
const WEEKS_SEEDED: i64 = 60;
const OCCURRENCES: i64 = 52;
const RRULE: &str = "FREQ=WEEKLY;COUNT=52";
/// PostgreSQL 15 flushes a busy backend's statistics at most every
/// second and an idle one's within 10 s: counters are read this long
/// after the work they should show.
const STATS_SETTLE: Duration = Duration::from_secs(12);
/// How many findings are printed one by one.
const SHOWN: usize = 10;

/// Where everything goes: hours of the week (0 is `origin`, a midnight
/// UTC two days ahead), handed out with a stride coprime to 168 so that
/// they spread over days and times of day.
struct Plan {
    origin: DateTime<Utc>,
    /// Booked 4 of 4 every week.
    full: Vec<i64>,
    /// Booked 2 of 4 every week.
    half: Vec<i64>,
    /// Booked 4 of 4 in the 52nd week only.
    full_in_last_week: Vec<i64>,
    /// Booked by nobody.
    empty: Vec<i64>,
}

impl Plan {
    fn new(n_full: usize, n_half: usize, n_last: usize) -> anyhow::Result<Plan> {
        let origin = Utc::now().duration_trunc(Span::days(1))? + Span::days(2);
        let hours: Vec<i64> = (0..168).map(|k| (k * 37) % 168).collect();
        let (full, rest) = hours.split_at(n_full);
        let (half, rest) = rest.split_at(n_half);
        let (last, empty) = rest.split_at(n_last);
        Ok(Plan {
            origin,
            full: full.to_vec(),
            half: half.to_vec(),
            full_in_last_week: last.to_vec(),
            empty: empty.to_vec(),
        })
    }

    /// Hour `hour` of week `week`, one hour long.
    fn slot(&self, week: i64, hour: i64) -> Slot {
        let start = self.origin + Span::weeks(week) + Span::hours(hour);
        (start, start + Span::hours(1))
    }

    /// The existing bookings: `(customer, slot)`, the i-th unit of an hour
    /// held by `seeders[i]` (one customer never holds two at once).
    fn seeded(&self, seeders: &[Uuid]) -> Vec<(Uuid, Slot)> {
        let mut seeded = Vec::new();
        for week in 0..WEEKS_SEEDED {
            for (hours, units) in [(&self.full, CAPACITY), (&self.half, CAPACITY / 2)] {
                for &hour in hours {
                    seeded.extend(seeders[..units].iter().map(|&who| (who, self.slot(week, hour))));
                }
            }
        }
        for &hour in &self.full_in_last_week {
            seeded.extend(seeders.iter().map(|&who| (who, self.slot(OCCURRENCES - 1, hour))));
        }
        seeded
    }
}

/// One series request, and what it should get.
struct Ask {
    customer: Uuid,
    hour: i64,
    body: Value,
}

fn ask(hall: Uuid, plan: &Plan, customer: Uuid, hour: i64) -> Ask {
    let (start, end) = plan.slot(0, hour);
    let body = json!({"resource_id": hall, "customer_id": customer, "start_at": start.to_rfc3339(),
                      "end_at": end.to_rfc3339(), "rrule": RRULE, "mode": "all_or_nothing"});
    Ask { customer, hour, body }
}

/// A timed phase, printed once the transaction counts are in.
struct Phase {
    name: &'static str,
    recorded: Recorded,
    rss: Option<f64>,
    note: String,
}

pub async fn series(
    args: &RunArgs,
    server: &Server,
    api: &Api,
    db: &DatabaseConnection,
    url: &str,
) -> anyhow::Result<Vec<Row>> {
    let (n_fit, n_refused) = (args.size(60, 5), args.size(10, 1));
    let plan = Plan::new(args.size(6, 1), args.size(13, 2), n_refused)?;
    anyhow::ensure!(plan.empty.len() + 2 * plan.half.len() >= n_fit, "not enough free hours in a week");
    let hall = resource(api, "series", CAPACITY, None).await?;
    let seeders = customers(api, "series-seed", CAPACITY).await?;
    let seeded = plan.seeded(&seeders);
    seed_bookings(db, hall, &seeded).await?;
    let people = customers(api, "series", n_fit + 2 * n_refused).await?;
    let (fit_people, rest) = people.split_at(n_fit);
    let (all_people, last_people) = rest.split_at(n_refused);
    let fitting: Vec<Ask> = fit_people
        .iter()
        .enumerate()
        .map(|(i, &who)| {
            let hour = match plan.half.get(i / 2) {
                Some(&hour) if i < 2 * plan.half.len() => hour,
                _ => plan.empty[i - 2 * plan.half.len()],
            };
            ask(hall, &plan, who, hour)
        })
        .collect();
    let all_refused: Vec<Ask> =
        all_people.iter().enumerate().map(|(j, &who)| ask(hall, &plan, who, plan.full[j % plan.full.len()])).collect();
    let last_refused: Vec<Ask> =
        last_people.iter().enumerate().map(|(j, &who)| ask(hall, &plan, who, plan.full_in_last_week[j])).collect();

    let counters = Counters::open(args, url).await?;
    let mut before = Before::default();
    if let Some(counters) = &counters {
        before = counters.prepare(db).await?;
    }
    let mut findings = Vec::new();

    // Dry runs, then the series refused: one counted window.
    let window = match &counters {
        Some(c) => Some(c.start().await?),
        None => None,
    };
    let mut phases = Vec::new();
    server.reset_peak_rss();
    let (recorded, answers) = one_by_one(api, "/v1/series?dry_run=true", &fitting).await;
    let mut passed = 0;
    for (n, (ask, (outcome, _))) in fitting.iter().zip(&answers).enumerate() {
        match wrong_made(outcome, 200, &plan, ask) {
            Some(wrong) => findings.push(format!("dry run #{}: {wrong}", n + 1)),
            None => passed += 1,
        }
    }
    let note = format!(
        "{} series × ?dry_run=true, one by one, on a resource of capacity {CAPACITY} holding {} bookings over {WEEKS_SEEDED} weeks: {passed} answered 200 with the 52 occurrences it would book",
        fitting.len(),
        seeded.len()
    );
    phases.push(Phase { name: "series dry run, 52 weekly", recorded, rss: server.peak_rss_mib(), note });

    let every_week: Vec<i64> = (0..OCCURRENCES).collect();
    let kinds = [
        (
            "series 409, all 52 refused",
            &all_refused,
            every_week,
            "on a full hour: every occurrence refused",
            "listing all 52 (capacity-exceeded)",
        ),
        (
            "series 409, the 52nd refused",
            &last_refused,
            vec![OCCURRENCES - 1],
            "on an hour full in the 52nd week only: 51 occurrences inserted, then all rolled back",
            "listing the 52nd alone (capacity-exceeded)",
        ),
    ];
    for (name, asks, refused_weeks, what, listing) in kinds {
        server.reset_peak_rss();
        let (recorded, answers) = one_by_one(api, "/v1/series", asks).await;
        let mut passed = 0;
        for (n, (ask, (outcome, content_type))) in asks.iter().zip(&answers).enumerate() {
            match wrong_conflict(outcome, content_type.as_deref(), &plan, ask.hour, &refused_weeks) {
                Some(wrong) => findings.push(format!("{name} #{}: {wrong}", n + 1)),
                None => passed += 1,
            }
        }
        let note = format!("{} series {what}; {passed} answered 409 series-conflict {listing}", asks.len());
        phases.push(Phase { name, recorded, rss: server.peak_rss_mib(), note });
    }
    let refusals = match (&counters, window) {
        (Some(c), Some(w)) => Some(c.finish(w).await?),
        _ => None,
    };
    let requests = (fitting.len() + all_refused.len() + last_refused.len()) as f64;
    let (written_nothing, written_nothing_short) = match refusals {
        Some(counted) => {
            let (commits, rollbacks) = (counted.commits() / requests, counted.rollbacks() / requests);
            (
                format!(
                    "dry runs and 409s: {commits:.2} commits and {rollbacks:.2} rollbacks per request ({}; over {requests} requests)",
                    counted.how()
                ),
                format!("dry runs and 409s: {commits:.2} commits, {rollbacks:.2} rollbacks per request"),
            )
        }
        None => {
            let text = "dry runs and 409s: transactions not counted (PostgreSQL only)";
            (text.to_owned(), text.to_owned())
        }
    };

    // The series for real: the other counted window.
    let window = match &counters {
        Some(c) => Some(c.start().await?),
        None => None,
    };
    server.reset_peak_rss();
    let (recorded, answers) = one_by_one(api, "/v1/series", &fitting).await;
    let rss = server.peak_rss_mib();
    let made_window = match (&counters, window) {
        (Some(c), Some(w)) => Some(c.finish(w).await?),
        _ => None,
    };
    let mut made = Vec::new();
    for (n, (ask, (outcome, _))) in fitting.iter().zip(&answers).enumerate() {
        if let Some(wrong) = wrong_made(outcome, 201, &plan, ask) {
            findings.push(format!("series #{}: {wrong}", n + 1));
        }
        if outcome.status == 201
            && let Ok(id) = id_of(&outcome.body)
        {
            made.push((id, ask));
        }
    }

    // After it: read back, count, and (PostgreSQL) the transactions.
    let mut read_back = 0;
    for (id, ask) in &made {
        let outcome = api.get(&format!("/v1/series/{id}")).await;
        match wrong_read_back(&outcome, *id, &plan, ask) {
            Some(wrong) => findings.push(format!("GET /v1/series/{id}: {wrong}")),
            None => read_back += 1,
        }
    }
    let on_hall =
        entity::booking::Entity::find().filter(entity::booking::Column::ResourceId.eq(hall)).count(db).await?;
    let series_rows = entity::booking_series::Entity::find()
        .filter(entity::booking_series::Column::ResourceId.eq(hall))
        .count(db)
        .await?;
    let expected = seeded.len() as u64 + OCCURRENCES as u64 * made.len() as u64;
    if on_hall != expected || series_rows != made.len() as u64 {
        findings.push(format!(
            "the resource holds {on_hall} bookings and {series_rows} series, expected {expected} ({} seeded + 52 × {} made) and {}",
            seeded.len(),
            made.len(),
            made.len()
        ));
    }
    // In full (printed last), and in short (the summary row).
    let (per_series, per_series_short) = match (&counters, made_window) {
        (Some(c), Some(counted)) => {
            let after = c.after(db, hall, &before).await?;
            let transactions = (counted.commits() - after.numbering as f64) / made.len().max(1) as f64;
            let (xmin, xmin_short) = after.xmin_verdict(made.len());
            let full = format!(
                "transactions per series: {transactions:.2} ({}; less {} commits of the event numbering that followed; over {} series made)\n== series: xmin: {xmin}{}",
                counted.how(),
                after.numbering,
                made.len(),
                after.autovacuum_note()
            );
            (full, format!("transactions per series: {transactions:.2}, xmin: {xmin_short}"))
        }
        _ => {
            let text = "transactions per series: not measured (the check reads PostgreSQL's pg_stat_database: PostgreSQL only)";
            (text.to_owned(), text.to_owned())
        }
    };
    let mut rows = Vec::new();
    for phase in phases {
        rows.push(report::print(phase.name, &phase.recorded, phase.rss, phase.note));
    }
    let verdict = match findings.len() {
        0 => "exact".to_owned(),
        n => format!("{n} findings (WRONG)"),
    };
    let note = format!(
        "{} series one by one, every occurrence fits: {} × 201; {read_back} of {} read back with 52 confirmed bookings at the expected hours; resource holds {on_hall} bookings ({} seeded + 52 per series made); checks {verdict}; {per_series_short}; {written_nothing_short}; {}",
        fitting.len(),
        made.len(),
        made.len(),
        seeded.len(),
        checked(db).await
    );
    rows.push(report::print("series 201, 52 weekly", &recorded, rss, note));
    for finding in findings.iter().take(SHOWN) {
        println!("   SERIES WRONG: {finding}");
    }
    if findings.len() > SHOWN {
        println!("   SERIES WRONG: … and {} more", findings.len() - SHOWN);
    }
    println!("\n== series: {per_series}");
    println!("== series: {written_nothing}");
    Ok(rows)
}

/// Sends `asks` to `path` one by one, timed; returns each answer with its
/// `Content-Type`.
async fn one_by_one(api: &Api, path: &str, asks: &[Ask]) -> (Recorded, Vec<(Outcome, Option<String>)>) {
    let started = Instant::now();
    let mut recorded = Recorded::new();
    let mut answers = Vec::with_capacity(asks.len());
    for ask in asks {
        let sent = Instant::now();
        let answer = api.post_typed(path, &ask.body).await;
        recorded.record(&answer.0, sent.elapsed());
        answers.push(answer);
    }
    recorded.elapsed = started.elapsed();
    (recorded, answers)
}

fn instant(value: &Value) -> Option<DateTime<Utc>> {
    value.as_str()?.parse().ok()
}

/// What is wrong with a series' occurrences as answered (`bookings`): 52
/// confirmed one-unit bookings of `ask`'s customer, weekly from its hour.
fn wrong_occurrences(bookings: &Value, plan: &Plan, ask: &Ask) -> Option<String> {
    let Some(items) = bookings.as_array() else { return Some(format!("no bookings: {bookings}")) };
    if items.len() != OCCURRENCES as usize {
        return Some(format!("{} bookings, expected {OCCURRENCES}", items.len()));
    }
    let customer = ask.customer.to_string();
    for (week, booking) in (0..OCCURRENCES).zip(items) {
        let (start, end) = plan.slot(week, ask.hour);
        if instant(&booking["start_at"]) != Some(start)
            || instant(&booking["end_at"]) != Some(end)
            || booking["status"] != "confirmed"
            || booking["quantity"] != 1
            || booking["customer_id"] != customer.as_str()
        {
            return Some(format!(
                "occurrence #{} is {} {} to {} ×{} for {}, expected confirmed {start} to {end} ×1 for {customer}",
                week + 1,
                booking["status"],
                booking["start_at"],
                booking["end_at"],
                booking["quantity"],
                booking["customer_id"]
            ));
        }
    }
    None
}

/// What is wrong with the answer to a series that fits: `status` (201, or
/// 200 for a dry run) with its 52 occurrences and nothing skipped.
fn wrong_made(outcome: &Outcome, status: u16, plan: &Plan, ask: &Ask) -> Option<String> {
    if outcome.status != status {
        return Some(format!("{} {}, expected {status}", outcome.status, outcome.body));
    }
    if outcome.body["skipped"].as_array().is_none_or(|s| !s.is_empty()) {
        return Some(format!("skipped: {}", outcome.body["skipped"]));
    }
    wrong_occurrences(&outcome.body["bookings"], plan, ask)
}

/// What is wrong with a series read back: 200, itself, with its 52
/// occurrences, each naming it.
fn wrong_read_back(outcome: &Outcome, id: Uuid, plan: &Plan, ask: &Ask) -> Option<String> {
    if outcome.status != 200 {
        return Some(format!("{} {}", outcome.status, outcome.body));
    }
    let id = id.to_string();
    if outcome.body["id"] != id.as_str() || outcome.body["status"] != "active" {
        return Some(format!("id {}, status {}", outcome.body["id"], outcome.body["status"]));
    }
    let bookings = &outcome.body["bookings"];
    if let Some(other) = bookings.as_array().and_then(|b| b.iter().find(|b| b["series_id"] != id.as_str())) {
        return Some(format!("booking {} has series_id {}", other["id"], other["series_id"]));
    }
    wrong_occurrences(bookings, plan, ask)
}

/// What is wrong with a refused series' answer: 409
/// `application/problem+json` of type `series-conflict` listing exactly
/// the occurrences of `refused_weeks`, each `capacity-exceeded`.
fn wrong_conflict(
    outcome: &Outcome,
    content_type: Option<&str>,
    plan: &Plan,
    hour: i64,
    refused_weeks: &[i64],
) -> Option<String> {
    let body = &outcome.body;
    if outcome.status != 409 {
        return Some(format!("{} {}, expected 409", outcome.status, body));
    }
    if !content_type.is_some_and(|t| t.starts_with("application/problem+json")) {
        return Some(format!("Content-Type {content_type:?}, expected application/problem+json"));
    }
    if !body["type"].as_str().is_some_and(|t| t.ends_with("/problems/series-conflict")) {
        return Some(format!("type {}, expected …/problems/series-conflict", body["type"]));
    }
    let Some(listed) = body["occurrences"].as_array() else { return Some(format!("no occurrences: {body}")) };
    if listed.len() != refused_weeks.len() {
        let starts: Vec<String> = listed.iter().take(3).map(|o| o["start_at"].to_string()).collect();
        return Some(format!(
            "{} occurrences listed (first: {}), expected {}",
            listed.len(),
            starts.join(", "),
            refused_weeks.len()
        ));
    }
    for (&week, occurrence) in refused_weeks.iter().zip(listed) {
        let (start, end) = plan.slot(week, hour);
        if instant(&occurrence["start_at"]) != Some(start)
            || instant(&occurrence["end_at"]) != Some(end)
            || !occurrence["type"].as_str().is_some_and(|t| t.ends_with("/problems/capacity-exceeded"))
            || !occurrence["detail"].is_string()
            || occurrence.get("alternatives").is_none()
        {
            return Some(format!("listed {occurrence}, expected capacity-exceeded {start} to {end}"));
        }
    }
    None
}

/// The bench database's transaction counters, read over a connection to
/// the server's admin database so that reading adds none to them.
struct Counters {
    admin: DatabaseConnection,
    name: String,
}

#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    commits: i64,
    rollbacks: i64,
}

impl std::ops::Sub for Tally {
    type Output = Tally;
    fn sub(self, other: Tally) -> Tally {
        Tally { commits: self.commits - other.commits, rollbacks: self.rollbacks - other.rollbacks }
    }
}

/// A counted window under way.
struct Window {
    started: Instant,
    at_start: Tally,
}

/// A window's counts and those of an idle interval as long right after.
#[derive(Clone, Copy)]
struct Counted {
    work: Tally,
    idle: Tally,
    seconds: f64,
}

impl Counted {
    fn commits(&self) -> f64 {
        (self.work.commits - self.idle.commits) as f64
    }

    fn rollbacks(&self) -> f64 {
        (self.work.rollbacks - self.idle.rollbacks) as f64
    }

    fn how(&self) -> String {
        format!(
            "pg_stat_database: +{} commits, +{} rollbacks over the requests and a {} s settle ({:.1} s); +{} and +{} over an idle {:.1} s",
            self.work.commits,
            self.work.rollbacks,
            STATS_SETTLE.as_secs(),
            self.seconds,
            self.idle.commits,
            self.idle.rollbacks,
            self.seconds
        )
    }
}

/// Read before the counted windows (through the bench's own connection,
/// settled before the first window starts).
#[derive(Default)]
struct Before {
    newest_event: i64,
    autovacuums: i64,
}

/// Read after them.
struct After {
    /// Transactions that numbered the events written since `Before`.
    numbering: i64,
    /// Per series: how many rows it wrote (its row, its bookings, their
    /// create events), and their distinct transaction ids.
    xids: BTreeMap<String, (usize, BTreeSet<String>)>,
    autovacuums: i64,
}

impl After {
    /// In full, and in short.
    fn xmin_verdict(&self, made: usize) -> (String, String) {
        let rows = 1 + 2 * OCCURRENCES as usize;
        let single = self.xids.values().filter(|(n, x)| *n == rows && x.len() == 1).count();
        let distinct: BTreeSet<&String> = self.xids.values().flat_map(|(_, x)| x).collect();
        let verdict =
            if single == made && self.xids.len() == made && distinct.len() == made { "exact" } else { "WRONG" };
        let full = format!(
            "{single} of {made} series wrote their {rows} rows (the series, 52 bookings, 52 create events) under one transaction id, {} ids for {} series ({verdict})",
            distinct.len(),
            self.xids.len()
        );
        (full, format!("{single} of {made} series written under one transaction id ({verdict})"))
    }

    fn autovacuum_note(&self) -> String {
        if self.autovacuums == 0 {
            String::new()
        } else {
            format!(
                "; autovacuum ran {} times on the bench database meanwhile: its transactions are in the counts",
                self.autovacuums
            )
        }
    }
}

async fn scalar(db: &DatabaseConnection, sql: &str, values: Vec<sea_orm::Value>) -> anyhow::Result<i64> {
    let statement = Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values);
    let row = db.query_one_raw(statement).await?.ok_or_else(|| anyhow::anyhow!("no row for {sql}"))?;
    Ok(row.try_get_by_index(0)?)
}

impl Counters {
    /// `None` on SQLite.
    async fn open(args: &RunArgs, url: &str) -> anyhow::Result<Option<Counters>> {
        if args.database != Engine::Postgres {
            return Ok(None);
        }
        let (_, name) = url.rsplit_once('/').ok_or_else(|| anyhow::anyhow!("postgres URL needs /DB"))?;
        let name = name.split('?').next().unwrap_or(name).to_owned();
        Ok(Some(Counters { admin: Database::connect(&args.postgres_url).await?, name }))
    }

    async fn read(&self) -> anyhow::Result<Tally> {
        let statement = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = $1",
            [self.name.clone().into()],
        );
        let row =
            self.admin.query_one_raw(statement).await?.ok_or_else(|| anyhow::anyhow!("no pg_stat_database row"))?;
        Ok(Tally { commits: row.try_get_by_index(0)?, rollbacks: row.try_get_by_index(1)? })
    }

    /// Vacuums and analyses the seeded database, notes where the events
    /// and autovacuum's counts stand, and lets every backend's statistics
    /// settle.
    async fn prepare(&self, db: &DatabaseConnection) -> anyhow::Result<Before> {
        db.execute_unprepared("VACUUM (ANALYZE)").await?;
        let before = Before {
            newest_event: scalar(db, "SELECT COALESCE(MAX(id), 0)::bigint FROM outbox_event", vec![]).await?,
            autovacuums: scalar(
                db,
                "SELECT COALESCE(SUM(autovacuum_count + autoanalyze_count), 0)::bigint FROM pg_stat_user_tables",
                vec![],
            )
            .await?,
        };
        tokio::time::sleep(STATS_SETTLE).await;
        Ok(before)
    }

    async fn start(&self) -> anyhow::Result<Window> {
        Ok(Window { started: Instant::now(), at_start: self.read().await? })
    }

    /// Waits for the window's statistics to settle, reads them, then
    /// counts an idle interval as long as the window.
    async fn finish(&self, window: Window) -> anyhow::Result<Counted> {
        tokio::time::sleep(STATS_SETTLE).await;
        let at_end = self.read().await?;
        let length = window.started.elapsed();
        tokio::time::sleep(length).await;
        let idle_end = self.read().await?;
        Ok(Counted { work: at_end - window.at_start, idle: idle_end - at_end, seconds: length.as_secs_f64() })
    }

    /// After the windows, through the bench's own connection.
    async fn after(&self, db: &DatabaseConnection, hall: Uuid, before: &Before) -> anyhow::Result<After> {
        let numbering = scalar(
            db,
            "SELECT COUNT(DISTINCT xmin::text)::bigint FROM outbox_event WHERE id > $1 AND position IS NOT NULL",
            vec![before.newest_event.into()],
        )
        .await?;
        let autovacuums = scalar(
            db,
            "SELECT COALESCE(SUM(autovacuum_count + autoanalyze_count), 0)::bigint FROM pg_stat_user_tables",
            vec![],
        )
        .await?
            - before.autovacuums;
        let statement = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT id::text, xmin::text FROM booking_series WHERE resource_id = $1 \
             UNION ALL SELECT series_id::text, xmin::text FROM booking WHERE resource_id = $1 AND series_id IS NOT NULL \
             UNION ALL SELECT b.series_id::text, e.xmin::text FROM booking_event e JOIN booking b ON b.id = e.booking_id \
                       WHERE b.resource_id = $1 AND b.series_id IS NOT NULL",
            [hall.into()],
        );
        let mut xids: BTreeMap<String, (usize, BTreeSet<String>)> = BTreeMap::new();
        for row in db.query_all_raw(statement).await? {
            let series: String = row.try_get_by_index(0)?;
            let xid: String = row.try_get_by_index(1)?;
            let (rows, ids) = xids.entry(series).or_default();
            *rows += 1;
            ids.insert(xid);
        }
        Ok(After { numbering, xids, autovacuums })
    }
}
