//! Recurring series (docs/design.md §25) over HTTP: the wall-clock time
//! kept across daylight saving in three zones, weekly and monthly rules,
//! all or nothing refused by one occurrence (closed day, full) with nothing
//! written, skip and report, dry runs, bad rules at `/rrule`, cancelling
//! "this and following" under a cut-off, and a series racing single
//! bookings.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, customer_token};
use crate::policies::{app_at, resource};

fn local(text: &str, zone: &str) -> String {
    let zone: chrono_tz::Tz = zone.parse().unwrap();
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&zone).format("%Y-%m-%d %a %H:%M %:z").to_string()
}

fn starts(series: &Value, zone: &str) -> Vec<String> {
    series["bookings"].as_array().unwrap().iter().map(|b| local(b["start_at"].as_str().unwrap(), zone)).collect()
}

async fn series(app: &TestApp, body: Value) -> Reply {
    app.post_json("/v1/series", &body).await
}

fn body(resource: &Value, customer: &Value, start: &str, end: &str, rrule: &str) -> Value {
    json!({"resource_id": resource["id"], "customer_id": customer["id"], "start_at": start, "end_at": end, "rrule": rrule})
}

async fn bookings_of(app: &TestApp, resource: &Value) -> Vec<Value> {
    let page = app.get(&format!("/v1/bookings?resource_id={}", resource["id"].as_str().unwrap())).await;
    page.assert_status(200).body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn six_pm_stays_six_pm_across_the_spring_change_in_three_zones() {
    let app = TestApp::spawn().await;
    let ada = app.create_customer("ada@example.com").await;
    for (zone, first, expected) in [
        (
            "Europe/Berlin",
            "2027-03-16T18:00:00+01:00",
            [
                "2027-03-16 Tue 18:00 +01:00",
                "2027-03-23 Tue 18:00 +01:00",
                "2027-03-30 Tue 18:00 +02:00",
                "2027-04-06 Tue 18:00 +02:00",
            ],
        ),
        (
            "America/New_York",
            "2027-03-02T18:00:00-05:00",
            [
                "2027-03-02 Tue 18:00 -05:00",
                "2027-03-09 Tue 18:00 -05:00",
                "2027-03-16 Tue 18:00 -04:00",
                "2027-03-23 Tue 18:00 -04:00",
            ],
        ),
        (
            // A 30-minute change (2027-04-04, 02:00 → 01:30).
            "Australia/Lord_Howe",
            "2027-03-21T18:00:00+11:00",
            [
                "2027-03-21 Sun 18:00 +11:00",
                "2027-03-28 Sun 18:00 +11:00",
                "2027-04-04 Sun 18:00 +10:30",
                "2027-04-11 Sun 18:00 +10:30",
            ],
        ),
    ] {
        let court = resource(&app, json!({"time_zone": zone})).await;
        let end = DateTime::parse_from_rfc3339(first).unwrap() + chrono::Duration::hours(1);
        let made = series(&app, body(&court, &ada, first, &end.to_rfc3339(), "FREQ=WEEKLY;COUNT=4")).await;
        let made = made.assert_status(201).body.clone();
        assert_eq!(starts(&made, zone), expected, "{zone}");
        assert!(made["bookings"].as_array().unwrap().iter().all(|b| b["series_id"] == made["id"]));
        let offsets: std::collections::BTreeSet<i64> = made["bookings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let at: DateTime<Utc> = b["start_at"].as_str().unwrap().parse().unwrap();
                (at.timestamp() % 86_400) / 60
            })
            .collect();
        assert_eq!(offsets.len(), 2, "the UTC time moves with the offset in {zone}");
    }
}

