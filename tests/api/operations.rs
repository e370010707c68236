//! Running it for real: metrics, database outages, and real `berth`
//! processes (graceful shutdown, SIGKILL mid-load, two instances on one
//! PostgreSQL).

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use berth::auth::Role;
use futures::future::join_all;
use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::{SECRET, TestApp, booking_json, slot, token};

#[tokio::test]
async fn metrics_need_a_token_and_count_requests_and_conflicts() {
    let app = TestApp::spawn_with(|c| c.metrics_token = Some("scrape-me".into())).await;
    let resource = app.create_resource("Court", 1).await;
    let a = app.create_customer("a@example.com").await;
    let b = app.create_customer("b@example.com").await;
    app.booked(&resource, &a, &slot(3, 9, 10), 1).await;
    app.book(&resource, &b, &slot(3, 9, 10), 1).await.assert_problem(409, "capacity-exceeded");

    app.get("/v1/events").await.assert_status(200); // numbers what committed
    app.send_as(app.client.get(app.url("/metrics")), None).await.assert_problem(401, "unauthenticated");
    let customer = token(Role::Customer, a["id"].as_str().unwrap());
    app.send_as(app.client.get(app.url("/metrics")), Some(&customer)).await.assert_problem(403, "forbidden");
    let scraped = app.send_as(app.client.get(app.url("/metrics")), Some("scrape-me")).await;
    scraped.assert_status(200);
    assert!(scraped.header("content-type").unwrap().starts_with("text/plain"));
    let text = &scraped.text;
    for needle in [
        "berth_http_requests_total{route=\"/v1/bookings\",method=\"POST\",status=\"2xx\"}",
        "berth_problems_total{type=\"capacity-exceeded\"}",
        "berth_bookings_created_total{status=\"confirmed\"}",
        "berth_http_request_duration_seconds_bucket",
        "berth_db_pool_connections{state=\"idle\"}",
        "berth_api_requests_running 0",
        "berth_events_total",
    ] {
        assert!(text.contains(needle), "{needle} missing from /metrics");
    }
    assert!(!text.contains("/v1/bookings/0"), "routes, never raw paths with ids");
    app.get("/metrics").await.assert_status(200);
}

/// Regression (seen once in CI on SQLite): a pooled connection that had looked
/// at the schema while the migration was half-way kept a cached schema
/// without the idempotency index, and the first keyed request it served was a
/// 500 ("ON CONFLICT clause does not match any … UNIQUE constraint"). Every
/// connection of a fresh pool must serve a keyed upsert right after start-up.
#[tokio::test]
async fn every_pooled_connection_serves_keyed_requests_right_after_start_up() {
    for round in 0..8 {
        let app = TestApp::spawn_with(|c| c.db_pool_size = 8).await;
        let replies = join_all((0..16).map(|i| {
            let request = app
                .client
                .post(app.url("/v1/resources"))
                .header("idempotency-key", format!("start-up-{i}"))
                .json(&json!({"name": format!("Room {i}"), "capacity": 1}));
            app.send(request)
        }))
        .await;
        for reply in &replies {
            assert_eq!(reply.status, 201, "round {round}: {}", reply.text);
        }
    }
}

