//! Booking policies over HTTP: every rule at its exact boundary and one
//! microsecond past it (on a manual decision clock), the order of refusals,
//! buffers kept with each booking, cut-offs for customers only, admin
//! overrides in the history, and bad policies refused whole.

use berth::service::Clock;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, customer_token};

/// 2027-01-04 is a Monday.
pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

/// An app whose decisions happen at `now` until the clock is set again.
pub async fn app_at(now: &str) -> (TestApp, Clock) {
    let clock = Clock::manual(at(now));
    let app = TestApp::spawn_with(|c| {
        c.clock = clock.clone();
        c.hold_sweep_interval_ms = 0;
    })
    .await;
    (app, clock)
}

/// Creates a resource from `fields` (a name is made up when absent).
pub async fn resource(app: &TestApp, fields: Value) -> Value {
    let mut body = json!({"name": format!("Resource {}", uuid::Uuid::new_v4()), "capacity": 1});
    body.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    let reply = app.post_json("/v1/resources", &body).await;
    reply.assert_status(201);
    reply.body
}

/// Books `[start, end)` (RFC 3339) for `customer` as the admin.
pub async fn book(app: &TestApp, resource: &Value, customer: &Value, start: &str, end: &str) -> Reply {
    let body = json!({"resource_id": resource["id"], "customer_id": customer["id"], "start_at": start, "end_at": end});
    app.post_json("/v1/bookings", &body).await
}

async fn book_as_customer(app: &TestApp, resource: &Value, customer: &Value, start: &str, end: &str) -> Reply {
    let body = json!({"resource_id": resource["id"], "customer_id": customer["id"], "start_at": start, "end_at": end});
    app.send_as(app.client.post(app.url("/v1/bookings")).json(&body), Some(&customer_token(customer))).await
}

async fn act_as(app: &TestApp, token: Option<&str>, booking: &Value, action: &str, body: Value) -> Reply {
    let path = format!("/v1/bookings/{}/{action}", booking["id"].as_str().unwrap());
    let request = app.client.post(app.url(&path)).json(&body);
    match token {
        Some(token) => app.send_as(request, Some(token)).await,
        None => app.send(request).await,
    }
}

const WEEKDAYS_NINE_TO_FIVE: &str =
    r#"{"weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"}]}"#;

fn nine_to_five() -> Value {
    serde_json::from_str(WEEKDAYS_NINE_TO_FIVE).unwrap()
}

#[tokio::test]
async fn notice_and_horizon_admit_their_boundaries_and_refuse_a_microsecond_past() {
    let (app, _clock) = app_at("2027-01-04T08:00:00Z").await;
    let ada = app.create_customer("ada@example.com").await;
    let court = resource(&app, json!({"policy": {"min_notice_seconds": 3600, "max_advance_seconds": 86400}})).await;
    let early = book(&app, &court, &ada, "2027-01-04T08:59:59.999999Z", "2027-01-04T10:00:00Z").await;
    let problem = early.assert_problem(409, "notice-too-short");
    assert_eq!(
        (problem["min_notice_seconds"].as_i64(), problem["earliest_start_at"].as_str()),
        (Some(3600), Some("2027-01-04T09:00:00Z"))
    );
    book(&app, &court, &ada, "2027-01-04T09:00:00Z", "2027-01-04T10:00:00Z").await.assert_status(201);

    let late = book(&app, &court, &ada, "2027-01-05T08:00:00.000001Z", "2027-01-05T09:00:00Z").await;
    let problem = late.assert_problem(409, "beyond-booking-horizon");
    assert_eq!(problem["latest_start_at"], "2027-01-05T08:00:00Z");
    assert_eq!(problem["max_advance_seconds"], 86400);
    book(&app, &court, &ada, "2027-01-05T08:00:00Z", "2027-01-05T09:00:00Z").await.assert_status(201);
}

