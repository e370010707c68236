//! Resources: CRUD, uniqueness, validation, ETags and pagination.

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn creating_a_resource_answers_201_with_location_and_etag() {
    let app = TestApp::spawn().await;
    let reply = app
        .post_json(
            "/v1/resources",
            &json!({"name": "Court 1", "capacity": 4, "time_zone": "Europe/Paris", "description": "Clay"}),
        )
        .await;
    reply.assert_status(201);
    let id = reply.body["id"].as_str().unwrap();
    assert_eq!(reply.header("location"), Some(format!("/v1/resources/{id}").as_str()));
    assert_eq!(reply.header("etag"), Some("\"1\""));
    assert_eq!(reply.body["name"], "Court 1");
    assert_eq!(reply.body["capacity"], 4);
    assert_eq!(reply.body["time_zone"], "Europe/Paris");
    assert_eq!(reply.body["active"], true);
    assert_eq!(reply.body["hold_ttl_seconds"], 600);
    assert_eq!(reply.body["max_booking_duration_seconds"], 86_400 * 31);
    assert_eq!(reply.body["version"], 1);

    let fetched = app.get(&format!("/v1/resources/{id}")).await;
    fetched.assert_status(200);
    assert_eq!(fetched.header("etag"), Some("\"1\""));
    assert_eq!(fetched.body, reply.body);
}

