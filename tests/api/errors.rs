//! Every error the framework itself can produce is a problem too: bad JSON,
//! wrong content type, unknown route, wrong method, body too large,
//! timeouts and panics. And the problem pages exist.

use std::time::Duration;

use axum::{Router, routing::get};
use berth::http::{Limits, problem::ProblemContext, with_middleware};
use serde_json::{Value, json};

use crate::helpers::TestApp;

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = TestApp::spawn().await;
    let reply = app
        .send(app.client.post(app.url("/v1/resources")).header("content-type", "application/json").body("{not json"))
        .await;
    reply.assert_problem(400, "malformed-request");
}

#[tokio::test]
async fn a_body_that_is_not_json_by_content_type_is_a_415() {
    let app = TestApp::spawn().await;
    let reply =
        app.send(app.client.post(app.url("/v1/resources")).header("content-type", "text/plain").body("{}")).await;
    reply.assert_problem(415, "unsupported-media-type");
    let none = app.send(app.client.post(app.url("/v1/customers")).body("{}")).await;
    none.assert_problem(415, "unsupported-media-type");
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = TestApp::spawn().await;
    app.get("/v1/nothing-here").await.assert_problem(404, "not-found");
}

#[tokio::test]
async fn a_wrong_method_is_a_405_with_allow() {
    let app = TestApp::spawn().await;
    let reply = app.send(app.client.put(app.url("/v1/resources"))).await;
    reply.assert_problem(405, "method-not-allowed");
    let allow = reply.header("allow").unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "Allow: {allow}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_whether_announced_or_streamed() {
    let app = TestApp::spawn_with(|c| c.body_limit_bytes = 1024).await;
    let big = json!({"name": "x".repeat(2000), "capacity": 1});
    app.post_json("/v1/resources", &big).await.assert_problem(413, "payload-too-large");

    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(vec![b' '; 800]), Ok(vec![b' '; 800])];
    let streamed = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let reply = app
        .send(app.client.post(app.url("/v1/customers")).header("content-type", "application/json").body(streamed))
        .await;
    reply.assert_problem(413, "payload-too-large");
    assert_eq!(app.get("/v1/resources").await.body["items"], json!([]));
}

/// A request's head and small body are copied out of hyper's read buffer
/// before it is routed (`http::own_buffers`): one past the size copied is
/// read by its handler as before, one that breaks off changes nothing and
/// the server goes on.
#[tokio::test]
async fn bodies_past_the_copied_size_are_read_and_bodies_that_break_off_change_nothing() {
    let app = TestApp::spawn().await;
    let body = format!("{}{}", json!({"email": "ada@example.com", "name": "Ada"}), " ".repeat(20 * 1024));
    let reply =
        app.send(app.client.post(app.url("/v1/customers")).header("content-type", "application/json").body(body)).await;
    reply.assert_status(201);

    let broken = "POST /v1/customers HTTP/1.1\r\nContent-Length: 200\r\n\r\n{\"email\": \"bob@example.com\", ";
    let answer = raw_exchange(&app, broken, true).await;
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 400"), "{answer}");
    let emails: Vec<Value> = app.get("/v1/customers").await.body["items"]
        .as_array()
        .expect("customers")
        .iter()
        .map(|customer| customer["email"].clone())
        .collect();
    assert_eq!(emails, vec![json!("ada@example.com")]);
}

#[tokio::test]
async fn a_request_that_outlives_the_timeout_is_a_503_with_retry_after() {
    let app = TestApp::spawn_with(|c| c.request_timeout_ms = 200).await;
    // A body that trickles in slower than the timeout keeps the handler waiting.
    let slow = futures::stream::unfold(0, |sent| async move {
        if sent >= 3 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        Some((Ok::<_, std::io::Error>(b" ".to_vec()), sent + 1))
    });
    let reply = app
        .send(
            app.client
                .post(app.url("/v1/resources"))
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(slow)),
        )
        .await;
    reply.assert_problem(503, "service-unavailable");
    assert_eq!(reply.header("retry-after"), Some("1"));

    // A body of announced length, read before the request is routed
    // (`http::own_buffers`), is read inside the timeout too.
    let stalled = "POST /v1/resources HTTP/1.1\r\nContent-Length: 30\r\nConnection: close\r\n\r\n{";
    let answer = raw_exchange(&app, stalled, false).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
}

/// Sends `start` (a request line and headers, as far as the blank line,
/// and the start of a body) on a connection of its own, as the admin and
/// with JSON, closing the sending side when `then_close`, and reads what
/// comes back until the server closes the connection.
async fn raw_exchange(app: &TestApp, start: &str, then_close: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (line, rest) = start.split_once("\r\n").expect("a request line");
    let sent = format!(
        "{line}\r\nHost: berth\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n{rest}",
        app.admin
    );
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    stream.write_all(sent.as_bytes()).await.unwrap();
    if then_close {
        stream.shutdown().await.unwrap();
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server closed the connection")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_panicking_handler_is_an_opaque_500_and_the_server_keeps_serving() {
    async fn boom() -> &'static str {
        panic!("secret internals /etc/passwd")
    }
    let router: Router = Router::new().route("/boom", get(boom)).route("/fine", get(|| async { "fine" }));
    let limits = Limits { body_bytes: 1024, request_timeout: Duration::from_secs(5) };
    let app = with_middleware(router, ProblemContext { base: String::new() }, limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::new();
    let boom = client.get(format!("{base}/boom")).send().await.unwrap();
    assert_eq!(boom.status(), 500);
    assert_eq!(boom.headers()["content-type"], "application/problem+json");
    let text = boom.text().await.unwrap();
    assert!(!text.contains("secret") && !text.contains("passwd"), "{text}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["type"], "/problems/internal-error");
    assert_eq!(body["status"], 500);
    let fine = client.get(format!("{base}/fine")).send().await.unwrap();
    assert_eq!(fine.status(), 200);
}

#[tokio::test]
async fn problem_types_are_absolute_and_locations_too_when_a_public_url_is_set() {
    let app = TestApp::spawn_with(|c| c.public_url = Some("https://berth.example/".into())).await;
    let reply = app.get("/v1/resources/not-an-id").await;
    assert_eq!(reply.assert_problem(404, "not-found")["type"], "https://berth.example/problems/not-found");
    let created = app.post_json("/v1/resources", &json!({"name": "Hall", "capacity": 1})).await;
    let location = created.header("location").unwrap();
    assert!(location.starts_with("https://berth.example/v1/resources/"), "{location}");
}

#[tokio::test]
async fn the_instance_is_the_request_id() {
    let app = TestApp::spawn().await;
    let reply = app.get("/v1/nowhere").await;
    let request_id = reply.header("x-request-id").unwrap();
    assert_eq!(reply.body["instance"], format!("urn:uuid:{request_id}"));
}

#[tokio::test]
async fn every_problem_type_has_a_page_and_unknown_ones_are_404() {
    let app = TestApp::spawn().await;
    for kind in berth::http::problem::ProblemType::ALL {
        let reply = app.get(&format!("/problems/{}", kind.slug())).await;
        reply.assert_status(200);
        assert!(reply.header("content-type").unwrap().starts_with("text/html"));
        assert!(reply.text.contains(kind.info().title), "{}", kind.slug());
    }
    app.get("/problems/no-such-problem").await.assert_problem(404, "not-found");
    app.get("/problems").await.assert_status(200);
}
