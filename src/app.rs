//! Start-up, shared by `main` and the integration tests: connect, migrate,
//! bind, build the router, serve until told to stop.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::Router;
use sea_orm::DatabaseConnection;

use crate::{
    auth::Authenticator,
    config::Config,
    http::{self, Admission, AppState, Edge, Limits},
    service, store, telemetry,
};

pub struct Application {
    listener: tokio::net::TcpListener,
    /// Connections held open at once (`None`: any; `http::serve`).
    max_connections: Option<usize>,
    router: Router,
    db: DatabaseConnection,
    hold_sweep_interval: Option<Duration>,
    event_retention: chrono::Duration,
    /// `None`: this instance does not deliver webhooks.
    webhooks: Option<service::deliveries::Settings>,
    authenticator: Arc<Authenticator>,
    /// The services, shared by the routes and the background tasks (one
    /// schema fence for both).
    services: service::Db,
    schema_check: Duration,
}

impl Application {
    /// Connects to the database, migrates it (unless turned off) and binds
    /// the listener. Nothing is served until `run`.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        if config.migrate_on_start {
            // Migrations run over one connection of their own, closed before
            // the serving pool opens. SQLite caches the schema per connection
            // and does not re-read it when it prepares an upsert, so a pooled
            // connection that had looked at a half-migrated schema would keep
            // answering "ON CONFLICT clause does not match any … UNIQUE
            // constraint" for an index created after it looked.
            let migrator = connect_with_retry(config, 1).await?;
            // A newer release migrated the database: this binary cannot
            // migrate it (it would not know what to do with those), and
            // serves behind the schema fence instead (docs/design.md §22).
            let unknown = store::unknown_migrations(&migrator).await.context("cannot read the applied migrations")?;
            if unknown.is_empty() {
                store::migrate(&migrator).await.context("cannot migrate the database")?;
            } else {
                tracing::warn!(migrations = ?unknown, "the database is ahead of this binary; not migrating");
            }
            migrator.close().await.context("cannot close the migration connection")?;
        }
        let db = connect_with_retry(config, config.db_pool_size).await?;
        let listener =
            http::serve::bind(config.listen).with_context(|| format!("cannot listen on {}", config.listen))?;
        let authenticator = Arc::new(config.authenticator()?);
        telemetry::prometheus();
        let services = services(&db, &config.clock)
            .with_one_trip(config.one_trip_bookings)
            .with_one_trip_gatherers(usize::from(config.one_trip_gatherers))
            .with_timeline_cache(config.timeline_cache_stretches, config.timeline_cache_min_rows);
        if let Err(err) = service::schema::check(&services).await {
            tracing::warn!(error = %err, "cannot read the applied migrations; will retry");
        }
        let state = AppState {
            db: services.clone(),
            public_url: config.public_base().into(),
            authenticator: authenticator.clone(),
            metrics_token: config.metrics_token.as_deref().filter(|t| !t.is_empty()).map(Into::into),
            admission: Admission::new(config.max_in_flight()),
            webhook_targets: config.webhook_settings().targets,
        };
        let edge = Edge {
            limits: Limits { body_bytes: config.body_limit_bytes, request_timeout: config.request_timeout() },
            authenticator: authenticator.clone(),
            rate_limit_per_second: config.rate_limit_per_second,
            rate_limit_burst: config.rate_limit_burst,
            cors_origins: config.cors_origins.clone(),
            idempotency: config.idempotency_policy(),
            demo_dir: config.demo_dir.clone(),
        };
        let hold_sweep_interval =
            (config.hold_sweep_interval_ms > 0).then(|| Duration::from_millis(config.hold_sweep_interval_ms));
        let event_retention = chrono::Duration::hours(i64::from(config.event_retention_hours));
        Ok(Self {
            listener,
            max_connections: config.max_connections(),
            router: http::app(state, edge),
            db,
            hold_sweep_interval,
            event_retention,
            webhooks: config.webhook_delivery.then(|| config.webhook_settings()),
            authenticator,
            services,
            schema_check: Duration::from_secs(config.schema_check_seconds),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The token verifier (and minter) this app uses.
    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// Serves until `shutdown` completes, then stops accepting and lets
    /// in-flight requests finish for at most `grace`; background tasks stop
    /// and the pool is closed. The hold sweeper and the idempotency cleanup
    /// run alongside.
    pub async fn run_with_grace(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        grace: Duration,
    ) -> std::io::Result<()> {
        let db = self.db.clone();
        let stopping = Arc::new(tokio::sync::Notify::new());
        let notify = stopping.clone();
        let serving = self.run(async move {
            shutdown.await;
            notify.notify_one();
        });
        let result = tokio::select! {
            result = serving => result,
            () = async {
                stopping.notified().await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(grace_seconds = grace.as_secs(), "grace period over; abandoning requests still running");
                Ok(())
            }
        };
        db.close().await.ok();
        result
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    /// Background writers pause while the schema fence is closed.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let db = self.services;
        let mut background = vec![
            tokio::spawn(service::schema::watch(db.clone(), self.schema_check)),
            tokio::spawn(forget_expired_keys(db.clone())),
            tokio::spawn(sequence_events(db.clone())),
            tokio::spawn(forget_old_events(db.clone(), self.event_retention)),
        ];
        background.extend(self.webhooks.map(|settings| tokio::spawn(service::deliveries::work(db.clone(), settings))));
        background.extend(self.hold_sweep_interval.map(|every| tokio::spawn(sweep_holds(db.clone(), every))));
        http::serve::serve(self.listener, self.router, self.max_connections, shutdown).await;
        for task in background {
            // Dropping a transaction mid-batch rolls it back: nothing half-done.
            task.abort();
        }
        Ok(())
    }
}

/// The services over `db`, deciding by `clock`, their events showing
/// objects as the API does.
fn services(db: &DatabaseConnection, clock: &service::Clock) -> service::Db {
    service::Db::with_clock(db.clone(), clock.clone()).representing(Arc::new(http::events::Representations))
}

/// Connects, retrying with backoff for up to `db_connect_retry_seconds`
/// while the database is unreachable (it may be starting too).
async fn connect_with_retry(config: &Config, pool_size: u32) -> anyhow::Result<DatabaseConnection> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(config.db_connect_retry_seconds);
    let mut backoff = Duration::from_millis(250);
    loop {
        match store::connect(&config.database_url, pool_size, config.db_acquire_timeout()).await {
            Ok(db) => return Ok(db),
            Err(err) if tokio::time::Instant::now() + backoff < deadline => {
                tracing::warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "database unreachable; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(err) => return Err(anyhow::Error::new(err).context("cannot open the database")),
        }
    }
}

/// Marks holds that ran out as `expired`, every `every`.
async fn sweep_holds(db: service::Db, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if db.schema_ahead() {
            continue;
        }
        let result = service::bookings::expire_due_holds(&db).await;
        telemetry::background_run("hold_sweeper", *result.as_ref().unwrap_or(&0));
        match result {
            Ok(0) => {}
            Ok(marked) => tracing::info!(marked, "expired holds and requests"),
            Err(err) => tracing::warn!(error = %err, "hold sweep failed; will retry"),
        }
        // Confirmed bookings nobody checked in by their deadline: marked
        // `no_show`, their time offered to the queue in the same write.
        let released = service::bookings::release_missed_check_ins(&db).await;
        telemetry::background_run("check_in_sweeper", *released.as_ref().unwrap_or(&0));
        match released {
            Ok(0) => {}
            Ok(marked) => tracing::info!(marked, "marked missed check-ins no_show"),
            Err(err) => tracing::warn!(error = %err, "check-in sweep failed; will retry"),
        }
        // Holds and offers that ran out freed units nobody has asked for
        // since: the queues get them (docs/design.md §24).
        let served = service::waitlist::serve_idle_queues(&db).await;
        telemetry::background_run("waitlist_sweeper", *served.as_ref().unwrap_or(&0));
        if let Err(err) = served {
            tracing::warn!(error = %err, "serving idle waiting lists failed; will retry");
        }
    }
}

