//! `TestApp::spawn()` starts berth through the production start-up code on
//! 127.0.0.1:0 with a fresh database, and offers typed request helpers and
//! the one shared problem assertion.

use std::sync::OnceLock;

use std::time::Duration;

use berth::{app::Application, auth::Role, config::Config};
use reqwest::{Method, StatusCode, header::HeaderMap};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The HS256 secret every test app uses.
pub const SECRET: &str = "test-secret-of-at-least-32-bytes!";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    /// An admin token; requests without their own `Authorization` carry it.
    pub admin: String,
    /// The database the app runs on, for other processes to share.
    pub database_url: String,
    _shutdown: oneshot::Sender<()>,
    _database: TestDatabase,
}

/// Where the test's database lives; dropping it removes the database.
enum TestDatabase {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs outside async; use a short-lived runtime on a thread.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                runtime.block_on(async {
                    let admin = Database::connect(&admin_url).await.ok()?;
                    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await.ok()?;
                    admin.close().await.ok()
                })
            })
            .join();
        }
    }
}

async fn fresh_database() -> (String, TestDatabase) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("berth_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(&admin_url).await.expect("TEST_DATABASE_URL must be reachable");
            admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
            admin.close().await.ok();
            let (prefix, _) = admin_url.rsplit_once('/').expect("TEST_DATABASE_URL ends with /DBNAME");
            (format!("{prefix}/{name}"), TestDatabase::Postgres { admin_url, name })
        }
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("berth.db").display());
            (url, TestDatabase::Sqlite(dir))
        }
    }
}

/// A response, read whole.
pub struct Reply {
    pub method: Method,
    pub path: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "{} {} answered {}", self.method, self.path, self.text);
        self
    }

    /// The shared problem assertion: HTTP status, content type, `type` slug,
    /// `status` member, the standard members, and that the operation's spec
    /// documents this status as problem+json with an example of this type.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, slug: &str) -> &Value {
        self.assert_status(status);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{}", self.text);
        let type_uri = self.body["type"].as_str().unwrap_or_default();
        assert!(type_uri.ends_with(&format!("/problems/{slug}")), "type {type_uri} is not {slug}: {}", self.text);
        assert_eq!(self.body["status"], status, "{}", self.text);
        assert!(self.body["title"].is_string(), "{}", self.text);
        assert!(self.body["detail"].is_string(), "{}", self.text);
        assert!(self.body["instance"].is_string(), "{}", self.text);
        if let Some(operation) = spec_operation(&self.method, &self.path) {
            let response = &operation["responses"][status.to_string()];
            assert!(response.is_object(), "{} {} does not document {status}", self.method, self.path);
            let content = &response["content"]["application/problem+json"];
            assert!(
                content["examples"][slug].is_object(),
                "{} {} {status} has no `{slug}` example",
                self.method,
                self.path
            );
        }
        &self.body
    }
}

static SPEC: OnceLock<Value> = OnceLock::new();

pub fn spec() -> &'static Value {
    SPEC.get_or_init(|| serde_json::to_value(berth::http::openapi()).expect("spec serialises"))
}

/// The spec's operation for a concrete request path, if the route exists.
pub fn spec_operation(method: &Method, path: &str) -> Option<&'static Value> {
    let path = path.split('?').next().unwrap_or(path);
    let paths = spec()["paths"].as_object()?;
    paths.iter().find_map(|(template, item)| {
        if matches_template(template, path) {
            item.get(method.as_str().to_ascii_lowercase()).filter(|op| op.is_object())
        } else {
            None
        }
    })
}

