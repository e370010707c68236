//! Logs and metrics.
//!
//! Logs: `tracing`, human-readable on a terminal, JSON lines with
//! `BERTH_LOG_FORMAT=json`. Metrics: the `metrics` facade with a Prometheus
//! recorder installed once per process (tests run many apps in one process
//! and share it). The names of every metric berth exports live here.

use std::{sync::OnceLock, time::Duration};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Installs the global log subscriber. `json` selects JSON lines.
pub fn init_logging(json: bool) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn,sea_orm_migration=warn,sqlx=warn"));
    if json {
        fmt().with_env_filter(filter).json().flatten_event(true).with_current_span(false).init();
    } else {
        fmt().with_env_filter(filter).init();
    }
}

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus handle, installing the recorder on first use.
/// `None` if another recorder was installed first.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let latency_buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), &latency_buckets)
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full(WEBHOOK_LAG.into()),
                    &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0],
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    // Without its default features the exporter runs no upkeep task.
                    let upkeep = handle.clone();
                    std::thread::spawn(move || {
                        loop {
                            std::thread::sleep(Duration::from_secs(5));
                            upkeep.run_upkeep();
                        }
                    });
                    Some(handle)
                }
                Err(err) => {
                    tracing::warn!(error = %err, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

pub const HTTP_REQUESTS: &str = "berth_http_requests_total";
pub const HTTP_DURATION: &str = "berth_http_request_duration_seconds";
pub const PROBLEMS: &str = "berth_problems_total";
pub const BOOKINGS_CREATED: &str = "berth_bookings_created_total";
pub const HOLDS: &str = "berth_holds_total";
pub const IDEMPOTENT_REPLAYS: &str = "berth_idempotent_replays_total";
pub const TRANSACTION_RETRIES: &str = "berth_transaction_retries_total";
pub const DB_POOL_CONNECTIONS: &str = "berth_db_pool_connections";
pub const API_REQUESTS_RUNNING: &str = "berth_api_requests_running";
pub const BACKGROUND_RUNS: &str = "berth_background_runs_total";
pub const BACKGROUND_ROWS: &str = "berth_background_rows_total";
pub const EVENTS: &str = "berth_events_total";
pub const REFUSED_WITHOUT_LOCK: &str = "berth_refused_without_lock_total";
pub const WEBHOOK_ATTEMPTS: &str = "berth_webhook_attempts_total";
pub const WEBHOOK_LAG: &str = "berth_webhook_delivery_lag_seconds";
pub const USAGE_SUMMARY_FALLBACKS: &str = "berth_usage_summary_fallbacks_total";
/// New bookings tried in one round trip (docs/design.md §30), by outcome.
pub const ONE_TRIP_BOOKINGS: &str = "berth_one_trip_bookings_total";
/// Statements that carried one-round-trip bookings (docs/design.md §39):
/// bookings written per statement is the one over the other.
pub const ONE_TRIP_STATEMENTS: &str = "berth_one_trip_statements_total";
/// Page loads' usage timelines (docs/design.md §31): remembered and still
/// valid (`hit`), read again (`miss`), or not remembered where the summary
/// does not hold every booking (`bypassed`).
pub const TIMELINE_CACHE: &str = "berth_timeline_cache_total";
pub const SCHEMA_AHEAD: &str = "berth_schema_ahead_of_binary";

/// One finished HTTP request.
pub fn http_request(route: &str, method: &str, status: u16, latency: Duration) {
    let class = format!("{}xx", status / 100);
    let labels = [("route", route.to_owned()), ("method", method.to_owned()), ("status", class)];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(latency.as_secs_f64());
}

/// A problem answered, by type: conflicts, validation errors, ...
pub fn problem(slug: &'static str) {
    metrics::counter!(PROBLEMS, "type" => slug).increment(1);
}

/// A booking created, by its first status (`confirmed` or `held`).
pub fn booking_created(status: &'static str) {
    metrics::counter!(BOOKINGS_CREATED, "status" => status).increment(1);
}

/// Holds reaching a point of their life: `created`, `confirmed`, `expired`.
pub fn holds(event: &'static str, count: u64) {
    metrics::counter!(HOLDS, "event" => event).increment(count);
}

pub fn idempotent_replay() {
    metrics::counter!(IDEMPOTENT_REPLAYS).increment(1);
}

/// A transaction that lost a race (serialization failure, deadlock, busy)
/// and is run again.
pub fn transaction_retry() {
    metrics::counter!(TRANSACTION_RETRIES).increment(1);
}

/// The database pool right now.
pub fn db_pool(in_use: u32, idle: u32) {
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
}

/// `/v1` requests holding an admission slot right now.
pub fn api_requests_running(running: usize) {
    metrics::gauge!(API_REQUESTS_RUNNING).set(running as f64);
}

/// One run of a background task and the rows it touched.
/// Events that committed and got their feed position.
pub fn events_numbered(count: u64) {
    metrics::counter!(EVENTS).increment(count);
}

/// A capacity decision that did not trust the usage summary and read the
/// intervals (docs/design.md §22), by why: `uncounted` (a booking the
/// summary may not hold was near), `below_bookings` (it said less than the
/// bookings it holds).
pub fn usage_summary_fallback(reason: &'static str) {
    metrics::counter!(USAGE_SUMMARY_FALLBACKS, "reason" => reason).increment(1);
}

/// 1 while the database has migrations this binary does not know (it then
/// refuses writes), 0 otherwise.
pub fn schema_ahead(ahead: bool) {
    metrics::gauge!(SCHEMA_AHEAD).set(if ahead { 1.0 } else { 0.0 });
}

/// A booking tried in one round trip: `written`, or the check that sent it
/// the full way (`resource`, `busy`, `summary`, `customer`, `own`,
/// `uncounted`, `key`, `clock`, `error`).
pub fn one_trip_booking(outcome: &'static str) {
    metrics::counter!(ONE_TRIP_BOOKINGS, "outcome" => outcome).increment(1);
}

/// A statement of one-round-trip bookings sent.
pub fn one_trip_statement() {
    metrics::counter!(ONE_TRIP_STATEMENTS).increment(1);
}

/// A page load's usage timeline, by how it was had.
pub fn timeline_cache(outcome: &'static str) {
    metrics::counter!(TIMELINE_CACHE, "outcome" => outcome).increment(1);
}

/// A booking refused from a snapshot, without queueing on the resource.
pub fn refused_without_lock() {
    metrics::counter!(REFUSED_WITHOUT_LOCK).increment(1);
}

/// One webhook attempt, by outcome (`delivered`, `error_status`,
/// `no_answer`); a delivered one with the time from its event to now.
pub fn webhook_attempt(outcome: &'static str, lag: Option<Duration>) {
    metrics::counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1);
    if let Some(lag) = lag {
        metrics::histogram!(WEBHOOK_LAG).record(lag.as_secs_f64());
    }
}

pub fn background_run(task: &'static str, rows: u64) {
    metrics::counter!(BACKGROUND_RUNS, "task" => task).increment(1);
    metrics::counter!(BACKGROUND_ROWS, "task" => task).increment(rows);
}
