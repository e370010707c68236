//! `/demo`: the example booking page's build, served on the API's origin
//! when `BERTH_DEMO_DIR` names it, and nothing when it does not.

use crate::helpers::TestApp;

#[tokio::test]
async fn the_demo_directory_is_served_at_demo_only_when_configured() {
    // The page's folder, with a file beside it that must stay out of reach.
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("secret.txt"), "not for the web").unwrap();
    let site = root.path().join("site");
    std::fs::create_dir_all(site.join("assets")).unwrap();
    std::fs::write(site.join("index.html"), "<title>booking page</title>").unwrap();
    std::fs::write(site.join("assets/app.js"), "console.log(1)").unwrap();
    let path = site.clone();
    let app = TestApp::spawn_with(move |config| config.demo_dir = Some(path)).await;
    for page in ["/demo/", "/demo"] {
        let reply = app.send_as(app.client.get(app.url(page)), None).await;
        assert_eq!(reply.status, 200, "{page}");
        assert!(reply.text.contains("booking page"));
        assert!(reply.header("content-type").unwrap().starts_with("text/html"));
    }
    let script = app.send_as(app.client.get(app.url("/demo/assets/app.js")), None).await;
    assert_eq!(script.status, 200);
    assert!(script.header("content-type").unwrap().contains("javascript"));
    let missing = app.send_as(app.client.get(app.url("/demo/nothing.js")), None).await;
    assert_eq!(missing.status, 404);
    // Encoded, so that the client does not resolve the `..` itself (it
    // would send `/secret.txt`, a plain 404): the request reaches the file
    // server, which must not leave its folder.
    for outside in ["/demo/..%2fsecret.txt", "/demo/assets/..%2f..%2fsecret.txt"] {
        let reply = app.send_as(app.client.get(app.url(outside)), None).await;
        assert_eq!(reply.status, 404, "{outside}: {}", reply.text);
    }

    let plain = TestApp::spawn().await;
    plain.send_as(plain.client.get(plain.url("/demo/")), None).await.assert_problem(404, "not-found");
}