#[tokio::test]
async fn hours_grid_duration_and_limit_admit_their_boundaries_and_refuse_a_microsecond_past() {
    let (app, _clock) = app_at("2027-01-04T00:00:00Z").await;
    let ada = app.create_customer("ada@example.com").await;

    let hours = resource(&app, json!({"schedule": nine_to_five()})).await;
    let long = book(&app, &hours, &ada, "2027-01-04T16:00:00Z", "2027-01-04T17:00:00.000001Z").await;
    let problem = long.assert_problem(409, "outside-opening-hours");
    assert_eq!(problem["time_zone"], "UTC");
    assert_eq!(
        problem["open_intervals"],
        json!([{"start_at": "2027-01-04T09:00:00Z", "end_at": "2027-01-04T17:00:00Z",
                "local_start": "2027-01-04T09:00:00+00:00", "local_end": "2027-01-04T17:00:00+00:00"}])
    );
    book(&app, &hours, &ada, "2027-01-04T16:00:00Z", "2027-01-04T17:00:00Z").await.assert_status(201);

    let grid = resource(&app, json!({"policy": {"slot_step_seconds": 900}})).await;
    let off = book(&app, &grid, &ada, "2027-01-04T10:15:00.000001Z", "2027-01-04T11:00:00Z").await;
    assert_eq!(off.assert_problem(409, "not-on-slot-grid")["slot_step_seconds"], 900);
    book(&app, &grid, &ada, "2027-01-04T10:15:00Z", "2027-01-04T11:00:00Z").await.assert_status(201);

    let duration = resource(&app, json!({"policy": {"min_duration_seconds": 1800}})).await;
    let short = book(&app, &duration, &ada, "2027-01-04T10:00:00Z", "2027-01-04T10:29:59.999999Z").await;
    assert_eq!(short.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/end_at");
    book(&app, &duration, &ada, "2027-01-04T10:00:00Z", "2027-01-04T10:30:00Z").await.assert_status(201);

    let limited = resource(&app, json!({"policy": {"max_active_bookings_per_customer": 2}})).await;
    book(&app, &limited, &ada, "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z").await.assert_status(201);
    book(&app, &limited, &ada, "2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z").await.assert_status(201);
    let third = book(&app, &limited, &ada, "2027-01-06T10:00:00Z", "2027-01-06T11:00:00Z").await;
    let problem = third.assert_problem(409, "booking-limit-reached");
    assert_eq!((problem["limit"].as_i64(), problem["active_bookings"].as_i64()), (Some(2), Some(2)));
    // Another customer has a limit of its own.
    let bob = app.create_customer("bob@example.com").await;
    book(&app, &limited, &bob, "2027-01-06T10:00:00Z", "2027-01-06T11:00:00Z").await.assert_status(201);
}

#[tokio::test]
async fn customers_are_held_to_the_cutoffs_and_admins_are_not() {
    let (app, clock) = app_at("2027-01-01T00:00:00Z").await;
    let ada = app.create_customer("ada@example.com").await;
    let token = customer_token(&ada);
    let policy = json!({"policy": {"cancel_cutoff_seconds": 3600, "reschedule_cutoff_seconds": 7200}});
    let court = resource(&app, policy).await;
    let first = book_as_customer(&app, &court, &ada, "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z").await;
    let first = first.assert_status(201).body.clone();
    let second = book_as_customer(&app, &court, &ada, "2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z").await;
    let second = second.assert_status(201).body.clone();

    // Reschedule: until 08:00 for a 10:00 start.
    let target = json!({"start_at": "2027-01-04T12:00:00Z", "end_at": "2027-01-04T13:00:00Z"});
    clock.set(at("2027-01-04T08:00:00.000001Z"));
    let moved = act_as(&app, Some(&token), &first, "reschedule", target.clone()).await;
    let problem = moved.assert_problem(409, "cutoff-passed");
    assert_eq!(
        (problem["action"].as_str(), problem["cutoff_at"].as_str()),
        (Some("reschedule"), Some("2027-01-04T08:00:00Z"))
    );
    clock.set(at("2027-01-04T08:00:00Z"));
    act_as(&app, Some(&token), &first, "reschedule", target).await.assert_status(200);

    // Cancel: until 09:00 for a 10:00 start; the booking now starts at 12:00.
    clock.set(at("2027-01-04T11:00:00.000001Z"));
    let late = act_as(&app, Some(&token), &first, "cancel", json!({})).await;
    assert_eq!(late.assert_problem(409, "cutoff-passed")["cutoff_at"], "2027-01-04T11:00:00Z");
    clock.set(at("2027-01-04T11:00:00Z"));
    act_as(&app, Some(&token), &first, "cancel", json!({})).await.assert_status(200);

    // An admin cancels inside the cut-off.
    clock.set(at("2027-01-05T09:59:00Z"));
    act_as(&app, Some(&token), &second, "cancel", json!({})).await.assert_problem(409, "cutoff-passed");
    let cancelled = act_as(&app, None, &second, "cancel", json!({"reason": "venue closed"})).await;
    assert_eq!(cancelled.assert_status(200).body["status"], "cancelled");
}

#[tokio::test]
async fn when_several_rules_fail_the_documented_first_one_answers() {
    let (app, _clock) = app_at("2027-01-04T08:00:00Z").await;
    let ada = app.create_customer("ada@example.com").await;
    let policy = json!({"min_notice_seconds": 7200, "slot_step_seconds": 3600, "max_active_bookings_per_customer": 1});
    let court = resource(&app, json!({"schedule": nine_to_five(), "policy": policy})).await;
    book(&app, &court, &ada, "2027-01-04T12:00:00Z", "2027-01-04T13:00:00Z").await.assert_status(201);
    // Too soon, outside hours, off the grid and over the limit.
    let everything = ("2027-01-04T08:30:00Z", "2027-01-04T09:15:00Z");
    book(&app, &court, &ada, everything.0, everything.1).await.assert_problem(409, "notice-too-short");
    // Outside hours, off the grid, over the limit.
    book(&app, &court, &ada, "2027-01-04T16:30:00Z", "2027-01-04T17:30:00Z")
        .await
        .assert_problem(409, "outside-opening-hours");
    // Off the grid, over the limit, and a duplicate.
    book(&app, &court, &ada, "2027-01-04T12:30:00Z", "2027-01-04T13:00:00Z")
        .await
        .assert_problem(409, "not-on-slot-grid");
    // Over the limit and a duplicate.
    book(&app, &court, &ada, "2027-01-04T12:00:00Z", "2027-01-04T13:00:00Z")
        .await
        .assert_problem(409, "booking-limit-reached");
    // An inactive resource answers before all of them.
    let path = format!("/v1/resources/{}", court["id"].as_str().unwrap());
    app.patch_json(&path, &json!({"active": false}), Some("*")).await.assert_status(200);
    book(&app, &court, &ada, everything.0, everything.1).await.assert_problem(409, "resource-inactive");
}

#[tokio::test]
async fn buffers_keep_time_free_and_stay_with_each_booking() {
    let (app, _clock) = app_at("2027-01-04T00:00:00Z").await;
    let ada = app.create_customer("ada@example.com").await;
    let bob = app.create_customer("bob@example.com").await;
    let room = resource(&app, json!({"policy": {"buffer_after_seconds": 600}})).await;
    let first = book(&app, &room, &ada, "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z").await;
    assert_eq!(first.assert_status(201).body["buffer_after_seconds"], 600);
    let back_to_back = book(&app, &room, &bob, "2027-01-04T11:00:00Z", "2027-01-04T12:00:00Z").await;
    assert_eq!(back_to_back.assert_problem(409, "capacity-exceeded")["available"], 0);
    book(&app, &room, &bob, "2027-01-04T11:10:00Z", "2027-01-04T12:00:00Z").await.assert_status(201);

    // A longer buffer from now on leaves the existing bookings as they were.
    let path = format!("/v1/resources/{}", room["id"].as_str().unwrap());
    app.patch_json(&path, &json!({"policy": {"buffer_after_seconds": 3600}}), Some("*")).await.assert_status(200);
    let kept = app.get(&format!("/v1/bookings/{}", first.body["id"].as_str().unwrap())).await;
    assert_eq!(kept.body["buffer_after_seconds"], 600);
    let availability = app.get(&format!("{path}/availability?from=2027-01-04T09:00:00Z&to=2027-01-04T13:00:00Z")).await;
    let used: Vec<(&str, i64)> = availability.body["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["start_at"].as_str().unwrap(), s["used"].as_i64().unwrap()))
        .collect();
    assert_eq!(used, [("2027-01-04T09:00:00Z", 0), ("2027-01-04T10:00:00Z", 1), ("2027-01-04T12:10:00Z", 0)]);
    // 12:10-13:00 now keeps 13:00-14:00 free after it.
    book(&app, &room, &ada, "2027-01-04T12:10:00Z", "2027-01-04T13:00:00Z").await.assert_status(201);
    book(&app, &room, &bob, "2027-01-04T13:30:00Z", "2027-01-04T14:00:00Z")
        .await
        .assert_problem(409, "capacity-exceeded");
    app.assert_within_capacity(&room).await;
}

#[tokio::test]
async fn an_admin_override_skips_the_policy_and_the_history_says_so() {
    let (app, _clock) = app_at("2027-01-04T08:00:00Z").await;
    let ada = app.create_customer("ada@example.com").await;
    let court = resource(&app, json!({"schedule": nine_to_five(), "policy": {"min_notice_seconds": 86400}})).await;
    let body = |start: &str, end: &str, override_policy: bool| {
        json!({"resource_id": court["id"], "customer_id": ada["id"], "start_at": start, "end_at": end,
               "override_policy": override_policy})
    };
    let sunday = body("2027-01-10T20:00:00Z", "2027-01-10T21:00:00Z", true);
    let reply = app.send_as(app.client.post(app.url("/v1/bookings")).json(&sunday), Some(&customer_token(&ada))).await;
    reply.assert_problem(403, "forbidden");
    let booked = app.post_json("/v1/bookings", &sunday).await;
    let id = booked.assert_status(201).body["id"].as_str().unwrap().to_owned();
    let history = app.get(&format!("/v1/bookings/{id}/events")).await;
    assert_eq!(history.body["items"][0]["policy_overridden"], true);
    // Capacity still holds under an override.
    let again = app.post_json("/v1/bookings", &body("2027-01-10T20:30:00Z", "2027-01-10T21:30:00Z", true)).await;
    again.assert_problem(409, "duplicate-booking");
    let bob = app.create_customer("bob@example.com").await;
    let mut bobs = body("2027-01-10T20:30:00Z", "2027-01-10T21:30:00Z", true);
    bobs["customer_id"] = bob["id"].clone();
    app.post_json("/v1/bookings", &bobs).await.assert_problem(409, "capacity-exceeded");
    // Without an override the same Sunday is refused.
    let plain = app.post_json("/v1/bookings", &body("2027-01-17T20:00:00Z", "2027-01-17T21:00:00Z", false)).await;
    plain.assert_problem(409, "outside-opening-hours");
}

#[tokio::test]
async fn availability_marks_closed_time() {
    let (app, _clock) = app_at("2027-01-04T00:00:00Z").await;
    let ada = app.create_customer("ada@example.com").await;
    let court = resource(&app, json!({"schedule": nine_to_five()})).await;
    book(&app, &court, &ada, "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z").await.assert_status(201);
    let path = format!(
        "/v1/resources/{}/availability?from=2027-01-04T08:00:00Z&to=2027-01-04T18:00:00Z",
        court["id"].as_str().unwrap()
    );
    let segments: Vec<(String, i64, bool)> = app.get(&path).await.body["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["start_at"].as_str().unwrap()[11..16].to_owned(),
                s["used"].as_i64().unwrap(),
                s["open"].as_bool().unwrap(),
            )
        })
        .collect();
    let expected =
        [("08:00", 0, false), ("09:00", 0, true), ("10:00", 1, true), ("11:00", 0, true), ("17:00", 0, false)];
    assert_eq!(segments, expected.map(|(t, u, o)| (t.to_owned(), u, o)));
}

