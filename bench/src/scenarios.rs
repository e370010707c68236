//! The scenarios, in the order they run, on one server and one database.

use std::time::{Duration, Instant};

use berth::{
    domain::{ids::ResourceId, time_range::TimeRange},
    store::usage,
};
use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use rand::Rng;
use sea_orm::{ActiveValue::Set, ConnectionTrait, Database, DatabaseConnection, EntityTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Engine, RunArgs, Scenario, check,
    client::{Api, Outcome, Recorded, for_count, for_duration},
    limit::{self, Targets, random_slot},
    report::{self, Row},
    server::Server,
};

const POOL: u32 = 16;

/// A fresh database for this run, removed afterwards.
struct BenchDatabase {
    url: String,
    drop_with: Option<(String, String)>,
    _dir: Option<std::path::PathBuf>,
}

impl BenchDatabase {
    async fn create(args: &RunArgs) -> anyhow::Result<BenchDatabase> {
        let name = format!("berth_bench_{}", Uuid::new_v4().simple());
        match args.database {
            Engine::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir)?;
                let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
                Ok(BenchDatabase { url, drop_with: None, _dir: Some(dir) })
            }
            Engine::Postgres => {
                let admin = Database::connect(&args.postgres_url).await?;
                admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await?;
                let (prefix, _) =
                    args.postgres_url.rsplit_once('/').ok_or_else(|| anyhow::anyhow!("postgres URL needs /DB"))?;
                Ok(BenchDatabase {
                    url: format!("{prefix}/{name}"),
                    drop_with: Some((args.postgres_url.clone(), name)),
                    _dir: None,
                })
            }
        }
    }

    async fn remove(&self) {
        if let Some((admin_url, name)) = &self.drop_with
            && let Ok(admin) = Database::connect(admin_url).await
        {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
        }
        if let Some(dir) = &self._dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub async fn run_all(args: RunArgs) -> anyhow::Result<()> {
    let database = BenchDatabase::create(&args).await?;
    let result = run_on(&args, &database).await;
    database.remove().await;
    result
}

fn wants(args: &RunArgs, scenario: Scenario) -> bool {
    args.scenario == Scenario::All || args.scenario == scenario
}

async fn run_on(args: &RunArgs, database: &BenchDatabase) -> anyhow::Result<()> {
    let engine = match args.database {
        Engine::Sqlite => "sqlite",
        Engine::Postgres => "postgres",
    };
    println!(
        "berth-bench on {engine}: concurrency {}, {} s phases{}; {} cores",
        args.concurrency,
        args.phase().as_secs(),
        if args.smoke { " (smoke run: sizes are tiny, numbers mean nothing)" } else { "" },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let server = Server::start(&database.url, POOL).await?;
    let api = Api::new(&server.base)?;
    let db = berth::store::connect(&database.url, POOL, Duration::from_secs(10)).await?;
    let mut rows = Vec::new();
    if wants(args, Scenario::Spread) {
        rows.extend(spread(args, &server, &api, &db, &database.url).await?);
    }
    if wants(args, Scenario::Hotspot) {
        rows.push(hotspot(args, &server, &api, &db).await?);
    }
    if wants(args, Scenario::Lifecycle) {
        rows.push(lifecycle(args, &server, &api, &db).await?);
    }
    if wants(args, Scenario::History) {
        rows.extend(history(args, &server, &api, &db).await?);
    }
    if wants(args, Scenario::Fill) {
        rows.push(fill(args, &server, &api, &db).await?);
    }
    if wants(args, Scenario::Policy) {
        rows.extend(policy(args, &server, &api, &db).await?);
    }
    if wants(args, Scenario::Slots) {
        rows.extend(slots(args, &server, &api, &db).await?);
    }
    if wants(args, Scenario::Peer) {
        let own_sql = rows.iter().find(|r| r.scenario == "pgbench booking.sql").map(|r| r.throughput);
        rows.extend(crate::peer::peer(args, &server, &api, &db, &database.url, own_sql).await?);
    }
    if wants(args, Scenario::Series) {
        rows.extend(crate::series::series(args, &server, &api, &db, &database.url).await?);
    }
    if wants(args, Scenario::Search) {
        rows.extend(crate::search::search(args, &server, &api, &db, &database.url).await?);
    }
    if wants(args, Scenario::Rush) {
        rows.extend(crate::rush::rush(args, &server, &api, &db).await?);
    }
    if wants(args, Scenario::Storm) {
        rows.push(crate::rush::storm(args, &server, &api, &db).await?);
    }
    // Last: the queue it leaves behind (offers held, entries waiting) is
    // served by the sweeper, which the other scenarios should not pay for.
    if wants(args, Scenario::Waitlist) {
        rows.extend(crate::waitlist::waitlist(args, &server, &api, &db).await?);
    }
    report::summary(engine, &rows);
    Ok(())
}

/// `booking.sql` under pgbench on `limit-N` resources made for it (huge
/// capacity) and the `bench-N` customers. Returns bookings per second.
pub(crate) async fn pgbench_limit(
    args: &RunArgs,
    api: &Api,
    url: &str,
    n_resources: usize,
    n_customers: usize,
) -> anyhow::Result<f64> {
    for i in 0..n_resources {
        resource(api, &format!("limit-{i}"), 1_000_000, Some(86_400)).await?;
    }
    limit::pgbench(url, limit::BOOKING_SQL, n_resources, n_customers, args.concurrency, args.phase()).await
}

pub(crate) async fn customers(api: &Api, prefix: &str, count: usize) -> anyhow::Result<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let body = json!({"email": format!("{prefix}-{i}@bench.example"), "name": format!("Bench {i}")});
        ids.push(id_of(&api.create("/v1/customers", &body).await?)?);
    }
    Ok(ids)
}

