//! Search across resources (docs/design.md §27) over HTTP: attributes set,
//! merged and refused at their pointers; string, number and boolean
//! filters compared as JSON (the string "4" is not the number 4); several
//! at once; a resource without the key never matches; inactive resources
//! never listed; `min_capacity` and `group_id`; the order (earliest slot,
//! then name) and pages that neither repeat nor skip; every listed slot
//! books and a resource booked out disappears; a customer's own rules; bad
//! filters and windows refused at their parameter.

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, customer_token};
use crate::policies::{app_at, resource};

const WINDOW: &str = "from=2027-01-05T10:00:00Z&to=2027-01-05T12:00:00Z&duration_seconds=3600";

fn id(value: &Value) -> &str {
    value["id"].as_str().expect("an id")
}

async fn search(app: &TestApp, query: &str) -> Reply {
    app.get(&format!("/v1/search/slots?{WINDOW}&{query}")).await
}

/// The names of the resources a search lists, in order.
async fn names(app: &TestApp, query: &str) -> Vec<String> {
    let reply = search(app, query).await;
    let items = reply.assert_status(200).body["items"].as_array().unwrap().clone();
    items.iter().map(|item| item["resource"]["name"].as_str().unwrap().to_owned()).collect()
}

async fn named(app: &TestApp, name: &str, capacity: i64, attributes: Value) -> Value {
    resource(app, json!({"name": name, "capacity": capacity, "attributes": attributes})).await
}

async fn book(app: &TestApp, resource: &Value, customer: &Value, start: &str, end: &str) -> Reply {
    let body = json!({"resource_id": resource["id"], "customer_id": customer["id"], "start_at": start, "end_at": end});
    app.post_json("/v1/bookings", &body).await
}

