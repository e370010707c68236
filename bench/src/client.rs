//! HTTP to the server under test, and the load loops that time it.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use berth::auth::{AuthSettings, Authenticator, Role};
use hdrhistogram::Histogram;
use serde_json::Value;

use crate::server::SECRET;

/// What one request got.
pub struct Outcome {
    pub status: u16,
    /// The problem slug for problem responses.
    pub problem: Option<String>,
    pub body: Value,
    pub replayed: bool,
}

impl Outcome {
    /// `201`, or `409 capacity-exceeded` for problems.
    pub fn label(&self) -> String {
        match &self.problem {
            Some(slug) => format!("{} {slug}", self.status),
            None if self.status == 0 => "transport error".into(),
            None => self.status.to_string(),
        }
    }
}

/// An admin client of one server.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    pub fn new(base: &str) -> anyhow::Result<Api> {
        let auth = Authenticator::new(AuthSettings { secret: Some(SECRET.into()), ..Default::default() })?;
        let token = auth.mint(Role::Admin, "bench", Duration::from_secs(24 * 3600))?;
        let client = reqwest::Client::builder().pool_max_idle_per_host(4096).build()?;
        Ok(Api { client, base: base.to_owned(), token })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Outcome {
        self.send_typed(request).await.0
    }

    /// What `send` gets, and the response's `Content-Type`.
    async fn send_typed(&self, request: reqwest::RequestBuilder) -> (Outcome, Option<String>) {
        match request.bearer_auth(&self.token).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let replayed = response.headers().contains_key("idempotent-replayed");
                let content_type = response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body: Value = response.json().await.unwrap_or(Value::Null);
                let problem = body["type"].as_str().and_then(|t| t.rsplit('/').next()).map(str::to_owned);
                (Outcome { status, problem, body, replayed }, content_type)
            }
            Err(_) => (Outcome { status: 0, problem: None, body: Value::Null, replayed: false }, None),
        }
    }

    /// The server's one-round-trip booking counts (docs/design.md §30), by
    /// outcome, from `/metrics`: e.g. `written 10908, busy 3`.
    pub async fn one_trip_counts(&self) -> String {
        let text = match self.client.get(format!("{}/metrics", self.base)).bearer_auth(&self.token).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(err) => return format!("not read ({err})"),
        };
        let counts: Vec<String> = text
            .lines()
            .filter_map(|line| line.strip_prefix("berth_one_trip_bookings_total{outcome=\""))
            .filter_map(|rest| rest.split_once("\"} "))
            .map(|(outcome, count)| format!("{outcome} {count}"))
            .collect();
        if counts.is_empty() { "none".into() } else { counts.join(", ") }
    }

    pub async fn post(&self, path: &str, body: &Value, key: Option<&str>) -> Outcome {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        self.send(request).await
    }

    /// An unkeyed POST, with the response's `Content-Type`.
    pub async fn post_typed(&self, path: &str, body: &Value) -> (Outcome, Option<String>) {
        self.send_typed(self.client.post(format!("{}{path}", self.base)).json(body)).await
    }

    pub async fn get(&self, path: &str) -> Outcome {
        self.send(self.client.get(format!("{}{path}", self.base))).await
    }

    /// POSTs and insists on `expected`.
    pub async fn create(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let outcome = self.post(path, body, None).await;
        anyhow::ensure!(outcome.status == 201, "POST {path}: {} {}", outcome.status, outcome.body);
        Ok(outcome.body)
    }
}

/// Latencies and outcomes of a phase.
pub struct Recorded {
    pub requests: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
    pub outcomes: BTreeMap<String, u64>,
    /// Completion instants (since the start), in order, when asked for.
    pub completions: Vec<Duration>,
}

impl Recorded {
    pub fn new() -> Recorded {
        Recorded {
            requests: 0,
            elapsed: Duration::ZERO,
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
            outcomes: BTreeMap::new(),
            completions: Vec::new(),
        }
    }

    pub fn record(&mut self, outcome: &Outcome, latency: Duration) {
        self.requests += 1;
        let _ = self.latency.record(latency.as_micros().clamp(1, 60_000_000) as u64);
        *self.outcomes.entry(outcome.label()).or_default() += 1;
    }

    pub fn merge(&mut self, other: Recorded) {
        self.requests += other.requests;
        let _ = self.latency.add(&other.latency);
        for (label, count) in other.outcomes {
            *self.outcomes.entry(label).or_default() += count;
        }
        self.completions.extend(other.completions);
    }

    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn count(&self, label: &str) -> u64 {
        self.outcomes.get(label).copied().unwrap_or(0)
    }
}

/// `concurrency` clients each calling `op(n)` until `duration` is over;
/// `n` counts calls across all clients.
pub async fn for_duration<F, Fut>(concurrency: usize, duration: Duration, op: F) -> Recorded
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let started = Instant::now();
    let counter = AtomicU64::new(0);
    let workers = (0..concurrency).map(|_| async {
        let mut recorded = Recorded::new();
        while started.elapsed() < duration {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let sent = Instant::now();
            let outcome = op(n).await;
            recorded.record(&outcome, sent.elapsed());
        }
        recorded
    });
    let mut total = Recorded::new();
    for recorded in futures::future::join_all(workers).await {
        total.merge(recorded);
    }
    total.elapsed = started.elapsed();
    total
}

/// Exactly `count` calls `op(0..count)` by `concurrency` clients; records
/// when each completed.
pub async fn for_count<F, Fut>(concurrency: usize, count: u64, op: F) -> Recorded
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let started = Instant::now();
    let counter = AtomicU64::new(0);
    let workers = (0..concurrency).map(|_| async {
        let mut recorded = Recorded::new();
        loop {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            if n >= count {
                return recorded;
            }
            let sent = Instant::now();
            let outcome = op(n).await;
            recorded.record(&outcome, sent.elapsed());
            recorded.completions.push(started.elapsed());
        }
    });
    let mut total = Recorded::new();
    for recorded in futures::future::join_all(workers).await {
        total.merge(recorded);
    }
    total.elapsed = started.elapsed();
    total.completions.sort();
    total
}
