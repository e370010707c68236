//! Scenario `peer`: the workload the Rust peer tyrchen/reservation is
//! measured on, side by side with that peer's own SQL in the same run.
//! Capacity-1 resources, one customer, windows that never overlap (slot n
//! is the n-th hour after a base, 30 minutes long, on a random resource or
//! on one), closed loop at `--concurrency`:
//!
//! - berth over HTTP, unkeyed, 1,000 resources;
//! - berth over HTTP, every booking with an Idempotency-Key, 1,000 resources;
//! - berth over HTTP, unkeyed, all on one resource (the hot calendar);
//! - PostgreSQL only, the yardsticks (`bench/pgbench/`): the peer's whole
//!   reserve path as plain SQL (`peer-reserve.sql` on its schema: one
//!   INSERT checked by a GiST exclusion constraint, a change-log trigger
//!   with NOTIFY), berth's own statements for a keyed booking
//!   (`booking.sql`, the plain-SQL limit of the `spread` scenario) and its
//!   one-round-trip statement for one (`one-trip.sql`);
//! - SQLite only, berth's statements for a keyed booking as a plain loop
//!   (`sqlite_loop`), the same workload.
//!
//! Each berth figure is printed as a share of the peer's SQL (PostgreSQL),
//! the keyed one as a share of the plain loop (SQLite).

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use rand::Rng;
use sea_orm::DatabaseConnection;
use serde_json::json;
use uuid::Uuid;

use crate::{
    Engine, RunArgs,
    client::{Api, Recorded, for_duration},
    cpu::Spent,
    limit,
    report::{self, Row},
    server::Server,
    sqlite_loop,
};

/// Where the next booking goes: the next hour after `base` (one count for
/// every phase of the run, so no two bookings overlap), on a random one
/// of the resources.
pub struct Slots {
    base: DateTime<Utc>,
    taken: AtomicU64,
}

impl Slots {
    fn new() -> Self {
        let base = Utc::now().duration_trunc(Span::hours(1)).unwrap_or_else(|_| Utc::now()) + Span::days(1);
        Self { base, taken: AtomicU64::new(0) }
    }

    pub fn next(&self, resources: &[Uuid]) -> (Uuid, DateTime<Utc>) {
        let n = self.taken.fetch_add(1, Ordering::Relaxed);
        let resource = resources[rand::rng().random_range(0..resources.len())];
        (resource, self.base + Span::hours(i64::try_from(n).unwrap_or(i64::MAX / 7200)))
    }
}

/// How long bookings run before the first measured phase.
const WARM_UP: std::time::Duration = std::time::Duration::from_secs(2);

/// One phase of `duration`: bookings at the next slots, keyed or not.
async fn phase(
    duration: std::time::Duration,
    args: &RunArgs,
    api: &Api,
    resources: &[Uuid],
    customer: Uuid,
    slots: &Slots,
    keyed: bool,
) -> Recorded {
    for_duration(args.concurrency, duration, |_| {
        let (resource, start) = slots.next(resources);
        let body = json!({
            "resource_id": resource,
            "customer_id": customer,
            "start_at": start.to_rfc3339(),
            "end_at": (start + Span::minutes(30)).to_rfc3339(),
        });
        async move {
            let key = keyed.then(|| Uuid::new_v4().to_string());
            api.post("/v1/bookings", &body, key.as_deref()).await
        }
    })
    .await
}

/// `booking.sql` under pgbench, on `limit-N` resources and `bench-N`
/// customers made for it (what the spread scenario makes).
async fn own_statements(args: &RunArgs, api: &Api, url: &str) -> anyhow::Result<f64> {
    let n = args.size(1000, 10);
    crate::scenarios::customers(api, "bench", n).await?;
    crate::scenarios::pgbench_limit(args, api, url, n, n).await
}

/// Loads the peer's schema (`psql -f`) and runs its reserve path under
/// pgbench. Returns reservations per second.
async fn peer_sql(url: &str, args: &RunArgs) -> anyhow::Result<f64> {
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/pgbench/peer-reserve-schema.sql");
    let loaded =
        tokio::process::Command::new("psql").args(["-q", "-v", "ON_ERROR_STOP=1", "-f", schema, url]).output().await?;
    anyhow::ensure!(loaded.status.success(), "psql: {}", String::from_utf8_lossy(&loaded.stderr));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/pgbench/peer-reserve.sql");
    let spent = Spent::start(None);
    let run = limit::run_pgbench(url, script, args.concurrency, args.phase(), &[]).await?;
    println!("   peer's SQL: {}", spent.per(run.transactions));
    Ok(run.tps)
}

