//! Customers: CRUD, e-mail uniqueness and validation.

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn creating_and_reading_a_customer() {
    let app = TestApp::spawn().await;
    let reply = app.post_json("/v1/customers", &json!({"email": "Ada@Example.com", "name": "Ada"})).await;
    reply.assert_status(201);
    assert_eq!(reply.header("etag"), Some("\"1\""));
    let location = reply.header("location").unwrap().to_owned();
    let fetched = app.get(&location).await;
    fetched.assert_status(200);
    assert_eq!(fetched.body["email"], "Ada@Example.com");
    assert_eq!(fetched.body["name"], "Ada");
}

#[tokio::test]
async fn an_email_taken_in_another_case_is_a_409() {
    let app = TestApp::spawn().await;
    app.create_customer("ada@example.com").await;
    let reply = app.post_json("/v1/customers", &json!({"email": "ADA@example.com", "name": "Other"})).await;
    assert_eq!(reply.assert_problem(409, "already-exists")["field"], "email");
}

#[tokio::test]
async fn an_invalid_email_is_a_422() {
    let app = TestApp::spawn().await;
    let reply = app.post_json("/v1/customers", &json!({"email": "not-an-email", "name": "X"})).await;
    assert_eq!(reply.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/email");
}

#[tokio::test]
async fn updating_and_deleting_a_customer_follow_the_etag() {
    let app = TestApp::spawn().await;
    let created = app.create_customer("bob@example.com").await;
    let path = format!("/v1/customers/{}", created["id"].as_str().unwrap());
    app.patch_json(&path, &json!({"name": "Bob"}), None).await.assert_problem(428, "precondition-required");
    let updated = app.patch_json(&path, &json!({"name": "Bob"}), Some("\"1\"")).await;
    updated.assert_status(200);
    assert_eq!(updated.body["name"], "Bob");
    assert_eq!(updated.header("etag"), Some("\"2\""));
    app.delete(&path, Some("\"1\"")).await.assert_problem(412, "precondition-failed");
    app.delete(&path, Some("\"2\"")).await.assert_status(204);
    app.get(&path).await.assert_problem(404, "not-found");
}

#[tokio::test]
async fn customers_are_listed_page_by_page() {
    let app = TestApp::spawn().await;
    for i in 0..3 {
        app.create_customer(&format!("c{i}@example.com")).await;
    }
    let first = app.get("/v1/customers?limit=2").await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app.get(&format!("/v1/customers?limit=2&cursor={cursor}")).await;
    assert_eq!(second.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(second.body["items"][0]["email"], "c2@example.com");
}
