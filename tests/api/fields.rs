//! Custom booking fields (docs/design.md §28) over HTTP: a resource's
//! schema checked when set (422 where it leaves the subset), a booking's
//! fields accepted, refused per field at `/fields/<name>` with nothing
//! stored, refused on a resource without a schema, shown on the booking
//! and in its events, replaced by a reschedule that gives new ones.

use serde_json::{Value, json};

use crate::helpers::{TestApp, slot};

fn party() -> Value {
    json!({"type": "object", "required": ["party_size"], "properties": {
        "party_size": {"type": "integer", "minimum": 1, "maximum": 12},
        "plate": {"type": "string", "maxLength": 10, "pattern": "^[A-Z0-9-]+$"},
        "diet": {"enum": ["none", "vegetarian", "vegan"]},
        "accessible": {"type": "boolean"}}})
}

fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap().to_owned()).collect()
}

async fn booking_count(app: &TestApp) -> usize {
    app.get("/v1/bookings?limit=200").await.assert_status(200).body["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn fields_are_checked_against_the_resources_schema_field_by_field() {
    let app = TestApp::spawn().await;
    let ada = app.create_customer("ada@example.com").await;
    let body = json!({"name": "Table", "capacity": 4, "booking_fields": party()});
    let table = app.post_json("/v1/resources", &body).await.assert_status(201).body.clone();
    assert_eq!(table["booking_fields"], party());
    let when = slot(2, 18, 20);
    let with = |fields: Value| json!({"resource_id": table["id"], "customer_id": ada["id"], "start_at": when.0, "end_at": when.1, "fields": fields});

    let made = app.post_json("/v1/bookings", &with(json!({"party_size": 4, "diet": "vegan"}))).await;
    let booking = made.assert_status(201).body.clone();
    assert_eq!(booking["fields"], json!({"party_size": 4, "diet": "vegan"}));
    let events = app.get("/v1/events?limit=500").await.body["items"].clone();
    let created = events.as_array().unwrap().iter().find(|e| e["subject_id"] == booking["id"]).unwrap().clone();
    assert_eq!(created["data"]["booking"]["fields"]["party_size"], 4);

    let before = booking_count(&app).await;
    let wrong = json!({"party_size": 40, "plate": "no spaces", "diet": "meat", "accessible": "yes", "colour": "red"});
    let reply = app.post_json("/v1/bookings", &with(wrong)).await;
    let found = pointers(reply.assert_problem(422, "validation-error"));
    for pointer in ["/fields/party_size", "/fields/plate", "/fields/diet", "/fields/accessible", "/fields/colour"] {
        assert!(found.iter().any(|p| p == pointer), "{pointer} in {found:?}");
    }
    let missing = app.post_json("/v1/bookings", &with(json!({"diet": "none"}))).await;
    assert_eq!(pointers(missing.assert_problem(422, "validation-error")), ["/fields/party_size"]);
    let none = json!({"resource_id": table["id"], "customer_id": ada["id"], "start_at": when.0, "end_at": when.1});
    assert_eq!(
        pointers(app.post_json("/v1/bookings", &none).await.assert_problem(422, "validation-error")),
        ["/fields/party_size"]
    );
    let big = app.post_json("/v1/bookings", &with(json!({"party_size": 2, "plate": "A".repeat(9000)}))).await;
    assert_eq!(pointers(big.assert_problem(422, "validation-error")), ["/fields"]);
    assert_eq!(booking_count(&app).await, before, "nothing stored");

    // A reschedule with new fields checks and replaces them.
    let path = format!("/v1/bookings/{}/reschedule", booking["id"].as_str().unwrap());
    let later = slot(3, 18, 20);
    let moved =
        app.post_json(&path, &json!({"start_at": later.0, "end_at": later.1, "fields": {"party_size": 13}})).await;
    assert_eq!(pointers(moved.assert_problem(422, "validation-error")), ["/fields/party_size"]);
    let moved =
        app.post_json(&path, &json!({"start_at": later.0, "end_at": later.1, "fields": {"party_size": 6}})).await;
    assert_eq!(moved.assert_status(200).body["fields"], json!({"party_size": 6}));
    app.assert_history_matches_bookings().await;
}

#[tokio::test]
async fn a_resource_without_a_schema_takes_no_fields_and_bad_schemas_are_refused_when_set() {
    let app = TestApp::spawn().await;
    let ada = app.create_customer("ada@example.com").await;
    let court = app.create_resource("Court", 1).await;
    assert_eq!(court["booking_fields"], Value::Null);
    let when = slot(2, 18, 19);
    let body = json!({"resource_id": court["id"], "customer_id": ada["id"], "start_at": when.0, "end_at": when.1,
        "fields": {"party_size": 2}});
    assert_eq!(
        pointers(app.post_json("/v1/bookings", &body).await.assert_problem(422, "validation-error")),
        ["/fields"]
    );

    let bad = json!({"name": "Bad", "capacity": 1, "booking_fields": {"type": "object", "$ref": "#/x",
        "properties": {"a": {"type": "array"}, "b": {"type": "string", "pattern": "("}}}});
    let found = pointers(app.post_json("/v1/resources", &bad).await.assert_problem(422, "validation-error"));
    assert!(found.iter().any(|p| p == "/booking_fields/$ref"), "{found:?}");
    assert!(found.iter().any(|p| p == "/booking_fields/properties/a/type"), "{found:?}");
    let regex = json!({"name": "Regex", "capacity": 1, "booking_fields": {"type": "object",
        "properties": {"b": {"type": "string", "pattern": "("}}}});
    let found = pointers(app.post_json("/v1/resources", &regex).await.assert_problem(422, "validation-error"));
    assert!(found.iter().all(|p| p.starts_with("/booking_fields")), "{found:?}");

    // PATCH replaces the schema whole; null removes it.
    let path = format!("/v1/resources/{}", court["id"].as_str().unwrap());
    let patched = app.patch_json(&path, &json!({"booking_fields": party()}), Some("\"1\"")).await;
    assert_eq!(patched.assert_status(200).body["booking_fields"], party());
    app.post_json("/v1/bookings", &body).await.assert_status(201);
    let removed = app.patch_json(&path, &json!({"booking_fields": null}), Some("\"2\"")).await;
    assert_eq!(removed.assert_status(200).body["booking_fields"], Value::Null);
}
