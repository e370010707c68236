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

/// Found from outside: `If-Match: *` (or a list naming the current tag)
/// could answer 412 when another write landed between the handler's read
/// and the write's lock. The condition is decided under the lock now.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_under_a_star_all_succeed() {
    let app = TestApp::spawn().await;
    let resource = app.create_resource("Court", 10).await;
    let path = format!("/v1/resources/{}", resource["id"].as_str().unwrap());
    let bodies: Vec<Value> = (0..10).map(|i| json!({"description": format!("writer {i}")})).collect();
    let replies = join_all(bodies.iter().map(|b| app.patch_json(&path, b, Some("*")))).await;
    for reply in &replies {
        reply.assert_status(200);
    }
    assert_eq!(app.get(&path).await.body["version"], 11);
    // A schedule merged under `*` lands on whatever version is current.
    let schedules: Vec<Value> = (0..5)
        .map(|i| json!({"schedule": {"exceptions": [{"date": format!("2030-01-0{}", i + 1)}]}, "description": format!("s{i}")}))
        .collect();
    let replies = join_all(schedules.iter().map(|b| app.patch_json(&path, b, Some("*")))).await;
    assert!(replies.iter().all(|r| r.status == 200), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());

    let customer = app.create_customer("ada@example.com").await;
    let customer_path = format!("/v1/customers/{}", customer["id"].as_str().unwrap());
    let names: Vec<Value> = (0..10).map(|i| json!({"name": format!("Ada {i}")})).collect();
    let replies = join_all(names.iter().map(|b| app.patch_json(&customer_path, b, Some("*")))).await;
    assert!(replies.iter().all(|r| r.status == 200));

    let room = app.create_resource("Room", 10).await;
    let booking = app.booked(&room, &customer, &crate::helpers::slot(3, 9, 10), 1).await;
    let reschedule = format!("/v1/bookings/{}/reschedule", booking["id"].as_str().unwrap());
    let moves = (0..5).map(|i| {
        let (start, end) = crate::helpers::slot(4 + i, 9, 10);
        app.send(
            app.client
                .post(app.url(&reschedule))
                .header("if-match", "*")
                .json(&json!({"start_at": start, "end_at": end})),
        )
    });
    let replies = join_all(moves).await;
    assert!(replies.iter().all(|r| r.status == 200), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
}