#[tokio::test]
async fn requests_past_the_in_flight_limit_wait_their_turn_and_health_does_not() {
    let app = TestApp::spawn_with(|c| c.max_in_flight = Some(1)).await;
    let resource = app.create_resource("Court", 1).await;
    let customer = app.create_customer("a@example.com").await;
    // Hold the resource's row as a change of the resource does (`FOR
    // UPDATE`; on SQLite the write lock) so that the one admitted booking
    // blocks inside the database.
    let blocker = app.db.begin().await.unwrap();
    let id = resource["id"].as_str().unwrap();
    let hold = if app.database_url.starts_with("postgres") {
        format!("SELECT id FROM resource WHERE id = '{id}' FOR UPDATE")
    } else {
        format!("UPDATE resource SET version = version WHERE id = '{id}'")
    };
    blocker.execute_unprepared(&hold).await.unwrap();
    let booking = tokio::spawn({
        let (app_base, admin, body) =
            (app.base.clone(), app.admin.clone(), booking_json(&resource, &customer, &slot(3, 9, 10)));
        async move {
            reqwest::Client::new().post(format!("{app_base}/v1/bookings")).bearer_auth(admin).json(&body).send().await
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A request that needs no database (no token: 401) still waits for the slot.
    let unauthenticated = app.send_as(app.client.get(app.url("/v1/customers")), None);
    tokio::pin!(unauthenticated);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut unauthenticated).await.is_err(),
        "a second request ran while the only slot was taken"
    );
    app.get("/readyz").await.assert_status(200);
    blocker.commit().await.unwrap();
    assert_eq!(booking.await.unwrap().unwrap().status(), 201);
    unauthenticated.await.assert_problem(401, "unauthenticated");
}

/// Past `BERTH_MAX_CONNECTIONS` open connections the next one waits,
/// unread, until one closes: a busy one after its response, an idle one
/// (a keep-alive connection between requests) at once.
#[tokio::test]
async fn connections_past_the_limit_wait_and_idle_ones_make_room() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(|c| c.max_connections = 2).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // Two clients in the middle of sending a request take both places.
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        slow.push(stream);
    }
    let third = app.get("/healthz");
    tokio::pin!(third);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut third).await.is_err(),
        "a third connection was served while two requests were open"
    );
    // The first request completes: answered, then its connection closes.
    slow[0].write_all(b"Host: berth\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow[0].read_to_end(&mut answer)).await;
    read.expect("the connection closed after its response").unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    tokio::time::timeout(Duration::from_secs(10), third).await.expect("served once a place freed").assert_status(200);
    // The third's connection now idles in the client's pool, the second
    // still sends: a fourth takes the idle one's place.
    let mut fourth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    fourth.write_all(b"GET /healthz HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), fourth.read_to_end(&mut answer))
        .await
        .expect("an idle connection made room")
        .unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
}

fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL").ok().filter(|u| u.starts_with("postgres"))
}

#[tokio::test]
async fn a_database_outage_is_503_with_retry_after_and_service_resumes_by_itself() {
    let Some(admin_url) = postgres_admin_url() else {
        println!("skipped: needs TEST_DATABASE_URL on PostgreSQL");
        return;
    };
    let app = TestApp::spawn_with(|c| c.db_acquire_timeout_seconds = 1).await;
    let db_name: String = {
        let row = app
            .db
            .query_one_raw(sea_orm::Statement::from_string(app.db.get_database_backend(), "SELECT current_database()"))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index(0).unwrap()
    };
    app.create_resource("Court", 1).await;
    let admin = Database::connect(&admin_url).await.unwrap();
    admin.execute_unprepared(&format!("ALTER DATABASE \"{db_name}\" ALLOW_CONNECTIONS false")).await.unwrap();
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db_name}' AND pid <> pg_backend_pid()"
        ))
        .await
        .unwrap();

    let ready = app.get("/readyz").await;
    ready.assert_problem(503, "service-unavailable");
    let list = app.get("/v1/resources").await;
    list.assert_problem(503, "service-unavailable");
    assert_eq!(list.header("retry-after"), Some("1"));
    assert!(!list.text.contains("postgres") && !list.text.contains(&db_name), "no internals: {}", list.text);

    admin.execute_unprepared(&format!("ALTER DATABASE \"{db_name}\" ALLOW_CONNECTIONS true")).await.unwrap();
    let mut recovered = false;
    for _ in 0..50 {
        if app.get("/v1/resources").await.status == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "service did not resume");
    app.get("/readyz").await.assert_status(200);
}

