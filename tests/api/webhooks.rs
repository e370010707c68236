//! Webhooks against a real receiver on 127.0.0.1 started by each test:
//! signed Standard Webhooks requests, the feed's items in feed order,
//! retries with growing waits after 500s and timeouts, switching off an
//! endpoint that fails too long, two instances never sending one attempt
//! twice at once, and the SSRF guard.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, extract::State, http::HeaderMap, routing::post};
use base64::{Engine, engine::general_purpose::STANDARD};
use berth::config::Config;
use futures::future::join_all;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{TestApp, slot};

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    arrived: Instant,
    answered: Instant,
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    status: u16,
}

/// What the receiver answers to the `n`th request (from 1) of a message.
type Script = Arc<dyn Fn(&str, usize) -> Answer + Send + Sync>;

#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Answers 200 after this long, within berth's timeout.
    Slow(Duration),
    /// Answers 200 after this long, past berth's timeout (logged as status
    /// 0: berth had stopped listening).
    Late(Duration),
}

#[derive(Clone)]
struct Receiver {
    url: String,
    log: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(script: impl Fn(&str, usize) -> Answer + Send + Sync + 'static) -> Self {
        let log: Arc<Mutex<Vec<Received>>> = Arc::default();
        let state = (log.clone(), Arc::new(script) as Script);
        let app = Router::new().route("/hook", post(receive)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, log }
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// The accepted requests, in the order they were accepted.
    fn accepted(&self) -> Vec<Received> {
        let mut accepted: Vec<_> = self.received().into_iter().filter(|r| r.status == 200).collect();
        accepted.sort_by_key(|r| r.answered);
        accepted
    }

    async fn wait_for_accepted(&self, count: usize) -> Vec<Received> {
        wait_until(|| async { (self.accepted().len() >= count).then(|| self.accepted()) }, "accepted requests").await
    }
}

async fn receive(
    State((log, script)): State<(Arc<Mutex<Vec<Received>>>, Script)>,
    headers: HeaderMap,
    body: String,
) -> axum::http::StatusCode {
    let arrived = Instant::now();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let id = header("webhook-id");
    // Logged on arrival (status 0 until answered), so the next attempt
    // counts this one even while it is still being answered.
    let (nth, index) = {
        let mut log = log.lock().unwrap();
        let nth = log.iter().filter(|r| r.id == id).count() + 1;
        let received = Received {
            arrived,
            answered: arrived,
            id: id.clone(),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            body,
            status: 0,
        };
        log.push(received);
        (nth, log.len() - 1)
    };
    let (status, logged) = match script(&id, nth) {
        Answer::Status(status) => (status, status),
        Answer::Slow(wait) => {
            tokio::time::sleep(wait).await;
            (200, 200)
        }
        // Too late for berth: logged as not accepted.
        Answer::Late(wait) => {
            tokio::time::sleep(wait).await;
            (200, 0)
        }
    };
    {
        let mut log = log.lock().unwrap();
        log[index].answered = Instant::now();
        log[index].status = logged;
    }
    axum::http::StatusCode::from_u16(status).unwrap()
}

/// Polls `check` every 20 ms for up to 30 s.
async fn wait_until<T, F, Fut>(mut check: F, what: &str) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Local receivers over plain http, short waits.
fn local(config: &mut Config) {
    config.webhook_allow_http = true;
    config.webhook_allow_private = true;
    config.webhook_poll_ms = 20;
    config.webhook_timeout_ms = 2_000;
    config.webhook_retry_first_ms = 100;
    config.webhook_retry_max_seconds = 5;
}

/// Verifies a Standard Webhooks signature as a receiver would, with its
/// own HMAC (not berth's code).
fn verifies(secret: &str, received: &Received) -> bool {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", received.id, received.timestamp, received.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    received.signature.split(' ').any(|candidate| candidate == expected)
}

async fn register(app: &TestApp, url: &str, types: &[&str]) -> Value {
    let reply = app.post_json("/v1/webhooks", &json!({"url": url, "types": types})).await;
    reply.assert_status(201).body.clone()
}

fn position(received: &Received) -> i64 {
    serde_json::from_str::<Value>(&received.body).unwrap()["position"].as_i64().unwrap()
}

async fn feed(app: &TestApp) -> Vec<Value> {
    let page = app.get("/v1/events?limit=500").await.assert_status(200).body.clone();
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_endpoint_gets_each_wanted_event_signed_in_feed_order_once() {
    let app = TestApp::spawn_with(local).await;
    let before = app.create_resource("Made before", 1).await;
    let everything = Receiver::start(|_, _| Answer::Status(200)).await;
    let cancels = Receiver::start(|_, _| Answer::Status(200)).await;
    let all = register(&app, &everything.url, &[]).await;
    let secret = all["secret"].as_str().unwrap().to_owned();
    assert!(regex::Regex::new("^whsec_[A-Za-z0-9+/]{43}=$").unwrap().is_match(&secret), "{secret}");
    let only_cancels = register(&app, &cancels.url, &["booking.cancelled"]).await;
    assert_eq!(only_cancels["types"], json!(["booking.cancelled"]));

    let court = app.create_resource("Court", 1).await;
    let ada = app.create_customer("ada@example.com").await;
    let held = app.held(&court, &ada, &slot(2, 9, 10)).await;
    app.act(&held, "confirm").await.assert_status(200);
    app.act(&held, "cancel").await.assert_status(200);
    app.patch_json(
        &format!("/v1/resources/{}", before["id"].as_str().unwrap()),
        &json!({"capacity": 2}),
        Some("\"1\""),
    )
    .await
    .assert_status(200);

    let got = everything.wait_for_accepted(5).await;
    let types: Vec<String> =
        got.iter().map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["type"].as_str().unwrap().into()).collect();
    assert_eq!(
        types,
        ["resource.created", "booking.created", "booking.confirmed", "booking.cancelled", "resource.updated"],
        "only what happened after registering, in feed order"
    );
    let feed = feed(&app).await;
    for received in &got {
        assert!(verifies(&secret, received), "signature of {}", received.id);
        let body: Value = serde_json::from_str(&received.body).unwrap();
        assert_eq!(received.id, format!("msg_{}", body["position"]));
        let item = feed.iter().find(|e| e["position"] == body["position"]).unwrap();
        assert_eq!(&body, item, "the body is the feed's item");
        let sent_at: i64 = received.timestamp.parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 60);
    }
    let positions: Vec<i64> = got.iter().map(position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");

    let only = cancels.wait_for_accepted(1).await;
    assert_eq!(serde_json::from_str::<Value>(&only[0].body).unwrap()["type"], "booking.cancelled");
    assert!(!verifies(&secret, &only[0]), "each endpoint has its own secret");
    assert!(verifies(only_cancels["secret"].as_str().unwrap(), &only[0]));

    // Sent once each, and the log says so.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(everything.received().len(), 5);
    let log = app.get(&format!("/v1/webhooks/{}/deliveries", all["id"].as_str().unwrap())).await;
    let items = log.assert_status(200).body["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 5);
    assert_eq!(items[0]["event_type"], "resource.updated", "newest first");
    for item in &items {
        assert_eq!(item["status"], "delivered");
        assert_eq!(item["attempts"], 1);
        assert_eq!(item["last_status"], 200);
        assert_eq!(item["next_attempt_at"], Value::Null);
        assert!(item["delivered_at"].is_string());
        assert_eq!(item["message_id"], format!("msg_{}", item["position"]));
    }
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.text.contains("berth_webhook_attempts_total{outcome=\"delivered\"}"), "attempts by outcome");
    assert!(metrics.text.contains("berth_webhook_delivery_lag_seconds_bucket"), "delivery lag");
    assert!(metrics.text.contains("berth_events_total"), "events written");
}

#[tokio::test]
async fn the_secret_is_shown_once_and_endpoints_are_managed_with_preconditions() {
    let app = TestApp::spawn_with(local).await;
    let created = app
        .post_json(
            "/v1/webhooks",
            &json!({"url": "http://127.0.0.1:9/hook", "description": "CRM", "types": ["booking.created", "booking.created"]}),
        )
        .await;
    created.assert_status(201);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/webhooks/{id}");
    assert_eq!(created.header("location"), Some(path.as_str()));
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.body["types"], json!(["booking.created"]), "repeats are dropped");
    assert_eq!(created.body["enabled"], true);