#[tokio::test]
async fn bad_schedules_and_policies_are_422s_at_their_fields_and_store_nothing() {
    let app = TestApp::spawn().await;
    let weekly = |entries: Value| json!({"name": "Court", "capacity": 1, "schedule": {"weekly": entries}});
    let first = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
    let thousand_days: Vec<Value> =
        (0..1000).map(|d| json!({"date": (first + chrono::Duration::days(d)).to_string()})).collect();
    let cases: Vec<(Value, &str)> = vec![
        (weekly(json!([{"days": ["mon", "funday"], "from": "09:00", "to": "17:00"}])), "/schedule/weekly/0/days/1"),
        (weekly(json!([{"days": ["mon"], "from": "25:00", "to": "17:00"}])), "/schedule/weekly/0/from"),
        (weekly(json!([{"days": ["mon"], "from": "9:00", "to": "17:00"}])), "/schedule/weekly/0/from"),
        (weekly(json!([{"days": ["mon"], "from": "24:00", "to": "02:00"}])), "/schedule/weekly/0/from"),
        (weekly(json!([{"days": [], "from": "09:00", "to": "17:00"}])), "/schedule/weekly/0/days"),
        (
            weekly(
                json!([{"days": ["mon"], "from": "09:00", "to": "12:00"}, {"days": ["tue", "mon"], "from": "11:00", "to": "13:00"}]),
            ),
            "/schedule/weekly/1",
        ),
        (
            weekly(json!(
                (0..51).map(|_| json!({"days": ["mon"], "from": "09:00", "to": "09:01"})).collect::<Vec<_>>()
            )),
            "/schedule/weekly",
        ),
        (
            json!({"name": "Court", "capacity": 1, "schedule": {"exceptions": [{"date": "2027-02-30", "hours": []}]}}),
            "/schedule/exceptions/0/date",
        ),
        (
            json!({"name": "Court", "capacity": 1, "schedule": {"exceptions": [{"date": "2027-02-01"}, {"date": "2027-02-01"}]}}),
            "/schedule/exceptions/1/date",
        ),
        (json!({"name": "Court", "capacity": 1, "schedule": {"exceptions": thousand_days}}), "/schedule/exceptions"),
        (json!({"name": "Court", "capacity": 1, "policy": {"min_notice_seconds": -1}}), "/policy/min_notice_seconds"),
        (
            json!({"name": "Court", "capacity": 1, "policy": {"max_advance_seconds": 1e12}}),
            "/policy/max_advance_seconds",
        ),
        (json!({"name": "Court", "capacity": 1, "policy": {"slot_step_seconds": 30}}), "/policy/slot_step_seconds"),
        (
            json!({"name": "Court", "capacity": 1, "policy": {"buffer_after_seconds": 86401}}),
            "/policy/buffer_after_seconds",
        ),
        (json!({"name": "Court", "capacity": 1, "policy": {"cleaning": 600}}), "/policy/cleaning"),
        (
            json!({"name": "Court", "capacity": 1, "max_booking_duration_seconds": 3600, "policy": {"min_duration_seconds": 7200}}),
            "/policy/min_duration_seconds",
        ),
    ];
    for (body, pointer) in cases {
        let reply = app.post_json("/v1/resources", &body).await;
        let problem = reply.assert_problem(422, "validation-error");
        let pointers: Vec<&str> =
            problem["errors"].as_array().unwrap().iter().filter_map(|e| e["pointer"].as_str()).collect();
        assert!(pointers.contains(&pointer), "{body} answered {pointers:?}, not {pointer}");
    }
    assert_eq!(app.get("/v1/resources").await.body["items"], json!([]));

    // A bad PATCH changes nothing either.
    let court = app.create_resource("Court", 1).await;
    let path = format!("/v1/resources/{}", court["id"].as_str().unwrap());
    let bad = json!({"schedule": {"weekly": [{"days": ["mon"], "from": "09:00", "to": "12:00"}, {"days": ["mon"], "from": "10:00", "to": "11:00"}]}});
    let reply = app.patch_json(&path, &bad, Some("*")).await;
    assert_eq!(reply.assert_problem(422, "validation-error")["errors"][0]["pointer"], "/schedule/weekly/1");
    let unchanged = app.get(&path).await;
    assert_eq!((unchanged.body["version"].as_i64(), &unchanged.body["schedule"]), (Some(1), &Value::Null));
}