pub(crate) async fn resource(
    api: &Api,
    name: &str,
    capacity: usize,
    max_duration: Option<i64>,
) -> anyhow::Result<Uuid> {
    let mut body = json!({"name": name, "capacity": capacity});
    if let Some(max) = max_duration {
        body["max_booking_duration_seconds"] = json!(max);
    }
    id_of(&api.create("/v1/resources", &body).await?)
}

pub(crate) fn id_of(body: &Value) -> anyhow::Result<Uuid> {
    Ok(body["id"].as_str().ok_or_else(|| anyhow::anyhow!("no id in {body}"))?.parse()?)
}

pub(crate) fn booking(resource: Uuid, customer: Uuid, (start, end): (DateTime<Utc>, DateTime<Utc>)) -> Value {
    json!({"resource_id": resource, "customer_id": customer, "start_at": start.to_rfc3339(), "end_at": end.to_rfc3339()})
}

/// One unkeyed booking request.
async fn book(
    api: &Api,
    resource: Uuid,
    customer: Uuid,
    slot: (chrono::DateTime<Utc>, chrono::DateTime<Utc>),
) -> Outcome {
    api.post("/v1/bookings", &booking(resource, customer, slot), None).await
}

pub(crate) async fn checked(db: &DatabaseConnection) -> String {
    match check::invariants(db).await {
        Ok(summary) => summary,
        Err(err) => {
            println!("   INVARIANT VIOLATED: {err}");
            format!("INVARIANT VIOLATED: {err}")
        }
    }
}