    let read = app.get(&path).await;
    read.assert_status(200);
    assert!(read.body.get("secret").is_none(), "never shown again");
    let listed = app.get("/v1/webhooks").await.assert_status(200).body.clone();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(listed["items"][0].get("secret").is_none());

    app.patch_json(&path, &json!({"types": []}), None).await.assert_problem(428, "precondition-required");
    app.patch_json(&path, &json!({"types": []}), Some("\"7\"")).await.assert_problem(412, "precondition-failed");
    let changed = app.patch_json(&path, &json!({"types": [], "description": null}), Some("\"1\"")).await;
    changed.assert_status(200);
    assert_eq!(changed.body["types"], json!([]));
    assert_eq!(changed.body["description"], Value::Null);
    let off = app.patch_json(&path, &json!({"enabled": false}), Some("\"2\"")).await;
    assert_eq!(off.assert_status(200).body["enabled"], false);
    assert!(off.body["disabled_at"].is_string());

    // Unknown type, no URL, not a URL, an unknown field, NUL: each a 422.
    for bad in [
        json!({"url": "http://127.0.0.1/", "types": ["booking.teleported"]}),
        json!({"url": ""}),
        json!({"url": "not a url"}),
        json!({"url": "http://127.0.0.1/", "secret": "mine"}),
        json!({"url": "http://127.0.0.1/", "description": "a\u{0}b"}),
    ] {
        let reply = app.post_json("/v1/webhooks", &bad).await;
        assert_eq!(reply.status.as_u16(), 422, "{bad}: {}", reply.text);
    }
    let odd = app.post_json("/v1/webhooks", &json!({"url": "HTTP://127.0.0.1:9/In Box?a=b c"})).await;
    assert_eq!(odd.assert_status(201).body["url"], "http://127.0.0.1:9/In%20Box?a=b%20c", "kept as parsed");
    let nul = app.post_json("/v1/webhooks", &json!({"url": "http://127.0.0.1:9/\u{0}"})).await;
    assert_eq!(nul.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/url");
    let customer = app.create_customer("eve@example.com").await;
    let eve = crate::helpers::customer_token(&customer);
    let as_eve = app.send_as(app.client.get(app.url("/v1/webhooks")), Some(&eve)).await;
    as_eve.assert_problem(403, "forbidden");
    let anonymous = app.send_as(app.client.get(app.url(&path)), None).await;
    assert_eq!(anonymous.status, 401);

    app.delete(&path, None).await.assert_problem(428, "precondition-required");
    app.delete(&path, Some("\"3\"")).await.assert_status(204);
    app.get(&path).await.assert_problem(404, "not-found");
    app.get(&format!("{path}/deliveries")).await.assert_problem(404, "not-found");
}

#[tokio::test]
async fn failures_are_retried_with_growing_waits_and_hold_back_later_events() {
    let app = TestApp::spawn_with(|config| {
        local(config);
        config.webhook_timeout_ms = 1_000;
        config.webhook_retry_first_ms = 200;
    })
    .await;
    // The first message: 500, 500, no answer in time, then accepted.
    let first_id: Arc<Mutex<Option<String>>> = Arc::default();
    let first = first_id.clone();
    let receiver = Receiver::start(move |id, nth| {
        let mut first = first.lock().unwrap();
        let first = first.get_or_insert_with(|| id.to_owned());
        match (id == first.as_str(), nth) {
            (true, 1 | 2) => Answer::Status(500),
            (true, 3) => Answer::Late(Duration::from_millis(2_500)),
            _ => Answer::Status(200),
        }
    })
    .await;
    let endpoint = register(&app, &receiver.url, &["resource.created"]).await;
    app.create_resource("One", 1).await;
    app.create_resource("Two", 1).await;

    let accepted = receiver.wait_for_accepted(2).await;
    let first_id = first_id.lock().unwrap().clone().unwrap();
    assert_eq!(accepted[0].id, first_id, "the second event waited for the first");
    assert!(position(&accepted[0]) < position(&accepted[1]));
    let tries: Vec<Received> = receiver.received().into_iter().filter(|r| r.id == first_id).collect();
    let mut arrivals: Vec<Instant> = tries.iter().map(|r| r.arrived).collect();
    arrivals.sort();
    assert_eq!(arrivals.len(), 4, "three failures, then accepted");
    let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    // Waits of 200·2^(n-1) ms with jitter in the upper half: at least 100,
    // 200 and 400 ms (the third after a 1,000 ms timeout).
    assert!(gaps[0] >= Duration::from_millis(100), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(200), "{gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(1_400), "{gaps:?}");
    let second = &accepted[1];
    assert!(second.arrived >= accepted[0].answered, "never sent before the first was accepted");

    let endpoint_path = format!("/v1/webhooks/{}", endpoint["id"].as_str().unwrap());
    let log = app.get(&format!("{endpoint_path}/deliveries")).await.assert_status(200).body.clone();
    let oldest = &log["items"][1];
    assert_eq!(oldest["attempts"], 4);
    assert_eq!(oldest["status"], "delivered");
    let now = app.get(&endpoint_path).await.assert_status(200).body.clone();
    assert_eq!(now["failing_since"], Value::Null, "a success ends the failing streak");
    assert_eq!(now["enabled"], true);
}

#[tokio::test]
async fn the_log_shows_what_went_wrong_while_an_endpoint_fails() {
    let app = TestApp::spawn_with(|config| {
        local(config);
        config.webhook_timeout_ms = 1_000;
    })
    .await;
    let slow = Receiver::start(|_, _| Answer::Late(Duration::from_millis(3_000))).await;
    let broken = Receiver::start(|_, _| Answer::Status(503)).await;
    let slow_endpoint = register(&app, &slow.url, &[]).await;
    let broken_endpoint = register(&app, &broken.url, &[]).await;
    app.create_resource("Court", 1).await;
    app.create_resource("Hall", 1).await;

    for (endpoint, expect) in [(&slow_endpoint, "timeout"), (&broken_endpoint, "503")] {
        let log_path = format!("/v1/webhooks/{}/deliveries?status=pending", endpoint["id"].as_str().unwrap());
        let (item, later) = wait_until(
            || async {
                let log = app.get(&log_path).await.assert_status(200).body.clone();
                // Newest first: the oldest (the one being retried) is last.
                let (item, later) = (log["items"][1].clone(), log["items"][0].clone());
                (item["attempts"].as_i64().unwrap_or(0) >= 2).then_some((item, later))
            },
            "two failed attempts",
        )
        .await;
        // The later event is never tried before the first is accepted, and
        // waits (at least) as long as the first's retry.
        assert_eq!(later["attempts"], 0, "{later}");
        let when =
            |item: &Value| chrono::DateTime::parse_from_rfc3339(item["next_attempt_at"].as_str().unwrap()).unwrap();
        assert!(when(&later) >= when(&item), "held back behind the retry: {later} / {item}");
        assert_eq!(item["status"], "pending");
        assert!(item["next_attempt_at"].is_string());
        if expect == "timeout" {
            assert_eq!(item["last_error"], "no answer within 1000 ms");
            assert_eq!(item["last_status"], Value::Null);
        } else {
            assert_eq!(item["last_status"], 503);
            assert_eq!(item["last_error"], Value::Null);
        }
        let state = app.get(&format!("/v1/webhooks/{}", endpoint["id"].as_str().unwrap())).await.body.clone();
        assert!(state["failing_since"].is_string(), "{state}");
        assert_eq!(state["enabled"], true);
    }
    let delivered =
        app.get(&format!("/v1/webhooks/{}/deliveries?status=delivered", broken_endpoint["id"].as_str().unwrap())).await;
    assert_eq!(delivered.assert_status(200).body["items"], json!([]));
}

#[tokio::test]
async fn an_endpoint_failing_past_the_window_is_switched_off_and_that_is_an_event() {
    let app = TestApp::spawn_with(|config| {
        local(config);
        config.webhook_retry_max_seconds = 1;
        config.webhook_disable_after_seconds = 1;
    })
    .await;
    let failing = Receiver::start(|_, _| Answer::Status(500)).await;
    let watcher = Receiver::start(|_, _| Answer::Status(200)).await;
    let endpoint = register(&app, &failing.url, &[]).await;
    register(&app, &watcher.url, &["webhook.disabled"]).await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    app.create_resource("Court", 1).await;
    app.create_resource("Hall", 1).await;

    let path = format!("/v1/webhooks/{id}");
    let off = wait_until(
        || async {
            let now = app.get(&path).await.assert_status(200).body.clone();
            (now["enabled"] == false).then_some(now)
        },
        "the endpoint switched off",
    )
    .await;
    assert!(off["disabled_at"].is_string() && off["failing_since"].is_string());
    let since = chrono::DateTime::parse_from_rfc3339(off["failing_since"].as_str().unwrap()).unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(off["disabled_at"].as_str().unwrap()).unwrap();
    assert!(at - since >= chrono::Duration::seconds(1), "only after failing for the whole window");

    let tried = failing.received().len();
    assert!(tried >= 2);
    let log = app.get(&format!("{path}/deliveries")).await.assert_status(200).body.clone();
    for item in log["items"].as_array().unwrap() {
        assert_eq!(item["status"], "failed", "pending deliveries are given up: {item}");
        assert_eq!(item["next_attempt_at"], Value::Null);
    }
    let disabled: Vec<Value> = feed(&app).await.into_iter().filter(|e| e["type"] == "webhook.disabled").collect();
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0]["subject_id"], json!(id));
    assert_eq!(disabled[0]["data"]["webhook"]["enabled"], false);
    assert_eq!(disabled[0]["data"]["actor"]["role"], "system");
    assert!(disabled[0]["data"]["webhook"].get("secret").is_none());
    assert!(disabled[0]["data"]["webhook"].get("url").is_none(), "other receivers never see its URL");
    let told = watcher.wait_for_accepted(1).await;
    assert_eq!(serde_json::from_str::<Value>(&told[0].body).unwrap()["subject_id"], json!(id));

