//! If-Match: the RFC grammar, `*` and weak tags, and exactly one winner
//! among concurrent writers holding the same ETag.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_with_one_etag_have_exactly_one_winner() {
    let app = TestApp::spawn().await;
    let resource = app.create_resource("Court", 1).await;
    let path = format!("/v1/resources/{}", resource["id"].as_str().unwrap());
    let bodies: Vec<Value> = (0..10).map(|i| json!({"description": format!("writer {i}")})).collect();
    let replies = join_all(bodies.iter().map(|b| app.patch_json(&path, b, Some("\"1\"")))).await;
    assert_eq!(replies.iter().filter(|r| r.status == 200).count(), 1);
    for loser in replies.iter().filter(|r| r.status != 200) {
        loser.assert_problem(412, "precondition-failed");
    }
    let after = app.get(&path).await;
    assert_eq!(after.body["version"], 2);
}

#[tokio::test]
async fn delete_honours_star_and_refuses_weak_tags() {
    let app = TestApp::spawn().await;
    let doomed = app.create_resource("Doomed", 1).await;
    let path = format!("/v1/resources/{}", doomed["id"].as_str().unwrap());
    app.delete(&path, Some("W/\"1\"")).await.assert_problem(412, "precondition-failed");
    app.delete(&path, Some("*")).await.assert_status(204);
    app.delete(&path, Some("*")).await.assert_problem(404, "not-found");
}

/// Found by schemathesis: entity tags may contain commas, and an empty
/// If-Match is malformed, not a mismatch.
#[tokio::test]
async fn if_match_is_parsed_by_the_rfc_grammar() {
    let app = TestApp::spawn().await;
    let room = app.create_resource("Room", 1).await;
    let path = format!("/v1/resources/{}", room["id"].as_str().unwrap());
    app.patch_json(&path, &json!({"description": "x"}), Some("")).await.assert_problem(400, "malformed-request");
    app.patch_json(&path, &json!({"description": "x"}), Some("\"1")).await.assert_problem(400, "malformed-request");
    let with_comma = app.patch_json(&path, &json!({"description": "x"}), Some("W/\"a,b\", \"1\"")).await;
    assert_eq!(with_comma.assert_status(200).body["version"], 2);
}
