//! `GET /v1/resources/{id}/changes`: a live stream of what changes a
//! resource's occupied time, resumable with `Last-Event-ID`.

use futures::StreamExt;
use serde_json::Value;

use crate::helpers::{TestApp, slot};

/// Reads `count` `change` messages (id, data) from an event stream, after
/// its first message, which carries only the id it starts at.
/// Every message read is checked against the stream's schema in the spec.
async fn read_changes(response: reqwest::Response, count: usize) -> Vec<(String, Value)> {
    let path = response.url().path().to_owned();
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let mut changes = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while changes.len() < count {
        let chunk = tokio::time::timeout_at(deadline, body.next()).await.expect("changes in time").unwrap().unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).map(str::to_owned);
            let message: serde_json::Map<String, Value> = ["event", "id", "data"]
                .into_iter()
                .filter_map(|name| Some((name.to_owned(), Value::String(field(&format!("{name}:"))?))))
                .collect();
            if !message.is_empty() {
                crate::documented::assert_stream_message(&path, &Value::Object(message));
            }
            if changes.is_empty() && field("event:").is_none() && field("data:").is_none() {
                assert!(field("id:").is_some_and(|id| id.parse::<i64>().is_ok()), "{block}");
            }
            if field("event:").as_deref() == Some("change") {
                changes.push((field("id:").unwrap(), serde_json::from_str(&field("data:").unwrap()).unwrap()));
            }
        }
    }
    changes
}

#[tokio::test]
async fn a_client_sees_a_booking_a_cancel_and_an_expiry_and_resumes_with_last_event_id() {
    let app = TestApp::spawn_with(|c| c.hold_sweep_interval_ms = 100).await;
    let room = app.create_resource("Room", 1).await;
    let elsewhere = app.create_resource("Elsewhere", 1).await;
    let ada = app.create_customer("ada@example.com").await;
    let path = format!("/v1/resources/{}/changes", room["id"].as_str().unwrap());
    let live = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(live.status(), 200);
    assert_eq!(live.headers()["content-type"], "text/event-stream");

    let booked = app.booked(&room, &ada, &slot(2, 9, 10), 1).await;
    app.booked(&elsewhere, &ada, &slot(2, 9, 10), 1).await; // not this resource's
    app.act(&booked, "cancel").await.assert_status(200);
    let held = app.held(&room, &ada, &slot(2, 11, 12)).await;
    app.run_out_hold(&held).await; // the sweeper expires it
    let seen = read_changes(live, 4).await;
    for (_, data) in &seen {
        assert_eq!(data["resource_id"], room["id"]);
        assert!(data.as_object().unwrap().keys().all(|k| ["resource_id", "start_at", "end_at"].contains(&k.as_str())));
    }
    assert_eq!(seen[0].1["start_at"], booked["start_at"]);
    assert_eq!(seen[2].1["end_at"], held["end_at"]);
    let ids: Vec<i64> = seen.iter().map(|(id, _)| id.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let expired = app.get(&format!("/v1/bookings/{}", held["id"].as_str().unwrap())).await;
    assert_eq!(expired.body["status"], "expired");

    // Reconnecting after the first message misses none of the rest.
    let resumed = app.client.get(app.url(&path)).header("last-event-id", &seen[0].0).send().await.unwrap();
    let again = read_changes(resumed, 3).await;
    assert_eq!(
        again.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        seen[1..].iter().map(|(id, _)| id.clone()).collect::<Vec<_>>()
    );

    // Only what the header's pattern admits: digits, 1 to 19 of them.
    for bad in ["yesterday", "-5", "+5", "", "12345678901234567890"] {
        let request = app.client.get(app.url(&path)).header("last-event-id", bad);
        app.send(request).await.assert_problem(400, "malformed-request");
    }
    app.get(&format!("/v1/resources/{}/changes", uuid::Uuid::now_v7())).await.assert_problem(404, "not-found");
}