#[tokio::test]
async fn weekly_by_day_and_the_second_tuesday_of_the_month() {
    let app = TestApp::spawn().await;
    let ada = app.create_customer("ada@example.com").await;
    let court = resource(&app, json!({"time_zone": "Europe/Berlin"})).await;
    let twice = series(
        &app,
        body(&court, &ada, "2027-05-04T18:00:00+02:00", "2027-05-04T19:00:00+02:00", "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=4"),
    )
    .await;
    assert_eq!(
        starts(&twice.assert_status(201).body, "Europe/Berlin"),
        [
            "2027-05-04 Tue 18:00 +02:00",
            "2027-05-06 Thu 18:00 +02:00",
            "2027-05-11 Tue 18:00 +02:00",
            "2027-05-13 Thu 18:00 +02:00"
        ]
    );
    let monthly = series(
        &app,
        body(&court, &ada, "2027-06-08T09:00:00+02:00", "2027-06-08T10:00:00+02:00", "FREQ=MONTHLY;BYDAY=2TU;COUNT=3"),
    )
    .await;
    let monthly = monthly.assert_status(201).body.clone();
    assert_eq!(
        starts(&monthly, "Europe/Berlin"),
        ["2027-06-08 Tue 09:00 +02:00", "2027-07-13 Tue 09:00 +02:00", "2027-08-10 Tue 09:00 +02:00"]
    );
    // The series reads back, and its bookings list by series.
    let read = app.get(&format!("/v1/series/{}", monthly["id"].as_str().unwrap())).await;
    assert_eq!(read.assert_status(200).body["bookings"].as_array().unwrap().len(), 3);
    let listed = app.get(&format!("/v1/bookings?series_id={}", monthly["id"].as_str().unwrap())).await;
    assert_eq!(listed.assert_status(200).body["items"].as_array().unwrap().len(), 3);
    // Each series is one event beside its occurrences' own.
    let events = app.get("/v1/events?types=series.created").await.assert_status(200).body["items"].clone();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["data"]["series"]["id"], monthly["id"]);
    assert_eq!(events[1]["data"]["booking_ids"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn all_or_nothing_is_refused_by_one_closed_day_or_one_full_occurrence_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let (ada, bob) = (app.create_customer("ada@example.com").await, app.create_customer("bob@example.com").await);
    let schedule = json!({
        "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "08:00", "to": "22:00"}],
        "exceptions": [{"date": "2027-12-21", "hours": []}],
    });
    let court = resource(&app, json!({"time_zone": "Europe/Berlin", "schedule": schedule})).await;
    let weekly = body(&court, &ada, "2027-12-07T18:00:00+01:00", "2027-12-07T19:00:00+01:00", "FREQ=WEEKLY;COUNT=4");
    let refused = series(&app, weekly.clone()).await;
    let problem = refused.assert_problem(409, "series-conflict");
    let occurrences = problem["occurrences"].as_array().unwrap();
    assert_eq!(occurrences.len(), 1, "{problem}");
    assert_eq!(occurrences[0]["start_at"], "2027-12-21T17:00:00Z");
    assert!(occurrences[0]["type"].as_str().unwrap().ends_with("/problems/outside-opening-hours"));
    assert!(bookings_of(&app, &court).await.is_empty(), "nothing written");
    use sea_orm::EntityTrait;
    assert!(entity::booking_series::Entity::find().all(&app.db).await.unwrap().is_empty());

    // One full occurrence instead: exactly that one, as capacity-exceeded.
    let open = resource(&app, json!({"time_zone": "Europe/Berlin"})).await;
    let taken = json!({"resource_id": open["id"], "customer_id": bob["id"], "start_at": "2027-12-14T18:00:00+01:00", "end_at": "2027-12-14T19:00:00+01:00"});
    app.post_json("/v1/bookings", &taken).await.assert_status(201);
    let weekly = body(&open, &ada, "2027-12-07T18:00:00+01:00", "2027-12-07T19:00:00+01:00", "FREQ=WEEKLY;COUNT=4");
    let refused = series(&app, weekly.clone()).await;
    let problem = refused.assert_problem(409, "series-conflict");
    let occurrences = problem["occurrences"].as_array().unwrap();
    assert_eq!(occurrences.len(), 1, "{problem}");
    assert_eq!(occurrences[0]["start_at"], "2027-12-14T17:00:00Z");
    assert!(occurrences[0]["type"].as_str().unwrap().ends_with("/problems/capacity-exceeded"));
    assert!(occurrences[0]["alternatives"].is_array());
    assert_eq!(bookings_of(&app, &open).await.len(), 1, "only bob's");

    // A dry run says the same of skip_conflicts and writes nothing; then
    // the real one books the other three and reports the full one.
    let mut skip = weekly.clone();
    skip["mode"] = json!("skip_conflicts");
    let dry = app.post_json("/v1/series?dry_run=true", &skip).await;
    let dry = dry.assert_status(200).body.clone();
    assert_eq!((dry["bookings"].as_array().unwrap().len(), dry["skipped"].as_array().unwrap().len()), (3, 1));
    assert_eq!(bookings_of(&app, &open).await.len(), 1, "a dry run writes nothing");
    let made = series(&app, skip).await.assert_status(201).body.clone();
    assert_eq!(made["bookings"].as_array().unwrap().len(), 3);
    assert_eq!(made["skipped"][0]["start_at"], "2027-12-14T17:00:00Z");
    assert_eq!(bookings_of(&app, &open).await.len(), 4);
    app.assert_within_capacity(&open).await;
    app.assert_history_matches_bookings().await;
}

#[tokio::test]
async fn bad_rules_and_too_many_occurrences_are_422_at_rrule() {
    let app = TestApp::spawn().await;
    let ada = app.create_customer("ada@example.com").await;
    let court = app.create_resource("Court", 1).await;
    for rrule in [
        "FREQ=YEARLY;COUNT=2",
        "FREQ=WEEKLY",
        "FREQ=WEEKLY;COUNT=2;BYHOUR=9",
        "FREQ=WEEKLY;BYDAY=2TU;COUNT=2",
        "FREQ=DAILY;COUNT=201",
        "FREQ=DAILY;UNTIL=20280101T000000Z",
    ] {
        let refused = series(&app, body(&court, &ada, "2027-01-04T09:00:00Z", "2027-01-04T10:00:00Z", rrule)).await;
        let problem = refused.assert_problem(422, "validation-error");
        assert_eq!(problem["errors"][0]["pointer"], "/rrule", "{rrule}: {problem}");
    }
    let exactly =
        series(&app, body(&court, &ada, "2027-01-04T09:00:00Z", "2027-01-04T10:00:00Z", "FREQ=DAILY;COUNT=200"));
    assert_eq!(exactly.await.assert_status(201).body["bookings"].as_array().unwrap().len(), 200);
    // The first occurrence's own values are the request's: 422, not skipped.
    let past = series(&app, body(&court, &ada, "2020-01-04T09:00:00Z", "2020-01-04T10:00:00Z", "FREQ=DAILY;COUNT=2"));
    past.await.assert_problem(422, "validation-error");
}

#[tokio::test]
async fn cancelling_this_and_following_keeps_an_occurrence_past_its_cut_off() {
    let (app, _clock) = app_at("2027-01-04T08:00:00Z").await;
    let court = resource(&app, json!({"policy": {"cancel_cutoff_seconds": 86_400}})).await;
    let ada = app.create_customer("ada@example.com").await;
    let made = series(&app, body(&court, &ada, "2027-01-04T18:00:00Z", "2027-01-04T19:00:00Z", "FREQ=DAILY;COUNT=4"))
        .await
        .assert_status(201)
        .body
        .clone();
    let path = format!("/v1/series/{}/cancel", made["id"].as_str().unwrap());
    let as_ada = customer_token(&ada);
    let request = app.client.post(app.url(&path)).json(&json!({"from": "2027-01-04T18:00:00Z"}));
    let done = app.send_as(request, Some(&as_ada)).await.assert_status(200).body.clone();
    // The first is within a day of its start: a customer may not cancel it.
    assert_eq!(done["kept"].as_array().unwrap().len(), 1);
    assert_eq!(done["kept"][0]["start_at"], "2027-01-04T18:00:00Z");
    assert_eq!(done["bookings"].as_array().unwrap().len(), 3);
    assert_eq!(done["status"], "active", "one occurrence stays");
    let statuses: Vec<Value> = bookings_of(&app, &court).await.iter().map(|b| b["status"].clone()).collect();
    assert_eq!(statuses, [json!("confirmed"), json!("cancelled"), json!("cancelled"), json!("cancelled")]);
    // An admin cancels the rest: the series is cancelled.
    let all = app.send(app.client.post(app.url(&path))).await.assert_status(200).body.clone();
    assert_eq!((all["status"].as_str(), all["bookings"].as_array().unwrap().len()), (Some("cancelled"), 1));
    // Someone else's series is not there for a customer.
    let bob = app.create_customer("bob@example.com").await;
    let read = format!("/v1/series/{}", made["id"].as_str().unwrap());
    app.send_as(app.client.get(app.url(&read)), Some(&customer_token(&bob))).await.assert_problem(404, "not-found");
}

/// A series of ten on a resource of capacity 2 races twenty single
/// bookings of its occurrences: no instant over capacity, and the series is
/// booked whole or not at all.
#[tokio::test]
async fn a_series_racing_single_bookings_is_whole_or_nothing() {
    let app = TestApp::spawn().await;
    let court = app.create_resource("Court", 2).await;
    let ada = app.create_customer("ada@example.com").await;
    let mut singles = Vec::new();
    for n in 0..20 {
        singles.push(app.create_customer(&format!("s{n}@example.com")).await);
    }
    let app = std::sync::Arc::new(app);
    let mut tasks = tokio::task::JoinSet::new();
    let weekly = body(&court, &ada, "2027-09-06T18:00:00Z", "2027-09-06T19:00:00Z", "FREQ=WEEKLY;COUNT=10");
    {
        let app = app.clone();
        tasks.spawn(async move { ("series", app.post_json("/v1/series", &weekly).await.status.as_u16()) });
    }
    for (n, customer) in singles.iter().enumerate() {
        let week = chrono::Duration::weeks((n % 10) as i64);
        let start: DateTime<Utc> = "2027-09-06T18:00:00Z".parse::<DateTime<Utc>>().unwrap() + week;
        let single = json!({"resource_id": court["id"], "customer_id": customer["id"], "start_at": start.to_rfc3339(), "end_at": (start + chrono::Duration::hours(1)).to_rfc3339()});
        let app = app.clone();
        tasks.spawn(async move { ("single", app.post_json("/v1/bookings", &single).await.status.as_u16()) });
    }
    let mut series_status = 0;
    while let Some(done) = tasks.join_next().await {
        let (what, status) = done.unwrap();
        assert!(matches!(status, 201 | 409), "{what}: {status}");
        if what == "series" {
            series_status = status;
        }
    }
    let of_series: Vec<Value> =
        bookings_of(&app, &court).await.into_iter().filter(|b| !b["series_id"].is_null()).collect();
    match series_status {
        201 => assert_eq!(of_series.len(), 10),
        _ => assert!(of_series.is_empty(), "no partial series"),
    }
    app.assert_within_capacity(&court).await;
    app.assert_history_matches_bookings().await;
}