#[tokio::test]
async fn attributes_are_set_merged_shown_and_refused_at_their_pointers() {
    let app = TestApp::spawn().await;
    let court = named(&app, "Court", 1, json!({"surface": "clay", "indoor": true, "seats": 4})).await;
    assert_eq!(court["attributes"], json!({"surface": "clay", "indoor": true, "seats": 4}));
    assert_eq!(app.create_resource("Bare", 1).await["attributes"], json!({}));

    let path = format!("/v1/resources/{}", id(&court));
    let patched = app.patch_json(&path, &json!({"attributes": {"indoor": null, "lights": "led"}}), Some("\"1\"")).await;
    assert_eq!(patched.assert_status(200).body["attributes"], json!({"surface": "clay", "seats": 4, "lights": "led"}));
    // Carried in the resource's events.
    let events = app.get("/v1/events?limit=500").await.body["items"].clone();
    let last = events.as_array().unwrap().iter().rev().find(|e| e["type"] == "resource.updated").unwrap().clone();
    assert_eq!(last["data"]["resource"]["attributes"]["lights"], "led");

    let bad = json!({"name": "Bad", "capacity": 1, "attributes": {
        "Surface": "clay", "nested": {"a": 1}, "list": [1], "empty": null, "long": "x".repeat(201), "ok": "fine"}});
    let problem = app.post_json("/v1/resources", &bad).await.assert_problem(422, "validation-error").clone();
    let pointers: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
    for pointer in
        ["/attributes/Surface", "/attributes/nested", "/attributes/list", "/attributes/empty", "/attributes/long"]
    {
        assert!(pointers.contains(&pointer), "{pointer} in {pointers:?}");
    }
    assert!(!pointers.contains(&"/attributes/ok"));
    let many: serde_json::Map<String, Value> = (0..33).map(|i| (format!("k{i}"), json!(i))).collect();
    let reply = app.post_json("/v1/resources", &json!({"name": "Many", "capacity": 1, "attributes": many})).await;
    assert_eq!(reply.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/attributes");
    // A PATCH that would make 33 is refused whole, and changes nothing.
    let more: serde_json::Map<String, Value> = (0..30).map(|i| (format!("k{i}"), json!(i))).collect();
    app.patch_json(&path, &json!({"attributes": more}), Some("\"2\"")).await.assert_problem(422, "validation-error");
    assert_eq!(app.get(&path).await.body["version"], 2);
    let cleared = app.patch_json(&path, &json!({"attributes": null}), Some("\"2\"")).await;
    assert_eq!(cleared.assert_status(200).body["attributes"], json!({}));
}

#[tokio::test]
async fn filters_compare_as_json_and_all_of_them_must_hold() {
    let (app, _clock) = app_at("2027-01-04T08:00:00Z").await;
    named(&app, "A", 4, json!({"surface": "clay", "indoor": true, "seats": 4})).await;
    named(&app, "B", 2, json!({"surface": "clay", "indoor": false, "seats": "4"})).await;
    named(&app, "C", 8, json!({"surface": "grass", "indoor": true, "seats": 4.0})).await;
    named(&app, "D", 1, json!({})).await;
    resource(
        &app,
        json!({"name": "E", "active": false, "attributes": {"surface": "clay", "indoor": true, "seats": 4}}),
    )
    .await;

    assert_eq!(names(&app, "attr.surface=clay").await, ["A", "B"]);
    assert_eq!(names(&app, "attr.seats=4").await, ["A", "C"]);
    assert_eq!(names(&app, "attr.seats=%224%22").await, ["B"]);
    assert_eq!(names(&app, "attr.indoor=true").await, ["A", "C"]);
    assert_eq!(names(&app, "attr.indoor=%22true%22").await, Vec::<String>::new());
    assert_eq!(names(&app, "attr.indoor=true&attr.surface=clay&attr.seats=4").await, ["A"]);
    assert_eq!(names(&app, "attr.roof=true").await, Vec::<String>::new());
    assert_eq!(names(&app, "").await, ["A", "B", "C", "D"]);
    assert_eq!(names(&app, "min_capacity=4").await, ["A", "C"]);
    assert_eq!(names(&app, "min_capacity=4&quantity=5").await, ["C"]);

    // The resource list filters the same way (inactive ones included).
    let listed = app.get("/v1/resources?attr.seats=4&limit=10").await.assert_status(200).body["items"].clone();
    let listed: Vec<&str> = listed.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(listed, ["A", "C", "E"]);
}

#[tokio::test]
async fn pages_follow_the_earliest_slot_then_the_name_and_every_listed_slot_books() {
    let (app, _clock) = app_at("2027-01-04T08:00:00Z").await;
    let ada = app.create_customer("ada@example.com").await;
    let mut courts = Vec::new();
    for name in ["Court 5", "Court 3", "Court 1", "Court 4", "Court 2"] {
        courts.push(named(&app, name, 1, json!({"sport": "tennis"})).await);
    }
    named(&app, "Pitch", 1, json!({"sport": "football"})).await;
    // Courts 5 and 1 are taken at 10:00: their first slot is 11:00.
    for court in [&courts[0], &courts[2]] {
        book(&app, court, &ada, "2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z").await.assert_status(201);
    }
    let all = names(&app, "attr.sport=tennis").await;
    assert_eq!(all, ["Court 2", "Court 3", "Court 4", "Court 1", "Court 5"]);

    let mut paged = Vec::new();
    let mut query = "attr.sport=tennis&limit=2".to_owned();
    loop {
        let page = search(&app, &query).await.assert_status(200).body.clone();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        paged.extend(items.iter().map(|item| item["resource"]["name"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("attr.sport=tennis&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, all);

    // Every slot listed books; a resource booked out is no longer listed.
    let page = search(&app, "attr.sport=tennis").await.body.clone();
    let first = page["items"][0].clone();
    assert_eq!(first["resource"]["name"], "Court 2");
    for slot in first["slots"].as_array().unwrap() {
        let start = slot["start_at"].as_str().unwrap();
        let end = slot["end_at"].as_str().unwrap();
        book(&app, &first["resource"], &ada, start, end).await.assert_status(201);
    }
    assert_eq!(names(&app, "attr.sport=tennis").await, ["Court 3", "Court 4", "Court 1", "Court 5"]);
    app.assert_history_matches_bookings().await;
}

#[tokio::test]
async fn a_groups_members_only_and_a_customers_own_rules_apply() {
    let (app, _clock) = app_at("2027-01-04T08:00:00Z").await;
    let ada = app.create_customer("ada@example.com").await;
    let [a, b] =
        [named(&app, "A", 1, json!({"kind": "desk"})).await, named(&app, "B", 1, json!({"kind": "desk"})).await];
    let c = named(&app, "C", 2, json!({"kind": "desk"})).await;
    let d = resource(
        &app,
        json!({"name": "D", "attributes": {"kind": "desk"}, "policy": {"max_active_bookings_per_customer": 1}}),
    )
    .await;
    let group = app
        .post_json("/v1/groups", &json!({"name": "Window desks", "resource_ids": [a["id"], b["id"]]}))
        .await
        .assert_status(201)
        .body
        .clone();
    assert_eq!(names(&app, &format!("group_id={}", id(&group))).await, ["A", "B"]);
    search(&app, &format!("group_id={}", uuid::Uuid::now_v7())).await.assert_problem(422, "validation-error");

    // Ada holds one of C's two units at 10:00 (she may not book herself
    // twice there), and her one booking allowed on D, another day.
    book(&app, &c, &ada, "2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z").await.assert_status(201);
    book(&app, &d, &ada, "2027-01-06T10:00:00Z", "2027-01-06T11:00:00Z").await.assert_status(201);
    let starts = |items: &Value, name: &str| -> Option<Vec<String>> {
        let item = items.as_array().unwrap().iter().find(|item| item["resource"]["name"] == name)?;
        Some(item["slots"].as_array().unwrap().iter().map(|s| s["start_at"].as_str().unwrap().to_owned()).collect())
    };
    let anyone = search(&app, "attr.kind=desk").await.assert_status(200).body["items"].clone();
    let path = format!("/v1/search/slots?{WINDOW}&attr.kind=desk");
    let hers = app.send_as(app.client.get(app.url(&path)), Some(&customer_token(&ada))).await;
    let hers = hers.assert_status(200).body["items"].clone();
    let both = vec!["2027-01-05T10:00:00Z".to_owned(), "2027-01-05T11:00:00Z".to_owned()];
    assert_eq!(starts(&anyone, "C"), Some(both.clone()));
    assert_eq!(starts(&hers, "C"), Some(vec!["2027-01-05T11:00:00Z".to_owned()]));
    assert_eq!(starts(&anyone, "D"), Some(both));
    assert_eq!(starts(&hers, "D"), None, "her booking limit on D is reached");
    // An admin may ask for her.
    let for_her = app.get(&format!("{path}&customer_id={}", id(&ada))).await.assert_status(200).body["items"].clone();
    assert_eq!(starts(&for_her, "D"), None);
}

#[tokio::test]
async fn bad_filters_and_windows_are_refused_at_their_parameter() {
    let (app, _clock) = app_at("2027-01-04T08:00:00Z").await;
    let pointer = |reply: &Reply| reply.assert_problem(422, "validation-error")["errors"][0]["pointer"].clone();
    assert_eq!(pointer(&search(&app, "attr.seats[gt]=4").await), "/attr.seats[gt]");
    assert_eq!(pointer(&search(&app, "attr.Seats=4").await), "/attr.Seats");
    assert_eq!(pointer(&search(&app, "attr.seats=4&attr.seats=5").await), "/attr.seats");
    // A NUL PostgreSQL's jsonb cannot hold, a number no database compares exactly.
    assert_eq!(pointer(&search(&app, "attr.label=a%00b").await), "/attr.label");
    assert_eq!(pointer(&search(&app, "attr.seats=9007199254740993").await), "/attr.seats");
    let many: Vec<String> = (0..33).map(|i| format!("attr.k{i}=1")).collect();
    assert_eq!(pointer(&search(&app, &many.join("&")).await), "/attr.k32");
    assert_eq!(pointer(&search(&app, "limit=101").await), "/limit");
    assert_eq!(pointer(&search(&app, "cursor=not-a-cursor").await), "/cursor");
    let week =
        app.get("/v1/search/slots?from=2027-01-05T00:00:00Z&to=2027-01-12T00:00:00.000001Z&duration_seconds=3600");
    assert_eq!(pointer(&week.await), "/to");
    app.get("/v1/search/slots?from=2027-01-05T00:00:00Z&to=2027-01-12T00:00:00Z&duration_seconds=3600")
        .await
        .assert_status(200);
    assert_eq!(pointer(&app.get("/v1/resources?attr.a[eq]=1").await), "/attr.a[eq]");
}
