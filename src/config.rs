//! Configuration: one struct, from flags and environment variables (clap),
//! built in `main` and passed down. Tests build it directly.

use std::{net::SocketAddr, time::Duration};

use clap::{ArgAction, Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "berth", version, about = "A booking engine that says no correctly")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document to stdout.
    Openapi,
    /// Check the promise on the database's data (capacity, duplicates, the
    /// usage summary, histories, the feed's order); exits 1 on a violation.
    Audit {
        /// Only this resource.
        #[arg(long)]
        resource: Option<uuid::Uuid>,
    },
    /// Rebuild the usage summary from the bookings (safe beside traffic).
    RepairUsage {
        /// Only this resource.
        #[arg(long)]
        resource: Option<uuid::Uuid>,
    },
    /// Mint a bearer token with BERTH_JWT_SECRET.
    Token {
        /// The token's role.
        #[arg(long, value_enum)]
        role: crate::auth::Role,
        /// The subject: required for customers (their customer id); `admin` by default for admins.
        #[arg(long)]
        sub: Option<String>,
        /// How long the token is valid, e.g. `1h`, `30m`, `7d`.
        #[arg(long, default_value = "1h")]
        ttl: humantime::Duration,
    },
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "BERTH_LISTEN", default_value = "127.0.0.1:8080", global = true)]
    pub listen: SocketAddr,
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST/DB`.
    #[arg(long, env = "BERTH_DATABASE_URL", default_value = "sqlite://berth.db?mode=rwc", global = true)]
    pub database_url: String,
    /// Base URL clients reach berth at; makes problem `type` URIs and
    /// `Location` headers absolute.
    #[arg(long, env = "BERTH_PUBLIC_URL", global = true, value_parser = at_most_512_characters)]
    pub public_url: Option<String>,
    /// Maximum database connections in the pool.
    #[arg(long, env = "BERTH_DB_POOL_SIZE", default_value_t = 10, global = true)]
    pub db_pool_size: u32,
    /// API requests that may run at once; the rest wait their turn (up to the
    /// request timeout) holding only their request. Unset: 4 × the pool size.
    #[arg(long, env = "BERTH_MAX_IN_FLIGHT", global = true)]
    pub max_in_flight: Option<u32>,
    /// Connections held open at once; more wait in the kernel's accept
    /// queue, unread, and while one waits the open ones close after their
    /// next response (idle ones after a second). 0: no limit.
    #[arg(long, env = "BERTH_MAX_CONNECTIONS", default_value_t = 0, global = true)]
    pub max_connections: u32,
    /// Seconds to keep retrying at start while the database is unreachable.
    #[arg(long, env = "BERTH_DB_CONNECT_RETRY_SECONDS", default_value_t = 60, global = true)]
    pub db_connect_retry_seconds: u64,
    /// Seconds a request waits for a database connection before a 503.
    #[arg(long, env = "BERTH_DB_ACQUIRE_TIMEOUT_SECONDS", default_value_t = 5, global = true)]
    pub db_acquire_timeout_seconds: u64,
    /// Apply pending migrations at start.
    #[arg(long, env = "BERTH_MIGRATE_ON_START", default_value_t = true, action = ArgAction::Set, global = true)]
    pub migrate_on_start: bool,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "BERTH_BODY_LIMIT_BYTES", default_value_t = 1024 * 1024, global = true)]
    pub body_limit_bytes: usize,
    /// Milliseconds before a request is abandoned with a 503.
    #[arg(long, env = "BERTH_REQUEST_TIMEOUT_MS", default_value_t = 30_000, global = true)]
    pub request_timeout_ms: u64,
    /// Milliseconds between two runs of the hold sweeper (marks holds that
    /// ran out as `expired`; capacity is freed at expiry whether or not it
    /// ran). 0 turns the sweeper off.
    #[arg(long, env = "BERTH_HOLD_SWEEP_INTERVAL_MS", default_value_t = 5_000, global = true)]
    pub hold_sweep_interval_ms: u64,
    /// Seconds between two looks at the database's applied migrations: one
    /// this binary does not know makes it refuse writes (1 to 30).
    #[arg(long, env = "BERTH_SCHEMA_CHECK_SECONDS", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=30), global = true)]
    pub schema_check_seconds: u64,
    /// HS256 secret for bearer tokens. Unset: a random one per process, and
    /// `serve` prints a ready admin token.
    #[arg(long, env = "BERTH_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,
    /// PEM file with an identity provider's public key (RSA: RS256,
    /// Ed25519: EdDSA, P-256: ES256); its tokens are accepted too.
    #[arg(long, env = "BERTH_JWT_PUBLIC_KEY", global = true)]
    pub jwt_public_key: Option<std::path::PathBuf>,
    /// Required `iss` claim, when set.
    #[arg(long, env = "BERTH_JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim, when set.
    #[arg(long, env = "BERTH_JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,
    /// Clock skew tolerated on `exp`, in seconds.
    #[arg(long, env = "BERTH_JWT_LEEWAY_SECONDS", default_value_t = 30, global = true)]
    pub jwt_leeway_seconds: u64,
    /// Requests per second replenished per caller (token subject, else IP);
    /// 0 turns rate limiting off.
    #[arg(long, env = "BERTH_RATE_LIMIT_PER_SECOND", default_value_t = 100, global = true)]
    pub rate_limit_per_second: u64,
    /// Requests a caller may send at once before the per-second rate applies.
    #[arg(long, env = "BERTH_RATE_LIMIT_BURST", default_value_t = 200, global = true)]
    pub rate_limit_burst: u32,
    /// Browser origins allowed by CORS, comma-separated (e.g.
    /// `https://app.example.com`); `*` allows any. Empty: no CORS headers.
    #[arg(long, env = "BERTH_CORS_ORIGINS", value_delimiter = ',', global = true,
          value_parser = at_most_512_characters)]
    pub cors_origins: Vec<String>,
    /// Hours an Idempotency-Key and its stored response are kept (at least
    /// 24: a client may retry the next day).
    #[arg(long, env = "BERTH_IDEMPOTENCY_TTL_HOURS", default_value_t = 24, global = true,
          value_parser = clap::value_parser!(u32).range(24..))]
    pub idempotency_ttl_hours: u32,
    /// Hours events are kept in the feed (`GET /v1/events`); older ones
    /// are deleted in batches.
    #[arg(long, env = "BERTH_EVENT_RETENTION_HOURS", default_value_t = 168, global = true,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub event_retention_hours: u32,
    /// Let webhook endpoints use plain `http` URLs (for development; the
    /// signature still authenticates berth, but the payload travels in clear).
    #[arg(long, env = "BERTH_WEBHOOK_ALLOW_HTTP", default_value_t = false, action = ArgAction::Set, global = true)]
    pub webhook_allow_http: bool,
    /// Let webhook endpoints point at loopback, private and link-local
    /// addresses (a receiver on the same host or network). Off, berth
    /// refuses them at registration and at every connection (SSRF guard).
    #[arg(long, env = "BERTH_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = ArgAction::Set, global = true)]
    pub webhook_allow_private: bool,
    /// Run the webhook delivery worker in this instance. Instances that
    /// only serve the API may leave it to others (at least one must run it).
    #[arg(long, env = "BERTH_WEBHOOK_DELIVERY", default_value_t = true, action = ArgAction::Set, global = true)]
    pub webhook_delivery: bool,
    /// Milliseconds one webhook attempt may take, connecting included.
    #[arg(long, env = "BERTH_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000, global = true,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub webhook_timeout_ms: u64,
    /// Milliseconds before a failed webhook delivery is tried again the
    /// first time; the wait doubles after each failure (with jitter).
    #[arg(long, env = "BERTH_WEBHOOK_RETRY_FIRST_MS", default_value_t = 5_000, global = true,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub webhook_retry_first_ms: u64,
    /// The longest wait between two attempts of a delivery, in seconds.
    #[arg(long, env = "BERTH_WEBHOOK_RETRY_MAX_SECONDS", default_value_t = 3_600, global = true,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub webhook_retry_max_seconds: u64,
    /// Seconds an endpoint may keep failing (from its first failure since
    /// the last success) before it is switched off.
    #[arg(long, env = "BERTH_WEBHOOK_DISABLE_AFTER_SECONDS", default_value_t = 86_400, global = true,
          value_parser = clap::value_parser!(u64).range(1..=2_592_000))]
    pub webhook_disable_after_seconds: u64,
    /// Milliseconds between two looks of the webhook worker for new events
    /// and due retries.
    #[arg(long, env = "BERTH_WEBHOOK_POLL_MS", default_value_t = 250, global = true,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub webhook_poll_ms: u64,
    /// A directory of static files to serve at `/demo` (the example booking
    /// page's build: `examples/booking-page/dist`). Unset: no `/demo`.
    #[arg(long, env = "BERTH_DEMO_DIR", global = true)]
    pub demo_dir: Option<std::path::PathBuf>,
    /// Bearer token that may read `/metrics` (admin tokens may too).
    #[arg(long, env = "BERTH_METRICS_TOKEN", hide_env_values = true, global = true)]
    pub metrics_token: Option<String>,
    /// `json` for JSON log lines; anything else is human-readable.
    #[arg(long, env = "BERTH_LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: String,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(long, env = "BERTH_SHUTDOWN_GRACE_SECONDS", default_value_t = 30, global = true)]
    pub shutdown_grace_seconds: u64,
    /// Decide a new booking on one resource in one round trip when the
    /// instance can (PostgreSQL; docs/design.md §30). Off, every booking
    /// takes the full decision.
    #[arg(long, env = "BERTH_ONE_TRIP_BOOKINGS", default_value_t = true, action = ArgAction::Set, global = true)]
    pub one_trip_bookings: bool,
    /// How many one-trip statements this instance keeps under way at once,
    /// each on a connection of its own beyond the pool (docs/design.md §39,
    /// §43). More let more commits share one flush of the log; at least 1.
    #[arg(long, env = "BERTH_ONE_TRIP_GATHERERS", default_value_t = crate::store::gather::GATHERERS, global = true,
          value_parser = clap::value_parser!(u8).range(1..=64))]
    pub one_trip_gatherers: u8,
    /// How many stretches of resources' usage timelines this instance
    /// remembers for slot search and availability (docs/design.md §31;
    /// about 40 bytes each); 0 remembers none.
    #[arg(long, env = "BERTH_TIMELINE_CACHE_STRETCHES", default_value_t = crate::service::DEFAULT_TIMELINE_STRETCHES, global = true)]
    pub timeline_cache_stretches: u64,
    /// A window's timeline is remembered once a read of it returned at
    /// least this many rows (bookings on PostgreSQL, stretches of constant
    /// use on SQLite): a lighter one costs no more to read than to check.
    #[arg(long, env = "BERTH_TIMELINE_CACHE_MIN_ROWS", default_value_t = crate::service::DEFAULT_TIMELINE_MIN_ROWS, global = true)]
    pub timeline_cache_min_rows: usize,
    /// Where decisions read the time: always the database's, except in tests
    /// that set a manual clock (no flag or variable reaches this).
    #[arg(skip)]
    pub clock: crate::service::Clock,
}