/// `own_sql`: berth's statements as plain SQL (`booking.sql`), when the
/// spread scenario measured it already; measured here otherwise.
pub async fn peer(
    args: &RunArgs,
    server: &Server,
    api: &Api,
    db: &DatabaseConnection,
    url: &str,
    own_sql: Option<f64>,
) -> anyhow::Result<Vec<Row>> {
    let n_resources = args.size(1000, 10);
    let mut resources = Vec::with_capacity(n_resources);
    for i in 0..n_resources {
        let body = json!({"name": format!("peer-{i}"), "capacity": 1});
        resources.push(crate::scenarios::id_of(&api.create("/v1/resources", &body).await?)?);
    }
    let hot =
        crate::scenarios::id_of(&api.create("/v1/resources", &json!({"name": "peer-hot", "capacity": 1})).await?)?;
    let customer = crate::scenarios::id_of(
        &api.create("/v1/customers", &json!({"email": "peer@bench.example", "name": "Peer"})).await?,
    )?;
    let slots = Slots::new();
    // Not measured: the server opens its pool's connections and first
    // reads each resource here (pgbench likewise leaves its connections'
    // setup out of its rate).
    let everything: Vec<Uuid> = resources.iter().copied().chain([hot]).collect();
    let warm_up = phase(WARM_UP.min(args.phase()), args, api, &everything, customer, &slots, false).await;
    println!("   warm-up: {} bookings, not measured", warm_up.requests);
    let mut measured = Vec::new();
    for (name, on, keyed) in [
        ("peer: berth unkeyed, 1,000 resources", &resources[..], false),
        ("peer: berth keyed, 1,000 resources", &resources[..], true),
        ("peer: berth unkeyed, one resource", std::slice::from_ref(&hot), false),
    ] {
        server.reset_peak_rss();
        let spent = Spent::start(server.pid());
        let recorded = phase(args.phase(), args, api, on, customer, &slots, keyed).await;
        println!("   {name}: {}", spent.per(recorded.requests));
        let refused = recorded.requests - recorded.count("201");
        println!("   one-trip bookings so far (server's /metrics): {}", api.one_trip_counts().await);
        measured.push((name, keyed, recorded, server.peak_rss_mib(), refused));
    }
    let (yardstick, own_sql) = match args.database {
        Engine::Postgres => {
            let peer = peer_sql(url, args).await.map_err(|err| println!("\n== peer's SQL: not measured ({err})")).ok();
            let own = match own_sql {
                Some(tps) => Some(tps),
                None => own_statements(args, api, url)
                    .await
                    .map_err(|err| println!("\n== booking.sql: not measured ({err})"))
                    .ok(),
            };
            (peer, own)
        }
        Engine::Sqlite => (None, None),
    };
    let plain_loop = match args.database {
        Engine::Sqlite => {
            Some(sqlite_loop::run(db, &resources, customer, &slots, args.concurrency, args.phase()).await)
        }
        Engine::Postgres => None,
    };
    let mut rows = Vec::new();
    for (name, keyed, recorded, rss, refused) in measured {
        let share = match (yardstick, &plain_loop) {
            (Some(tps), _) => format!("{:.0}% of the peer's SQL", recorded.throughput() / tps * 100.0),
            (None, Some(plain)) if keyed => {
                format!("{:.0}% of the plain SQLite loop", recorded.throughput() / plain.throughput() * 100.0)
            }
            _ => "the peer's SQL runs on PostgreSQL only".to_owned(),
        };
        let note = format!("{share}; not 201: {refused} (windows never overlap, so any is a defect)");
        rows.push(report::print(name, &recorded, rss, note));
    }
    if let Some(plain) = plain_loop {
        let failed = plain.requests - plain.count("201");
        let note = format!("berth's statements for a keyed booking, no HTTP, no rules; failed: {failed}");
        rows.push(report::print("berth's keyed booking as a plain SQLite loop", &plain, None, note));
    }
    if let Some(tps) = yardstick {
        println!(
            "\n== peer's SQL (pgbench, peer-reserve.sql): {tps:.0} reservations/s at concurrency {}",
            args.concurrency
        );
        rows.push(Row {
            scenario: "peer's reserve as plain SQL (pgbench)".into(),
            throughput: tps,
            p50_ms: 0.0,
            p99_ms: 0.0,
            note: "100%: the yardstick".into(),
        });
        if let Some(own) = own_sql {
            rows.push(plain_sql_row("berth's keyed booking as plain SQL (pgbench booking.sql)", own, tps));
            // The same `limit-N` resources: the one-round-trip statement.
            let n = args.size(1000, 10);
            match limit::pgbench(url, limit::ONE_TRIP_SQL, n, n, args.concurrency, args.phase()).await {
                Ok(one) => rows.push(plain_sql_row(
                    "berth's keyed one-trip booking as plain SQL (pgbench one-trip.sql)",
                    one,
                    tps,
                )),
                Err(err) => println!("\n== one-trip.sql: not measured ({err})"),
            }
        }
    }
    Ok(rows)
}

/// A row for berth's statements run as plain SQL at `own` per second,
/// as a share of the peer's SQL at `peer`, printed as it is made.
fn plain_sql_row(scenario: &str, own: f64, peer: f64) -> Row {
    let note = format!("{:.0}% of the peer's SQL", own / peer * 100.0);
    println!("   {scenario}: {own:.0}/s, {note}");
    Row { scenario: scenario.into(), throughput: own, p50_ms: 0.0, p99_ms: 0.0, note }
}
