//! How a resource's schedule and policy are kept: JSON text in the
//! `schedule` and `policy` columns, in the same shape as the API's. A value
//! that does not read back (a hand-edited row) is a corrupt row.

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use crate::domain::{
    policy::Policy,
    schedule::{Exception, Hours, Schedule, WallTime, WeeklyHours, day_name, parse_day},
};

fn hours_json(hours: &Hours) -> Value {
    json!({"from": hours.from.to_string(), "to": hours.to.to_string()})
}

pub fn schedule_to_json(schedule: &Schedule) -> String {
    let weekly: Vec<Value> = schedule
        .weekly
        .iter()
        .map(|w| {
            let days: Vec<&str> = w.days.iter().map(|d| day_name(*d)).collect();
            json!({"days": days, "from": w.hours.from.to_string(), "to": w.hours.to.to_string()})
        })
        .collect();
    let exceptions: Vec<Value> = schedule
        .exceptions
        .iter()
        .map(|e| json!({"date": e.date.to_string(), "hours": e.hours.iter().map(hours_json).collect::<Vec<_>>()}))
        .collect();
    json!({"weekly": weekly, "exceptions": exceptions}).to_string()
}

fn hours_from(value: &Value) -> Option<Hours> {
    Some(Hours { from: WallTime::parse(value["from"].as_str()?)?, to: WallTime::parse(value["to"].as_str()?)? })
}

pub fn schedule_from_json(text: &str) -> Option<Schedule> {
    let value: Value = serde_json::from_str(text).ok()?;
    let weekly = value["weekly"]
        .as_array()?
        .iter()
        .map(|w| {
            let days = w["days"].as_array()?.iter().map(|d| parse_day(d.as_str()?)).collect::<Option<Vec<_>>>()?;
            Some(WeeklyHours { days, hours: hours_from(w)? })
        })
        .collect::<Option<Vec<_>>>()?;
    let exceptions = value["exceptions"]
        .as_array()?
        .iter()
        .map(|e| {
            let date = NaiveDate::parse_from_str(e["date"].as_str()?, "%Y-%m-%d").ok()?;
            let hours = e["hours"].as_array()?.iter().map(hours_from).collect::<Option<Vec<_>>>()?;
            Some(Exception { date, hours })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Schedule { weekly, exceptions })
}

/// Each set value by its API name; an empty policy is no policy.
fn policy_fields(policy: &Policy) -> [(&'static str, Option<i64>); 12] {
    [
        ("min_notice_seconds", policy.min_notice_seconds),
        ("max_advance_seconds", policy.max_advance_seconds),
        ("slot_step_seconds", policy.slot_step_seconds),
        ("min_duration_seconds", policy.min_duration_seconds),
        ("buffer_before_seconds", policy.buffer_before_seconds),
        ("buffer_after_seconds", policy.buffer_after_seconds),
        ("cancel_cutoff_seconds", policy.cancel_cutoff_seconds),
        ("reschedule_cutoff_seconds", policy.reschedule_cutoff_seconds),
        ("max_active_bookings_per_customer", policy.max_active_bookings_per_customer),
        ("waitlist_offer_seconds", policy.waitlist_offer_seconds),
        ("approval_timeout_seconds", policy.approval_timeout_seconds),
        ("check_in_window_seconds", policy.check_in_window_seconds),
    ]
}

/// `None` for a policy without rules.
pub fn policy_to_json(policy: &Policy) -> Option<String> {
    let mut fields: Map<String, Value> =
        policy_fields(policy).into_iter().filter_map(|(name, value)| Some((name.to_owned(), value?.into()))).collect();
    if policy.approval_required {
        fields.insert("approval_required".to_owned(), Value::Bool(true));
    }
    (!fields.is_empty()).then(|| Value::Object(fields).to_string())
}

pub fn policy_from_json(text: &str) -> Option<Policy> {
    let value: Value = serde_json::from_str(text).ok()?;
    let object = value.as_object()?;
    let field = |name: &str| object.get(name).and_then(Value::as_i64);
    Some(Policy {
        min_notice_seconds: field("min_notice_seconds"),
        max_advance_seconds: field("max_advance_seconds"),
        slot_step_seconds: field("slot_step_seconds"),
        min_duration_seconds: field("min_duration_seconds"),
        buffer_before_seconds: field("buffer_before_seconds"),
        buffer_after_seconds: field("buffer_after_seconds"),
        cancel_cutoff_seconds: field("cancel_cutoff_seconds"),
        reschedule_cutoff_seconds: field("reschedule_cutoff_seconds"),
        max_active_bookings_per_customer: field("max_active_bookings_per_customer"),
        waitlist_offer_seconds: field("waitlist_offer_seconds"),
        approval_required: object.get("approval_required").and_then(Value::as_bool).unwrap_or(false),
        approval_timeout_seconds: field("approval_timeout_seconds"),
        check_in_window_seconds: field("check_in_window_seconds"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_and_policies_read_back_as_written() {
        let schedule = schedule_from_json(
            r#"{"weekly":[{"days":["mon","fri"],"from":"09:00","to":"02:00"}],
                "exceptions":[{"date":"2027-12-25","hours":[]},{"date":"2027-12-24","hours":[{"from":"09:00","to":"24:00"}]}]}"#,
        )
        .unwrap();
        assert_eq!(schedule_from_json(&schedule_to_json(&schedule)), Some(schedule));
        let policy = Policy { min_notice_seconds: Some(3600), buffer_after_seconds: Some(0), ..Policy::default() };
        assert_eq!(policy_from_json(&policy_to_json(&policy).unwrap()), Some(policy));
        assert_eq!(policy_to_json(&Policy::default()), None);
        let approval = Policy {
            approval_required: true,
            approval_timeout_seconds: Some(60),
            check_in_window_seconds: Some(900),
            ..Policy::default()
        };
        assert_eq!(policy_from_json(&policy_to_json(&approval).unwrap()), Some(approval));
    }
}
