//! What a browser sees: CORS preflights for the configured origins, the
//! headers exposed to scripts, and the security headers on every response.

use crate::helpers::TestApp;

#[tokio::test]
async fn cors_preflight_is_answered_for_allowed_origins_only() {
    let app = TestApp::spawn_with(|c| c.cors_origins = vec!["https://app.example".into()]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/v1/bookings"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type, idempotency-key, if-match")
    };
    let allowed = app.send_as(preflight("https://app.example"), None).await;
    assert!(allowed.status.is_success(), "{}", allowed.status);
    assert_eq!(allowed.header("access-control-allow-origin"), Some("https://app.example"));
    let allowed_headers = allowed.header("access-control-allow-headers").unwrap().to_lowercase();
    assert!(allowed_headers.contains("idempotency-key") && allowed_headers.contains("if-match"));
    assert!(allowed_headers.contains("last-event-id"), "an EventSource resuming a change stream sends it");
    let refused = app.send_as(preflight("https://evil.example"), None).await;
    assert_eq!(refused.header("access-control-allow-origin"), None);

    let simple = app.send(app.client.get(app.url("/v1/resources")).header("origin", "https://app.example")).await;
    let exposed = simple.header("access-control-expose-headers").unwrap().to_lowercase();
    for header in ["allow", "etag", "location", "retry-after", "idempotent-replayed", "ratelimit", "ratelimit-policy"] {
        assert!(exposed.contains(header), "{header} not exposed: {exposed}");
    }
}

#[tokio::test]
async fn responses_carry_security_headers() {
    let app = TestApp::spawn().await;
    let authed = app.get("/v1/resources").await;
    assert_eq!(authed.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(authed.header("cache-control"), Some("no-store"));
    let error = app.send_as(app.client.get(app.url("/v1/nothing")), None).await;
    assert_eq!(error.header("cache-control"), Some("no-store"));
    assert_eq!(error.header("x-content-type-options"), Some("nosniff"));
}