/// Gives committed events their feed positions, every 200 ms (the feed
/// does it too before it reads; this keeps the feed's reads cheap).
async fn sequence_events(db: service::Db) {
    let mut ticks = tokio::time::interval(Duration::from_millis(200));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if db.schema_ahead() {
            continue;
        }
        if let Err(err) = service::events::sequence(&db).await {
            tracing::warn!(error = %err, "event sequencing failed; will retry");
        }
    }
}

/// Every minute, the first a minute after start: nothing is old enough to
/// forget the moment an instance starts, and a cleanup that ran whenever
/// the runtime first polled it raced tests that age a row by hand.
fn cleanup_ticks() -> tokio::time::Interval {
    let every = Duration::from_secs(60);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks
}

/// Deletes events, and finished webhook deliveries, older than the
/// retention, every minute.
async fn forget_old_events(db: service::Db, retention: chrono::Duration) {
    let mut ticks = cleanup_ticks();
    loop {
        ticks.tick().await;
        if db.schema_ahead() {
            continue;
        }
        let result = service::events::forget_old(&db, retention).await;
        telemetry::background_run("event_cleanup", *result.as_ref().unwrap_or(&0));
        match result {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "forgot old events"),
            Err(err) => tracing::warn!(error = %err, "event cleanup failed; will retry"),
        }
        let result = service::deliveries::forget_old(&db, retention).await;
        telemetry::background_run("webhook_delivery_cleanup", *result.as_ref().unwrap_or(&0));
        match result {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "forgot finished webhook deliveries"),
            Err(err) => tracing::warn!(error = %err, "webhook delivery cleanup failed; will retry"),
        }
    }
}

/// Deletes expired Idempotency-Key records, every minute.
async fn forget_expired_keys(db: service::Db) {
    let mut ticks = cleanup_ticks();
    loop {
        ticks.tick().await;
        if db.schema_ahead() {
            continue;
        }
        let result = service::idempotency::delete_expired(&db).await;
        telemetry::background_run("idempotency_cleanup", *result.as_ref().unwrap_or(&0));
        match result {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "forgot expired idempotency keys"),
            Err(err) => tracing::warn!(error = %err, "idempotency key cleanup failed; will retry"),
        }
    }
}
