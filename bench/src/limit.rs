//! The limit: the database work of a booking without HTTP.
//!
//! `direct` calls berth's own service layer (look the Idempotency-Key up,
//! then the booking transaction that stores its response) at the same
//! concurrency as the HTTP run: what berth would do with HTTP, JSON and
//! auth taken away. On PostgreSQL, `pgbench` runs `pgbench/booking.sql`,
//! the same statements as plain SQL, with no Rust at all.

use std::time::{Duration, Instant};

use berth::{
    auth::Principal,
    domain::{booking::Booking, ids::*, rules::Refusal, time_range::TimeRange},
    service::{
        Db, ServiceError,
        bookings::{self, Context, NewBooking, Target},
        idempotency::{Key, Policy, Scope, Seal, StoredResponse},
    },
};
use chrono::{Duration as Span, DurationRound, Utc};
use rand::Rng;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::client::{Outcome, Recorded, for_duration};

/// The ids the spread scenario books on.
pub struct Targets {
    pub resources: Vec<Uuid>,
    pub customers: Vec<Uuid>,
}

/// A random one-hour slot in the next year.
pub fn random_slot() -> (chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
    let mut rng = rand::rng();
    let hour = Utc::now().duration_trunc(Span::hours(1)).unwrap_or_else(|_| Utc::now());
    let start = hour + Span::days(rng.random_range(1..=365)) + Span::hours(rng.random_range(0..24));
    (start, start + Span::hours(1))
}

fn outcome(result: Result<Booking, ServiceError>) -> Outcome {
    let (status, problem) = match result {
        Ok(_) => (201, None),
        Err(ServiceError::Refused { refusal: Refusal::CapacityExceeded { .. }, .. }) => {
            (409, Some("capacity-exceeded".into()))
        }
        Err(ServiceError::Refused { refusal: Refusal::Duplicate { .. }, .. }) => {
            (409, Some("duplicate-booking".into()))
        }
        Err(_) => (500, None),
    };
    Outcome { status, problem, body: serde_json::Value::Null, replayed: false }
}

/// The spread mix through the service layer: `write_percent` keyed
/// bookings, the rest availability reads.
pub async fn direct(
    db: &DatabaseConnection,
    targets: &Targets,
    concurrency: usize,
    duration: Duration,
    write_percent: u32,
) -> Recorded {
    let db = &Db::new(db.clone());
    // As an instance at start: the one-round-trip booking waits for it.
    if let Err(err) = berth::service::schema::check(db).await {
        println!("   (the migrations were not read: {err})");
    }
    let policy = Policy { ttl: Span::hours(24), lease: Span::seconds(60) };
    let ctx = Context { actor: Principal::Admin { sub: "bench".into() }.actor(), request_id: None, reason: None };
    let render = |b: &Booking| StoredResponse {
        status: 201,
        headers: vec![("content-type".into(), "application/json".into())],
        body: format!("{{\"id\":\"{}\",\"version\":{}}}", b.id, b.version).into_bytes(),
    };
    for_duration(concurrency, duration, |_| {
        let (write, resource, customer, (start, end)) = {
            let mut rng = rand::rng();
            (
                rng.random_range(0..100) < write_percent,
                targets.resources[rng.random_range(0..targets.resources.len())],
                targets.customers[rng.random_range(0..targets.customers.len())],
                random_slot(),
            )
        };
        let (ctx, render) = (&ctx, &render);
        async move {
            let range = TimeRange::new(start, end).expect("an hour");
            if !write {
                let window = TimeRange::new(start, start + Span::days(1)).expect("a day");
                let result = bookings::availability(db, ResourceId(resource), window).await;
                return Outcome {
                    status: if result.is_ok() { 200 } else { 500 },
                    problem: None,
                    body: serde_json::Value::Null,
                    replayed: false,
                };
            }
            let scope = Scope {
                principal: "admin:bench".into(),
                key: Uuid::new_v4().to_string(),
                method: "POST".into(),
                route: "/v1/bookings".into(),
            };
            // As over HTTP: the booking looks its key up itself, when it
            // cannot prove the look-up needless.
            let key = Key { scope, fingerprint: Uuid::new_v4().to_string(), policy, looked_up: false };
            let seal = Seal::new(Some(&key), render);
            let new = NewBooking {
                target: Target::Resource(ResourceId(resource)),
                customer_id: CustomerId(customer),
                range,
                quantity: 1,
                hold: false,
                notes: None,
                fields: None,
                override_policy: false,
            };
            let result = bookings::create(db, new, ctx, &seal).await;
            outcome(result)
        }
    })
    .await
}

