//! What needs no token and no database row: liveness, readiness, and the
//! docs (Swagger UI and the spec) served without network.

use crate::helpers::TestApp;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.assert_status(200).body["status"], "ok");
    assert_eq!(app.get("/readyz").await.assert_status(200).body["status"], "ready");
}

#[tokio::test]
async fn swagger_ui_is_served_without_network() {
    let app = TestApp::spawn().await;
    let ui = app.get("/docs/").await;
    ui.assert_status(200);
    assert!(ui.text.to_lowercase().contains("swagger"), "{}", ui.text);
    let spec = app.get("/openapi.json").await;
    spec.assert_status(200);
    assert!(spec.body["openapi"].as_str().unwrap().starts_with("3.1"));
}