/// Scenario `spread`: bookings spread over many resources (little
/// contention), mixed with availability reads, 80/20 and 20/80; then the
/// same mix without HTTP.
async fn spread(
    args: &RunArgs,
    server: &Server,
    api: &Api,
    db: &DatabaseConnection,
    url: &str,
) -> anyhow::Result<Vec<Row>> {
    let (n_resources, n_customers) = (args.size(1000, 20), args.size(1000, 20));
    let mut targets = Targets { resources: Vec::new(), customers: customers(api, "bench", n_customers).await? };
    for i in 0..n_resources {
        targets.resources.push(resource(api, &format!("spread-{i}"), 5, Some(86_400)).await?);
    }
    let mut rows = Vec::new();
    for write_percent in [80u32, 20] {
        server.reset_peak_rss();
        let recorded = for_duration(args.concurrency, args.phase(), |_| {
            let (write, r, c, slot) = {
                let mut rng = rand::rng();
                (
                    rng.random_range(0..100) < write_percent,
                    targets.resources[rng.random_range(0..targets.resources.len())],
                    targets.customers[rng.random_range(0..targets.customers.len())],
                    random_slot(),
                )
            };
            async move {
                if write {
                    let key = Uuid::new_v4().to_string();
                    api.post("/v1/bookings", &booking(r, c, slot), Some(&key)).await
                } else {
                    let (from, to) = (slot.0, slot.0 + Span::days(1));
                    let path = format!(
                        "/v1/resources/{r}/availability?from={}&to={}",
                        from.to_rfc3339().replace('+', "%2B"),
                        to.to_rfc3339().replace('+', "%2B")
                    );
                    api.get(&path).await
                }
            }
        })
        .await;
        let rss = server.peak_rss_mib();
        let direct = limit::direct(db, &targets, args.concurrency, args.phase(), write_percent).await;
        let ratio = recorded.throughput() / direct.throughput().max(1e-9);
        let note = format!(
            "writes {write_percent}%: limit without HTTP {:.0} req/s (p50 {:.2} ms), berth at {:.0}% of it; {}",
            direct.throughput(),
            direct.latency.value_at_quantile(0.5) as f64 / 1000.0,
            ratio * 100.0,
            checked(db).await
        );
        rows.push(report::print(&format!("spread {write_percent}/{}", 100 - write_percent), &recorded, rss, note));
    }
    if args.database == Engine::Postgres {
        match pgbench_limit(args, api, url, n_resources, n_customers).await {
            Ok(tps) => {
                let write_rows = rows.first().map_or(0.0, |r: &Row| r.throughput * 0.8);
                println!(
                    "\n== pgbench limit: {tps:.0} bookings/s in plain SQL at concurrency {} (berth's spread 80/20 wrote {:.0}/s: {:.0}% of it)",
                    args.concurrency,
                    write_rows,
                    write_rows / tps * 100.0
                );
                rows.push(Row {
                    scenario: "pgbench booking.sql".into(),
                    throughput: tps,
                    p50_ms: 0.0,
                    p99_ms: 0.0,
                    note: format!("plain-SQL limit; berth 80/20 writes at {:.0}% of it", write_rows / tps * 100.0),
                });
            }
            Err(err) => println!("\n== pgbench limit: not measured ({err})"),
        }
    }
    Ok(rows)
}

/// Scenario `hotspot`: many more simultaneous requests for one window than
/// it has units.
async fn hotspot(args: &RunArgs, server: &Server, api: &Api, db: &DatabaseConnection) -> anyhow::Result<Row> {
    let (capacity, requests) = (args.size(100, 10), args.size(2000, 100));
    let hot = resource(api, "hotspot", capacity, None).await?;
    let people = customers(api, "hot", requests).await?;
    let slot = random_slot();
    server.reset_peak_rss();
    let recorded = for_count(requests, requests as u64, |n| book(api, hot, people[n as usize], slot)).await;
    let created = recorded.count("201");
    let refused = recorded.count("409 capacity-exceeded");
    let server_errors: u64 =
        recorded.outcomes.iter().filter(|(l, _)| l.starts_with('5') || l.starts_with('t')).map(|(_, n)| n).sum();
    let verdict = if created == capacity as u64 && refused == (requests - capacity) as u64 && server_errors == 0 {
        "exact"
    } else {
        "WRONG"
    };
    let note = format!(
        "{requests} at once for {capacity} units: {created} × 201, {refused} × 409, {server_errors} × 5xx ({verdict}) in {:.2} s; {}",
        recorded.elapsed.as_secs_f64(),
        checked(db).await
    );
    Ok(report::print("hotspot", &recorded, server.peak_rss_mib(), note))
}