#[tokio::test]
async fn a_second_resource_with_the_same_name_in_another_case_is_a_409() {
    let app = TestApp::spawn().await;
    app.create_resource("Court A", 2).await;
    let reply = app.post_json("/v1/resources", &json!({"name": "court a", "capacity": 2})).await;
    let body = reply.assert_problem(409, "already-exists");
    assert_eq!(body["field"], "name");
    let list = app.get("/v1/resources").await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn invalid_fields_are_a_422_with_pointers_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let reply = app
        .post_json(
            "/v1/resources",
            &json!({"name": " ", "capacity": 0, "time_zone": "Mars/Olympus", "hold_ttl_seconds": 5}),
        )
        .await;
    let body = reply.assert_problem(422, "validation-error");
    let pointers: Vec<&str> =
        body["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
    assert_eq!(pointers, ["/capacity", "/hold_ttl_seconds", "/name", "/time_zone"]);
    assert_eq!(app.get("/v1/resources").await.body["items"], json!([]));
}

#[tokio::test]
async fn a_capacity_over_the_limit_or_of_the_wrong_type_points_at_it() {
    let app = TestApp::spawn().await;
    let too_big = app.post_json("/v1/resources", &json!({"name": "Hall", "capacity": 1_000_001})).await;
    assert_eq!(too_big.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/capacity");
    let wrong_type = app.post_json("/v1/resources", &json!({"name": "Hall", "capacity": "ten"})).await;
    assert_eq!(wrong_type.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/capacity");
    let unknown = app.post_json("/v1/resources", &json!({"name": "Hall", "capacity": 1, "colour": "red"})).await;
    assert_eq!(unknown.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/colour");
    let missing = app.post_json("/v1/resources", &json!({"name": "Hall"})).await;
    missing.assert_problem(422, "validation-error");
}

#[tokio::test]
async fn an_unknown_or_malformed_resource_id_is_a_404() {
    let app = TestApp::spawn().await;
    app.get(&format!("/v1/resources/{}", uuid::Uuid::now_v7())).await.assert_problem(404, "not-found");
    app.get("/v1/resources/not-a-uuid").await.assert_problem(404, "not-found");
}

#[tokio::test]
async fn patch_with_the_current_etag_changes_the_resource_and_bumps_the_version() {
    let app = TestApp::spawn().await;
    let created = app.create_resource("Room", 1).await;
    let path = format!("/v1/resources/{}", created["id"].as_str().unwrap());
    let reply = app.patch_json(&path, &json!({"capacity": 3, "description": "Big"}), Some("\"1\"")).await;
    reply.assert_status(200);
    assert_eq!(reply.header("etag"), Some("\"2\""));
    assert_eq!(reply.body["capacity"], 3);
    assert_eq!(reply.body["description"], "Big");
    assert_eq!(reply.body["name"], "Room");
    assert_eq!(reply.body["version"], 2);

    let cleared = app.patch_json(&path, &json!({"description": null}), Some("\"2\"")).await;
    cleared.assert_status(200);
    assert_eq!(cleared.body["description"], serde_json::Value::Null);
}

#[tokio::test]
async fn patch_without_if_match_is_a_428_and_with_a_stale_etag_a_412_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let created = app.create_resource("Room", 1).await;
    let path = format!("/v1/resources/{}", created["id"].as_str().unwrap());
    let missing = app.patch_json(&path, &json!({"capacity": 3}), None).await;
    assert_eq!(missing.assert_problem(428, "precondition-required")["required_header"], "If-Match");
    let stale = app.patch_json(&path, &json!({"capacity": 3}), Some("\"7\"")).await;
    assert_eq!(stale.assert_problem(412, "precondition-failed")["current_etag"], "\"1\"");
    let weak = app.patch_json(&path, &json!({"capacity": 3}), Some("W/\"1\"")).await;
    weak.assert_problem(412, "precondition-failed");
    let after = app.get(&path).await;
    assert_eq!(after.body["capacity"], 1);
    assert_eq!(after.body["version"], 1);
}

#[tokio::test]
async fn patch_checks_existence_then_preconditions_then_the_body() {
    let app = TestApp::spawn().await;
    let unknown = format!("/v1/resources/{}", uuid::Uuid::now_v7());
    app.patch_json(&unknown, &json!({"capacity": 0}), None).await.assert_problem(404, "not-found");
    let created = app.create_resource("Room", 1).await;
    let path = format!("/v1/resources/{}", created["id"].as_str().unwrap());
    app.patch_json(&path, &json!({"capacity": 0}), Some("\"9\"")).await.assert_problem(412, "precondition-failed");
    app.patch_json(&path, &json!({"capacity": 0}), Some("\"1\"")).await.assert_problem(422, "validation-error");
    app.patch_json(&path, &json!({"name": null}), Some("*")).await.assert_problem(422, "validation-error");
}

#[tokio::test]
async fn renaming_onto_a_taken_name_is_a_409() {
    let app = TestApp::spawn().await;
    app.create_resource("Alpha", 1).await;
    let beta = app.create_resource("Beta", 1).await;
    let path = format!("/v1/resources/{}", beta["id"].as_str().unwrap());
    let reply = app.patch_json(&path, &json!({"name": "ALPHA"}), Some("*")).await;
    assert_eq!(reply.assert_problem(409, "already-exists")["field"], "name");
    assert_eq!(app.get(&path).await.body["name"], "Beta");
}

#[tokio::test]
async fn delete_needs_the_current_etag() {
    let app = TestApp::spawn().await;
    let created = app.create_resource("Room", 1).await;
    let path = format!("/v1/resources/{}", created["id"].as_str().unwrap());
    app.delete(&path, None).await.assert_problem(428, "precondition-required");
    app.delete(&path, Some("\"2\"")).await.assert_problem(412, "precondition-failed");
    app.delete(&path, Some("\"1\"")).await.assert_status(204);
    app.get(&path).await.assert_problem(404, "not-found");
    app.delete(&path, Some("\"1\"")).await.assert_problem(404, "not-found");
}

#[tokio::test]
async fn lists_are_paginated_with_a_cursor_in_creation_order() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        app.create_resource(&format!("Room {i}"), 1).await;
    }
    let first = app.get("/v1/resources?limit=2").await;
    first.assert_status(200);
    let names = |body: &serde_json::Value| -> Vec<String> {
        body["items"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(&first.body), ["Room 0", "Room 1"]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app.get(&format!("/v1/resources?limit=2&cursor={cursor}")).await;
    assert_eq!(names(&second.body), ["Room 2", "Room 3"]);
    let cursor = second.body["next_cursor"].as_str().unwrap().to_owned();
    let last = app.get(&format!("/v1/resources?limit=2&cursor={cursor}")).await;
    assert_eq!(names(&last.body), ["Room 4"]);
    assert!(last.body["next_cursor"].is_null());
}

#[tokio::test]
async fn a_bad_limit_or_cursor_is_a_422_pointing_at_the_parameter() {
    let app = TestApp::spawn().await;
    let zero = app.get("/v1/resources?limit=0").await;
    assert_eq!(zero.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/limit");
    let huge = app.get("/v1/resources?limit=201").await;
    assert_eq!(huge.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/limit");
    let word = app.get("/v1/resources?limit=many").await;
    assert_eq!(word.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/limit");
    let cursor = app.get("/v1/resources?cursor=zzz").await;
    assert_eq!(cursor.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/cursor");
}

#[tokio::test]
async fn concurrent_creates_of_one_name_give_exactly_one_resource() {
    let app = TestApp::spawn().await;
    let bodies: Vec<_> =
        (0..20).map(|i| json!({"name": if i % 2 == 0 { "Hall" } else { "HALL" }, "capacity": 1})).collect();
    let replies = futures::future::join_all(bodies.iter().map(|body| app.post_json("/v1/resources", body))).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 1);
    for reply in replies.iter().filter(|r| r.status != 201) {
        reply.assert_problem(409, "already-exists");
    }
    let rows = entity::resource::Entity::find().count(&app.db).await.unwrap();
    assert_eq!(rows, 1);
}

/// JSON Schema calls `4.0` an integer, so berth reads it as one (found by
/// schemathesis: a schema-valid body was refused).
#[tokio::test]
async fn an_integral_float_is_an_integer() {
    let app = TestApp::spawn().await;
    let reply = app.post_json("/v1/resources", &json!({"name": "Hall", "capacity": 4.0})).await;
    assert_eq!(reply.assert_status(201).body["capacity"], 4);
    let fractional = app.post_json("/v1/resources", &json!({"name": "Hall 2", "capacity": 4.5})).await;
    assert_eq!(fractional.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/capacity");
}
