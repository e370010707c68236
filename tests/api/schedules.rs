//! Opening hours over HTTP: daylight-saving days in Europe/Berlin and
//! America/New_York, Lord Howe's half-hour shift, Kathmandu's +05:45,
//! wall times in the spring gap and the autumn fold, overnight hours,
//! touching intervals, exceptions, and a PATCH that closes a day racing
//! bookings into it.

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::policies::{app_at, book, resource};

fn hours(reply: &Value) -> f64 {
    let start = DateTime::parse_from_rfc3339(reply["start_at"].as_str().unwrap()).unwrap();
    let end = DateTime::parse_from_rfc3339(reply["end_at"].as_str().unwrap()).unwrap();
    (end - start).num_seconds() as f64 / 3600.0
}

fn sundays(from: &str, to: &str) -> Value {
    json!({"weekly": [{"days": ["sun"], "from": from, "to": to}]})
}

fn whole_days(dates: &[&str]) -> Value {
    json!({"exceptions": dates.iter().map(|d| json!({"date": d, "hours": [{"from": "00:00", "to": "24:00"}]})).collect::<Vec<_>>()})
}

#[tokio::test]
async fn nine_to_five_is_eight_hours_on_the_transition_sundays() {
    let (app, _clock) = app_at("2027-01-01T00:00:00Z").await;
    let ada = app.create_customer("ada@example.com").await;
    for (zone, days) in [
        ("Europe/Berlin", [("2027-03-28", "+02:00"), ("2027-10-31", "+01:00")]),
        ("America/New_York", [("2027-03-14", "-04:00"), ("2027-11-07", "-05:00")]),
    ] {
        let room = resource(&app, json!({"time_zone": zone, "schedule": sundays("09:00", "17:00")})).await;
        for (day, offset) in days {
            let (start, end) = (format!("{day}T09:00:00{offset}"), format!("{day}T17:00:00{offset}"));
            let longer = book(&app, &room, &ada, &start, &format!("{day}T17:00:00.000001{offset}")).await;
            longer.assert_problem(409, "outside-opening-hours");
            let booked = book(&app, &room, &ada, &start, &end).await;
            assert_eq!(hours(&booked.assert_status(201).body), 8.0, "{zone} {day}");
        }
    }
}

#[tokio::test]
async fn a_whole_day_is_23_or_25_hours_long_on_the_transition_days() {
    let (app, _clock) = app_at("2027-01-01T00:00:00Z").await;
    let ada = app.create_customer("ada@example.com").await;
    let berlin =
        resource(&app, json!({"time_zone": "Europe/Berlin", "schedule": whole_days(&["2027-03-28", "2027-10-31"])}))
            .await;
    let spring = book(&app, &berlin, &ada, "2027-03-28T00:00:00+01:00", "2027-03-29T00:00:00+02:00").await;
    assert_eq!(hours(&spring.assert_status(201).body), 23.0);
    let autumn = book(&app, &berlin, &ada, "2027-10-31T00:00:00+02:00", "2027-11-01T00:00:00+01:00").await;
    assert_eq!(hours(&autumn.assert_status(201).body), 25.0);
    // One microsecond more runs into the closed next day.
    book(&app, &berlin, &ada, "2027-10-31T00:00:00+02:00", "2027-11-01T00:00:00.000001+01:00")
        .await
        .assert_problem(409, "outside-opening-hours");

    let lord_howe = resource(
        &app,
        json!({"time_zone": "Australia/Lord_Howe", "schedule": whole_days(&["2027-10-03", "2027-04-04"])}),
    )
    .await;
    let short = book(&app, &lord_howe, &ada, "2027-10-03T00:00:00+10:30", "2027-10-04T00:00:00+11:00").await;
    assert_eq!(hours(&short.assert_status(201).body), 23.5);
    let long = book(&app, &lord_howe, &ada, "2027-04-04T00:00:00+11:00", "2027-04-05T00:00:00+10:30").await;
    assert_eq!(hours(&long.assert_status(201).body), 24.5);
}

#[tokio::test]
async fn a_wall_time_in_the_gap_moves_forward_and_one_in_the_fold_is_the_earlier() {
    let (app, _clock) = app_at("2027-01-01T00:00:00Z").await;
    let ada = app.create_customer("ada@example.com").await;
    let schedule = json!({"exceptions": [
        {"date": "2027-03-28", "hours": [{"from": "02:30", "to": "04:00"}]},
        {"date": "2027-10-31", "hours": [{"from": "02:30", "to": "03:00"}]},
    ]});
    let room = resource(&app, json!({"time_zone": "Europe/Berlin", "schedule": schedule})).await;
    // 02:30 does not exist on 2027-03-28: it opens at 03:30 CEST (01:30Z).
    let early = book(&app, &room, &ada, "2027-03-28T01:29:59.999999Z", "2027-03-28T02:00:00Z").await;
    let problem = early.assert_problem(409, "outside-opening-hours");
    assert_eq!(problem["open_intervals"][0]["local_start"], "2027-03-28T03:30:00+02:00");
    assert_eq!(problem["open_intervals"][0]["end_at"], "2027-03-28T02:00:00Z");
    book(&app, &room, &ada, "2027-03-28T01:30:00Z", "2027-03-28T02:00:00Z").await.assert_status(201);
    // 02:30 happens twice on 2027-10-31: it opens at the first (00:30Z)
    // and closes at 03:00 CET (02:00Z), an hour and a half later.
    let fold = book(&app, &room, &ada, "2027-10-31T00:30:00Z", "2027-10-31T02:00:00Z").await;
    assert_eq!(hours(&fold.assert_status(201).body), 1.5);
}