/// Whether `path` is an instance of the spec's path `template`: segment by
/// segment, a `{parameter}` matching any non-empty segment. (Compiling a
/// regex per template here cost ~35 ms a problem reply in a debug build,
/// on the runtime thread the app under test shares.)
fn matches_template(template: &str, path: &str) -> bool {
    let (mut wanted, mut given) = (template.split('/'), path.split('/'));
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

/// Mints a token with the test secret.
pub fn token(role: Role, sub: &str) -> String {
    let auth = berth::auth::Authenticator::new(berth::auth::AuthSettings {
        secret: Some(SECRET.to_owned()),
        ..Default::default()
    })
    .expect("authenticator");
    auth.mint(role, sub, Duration::from_secs(3600)).expect("token")
}

/// A customer's token.
pub fn customer_token(customer: &Value) -> String {
    token(Role::Customer, customer["id"].as_str().expect("customer id"))
}

impl TestApp {
    /// The app's database as the service layer takes it, to run a use case
    /// (the sweeper, the key cleanup) directly.
    pub fn services_db(&self) -> berth::service::Db {
        berth::service::Db::new(self.db.clone()).representing(std::sync::Arc::new(berth::http::events::Representations))
    }

    /// Another berth on the same database, as a second instance behind a
    /// load balancer; it stops when the returned sender is dropped.
    pub async fn another_instance(&self) -> (String, oneshot::Sender<()>) {
        self.another_instance_with(|_| {}).await
    }

    /// Another instance, with a tweaked configuration.
    pub async fn another_instance_with(&self, tweak: impl FnOnce(&mut Config)) -> (String, oneshot::Sender<()>) {
        let mut config = Config::for_database(self.database_url.clone());
        config.jwt_secret = Some(SECRET.to_owned());
        config.rate_limit_per_second = 0;
        config.migrate_on_start = false;
        tweak(&mut config);
        let app = Application::build(&config).await.expect("second instance builds");
        let base = format!("http://{}", app.local_addr().expect("bound"));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        (base, tx)
    }

    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with a tweaked configuration.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        // `RUST_LOG=berth=debug cargo test` shows the server's logs.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
        let (url, database) = fresh_database().await;
        let mut config = Config::for_database(url.clone());
        config.jwt_secret = Some(SECRET.to_owned());
        // Tests fire bursts from one admin; the rate-limit test turns it on.
        config.rate_limit_per_second = 0;
        tweak(&mut config);
        let app = Application::build(&config).await.expect("app builds");
        let addr = app.local_addr().expect("bound");
        let db = app.db().clone();
        let admin = app.authenticator().mint(Role::Admin, "test-admin", Duration::from_secs(3600)).expect("token");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        TestApp {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            db,
            admin,
            database_url: url,
            _shutdown: tx,
            _database: database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request as the admin (unless it carries its own
    /// `Authorization`) and reads the whole reply.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        self.send_as(request, Some(&self.admin.clone())).await
    }

    /// Sends a request with `token` (none: anonymous, unless the request
    /// already carries an `Authorization` header).
    pub async fn send_as(&self, request: reqwest::RequestBuilder, token: Option<&str>) -> Reply {
        let mut request = request.build().expect("request builds");
        if let Some(token) = token
            && !request.headers().contains_key("authorization")
        {
            request.headers_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
        }
        let (method, path) = (request.method().clone(), request.url().path().to_owned());
        let response = self.client.execute(request).await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        let reply = Reply { method, path, status, headers, text, body };
        crate::documented::assert_documented(&reply);
        reply
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    pub async fn patch_json(&self, path: &str, body: &Value, if_match: Option<&str>) -> Reply {
        let mut request = self.client.patch(self.url(path)).json(body);
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        self.send(request).await
    }

    pub async fn delete(&self, path: &str, if_match: Option<&str>) -> Reply {
        let mut request = self.client.delete(self.url(path));
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        self.send(request).await
    }

    /// Creates a resource and returns its body.
    pub async fn create_resource(&self, name: &str, capacity: i64) -> Value {
        let reply = self.post_json("/v1/resources", &json!({"name": name, "capacity": capacity})).await;
        reply.assert_status(201);
        reply.body
    }

    /// Creates a customer and returns its body.
    pub async fn create_customer(&self, email: &str) -> Value {
        let reply = self.post_json("/v1/customers", &json!({"email": email, "name": "Test Customer"})).await;
        reply.assert_status(201);
        reply.body
    }
}

/// Whether the suite runs on PostgreSQL (`TEST_DATABASE_URL` set).
pub fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty())
}

/// PostgreSQL: `count` confirmed bookings of half an hour by `customer`,
/// one an hour from `first` (RFC 3339), on each resource whose id
/// satisfies `which` (`= '<id>'`, `<> '<id>'`), written as rows; the
/// summary holds them when `counted`.
pub fn hourly_bookings_sql(which: &str, customer: &str, first: &str, count: i64, counted: bool) -> String {
    let counted = if counted { "1" } else { "NULL" };
    format!(
        "INSERT INTO booking (id, resource_id, customer_id, start_at, end_at, quantity, status, \
         buffer_before_seconds, buffer_after_seconds, occupied_start_at, occupied_end_at, version, \
         counted_version, created_at, updated_at) \
         SELECT gen_random_uuid(), r.id, '{customer}', s, s + interval '30 minutes', 1, 'confirmed', 0, 0, \
         s, s + interval '30 minutes', 1, {counted}, now(), now() \
         FROM resource r, generate_series(timestamptz '{first}', timestamptz '{first}' + interval '{last} hours', \
         interval '1 hour') AS s WHERE r.id {which}",
        last = count - 1,
    )
}

/// The `id` of a body the API answered, as a UUID.
pub fn uuid_of(value: &Value) -> uuid::Uuid {
    value["id"].as_str().and_then(|id| id.parse().ok()).expect("an id")
}

/// An interval `days` days from now (at a whole hour), from `from` to `to`
/// o'clock, as RFC 3339 strings with an offset.
pub fn slot(days: i64, from: u32, to: u32) -> (String, String) {
    use chrono::{Duration, Timelike, Utc};
    let day = (Utc::now() + Duration::days(days)).with_hour(0).unwrap().with_minute(0).unwrap();
    let day = day.with_second(0).unwrap().with_nanosecond(0).unwrap();
    let at = |hour: u32| (day + Duration::hours(i64::from(hour))).to_rfc3339();
    (at(from), at(to))
}

/// The body of a booking of one unit.
pub fn booking_json(resource: &Value, customer: &Value, (start, end): &(String, String)) -> Value {
    json!({"resource_id": resource["id"], "customer_id": customer["id"], "start_at": start, "end_at": end})
}

impl TestApp {
    /// Books and returns the reply, whatever it is.
    pub async fn book(&self, resource: &Value, customer: &Value, when: &(String, String), quantity: i64) -> Reply {
        let mut body = booking_json(resource, customer, when);
        body["quantity"] = json!(quantity);
        self.post_json("/v1/bookings", &body).await
    }

    /// Books and asserts the 201.
    pub async fn booked(&self, resource: &Value, customer: &Value, when: &(String, String), quantity: i64) -> Value {
        let reply = self.book(resource, customer, when, quantity).await;
        reply.assert_status(201);
        reply.body
    }

    /// Places a hold and asserts the 201.
    pub async fn held(&self, resource: &Value, customer: &Value, (start, end): &(String, String)) -> Value {
        let body = json!({
            "resource_id": resource["id"], "customer_id": customer["id"],
            "start_at": start, "end_at": end, "hold": true,
        });
        let reply = self.post_json("/v1/bookings", &body).await;
        assert_eq!(reply.assert_status(201).body["status"], "held");
        reply.body
    }

    /// POSTs an action (`confirm`, `cancel`, ...) without a body.
    pub async fn act(&self, booking: &Value, action: &str) -> Reply {
        let path = format!("/v1/bookings/{}/{action}", booking["id"].as_str().unwrap());
        self.send(self.client.post(self.url(&path))).await
    }

    /// Moves the hold's expiry into the past, as if its time had run out.
    pub async fn run_out_hold(&self, booking: &Value) {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        let id: uuid::Uuid = booking["id"].as_str().unwrap().parse().unwrap();
        let past = chrono::Utc::now() - chrono::Duration::seconds(1);
        entity::booking::Entity::update_many()
            .col_expr(entity::booking::Column::HoldExpiresAt, Expr::value(past))
            .filter(entity::booking::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .unwrap();
    }

    /// Fails unless the usage summary holds, for every resource and UTC
    /// hour, exactly the units of the held, pending, confirmed and checked-in
    /// bookings whose occupied time touches that hour (hours without any
    /// may be missing or 0), recomputed here from the bookings.
    pub async fn assert_usage_summary_matches_bookings(&self) {
        use sea_orm::EntityTrait;
        use std::collections::BTreeMap;
        const HOUR_NS: i64 = 3_600_000_000_000;
        let mut expected: BTreeMap<(uuid::Uuid, i64), i64> = BTreeMap::new();
        for b in entity::booking::Entity::find().all(&self.db).await.unwrap() {
            if !matches!(b.status.as_str(), "held" | "pending" | "confirmed" | "checked_in") {
                continue;
            }
            let start = b.occupied_start_at.timestamp_nanos_opt().unwrap();
            let end = b.occupied_end_at.timestamp_nanos_opt().unwrap();
            // From the hour holding the start to the last one starting
            // before the end.
            for hour in start.div_euclid(HOUR_NS)..=(end + HOUR_NS - 1).div_euclid(HOUR_NS) - 1 {
                *expected.entry((b.resource_id, hour)).or_default() += i64::from(b.quantity);
            }
        }
        let recorded: BTreeMap<(uuid::Uuid, i64), i64> = entity::resource_usage::Entity::find()
            .all(&self.db)
            .await
            .unwrap()
            .into_iter()
            .filter(|row| row.units != 0)
            .map(|row| ((row.resource_id, row.bucket), row.units))
            .collect();
        assert_eq!(recorded, expected, "the usage summary against the bookings");
    }

    /// Fails unless every booking has exactly one `create` event and every
    /// event belongs to a booking whose status is the last event's status.
    /// Also checks the usage summary (`assert_usage_summary_matches_bookings`).
    pub async fn assert_history_matches_bookings(&self) {
        use sea_orm::EntityTrait;
        let bookings = entity::booking::Entity::find().all(&self.db).await.unwrap();
        let events = entity::booking_event::Entity::find().all(&self.db).await.unwrap();
        for booking in &bookings {
            let mut mine: Vec<_> = events.iter().filter(|e| e.booking_id == booking.id).collect();
            mine.sort_by_key(|e| e.id);
            assert_eq!(mine.iter().filter(|e| e.action == "create").count(), 1, "booking {}", booking.id);
            assert_eq!(mine.last().unwrap().to_status, booking.status, "booking {}", booking.id);
        }
        assert!(events.iter().all(|e| bookings.iter().any(|b| b.id == e.booking_id)));
        self.assert_usage_summary_matches_bookings().await;
        self.assert_audit_clean().await;
    }

    /// Fails unless berth's own audit (`GET /v1/audit`, every page) finds
    /// nothing.
    pub async fn assert_audit_clean(&self) {
        let mut query = String::new();
        loop {
            let report = self.get(&format!("/v1/audit{query}")).await;
            assert_eq!(report.assert_status(200).body["ok"], true, "the audit: {}", report.text);
            match report.body["next_cursor"].as_str() {
                Some(cursor) => query = format!("?cursor={cursor}"),
                None => return,
            }
        }
    }

    /// Fails when, at any instant, what the blocking bookings of `resource`
    /// in the database occupy (their intervals and buffers) adds up to more
    /// than its capacity. Deliberately independent of berth's own sweep: the
    /// peak of a set of intervals is reached at some interval's start, so
    /// summing at every start is enough. Also checks the usage summary
    /// (`assert_usage_summary_matches_bookings`).
    pub async fn assert_within_capacity(&self, resource: &Value) {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let id: uuid::Uuid = resource["id"].as_str().unwrap().parse().unwrap();
        let capacity = entity::resource::Entity::find_by_id(id).one(&self.db).await.unwrap().unwrap().capacity;
        let now = chrono::Utc::now();
        let rows = entity::booking::Entity::find()
            .filter(entity::booking::Column::ResourceId.eq(id))
            .all(&self.db)
            .await
            .unwrap();
        // (start, end, quantity) of what each takes now: a confirmed booking
        // past its check-in deadline only up to it.
        let blocking: Vec<_> = rows
            .iter()
            .filter_map(|b| {
                match b.status.as_str() {
                    "checked_in" => Some(b.occupied_end_at),
                    "confirmed" => Some(match b.check_in_deadline_at {
                        Some(deadline) if deadline <= now => deadline.min(b.occupied_end_at),
                        _ => b.occupied_end_at,
                    }),
                    "held" | "pending" => b.hold_expires_at.is_some_and(|at| at > now).then_some(b.occupied_end_at),
                    _ => None,
                }
                .map(|end| (b.occupied_start_at, end, b.quantity))
            })
            .collect();
        for (at, _, _) in &blocking {
            let used: i32 = blocking
                .iter()
                .filter(|(start, end, _)| start <= at && at < end)
                .map(|(_, _, quantity)| quantity)
                .sum();
            assert!(used <= capacity, "{used} units at {at} on a resource of capacity {capacity}");
        }
        self.assert_usage_summary_matches_bookings().await;
        self.assert_audit_clean().await;
    }
}
