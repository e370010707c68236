//! Calendar feeds (docs/design.md §28) over HTTP, read back with a real
//! iCalendar parser (the `icalendar` crate's): a booking's VEVENT with its
//! UID, times, status and SEQUENCE; a cancellation turning it CANCELLED
//! with a higher SEQUENCE; a name with a comma, a semicolon, a newline and
//! 200 characters folded at 75 octets and read back exactly; no customer
//! data in a resource's feed; 304 for an unchanged feed; a new token
//! revoking the old (404, like no token); a customer's feed holding only
//! that customer's bookings.

use icalendar::{Calendar, Component};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, customer_token, slot};

fn id(value: &Value) -> &str {
    value["id"].as_str().expect("an id")
}

/// The feed's path and query, from the URL a token answer holds.
fn feed_path(token_answer: &Reply) -> String {
    let url = token_answer.assert_status(201).body["url"].as_str().unwrap().to_owned();
    url[url.find("/v1/").unwrap()..].to_owned()
}

async fn get_feed(app: &TestApp, path: &str, if_none_match: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url(path));
    if let Some(etag) = if_none_match {
        request = request.header("if-none-match", etag);
    }
    request.send().await.unwrap()
}

/// Reads a feed with the parser, after checking its lines: CRLF ends, at
/// most 75 octets each.
fn parsed(body: &str) -> Calendar {
    assert!(body.ends_with("\r\n"));
    for line in body.split("\r\n").filter(|line| !line.is_empty()) {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
    }
    body.parse().expect("the feed parses")
}

#[tokio::test]
async fn a_resource_feed_shows_each_booking_as_an_event_and_follows_its_changes() {
    let app = TestApp::spawn().await;
    let ada = app.create_customer("ada.lovelace@example.com").await;
    let start = "Court, east; lower\nfloor ";
    let name = format!("{start}{}", "ü".repeat(200 - start.chars().count()));
    assert_eq!(name.chars().count(), 200);
    let court =
        app.post_json("/v1/resources", &json!({"name": name, "capacity": 2})).await.assert_status(201).body.clone();
    let when = slot(2, 18, 19);
    let booking = app.booked(&court, &ada, &when, 1).await;

    let make = format!("/v1/resources/{}/calendar-token", id(&court));
    let as_ada = app.send_as(app.client.post(app.url(&make)), Some(&customer_token(&ada))).await;
    as_ada.assert_problem(403, "forbidden");
    let path = feed_path(&app.post_json(&make, &json!({})).await);

    let response = get_feed(&app, &path, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/calendar; charset=utf-8");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body = response.text().await.unwrap();
    // The customer's e-mail ("ada" alone also turns up in hex ids now and then).
    assert!(!body.contains("lovelace") && !body.contains(id(&ada)), "no customer data: {body}");
    let calendar = parsed(&body);
    let events: Vec<_> = calendar.events().collect();
    assert_eq!(events.len(), 1);
    let event = events[0];
    assert_eq!(event.get_uid(), Some(format!("{}@berth", id(&booking)).as_str()));
    assert_eq!(event.get_summary(), Some(name.as_str()), "the name read back exactly");
    assert_eq!(event.get_sequence(), Some(1));
    assert_eq!(event.property_value("STATUS"), Some("CONFIRMED"));
    let utc = |text: &str| chrono::DateTime::parse_from_rfc3339(text).unwrap().format("%Y%m%dT%H%M%SZ").to_string();
    assert_eq!(event.property_value("DTSTART"), Some(utc(&when.0).as_str()));
    assert_eq!(event.property_value("DTEND"), Some(utc(&when.1).as_str()));

    // Unchanged: 304. Cancelled: CANCELLED, a higher SEQUENCE, a new ETag.
    assert_eq!(get_feed(&app, &path, Some(&etag)).await.status(), 304);
    assert_eq!(get_feed(&app, &path, Some(&format!("\"x\", {etag}"))).await.status(), 304);
    assert_eq!(get_feed(&app, &path, Some("not a tag")).await.status(), 400);
    app.act(&booking, "cancel").await.assert_status(200);
    let changed = get_feed(&app, &path, Some(&etag)).await;
    assert_eq!(changed.status(), 200);
    let calendar = parsed(&changed.text().await.unwrap());
    let event = calendar.events().next().unwrap();
    assert_eq!(event.property_value("STATUS"), Some("CANCELLED"));
    assert_eq!(event.get_sequence(), Some(2));

    // A new token revokes the old; no token or a wrong one is 404 too.
    let renewed = feed_path(&app.post_json(&make, &json!({})).await);
    assert_eq!(get_feed(&app, &renewed, None).await.status(), 200);
    assert_eq!(get_feed(&app, &path, None).await.status(), 404);
    let bare = format!("/v1/resources/{}/calendar.ics", id(&court));
    assert_eq!(get_feed(&app, &bare, None).await.status(), 404);
    assert_eq!(get_feed(&app, &format!("{bare}?token=wrong"), None).await.status(), 404);
}

#[tokio::test]
async fn a_customers_feed_holds_only_that_customers_bookings() {
    let app = TestApp::spawn().await;
    let [ada, bob] = [app.create_customer("ada@example.com").await, app.create_customer("bob@example.com").await];
    let [court, room] = [app.create_resource("Court", 2).await, app.create_resource("Room", 2).await];
    let mine =
        [app.booked(&court, &ada, &slot(2, 10, 11), 1).await, app.booked(&room, &ada, &slot(3, 10, 11), 1).await];
    app.booked(&court, &bob, &slot(2, 10, 11), 1).await;

    let make = format!("/v1/customers/{}/calendar-token", id(&ada));
    let by_bob = app.send_as(app.client.post(app.url(&make)), Some(&customer_token(&bob))).await;
    by_bob.assert_problem(403, "forbidden");
    let path = feed_path(&app.send_as(app.client.post(app.url(&make)), Some(&customer_token(&ada))).await);
    let body = get_feed(&app, &path, None).await.text().await.unwrap();
    let calendar = parsed(&body);
    let mut uids: Vec<String> = calendar.events().map(|e| e.get_uid().unwrap().to_owned()).collect();
    uids.sort();
    let mut wanted: Vec<String> = mine.iter().map(|b| format!("{}@berth", id(b))).collect();
    wanted.sort();
    assert_eq!(uids, wanted);
    let summaries: Vec<&str> = calendar.events().filter_map(|e| e.get_summary()).collect();
    assert_eq!(summaries, ["Court", "Room"]);
    // Another customer's feed path with this token is nothing.
    let other = path.replace(id(&ada), id(&bob));
    assert_eq!(get_feed(&app, &other, None).await.status(), 404);
}