/// berth's statements for one keyed booking (the full decision).
pub const BOOKING_SQL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/pgbench/booking.sql");

/// berth's one-round-trip statement for one keyed booking.
pub const ONE_TRIP_SQL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/pgbench/one-trip.sql");

/// `pgbench` with one of berth's booking scripts (`BOOKING_SQL`,
/// `ONE_TRIP_SQL`) on the bench database's `limit-N` resources. Returns
/// transactions (bookings) per second.
pub async fn pgbench(
    database_url: &str,
    script: &str,
    resources: usize,
    customers: usize,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let defines = [format!("nres={resources}"), format!("ncust={customers}")];
    let run = run_pgbench(database_url, script, concurrency, duration, &defines).await?;
    let written = forget_yardstick_bookings(database_url).await?;
    let name = std::path::Path::new(script).file_name().map_or(script.into(), |n| n.to_string_lossy());
    println!("   {name}: {written} of {} transactions wrote a booking", run.transactions);
    Ok(run.tps)
}

/// Deletes what a booking script booked (on the `limit-N` resources), with
/// its history and hours, then vacuums what it left dead, as autovacuum
/// would in time (the next script's probes would otherwise wade through
/// thousands of dead index entries). The yardstick measures the database,
/// not the rules: it inserts whatever it draws, and two draws of one
/// customer and hour are a double booking by berth's rules, which the
/// audit after the scenario would rightly report. berth's own bookings
/// are what it judges. Returns how many bookings it had written.
async fn forget_yardstick_bookings(database_url: &str) -> anyhow::Result<u64> {
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(database_url).await?;
    let limit_resources = "SELECT id FROM resource WHERE name_key LIKE 'limit-%'";
    db.execute_unprepared(&format!("DELETE FROM resource_usage WHERE resource_id IN ({limit_resources})")).await?;
    let written = db
        .execute_unprepared(&format!("DELETE FROM booking WHERE resource_id IN ({limit_resources})"))
        .await?
        .rows_affected();
    db.execute_unprepared("VACUUM (ANALYZE) booking, resource_usage").await?;
    db.close().await?;
    Ok(written)
}

/// What one pgbench run did.
pub struct Pgbench {
    /// Transactions per second.
    pub tps: f64,
    /// Transactions run in all.
    pub transactions: u64,
}

/// `pgbench -n -M prepared -j 2` running `script` with `-D` `defines`.
pub async fn run_pgbench(
    database_url: &str,
    script: &str,
    concurrency: usize,
    duration: Duration,
    defines: &[String],
) -> anyhow::Result<Pgbench> {
    let started = Instant::now();
    let output = tokio::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-j", "2"])
        .arg(format!("-c{concurrency}"))
        .arg(format!("-T{}", duration.as_secs().max(1)))
        .args(defines.iter().map(|d| format!("-D{d}")))
        .arg(format!("-f{script}"))
        .arg(database_url)
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed after {:?}: {}",
        started.elapsed(),
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |prefix: &str, nth: usize| {
        stdout.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.split_whitespace().nth(nth).map(str::to_owned))
    };
    let tps = field("tps =", 2).and_then(|tps| tps.parse().ok());
    // "number of transactions actually processed: 1234" (or "1234/5678").
    let transactions = field("number of transactions actually processed:", 5)
        .and_then(|n| n.split('/').next().and_then(|n| n.parse().ok()));
    match (tps, transactions) {
        (Some(tps), Some(transactions)) => Ok(Pgbench { tps, transactions }),
        _ => Err(anyhow::anyhow!("no tps or transactions in pgbench output: {stdout}")),
    }
}