impl Config {
    /// The defaults, on the given database: what tests start from.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            public_url: None,
            db_pool_size: 10,
            max_in_flight: None,
            max_connections: 0,
            db_acquire_timeout_seconds: 5,
            db_connect_retry_seconds: 0,
            migrate_on_start: true,
            body_limit_bytes: 1024 * 1024,
            request_timeout_ms: 30_000,
            hold_sweep_interval_ms: 5_000,
            schema_check_seconds: 10,
            jwt_secret: None,
            jwt_public_key: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_leeway_seconds: 30,
            rate_limit_per_second: 100,
            rate_limit_burst: 200,
            cors_origins: Vec::new(),
            idempotency_ttl_hours: 24,
            event_retention_hours: 168,
            webhook_allow_http: false,
            webhook_allow_private: false,
            webhook_delivery: true,
            webhook_timeout_ms: 10_000,
            webhook_retry_first_ms: 5_000,
            webhook_retry_max_seconds: 3_600,
            webhook_disable_after_seconds: 86_400,
            webhook_poll_ms: 250,
            demo_dir: None,
            metrics_token: None,
            log_format: "text".into(),
            shutdown_grace_seconds: 30,
            one_trip_bookings: true,
            one_trip_gatherers: crate::store::gather::GATHERERS,
            timeline_cache_stretches: crate::service::DEFAULT_TIMELINE_STRETCHES,
            timeline_cache_min_rows: crate::service::DEFAULT_TIMELINE_MIN_ROWS,
            clock: crate::service::Clock::default(),
        }
    }

    /// `public_url` without a trailing slash, or "".
    pub fn public_base(&self) -> String {
        self.public_url.as_deref().unwrap_or("").trim_end_matches('/').to_owned()
    }

    /// How many API requests run at once.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.unwrap_or(self.db_pool_size.saturating_mul(4)) as usize
    }

    /// How many connections are held open at once (`None`: any).
    pub fn max_connections(&self) -> Option<usize> {
        (self.max_connections > 0).then_some(self.max_connections as usize)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The authenticator these settings describe.
    pub fn authenticator(&self) -> anyhow::Result<crate::auth::Authenticator> {
        let public_key_pem =
            self.jwt_public_key.as_deref().map(crate::auth::Authenticator::read_public_key).transpose()?;
        crate::auth::Authenticator::new(crate::auth::AuthSettings {
            secret: self.jwt_secret.clone(),
            public_key_pem,
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            leeway_seconds: self.jwt_leeway_seconds,
        })
    }

    /// Key lifetime, and when an in-flight claim counts as abandoned: twice
    /// the request timeout, after which its request cannot still be running.
    pub fn idempotency_policy(&self) -> crate::service::idempotency::Policy {
        crate::service::idempotency::Policy {
            ttl: chrono::Duration::hours(i64::from(self.idempotency_ttl_hours)),
            lease: chrono::Duration::milliseconds(2 * self.request_timeout_ms.min(i64::MAX as u64 / 4) as i64),
        }
    }

    /// How webhooks are sent, retried and guarded.
    pub fn webhook_settings(&self) -> crate::service::deliveries::Settings {
        use crate::domain::webhook::{RetryPolicy, TargetPolicy};
        let seconds = |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
        crate::service::deliveries::Settings {
            targets: TargetPolicy { allow_http: self.webhook_allow_http, allow_private: self.webhook_allow_private },
            retry: RetryPolicy {
                first_delay: chrono::Duration::milliseconds(
                    i64::try_from(self.webhook_retry_first_ms).unwrap_or(5_000),
                ),
                max_delay: seconds(self.webhook_retry_max_seconds),
                disable_after: seconds(self.webhook_disable_after_seconds),
            },
            timeout: Duration::from_millis(self.webhook_timeout_ms),
            poll: Duration::from_millis(self.webhook_poll_ms),
            concurrency: 32,
        }
    }

    pub fn db_acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.db_acquire_timeout_seconds)
    }
}

/// URLs that end up in response headers and problem `type`s: the spec
/// states at most 512 characters for them.
fn at_most_512_characters(value: &str) -> Result<String, String> {
    if value.chars().count() <= 512 { Ok(value.to_owned()) } else { Err("must be at most 512 characters".into()) }
}