#[tokio::test]
async fn kathmandu_opens_at_its_own_quarter_hour() {
    let (app, _clock) = app_at("2027-01-01T00:00:00Z").await;
    let ada = app.create_customer("ada@example.com").await;
    let every_day = json!({"weekly": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "09:00", "to": "17:00"}]});
    let room = resource(&app, json!({"time_zone": "Asia/Kathmandu", "schedule": every_day})).await;
    let early = book(&app, &room, &ada, "2027-01-05T03:14:59.999999Z", "2027-01-05T04:15:00Z").await;
    let problem = early.assert_problem(409, "outside-opening-hours");
    assert_eq!(problem["open_intervals"][0]["start_at"], "2027-01-05T03:15:00Z");
    assert_eq!(problem["open_intervals"][0]["local_start"], "2027-01-05T09:00:00+05:45");
    book(&app, &room, &ada, "2027-01-05T09:00:00+05:45", "2027-01-05T10:00:00+05:45").await.assert_status(201);
}

#[tokio::test]
async fn overnight_hours_touching_hours_and_exceptions() {
    let (app, _clock) = app_at("2027-01-01T00:00:00Z").await;
    let ada = app.create_customer("ada@example.com").await;
    // 2027-01-01 is a Friday.
    let bar =
        resource(&app, json!({"schedule": {"weekly": [{"days": ["fri"], "from": "18:00", "to": "02:00"}]}})).await;
    book(&app, &bar, &ada, "2027-01-02T01:00:00Z", "2027-01-02T02:00:00Z").await.assert_status(201);
    book(&app, &bar, &ada, "2027-01-02T02:00:00Z", "2027-01-02T03:00:00Z")
        .await
        .assert_problem(409, "outside-opening-hours");

    let split = json!({"weekly": [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "12:00"},
        {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "12:00", "to": "17:00"},
    ], "exceptions": [
        {"date": "2027-12-24", "hours": [{"from": "09:00", "to": "12:00"}]},
        {"date": "2027-12-27", "hours": []},
    ]});
    let shop = resource(&app, json!({"schedule": split})).await;
    book(&app, &shop, &ada, "2027-01-04T11:00:00Z", "2027-01-04T13:00:00Z").await.assert_status(201);
    let closed = book(&app, &shop, &ada, "2027-12-27T10:00:00Z", "2027-12-27T11:00:00Z").await;
    assert_eq!(closed.assert_problem(409, "outside-opening-hours")["open_intervals"], json!([]));
    let short_day = book(&app, &shop, &ada, "2027-12-24T11:00:00Z", "2027-12-24T13:00:00Z").await;
    assert_eq!(
        short_day.assert_problem(409, "outside-opening-hours")["open_intervals"][0]["end_at"],
        "2027-12-24T12:00:00Z"
    );
    book(&app, &shop, &ada, "2027-12-24T10:00:00Z", "2027-12-24T12:00:00Z").await.assert_status(201);
}

/// A PATCH that closes a day races 30 bookings into that day: each booking
/// that succeeded was decided before the close (its decision time is before
/// the PATCH's), each one refused was refused for the hours, and none is
/// left in the closed day that was decided after it closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn closing_a_day_races_bookings_into_it() {
    let app = TestApp::spawn().await;
    let ada = app.create_customer("ada@example.com").await;
    let every_day = json!({"weekly": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "09:00", "to": "17:00"}]});
    let room = resource(&app, json!({"capacity": 1, "schedule": every_day})).await;
    let day = (Utc::now() + Duration::days(7)).date_naive();
    let path = format!("/v1/resources/{}", room["id"].as_str().unwrap());
    let close = json!({"schedule": {"exceptions": [{"date": day.to_string(), "hours": []}]}});
    // Bookings go out a few milliseconds apart and the PATCH among them:
    // requests already queued on the resource's lock are decided before it
    // (PostgreSQL queues lock waiters in order), later ones after.
    let bookings = (0..30).map(|i| {
        let start = day.and_hms_opt(9, 0, 0).unwrap().and_utc() + Duration::minutes(15 * i);
        let (start, end) = (start.to_rfc3339(), (start + Duration::minutes(15)).to_rfc3339());
        let (app, room, ada) = (&app, &room, &ada);
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(4 * i as u64)).await;
            book(app, room, ada, &start, &end).await
        }
    });
    let patch = async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        app.patch_json(&path, &close, Some("*")).await
    };
    let (replies, patched) = tokio::join!(join_all(bookings), patch);
    let closed_at = patched.assert_status(200).body["updated_at"].as_str().unwrap().to_owned();
    let closed_at = DateTime::parse_from_rfc3339(&closed_at).unwrap();
    let mut booked = 0;
    for reply in &replies {
        if reply.status == 201 {
            booked += 1;
            let decided = DateTime::parse_from_rfc3339(reply.body["created_at"].as_str().unwrap()).unwrap();
            assert!(decided < closed_at, "booked at {decided}, after the day closed at {closed_at}");
        } else {
            reply.assert_problem(409, "outside-opening-hours");
        }
    }
    // Whatever the interleaving, the database agrees with the answers.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let id: uuid::Uuid = room["id"].as_str().unwrap().parse().unwrap();
    let rows =
        entity::booking::Entity::find().filter(entity::booking::Column::ResourceId.eq(id)).all(&app.db).await.unwrap();
    assert_eq!(rows.len(), booked);
    assert!(rows.iter().all(|b| b.created_at < closed_at.with_timezone(&Utc)));
    eprintln!("closing a day: {booked} of 30 booked before it closed");
}