#[tokio::test]
async fn patch_merges_into_the_policy_and_schedule() {
    let app = TestApp::spawn().await;
    let policy = json!({"min_notice_seconds": 3600, "slot_step_seconds": 900, "buffer_after_seconds": 600});
    let court = resource(&app, json!({"schedule": nine_to_five(), "policy": policy})).await;
    let path = format!("/v1/resources/{}", court["id"].as_str().unwrap());
    let patch = json!({"policy": {"min_notice_seconds": null, "slot_step_seconds": 1800}, "schedule": {"exceptions": [{"date": "2027-12-25"}]}});
    let patched = app.patch_json(&path, &patch, Some("\"1\"")).await;
    let body = &patched.assert_status(200).body;
    assert_eq!(body["policy"], json!({"slot_step_seconds": 1800, "buffer_after_seconds": 600}));
    assert_eq!(body["schedule"]["weekly"], nine_to_five()["weekly"]);
    assert_eq!(body["schedule"]["exceptions"], json!([{"date": "2027-12-25", "hours": []}]));
    let cleared = app.patch_json(&path, &json!({"schedule": null, "policy": null}), Some("\"2\"")).await;
    assert_eq!((&cleared.body["schedule"], &cleared.body["policy"]), (&Value::Null, &Value::Null));
}
