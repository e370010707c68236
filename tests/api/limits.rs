//! The limits the spec states are the limits berth enforces: a value just
//! past one is refused with a problem that names it, and changes nothing;
//! what berth writes stays within what the spec promises.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, booking_json, slot, spec_operation};

/// A date-time of 36 characters: valid RFC 3339 (ten fraction digits),
/// one past the spec's `maxLength` of 35.
fn too_long(at: &str) -> String {
    at.replace("+00:00", ".1234567891+00:00")
}

#[tokio::test]
async fn date_times_longer_than_the_spec_states_are_422_at_their_field() {
    let app = TestApp::spawn().await;
    let resource = app.create_resource("Court", 1).await;
    let customer = app.create_customer("ada@example.com").await;
    let when = slot(1, 9, 10);
    let mut body = booking_json(&resource, &customer, &when);
    body["start_at"] = json!(too_long(&when.0));
    assert_eq!(too_long(&when.0).len(), 36);
    let reply = app.post_json("/v1/bookings", &body).await;
    assert_eq!(reply.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/start_at");
    // The same instant at 35 characters books.
    body["start_at"] = json!(when.0.replace("+00:00", ".123456789+00:00"));
    app.post_json("/v1/bookings", &body).await.assert_status(201);

    let path = format!(
        "/v1/resources/{}/availability?from={}&to={}",
        resource["id"].as_str().unwrap(),
        too_long(&when.0).replace('+', "%2B"),
        when.1.replace('+', "%2B")
    );
    let reply = app.get(&path).await;
    assert_eq!(reply.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/from");
    let schema = &spec_operation(&Method::GET, "/v1/resources/{id}/availability").unwrap()["parameters"][1]["schema"];
    assert_eq!(schema["maxLength"], 35, "{schema}");
}

#[tokio::test]
async fn an_if_match_longer_than_the_spec_states_is_400_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let resource = app.create_resource("Court", 1).await;
    let path = format!("/v1/resources/{}", resource["id"].as_str().unwrap());
    let tags = |n: usize| (1..=n).map(|i| format!("\"{i:06}\"")).collect::<Vec<_>>().join(",");
    let reply = app.patch_json(&path, &json!({"capacity": 2}), Some(&tags(114))).await;
    reply.assert_problem(400, "malformed-request");
    assert_eq!(app.get(&path).await.body["capacity"], 1);
    // 113 tags fit, and the one naming version 1 matches.
    app.patch_json(&path, &json!({"capacity": 2}), Some(&tags(113))).await.assert_status(200);
}

#[tokio::test]
async fn problems_say_at_most_what_the_schema_states() {
    let app = TestApp::spawn().await;
    // A 404 quoting a 5,000-character path.
    let reply = app.get(&format!("/{}", "x".repeat(5000))).await;
    let body = reply.assert_problem(404, "not-found");
    assert_eq!(body["detail"].as_str().unwrap().chars().count(), 2000);
    // 499 exceptions on one date: 499 invalid values, the first 100 listed.
    let exceptions: Vec<_> = (0..500).map(|_| json!({"date": "2030-01-01", "hours": []})).collect();
    let reply = app
        .post_json("/v1/resources", &json!({"name": "Hall", "capacity": 1, "schedule": {"exceptions": exceptions}}))
        .await;
    let body = reply.assert_problem(422, "validation-error");
    assert_eq!(body["detail"], "The request has 499 invalid values.");
    assert_eq!(body["errors"].as_array().unwrap().len(), 100);
    assert_eq!(body["errors"][0]["pointer"], "/schedule/exceptions/1/date");
}