/// A real `berth` process.
struct Berth {
    child: Child,
    base: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Berth {
    async fn start(database_url: &str) -> Berth {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_LISTEN", format!("127.0.0.1:{port}"))
            .env("BERTH_DATABASE_URL", database_url)
            .env("BERTH_JWT_SECRET", SECRET)
            .env("BERTH_RATE_LIMIT_PER_SECOND", "0")
            .env("BERTH_DB_POOL_SIZE", "10")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("berth starts");
        let berth = Berth { child, base: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::new();
        let started = Instant::now();
        while client.get(format!("{}/readyz", berth.base)).send().await.map(|r| r.status() != 200).unwrap_or(true) {
            assert!(started.elapsed() < Duration::from_secs(30), "berth did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        berth
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }

    fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < limit, "berth did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A database for processes: the test app's own (its pool stays open, which
/// is fine for SQLite WAL and PostgreSQL alike).
fn database_url_of(app: &TestApp) -> String {
    app.database_url.clone()
}

async fn post(client: &reqwest::Client, base: &str, path: &str, body: &Value, key: Option<&str>) -> (u16, Value, bool) {
    let admin = token(Role::Admin, "ops");
    let mut request = client.post(format!("{base}{path}")).bearer_auth(admin).json(body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let replayed = response.headers().contains_key("idempotent-replayed");
            (status, response.json().await.unwrap_or(Value::Null), replayed)
        }
        Err(_) => (0, Value::Null, false),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_running_request_finish_and_exits_zero() {
    let app = TestApp::spawn().await;
    let mut berth = Berth::start(&database_url_of(&app)).await;
    let body = serde_json::to_vec(&json!({"name": "Slow Hall", "capacity": 3})).unwrap();
    // The body trickles in over ~1 s: the request is in flight when SIGTERM lands.
    let chunks: Vec<Vec<u8>> = body.chunks(4).map(<[u8]>::to_vec).collect();
    let slow = futures::stream::unfold(chunks.into_iter(), |mut rest| async move {
        let chunk = rest.next()?;
        tokio::time::sleep(Duration::from_millis(1000 / 8)).await;
        Some((Ok::<_, std::io::Error>(chunk), rest))
    });
    let client = reqwest::Client::new();
    let request = client
        .post(format!("{}/v1/resources", berth.base))
        .bearer_auth(token(Role::Admin, "ops"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(slow))
        .send();
    let in_flight = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(300)).await;
    berth.signal("TERM");
    let response = in_flight.await.unwrap().expect("the in-flight request got its answer");
    assert_eq!(response.status(), 201);
    let status = berth.wait(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    // New connections are refused once it is gone.
    assert!(client.get(format!("{}/healthz", berth.base)).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_loses_no_acknowledged_booking_and_breaks_no_rule() {
    let app = TestApp::spawn().await;
    let resource = app.create_resource("Hall", 20).await;
    let mut customers = Vec::new();
    for i in 0..60 {
        customers.push(app.create_customer(&format!("load{i}@example.com")).await);
    }
    let mut berth = Berth::start(&database_url_of(&app)).await;
    let base = berth.base.clone();
    let client = reqwest::Client::new();
    let when = slot(5, 9, 10);
    let load = customers.iter().enumerate().map(|(i, c)| {
        let body = json!({"resource_id": resource["id"], "customer_id": c["id"], "start_at": when.0, "end_at": when.1});
        let (client, base) = (client.clone(), base.clone());
        async move {
            tokio::time::sleep(Duration::from_millis(5 * i as u64)).await;
            post(&client, &base, "/v1/bookings", &body, None).await
        }
    });
    let load = tokio::spawn(join_all(load));
    tokio::time::sleep(Duration::from_millis(120)).await;
    berth.signal("KILL");
    berth.wait(Duration::from_secs(10));
    let outcomes = load.await.unwrap();
    let acknowledged: Vec<&Value> = outcomes.iter().filter(|(s, _, _)| *s == 201).map(|(_, b, _)| b).collect();
    println!("{} of {} acknowledged before SIGKILL", acknowledged.len(), outcomes.len());
    assert!(outcomes.iter().any(|(status, _, _)| *status == 0), "the kill did not land mid-load");

    // Restart on the same database; everything acknowledged is there.
    let restarted = Berth::start(&database_url_of(&app)).await;
    for booking in &acknowledged {
        let path = format!("{}/v1/bookings/{}", restarted.base, booking["id"].as_str().unwrap());
        let reply = client.get(path).bearer_auth(token(Role::Admin, "ops")).send().await.unwrap();
        assert_eq!(reply.status(), 200, "acknowledged booking {} is gone", booking["id"]);
    }
    app.assert_within_capacity(&resource).await;
    app.assert_history_matches_bookings().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_postgres_keep_every_rule() {
    if postgres_admin_url().is_none() {
        println!("skipped: needs TEST_DATABASE_URL on PostgreSQL");
        return;
    }
    let app = TestApp::spawn().await;
    let resource = app.create_resource("Class", 10).await;
    let mut customers = Vec::new();
    for i in 0..200 {
        customers.push(app.create_customer(&format!("multi{i}@example.com")).await);
    }
    let one = Berth::start(&database_url_of(&app)).await;
    let two = Berth::start(&database_url_of(&app)).await;
    let client = reqwest::Client::new();
    let when = slot(5, 9, 10);
    let requests = customers.iter().enumerate().map(|(i, c)| {
        let body = json!({"resource_id": resource["id"], "customer_id": c["id"], "start_at": when.0, "end_at": when.1});
        let base = if i % 2 == 0 { one.base.clone() } else { two.base.clone() };
        let client = client.clone();
        async move { post(&client, &base, "/v1/bookings", &body, None).await }
    });
    let outcomes = join_all(requests).await;
    let created = outcomes.iter().filter(|(s, _, _)| *s == 201).count();
    let refused = outcomes.iter().filter(|(s, b, _)| *s == 409 && b["type"] == "/problems/capacity-exceeded").count();
    assert_eq!((created, refused), (10, 190));
    app.assert_within_capacity(&resource).await;

    // A keyed request retried on the other instance is replayed, not run twice.
    let other = app.create_resource("Other", 5).await;
    let body =
        json!({"resource_id": other["id"], "customer_id": customers[0]["id"], "start_at": when.0, "end_at": when.1});
    let first = post(&client, &one.base, "/v1/bookings", &body, Some("cross-instance")).await;
    let retry = post(&client, &two.base, "/v1/bookings", &body, Some("cross-instance")).await;
    assert_eq!((first.0, retry.0, retry.2), (201, 201, true));
    assert_eq!(first.1, retry.1);
}

/// What `berth serve` prints to stdout until it is told to stop, started
/// with `secret` and an identity provider's key or not.
async fn printed_at_start(database_url: &str, identity_provider: bool) -> String {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .env("BERTH_LISTEN", format!("127.0.0.1:{port}"))
        .env("BERTH_DATABASE_URL", database_url)
        .env_remove("BERTH_JWT_SECRET")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if identity_provider {
        command
            .env("BERTH_JWT_PUBLIC_KEY", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/idp-ed25519-public.pem"));
    }
    let child = command.spawn().expect("berth starts");
    let mut berth = Berth { child, base: format!("http://127.0.0.1:{port}") };
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{}/readyz", berth.base)).send().await.map(|r| r.status() != 200).unwrap_or(true) {
        assert!(started.elapsed() < Duration::from_secs(30), "berth did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    berth.signal("TERM");
    berth.wait(Duration::from_secs(20));
    let mut printed = String::new();
    if let Some(mut stdout) = berth.child.stdout.take() {
        std::io::Read::read_to_string(&mut stdout, &mut printed).unwrap();
    }
    printed
}

/// Found from outside: with an identity provider configured, the made-up
/// secret's admin token was printed anyway (and stdout ends up in log
/// storage). Only a berth with no other way in prints one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_admin_token_is_printed_only_without_any_configured_key() {
    let app = TestApp::spawn().await;
    let alone = printed_at_start(&database_url_of(&app), false).await;
    assert!(alone.contains("Admin token"), "nothing printed: {alone:?}");
    let with_idp = printed_at_start(&database_url_of(&app), true).await;
    assert!(!with_idp.contains("Admin token") && !with_idp.contains("eyJ"), "printed: {with_idp}");
}