/// Scenario `lifecycle`: held, confirm, reschedule, cancel, every step
/// retried with its Idempotency-Key (the retry must be a replay).
async fn lifecycle(args: &RunArgs, server: &Server, api: &Api, db: &DatabaseConnection) -> anyhow::Result<Row> {
    let room = resource(api, "lifecycle", 1_000, Some(86_400)).await?;
    let people = customers(api, "life", args.concurrency).await?;
    server.reset_peak_rss();
    let started = Instant::now();
    let deadline = args.phase();
    let workers = people.iter().map(|&customer| async move {
        let mut recorded = Recorded::new();
        let mut not_replayed = 0u64;
        let mut flows = 0u64;
        while started.elapsed() < deadline {
            let key = Uuid::new_v4();
            let mut body = booking(room, customer, random_slot());
            body["hold"] = json!(true);
            let mut twice = async |path: &str, body: &Value, step: &str| {
                keyed_twice(api, &mut recorded, &mut not_replayed, path, body, &format!("{key}-{step}")).await
            };
            let created = twice("/v1/bookings", &body, "create").await;
            let Some(id) = created.body["id"].as_str().map(str::to_owned) else { continue };
            twice(&format!("/v1/bookings/{id}/confirm"), &json!({}), "confirm").await;
            let (start, end) = random_slot();
            let moved = json!({"start_at": start.to_rfc3339(), "end_at": end.to_rfc3339()});
            twice(&format!("/v1/bookings/{id}/reschedule"), &moved, "reschedule").await;
            twice(&format!("/v1/bookings/{id}/cancel"), &json!({"reason": "bench"}), "cancel").await;
            flows += 1;
        }
        (recorded, not_replayed, flows)
    });
    let mut total = Recorded::new();
    let (mut not_replayed, mut flows) = (0, 0);
    for (recorded, missed, done) in futures::future::join_all(workers).await {
        total.merge(recorded);
        not_replayed += missed;
        flows += done;
    }
    total.elapsed = started.elapsed();
    let note = format!(
        "{flows} flows of 4 steps, each sent twice with its key; retries not replayed: {not_replayed}; {}",
        checked(db).await
    );
    Ok(report::print("lifecycle", &total, server.peak_rss_mib(), note))
}

/// Sends a keyed POST twice; the second must replay the first.
async fn keyed_twice(
    api: &Api,
    recorded: &mut Recorded,
    not_replayed: &mut u64,
    path: &str,
    body: &Value,
    key: &str,
) -> Outcome {
    let sent = Instant::now();
    let first = api.post(path, body, Some(key)).await;
    recorded.record(&first, sent.elapsed());
    let sent = Instant::now();
    let again = api.post(path, body, Some(key)).await;
    recorded.record(&again, sent.elapsed());
    if !again.replayed || again.status != first.status {
        *not_replayed += 1;
    }
    first
}

/// Scenario `history`: booking latency on a resource with 100,000 past and
/// future bookings, against an empty one.
async fn history(args: &RunArgs, server: &Server, api: &Api, db: &DatabaseConnection) -> anyhow::Result<Vec<Row>> {
    let busy = resource(api, "history-busy", 1_000, Some(86_400)).await?;
    let empty = resource(api, "history-empty", 1_000, Some(86_400)).await?;
    let seeded = args.size(100_000, 2_000);
    let owner = customers(api, "seed", 1).await?[0];
    seed(db, busy, owner, seeded).await?;
    let count = args.size(400, 20);
    let people = customers(api, "hist", count).await?;
    let slots: Vec<_> = (0..count).map(|_| random_slot()).collect();
    let mut rows = Vec::new();
    let mut p50s = Vec::new();
    for (name, target) in [("history: 100k bookings", busy), ("history: empty", empty)] {
        server.reset_peak_rss();
        let recorded = for_count(1, count as u64, |n| book(api, target, people[n as usize], slots[n as usize])).await;
        p50s.push(recorded.latency.value_at_quantile(0.5) as f64);
        let note = if p50s.len() == 2 {
            format!("p50 with history / empty = {:.2}; {}", p50s[0] / p50s[1].max(1.0), checked(db).await)
        } else {
            format!("{seeded} bookings seeded over ±{} days, one client", seeded / 16)
        };
        rows.push(report::print(name, &recorded, server.peak_rss_mib(), note));
    }
    Ok(rows)
}