    // Switched off, nothing more is sent, not even for new events.
    app.create_resource("Pool", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(failing.received().len(), tried);

    // Switched on again: a fresh start, with what happens from then on.
    let etag = app.get(&path).await.header("etag").unwrap().to_owned();
    let on = app.patch_json(&path, &json!({"enabled": true}), Some(&etag)).await.assert_status(200).body.clone();
    assert_eq!(
        (on["enabled"].clone(), on["failing_since"].clone(), on["disabled_at"].clone()),
        (json!(true), Value::Null, Value::Null)
    );
    let fixed = Receiver::start(|_, _| Answer::Status(200)).await;
    let etag = app.get(&path).await.header("etag").unwrap().to_owned();
    app.patch_json(&path, &json!({"url": fixed.url}), Some(&etag)).await.assert_status(200);
    app.create_resource("Gym", 1).await;
    let got = fixed.wait_for_accepted(1).await;
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["data"]["resource"]["name"], "Gym");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fixed.received().len(), 1, "nothing from while it was off");
}

#[tokio::test]
async fn two_instances_never_send_one_attempt_twice_and_keep_the_order() {
    let app = TestApp::spawn_with(local).await;
    let (other, _stop) = app.another_instance_with(local).await;
    // Every fifth message fails once; answers take up to 25 ms, so the
    // two workers' attempts overlap in time.
    let receiver = Receiver::start(|id, nth| {
        let number: u64 = id.trim_start_matches("msg_").parse().unwrap_or(0);
        if number.is_multiple_of(5) && nth == 1 {
            Answer::Status(500)
        } else {
            Answer::Slow(Duration::from_millis(number % 25))
        }
    })
    .await;
    register(&app, &receiver.url, &[]).await;
    let court = app.create_resource("Court", 100).await;
    let mut customers = Vec::new();
    for n in 0..10 {
        customers.push(app.create_customer(&format!("c{n}@example.com")).await);
    }
    let bookings = customers.iter().enumerate().flat_map(|(n, customer)| {
        let base = if n % 2 == 0 { app.base.clone() } else { other.clone() };
        (0..4).map(move |k| (base.clone(), customer.clone(), slot(2 + k, 9, 10)))
    });
    let made = join_all(bookings.map(|(base, customer, (start, end))| {
        let app = &app;
        let court = &court;
        async move {
            let body =
                json!({"resource_id": court["id"], "customer_id": customer["id"], "start_at": start, "end_at": end});
            app.send(app.client.post(format!("{base}/v1/bookings")).json(&body)).await.status.as_u16()
        }
    }))
    .await;
    assert!(made.iter().all(|s| *s == 201), "{made:?}");

    // 1 resource + 10 customers (no events) + 40 bookings = 41 events.
    let accepted = receiver.wait_for_accepted(41).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = receiver.received();
    let mut by_id: HashMap<String, Vec<&Received>> = HashMap::new();
    for received in &all {
        by_id.entry(received.id.clone()).or_default().push(received);
    }
    assert_eq!(by_id.len(), 41);
    for (id, tries) in &by_id {
        let number: u64 = id.trim_start_matches("msg_").parse().unwrap();
        let expected = if number.is_multiple_of(5) { 2 } else { 1 };
        assert_eq!(tries.len(), expected, "{id} was sent {} times", tries.len());
        let accepted_tries = tries.iter().filter(|r| r.status == 200).count();
        assert_eq!(accepted_tries, 1, "{id}");
        for pair in tries.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert!(a.answered <= b.arrived || b.answered <= a.arrived, "{id}: two attempts at once");
        }
    }
    let positions: Vec<i64> = accepted.iter().map(position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "accepted in feed order: {positions:?}");
}