/// A confirmed one-unit booking row without buffers, written straight to
/// the database (seeding, not measured).
pub(crate) fn confirmed_row(
    id: Uuid,
    resource: Uuid,
    customer: Uuid,
    (start, end): (chrono::DateTime<Utc>, chrono::DateTime<Utc>),
    now: chrono::DateTime<Utc>,
) -> entity::booking::ActiveModel {
    entity::booking::ActiveModel {
        id: Set(id),
        resource_id: Set(resource),
        group_id: Set(None),
        bundle_id: Set(None),
        bundle_item: Set(None),
        customer_id: Set(customer),
        start_at: Set(start),
        end_at: Set(end),
        quantity: Set(1),
        status: Set("confirmed".into()),
        hold_expires_at: Set(None),
        notes: Set(None),
        buffer_before_seconds: Set(0),
        buffer_after_seconds: Set(0),
        occupied_start_at: Set(start),
        occupied_end_at: Set(end),
        version: Set(1),
        // Its hours go into the usage summary with it (`taken`).
        counted_version: Set(Some(1)),
        waitlist_entry_id: Set(None),
        series_id: Set(None),
        check_in_deadline_at: Set(None),
        fields: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// What a one-unit booking of `slot` without buffers (`confirmed_row`)
/// adds to the usage summary, which berth keeps with every booking it
/// writes and reads to admit.
fn taken(usage: &mut usage::Changes, resource: Uuid, (start, end): (DateTime<Utc>, DateTime<Utc>)) {
    if let Some(occupied) = TimeRange::new(start, end) {
        usage.take(ResourceId(resource), &occupied, 1);
    }
}

/// Inserts `count` one-hour bookings, every 3 hours, half in the past and
/// half in the future, each with its create event.
async fn seed(db: &DatabaseConnection, resource: Uuid, customer: Uuid, count: usize) -> anyhow::Result<()> {
    let origin = Utc::now().duration_trunc(Span::hours(1))? - Span::hours(3 * (count as i64 / 2)) + Span::minutes(30);
    let bookings: Vec<_> = (0..count)
        .map(|i| {
            let start = origin + Span::hours(3 * i as i64);
            (customer, (start, start + Span::hours(1)))
        })
        .collect();
    seed_bookings(db, resource, &bookings).await
}

/// One booking to seed: its customer and its `[start, end)`.
pub(crate) type Seeded = (Uuid, (DateTime<Utc>, DateTime<Utc>));

/// Inserts a confirmed one-unit booking (`confirmed_row`) of `resource`
/// for each `(customer, slot)`, each with its create event and its hours
/// in the usage summary (seeding, not measured).
pub(crate) async fn seed_bookings(db: &DatabaseConnection, resource: Uuid, seeded: &[Seeded]) -> anyhow::Result<()> {
    let now = Utc::now();
    for chunk in seeded.chunks(1_000) {
        let mut bookings = Vec::with_capacity(chunk.len());
        let mut events = Vec::with_capacity(chunk.len());
        let mut usage = usage::Changes::new();
        for &(customer, slot) in chunk {
            let id = Uuid::now_v7();
            bookings.push(confirmed_row(id, resource, customer, slot, now));
            taken(&mut usage, resource, slot);
            events.push(entity::booking_event::ActiveModel {
                id: Set(Uuid::now_v7()),
                booking_id: Set(id),
                from_status: Set(None),
                to_status: Set("confirmed".into()),
                action: Set("create".into()),
                actor_sub: Set("seed".into()),
                actor_role: Set("admin".into()),
                reason: Set(None),
                request_id: Set(None),
                policy_overridden: Set(false),
                at: Set(now),
            });
        }
        entity::booking::Entity::insert_many(bookings).exec_without_returning(db).await?;
        entity::booking_event::Entity::insert_many(events).exec_without_returning(db).await?;
        usage.write(db).await?;
    }
    Ok(())
}

/// Scenario `fill`: one resource filled unit by unit; does the last 10 % go
/// as fast as the first?
async fn fill(args: &RunArgs, server: &Server, api: &Api, db: &DatabaseConnection) -> anyhow::Result<Row> {
    let capacity = args.size(5_000, 100);
    let hall = resource(api, "fill", capacity, None).await?;
    let people = customers(api, "fill", capacity).await?;
    let slot = random_slot();
    server.reset_peak_rss();
    let recorded = for_count(args.concurrency, capacity as u64, |n| book(api, hall, people[n as usize], slot)).await;
    let tenth = capacity / 10;
    let done = &recorded.completions;
    let first = tenth as f64 / done[tenth - 1].as_secs_f64().max(1e-9);
    let last = tenth as f64 / (done[capacity - 1] - done[capacity - tenth - 1]).as_secs_f64().max(1e-9);
    let note = format!(
        "first 10 %: {first:.0} req/s, last 10 %: {last:.0} req/s ({:.0}% of the first); {} × 201; {}",
        last / first * 100.0,
        recorded.count("201"),
        checked(db).await
    );
    Ok(report::print("fill", &recorded, server.peak_rss_mib(), note))
}

/// Opening hours every day 06:00-23:00 with a year of holidays, in the
/// resource's own zone: what a venue's schedule looks like.
fn venue_schedule() -> Value {
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let holidays: Vec<Value> = (0..20)
        .map(|i| {
            let date = (Utc::now() + Span::days(17 * i + 3)).date_naive();
            json!({"date": date.to_string(), "hours": [{"from": "12:00", "to": "23:00"}]})
        })
        .collect();
    json!({"weekly": [{"days": days, "from": "06:00", "to": "23:00"}], "exceptions": holidays})
}

/// A policy using every rule, loose enough that the bench's slots pass.
fn venue_policy() -> Value {
    json!({
        "min_notice_seconds": 3600, "max_advance_seconds": 400 * 86_400, "slot_step_seconds": 1800,
        "min_duration_seconds": 1800, "buffer_before_seconds": 0, "buffer_after_seconds": 600,
        "cancel_cutoff_seconds": 86_400, "reschedule_cutoff_seconds": 86_400, "max_active_bookings_per_customer": 10_000,
    })
}

/// A random one-hour slot starting 15:00 to 19:00 UTC on one of the next
/// 365 days: open time on every day of `venue_schedule` in Europe/Lisbon
/// (UTC+0/+1), holidays included, and on its half-hour grid.
fn daytime_slot() -> (chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
    let mut rng = rand::rng();
    let day =
        Utc::now().duration_trunc(Span::days(1)).unwrap_or_else(|_| Utc::now()) + Span::days(rng.random_range(2..=365));
    let start = day + Span::hours(rng.random_range(15..20));
    (start, start + Span::hours(1))
}

/// Scenario `policy`: unkeyed bookings over 1,000 resources, once on
/// resources without a schedule or policy and once on resources with a
/// venue's schedule and every policy rule, alternating twice; the ratio is
/// what deciding the opening hours and the policy costs.
async fn policy(args: &RunArgs, server: &Server, api: &Api, db: &DatabaseConnection) -> anyhow::Result<Vec<Row>> {
    let n = args.size(1000, 20);
    let people = customers(api, "policy", n).await?;
    let mut plain = Vec::with_capacity(n);
    let mut ruled = Vec::with_capacity(n);
    for i in 0..n {
        plain.push(resource(api, &format!("plain-{i}"), 5, Some(86_400)).await?);
        let body = json!({"name": format!("ruled-{i}"), "capacity": 5, "max_booking_duration_seconds": 86_400,
                          "time_zone": "Europe/Lisbon", "schedule": venue_schedule(), "policy": venue_policy()});
        ruled.push(id_of(&api.create("/v1/resources", &body).await?)?);
    }
    let mut throughput = [Vec::new(), Vec::new()];
    let mut rows = Vec::new();
    for round in 0..2 {
        for (which, (label, targets)) in [("plain", &plain), ("schedule+policy", &ruled)].into_iter().enumerate() {
            server.reset_peak_rss();
            let recorded = for_duration(args.concurrency, args.phase(), |_| {
                let (r, c) = {
                    let mut rng = rand::rng();
                    (targets[rng.random_range(0..targets.len())], people[rng.random_range(0..people.len())])
                };
                async move { book(api, r, c, daytime_slot()).await }
            })
            .await;
            throughput[which].push(recorded.throughput());
            let rss = server.peak_rss_mib();
            rows.push(report::print(&format!("policy {label} #{}", round + 1), &recorded, rss, checked(db).await));
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let ratio = mean(&throughput[1]) / mean(&throughput[0]).max(1e-9);
    println!(
        "\n== policy: schedule+policy books at {:.0}% of plain ({:.0} vs {:.0} req/s, mean of two rounds each)",
        ratio * 100.0,
        mean(&throughput[1]),
        mean(&throughput[0])
    );
    Ok(rows)
}

/// Scenario `slots`: slot search over a week holding 10,000 bookings, on
/// a 15-minute grid (672 candidates) and on an hourly one (168), the same
/// bookings on both resources, and one day of the 15-minute grid (96). One
/// range read and one sweep serve every candidate: the week's cost is
/// reading its bookings, and four times the candidates cost little more.
async fn slots(args: &RunArgs, server: &Server, api: &Api, db: &DatabaseConnection) -> anyhow::Result<Vec<Row>> {
    let count = args.size(10_000, 200);
    let customer = customers(api, "slots", 1).await?[0];
    let week_start = Utc::now().duration_trunc(Span::days(1))? + Span::days(2);
    let mut halls = Vec::new();
    for (name, step) in [("quarter-hours", 900), ("hours", 3600)] {
        let body = json!({"name": format!("slots {name}"), "capacity": 100, "policy": {"slot_step_seconds": step}});
        halls.push(id_of(&api.create("/v1/resources", &body).await?)?);
    }
    let now = Utc::now();
    let slots: Vec<(chrono::DateTime<Utc>, chrono::DateTime<Utc>)> = {
        let mut rng = rand::rng();
        (0..count)
            .map(|_| {
                let start = week_start + Span::minutes(15 * rng.random_range(0..7 * 96));
                (start, start + Span::minutes(15 * rng.random_range(1..=8)))
            })
            .collect()
    };
    for hall in &halls {
        for chunk in slots.chunks(1_000) {
            let rows: Vec<entity::booking::ActiveModel> =
                chunk.iter().map(|slot| confirmed_row(Uuid::now_v7(), *hall, customer, *slot, now)).collect();
            entity::booking::Entity::insert_many(rows).exec_without_returning(db).await?;
            let mut usage = usage::Changes::new();
            for slot in chunk {
                taken(&mut usage, *hall, *slot);
            }
            usage.write(db).await?;
        }
    }
    // A week's bookings arrive over days, and autovacuum keeps up with
    // them: the visibility map lets the capacity read use the covering
    // index alone. Freshly bulk-inserted rows would be read from the heap
    // one by one, which no live database does for a week of bookings.
    settle(db).await?;
    let requests = args.size(300, 20) as u64;
    let mut rows = Vec::new();
    let mut medians = Vec::new();
    for (label, hall, days, candidates) in [
        ("one day, 15 min", halls[0], 1, 96),
        ("the week, 60 min", halls[1], 7, 168),
        ("the week, 15 min", halls[0], 7, 672),
    ] {
        let path = format!(
            "/v1/resources/{hall}/slots?from={}&to={}&duration_seconds=3600",
            week_start.to_rfc3339().replace('+', "%2B"),
            (week_start + Span::days(days)).to_rfc3339().replace('+', "%2B")
        );
        server.reset_peak_rss();
        let recorded = for_count(4.min(args.concurrency), requests, |_| api.get(&path)).await;
        let p50 = recorded.latency.value_at_quantile(0.5) as f64 / 1000.0;
        medians.push(p50);
        let note = format!("{candidates} candidates; {count} bookings in the week: p50 {p50:.2} ms");
        rows.push(report::print(&format!("slots {label}"), &recorded, server.peak_rss_mib(), note));
    }
    if let [day, hourly, quarterly] = medians[..] {
        println!(
            "\n== slots: the week's 672 candidates take {:.2}× the time of its 168 ({quarterly:.2} vs {hourly:.2} ms p50), one day {day:.2} ms: the cost is the read and the sweep, not the candidates",
            quarterly / hourly.max(1e-9)
        );
    }
    // The same week while bookings land in it (20 a second, written as the
    // seeding writes them, summary hours included): each one changes the
    // stamps of its hours, so the page loads after it read the week again
    // (docs/design.md §31). What a page load costs on a calendar in use.
    let path = format!(
        "/v1/resources/{}/slots?from={}&to={}&duration_seconds=3600",
        halls[0],
        week_start.to_rfc3339().replace('+', "%2B"),
        (week_start + Span::days(7)).to_rfc3339().replace('+', "%2B")
    );
    let landing = tokio::sync::watch::channel(false);
    let writer = {
        let (db, hall, mut stop) = (db.clone(), halls[0], landing.1);
        tokio::spawn(async move {
            let mut written = 0_u64;
            let mut every = tokio::time::interval(std::time::Duration::from_millis(50));
            loop {
                tokio::select! {
                    _ = stop.changed() => return Ok::<u64, anyhow::Error>(written),
                    _ = every.tick() => {}
                }
                let start = week_start + Span::minutes(15 * rand::rng().random_range(0..7 * 96));
                let slot = (start, start + Span::minutes(15));
                entity::booking::Entity::insert(confirmed_row(Uuid::now_v7(), hall, customer, slot, Utc::now()))
                    .exec_without_returning(&db)
                    .await?;
                let mut usage = usage::Changes::new();
                taken(&mut usage, hall, slot);
                usage.write(&db).await?;
                written += 1;
            }
        })
    };
    server.reset_peak_rss();
    let recorded = for_count(4.min(args.concurrency), requests, |_| api.get(&path)).await;
    landing.0.send(true)?;
    let written = writer.await??;
    let p50 = recorded.latency.value_at_quantile(0.5) as f64 / 1000.0;
    let note =
        format!("672 candidates; {count} bookings in the week, {written} more landing meanwhile: p50 {p50:.2} ms");
    rows.push(report::print("slots the week, 15 min, bookings landing", &recorded, server.peak_rss_mib(), note));
    forget_seeded(db, &halls).await?;
    Ok(rows)
}

/// What autovacuum does to seeded rows in time, on PostgreSQL:
/// `VACUUM (ANALYZE)`. SQLite has no visibility map (its `ANALYZE` was
/// tried: the same plan and time for this read).
pub(crate) async fn settle(db: &DatabaseConnection) -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait, DatabaseBackend};
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_unprepared("VACUUM (ANALYZE) booking").await?;
    }
    Ok(())
}

/// Deletes what `slots` seeded on `halls` (bookings and their hours in the
/// usage summary). It was written beside the rules, to measure reads: one
/// customer's overlapping bookings, no history. Left in place, the audit
/// after a later scenario (which audits the whole database) would rightly
/// report them.
async fn forget_seeded(db: &DatabaseConnection, halls: &[Uuid]) -> anyhow::Result<()> {
    use sea_orm::{ColumnTrait, QueryFilter};
    entity::booking::Entity::delete_many()
        .filter(entity::booking::Column::ResourceId.is_in(halls.iter().copied()))
        .exec(db)
        .await?;
    entity::resource_usage::Entity::delete_many()
        .filter(entity::resource_usage::Column::ResourceId.is_in(halls.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}