#[tokio::test]
async fn private_and_plain_http_targets_are_refused_by_default_and_never_sent_to() {
    let app = TestApp::spawn().await;
    for (url, detail) in [
        ("http://hooks.example.com/", "must use https"),
        ("https://10.0.0.1/", "non-public"),
        ("https://127.0.0.1:8443/", "non-public"),
        ("https://169.254.169.254/latest/meta-data/", "non-public"),
        ("https://[::1]/", "non-public"),
        ("https://localhost/", "non-public"),
        ("https://user:pw@hooks.example.com/", "user name"),
        ("file:///etc/passwd", "not an absolute"),
    ] {
        let reply = app.post_json("/v1/webhooks", &json!({"url": url})).await;
        let problem = reply.assert_problem(422, "validation-error");
        assert_eq!(problem["errors"][0]["pointer"], "/url", "{url}");
        assert!(problem["errors"][0]["detail"].as_str().unwrap().contains(detail), "{url}: {problem}");
    }
    let accepted = app.post_json("/v1/webhooks", &json!({"url": "https://hooks.example.com/berth"})).await;
    accepted.assert_status(201);
    let path = format!("/v1/webhooks/{}", accepted.body["id"].as_str().unwrap());
    app.patch_json(&path, &json!({"url": "https://10.0.0.1/"}), Some("\"1\""))
        .await
        .assert_problem(422, "validation-error");
    assert_eq!(app.get(&path).await.body["url"], "https://hooks.example.com/berth");

    // Registered where private targets were allowed, sent by an instance
    // where they are not (plain http is allowed there, so the address is
    // what refuses): refused where the connection is made.
    let app = TestApp::spawn_with(|config| config.webhook_allow_http = true).await;
    let receiver = Receiver::start(|_, _| Answer::Status(200)).await;
    let (lenient, _stop) = app
        .another_instance_with(|config| {
            local(config);
            config.webhook_delivery = false;
        })
        .await;
    let register_there = |url: String| {
        let app = &app;
        let lenient = lenient.clone();
        async move {
            let registered =
                app.send(app.client.post(format!("{lenient}/v1/webhooks")).json(&json!({"url": url}))).await;
            registered.assert_status(201).body["id"].as_str().unwrap().to_owned()
        }
    };
    let by_address = register_there(receiver.url.clone()).await;
    // A name, not an address, that resolves to this machine: refused on
    // the addresses the resolver returns, where the connection is made.
    let host = String::from_utf8(std::process::Command::new("hostname").output().unwrap().stdout).unwrap();
    let host = host.trim().to_owned();
    let resolves_privately = tokio::net::lookup_host((host.as_str(), 0))
        .await
        .map(|addrs| addrs.into_iter().all(|a| !berth::domain::webhook::is_public(a.ip())))
        .unwrap_or(false);
    let port = receiver.url.split(':').nth(2).unwrap().split('/').next().unwrap().to_owned();
    let by_name = if resolves_privately {
        Some(register_there(format!("http://{host}:{port}/hook")).await)
    } else {
        println!("skipped the resolver case: hostname {host} does not resolve to a private address here");
        None
    };
    app.create_resource("Court", 1).await;
    for (id, refusal) in [(Some(by_address), "non-public"), (by_name, "resolves to no public address")] {
        let Some(id) = id else { continue };
        let log_path = format!("/v1/webhooks/{id}/deliveries");
        let item = wait_until(
            || async {
                let log = app.get(&log_path).await.body.clone();
                let item = log["items"][0].clone();
                // `attempts` counts an attempt from its claim; the error comes
                // when it is settled.
                item["last_error"].is_string().then_some(item)
            },
            "a settled attempt",
        )
        .await;
        let why = item["last_error"].as_str().unwrap();
        assert!(why.contains("target refused") && why.contains(refusal), "{item}");
    }
    assert!(receiver.received().is_empty(), "nothing reached the private address");
}
