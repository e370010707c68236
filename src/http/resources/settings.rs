//! The wire shapes of a resource's `schedule` and `policy`, their
//! conversions to the domain, and how a PATCH changes them: JSON merge
//! patch (RFC 7396) onto the current value, so `{"policy":
//! {"min_notice_seconds": null}}` removes one rule and keeps the others,
//! and an array (`weekly`, `exceptions`) is replaced whole.

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use utoipa::ToSchema;
use validator::Validate;

use crate::domain::{
    field::Field,
    policy::Policy,
    schedule::{Exception, Hours, Schedule, WallTime, WeeklyHours},
};
use crate::http::{
    extract::parse_value,
    problem::{FieldError, Problem},
    service_error::pointer,
};

/// `HH:MM` on the wire.
#[derive(Clone, Copy, Debug)]
pub struct Clock(WallTime);

impl<'de> Deserialize<'de> for Clock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        WallTime::parse(&text)
            .map(Clock)
            .ok_or_else(|| serde::de::Error::custom("must be a time HH:MM from 00:00 to 24:00"))
    }
}

impl Serialize for Clock {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

/// A day of the week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl From<Day> for chrono::Weekday {
    fn from(day: Day) -> Self {
        use chrono::Weekday::*;
        [Mon, Tue, Wed, Thu, Fri, Sat, Sun][day as usize]
    }
}

impl From<chrono::Weekday> for Day {
    fn from(day: chrono::Weekday) -> Self {
        [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri, Day::Sat, Day::Sun][day.num_days_from_monday() as usize]
    }
}

/// Open from `from` to `to`, local time; `to <= from` ends the next day.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoursDto {
    #[schema(value_type = String, pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", max_length = 5, example = "09:00")]
    pub from: Clock,
    #[schema(value_type = String, pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", max_length = 5, example = "17:00")]
    pub to: Clock,
}

/// The same hours on some days of every week.
#[derive(Clone, Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHoursDto {
    #[validate(length(min = 1, max = 7, message = "must list 1 to 7 days"))]
    #[schema(min_items = 1, max_items = 7, example = json!(["mon", "tue", "wed", "thu", "fri"]))]
    pub days: Vec<Day>,
    #[schema(value_type = String, pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", max_length = 5, example = "09:00")]
    pub from: Clock,
    #[schema(value_type = String, pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", max_length = 5, example = "17:00")]
    pub to: Clock,
}

/// Hours that replace the weekly ones on one local date; `[]` closes it.
#[derive(Clone, Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionDto {
    #[schema(example = "2027-12-25")]
    pub date: NaiveDate,
    #[serde(default)]
    #[validate(length(max = 10, message = "must have at most 10 entries"))]
    #[schema(required = false, max_items = 10)]
    pub hours: Vec<HoursDto>,
}

/// Opening hours in the resource's time zone. Without a schedule a
/// resource is always open; with one, bookings lie wholly inside open time.
#[derive(Clone, Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDto {
    #[serde(default)]
    #[validate(length(max = 50, message = "must have at most 50 entries"), nested)]
    #[schema(required = false, max_items = 50)]
    pub weekly: Vec<WeeklyHoursDto>,
    #[serde(default)]
    #[validate(length(max = 500, message = "must have at most 500 entries"), nested)]
    #[schema(required = false, max_items = 500)]
    pub exceptions: Vec<ExceptionDto>,
}

/// Booking rules; each is optional, an absent one is no rule. Admins may
/// skip them with `override_policy`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDto {
    /// A booking starts at least this long after it is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 0, max = 31_622_400, message = "must be between 0 and 31622400"))]
    #[schema(minimum = 0, maximum = 31_622_400, example = 3600)]
    pub min_notice_seconds: Option<i64>,
    /// A booking starts at most this long after it is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 0, max = 316_224_000, message = "must be between 0 and 316224000"))]
    #[schema(minimum = 0, maximum = 316_224_000, example = 7_776_000)]
    pub max_advance_seconds: Option<i64>,
    /// Starts lie on a grid of this step from the start of the open
    /// interval (local midnight without a schedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 60, max = 86_400, message = "must be between 60 and 86400"))]
    #[schema(minimum = 60, maximum = 86_400, example = 900)]
    pub slot_step_seconds: Option<i64>,
    /// The shortest booking; at most `max_booking_duration_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 60, max = 31_622_400, message = "must be between 60 and 31622400"))]
    #[schema(minimum = 60, maximum = 31_622_400, example = 1800)]
    pub min_duration_seconds: Option<i64>,
    /// Time the resource is busy before each booking (for capacity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 0, max = 86_400, message = "must be between 0 and 86400"))]
    #[schema(minimum = 0, maximum = 86_400, example = 0)]
    pub buffer_before_seconds: Option<i64>,
    /// Time the resource is busy after each booking (for capacity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 0, max = 86_400, message = "must be between 0 and 86400"))]
    #[schema(minimum = 0, maximum = 86_400, example = 600)]
    pub buffer_after_seconds: Option<i64>,
    /// Customers may cancel until this long before the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 0, max = 31_622_400, message = "must be between 0 and 31622400"))]
    #[schema(minimum = 0, maximum = 31_622_400, example = 86_400)]
    pub cancel_cutoff_seconds: Option<i64>,
    /// Customers may reschedule until this long before the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 0, max = 31_622_400, message = "must be between 0 and 31622400"))]
    #[schema(minimum = 0, maximum = 31_622_400, example = 86_400)]
    pub reschedule_cutoff_seconds: Option<i64>,
    /// Active bookings (blocking, not yet ended) one customer may hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 1, max = 10_000, message = "must be between 1 and 10000"))]
    #[schema(minimum = 1, maximum = 10_000, example = 2)]
    pub max_active_bookings_per_customer: Option<i64>,
    /// How long a waiting-list offer is held for its customer (never past
    /// the booking's start); 900 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 5, max = 604_800, message = "must be between 5 and 604800"))]
    #[schema(minimum = 5, maximum = 604_800, example = 900)]
    pub waitlist_offer_seconds: Option<i64>,
    /// A customer's booking (or confirmation of a hold, or move) is
    /// `pending` until an admin approves or declines it; an admin's is
    /// confirmed at once. False when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = false)]
    pub approval_required: Option<bool>,
    /// How long a pending booking awaits approval before it is declined
    /// (never past its start); 172800 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 5, max = 2_592_000, message = "must be between 5 and 2592000"))]
    #[schema(minimum = 5, maximum = 2_592_000, example = 172_800)]
    pub approval_timeout_seconds: Option<i64>,
    /// A confirmed booking not checked in this long after its start is
    /// released: the rest of its interval is free from then on, and it
    /// becomes `no_show`. No deadline when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 5, max = 86_400, message = "must be between 5 and 86400"))]
    #[schema(minimum = 5, maximum = 86_400, example = 900)]
    pub check_in_window_seconds: Option<i64>,
}

fn hours(dto: &HoursDto) -> Hours {
    Hours { from: dto.from.0, to: dto.to.0 }
}

fn hours_dto(hours: &Hours) -> HoursDto {
    HoursDto { from: Clock(hours.from), to: Clock(hours.to) }
}

impl ScheduleDto {
    /// The domain schedule, or every rule it breaks at its pointer.
    pub fn into_domain(self) -> Result<Schedule, Problem> {
        let schedule = Schedule {
            weekly: self
                .weekly
                .iter()
                .map(|w| WeeklyHours {
                    days: w.days.iter().map(|d| (*d).into()).collect(),
                    hours: Hours { from: w.from.0, to: w.to.0 },
                })
                .collect(),
            exceptions: self
                .exceptions
                .iter()
                .map(|e| Exception { date: e.date, hours: e.hours.iter().map(hours).collect() })
                .collect(),
        };
        let problems = schedule.problems(&Field::named("schedule"));
        if problems.is_empty() {
            Ok(schedule)
        } else {
            Err(Problem::validation(
                problems.into_iter().map(|p| FieldError { pointer: pointer(&p.field), detail: p.detail }).collect(),
            ))
        }
    }
}

impl From<&Schedule> for ScheduleDto {
    fn from(schedule: &Schedule) -> Self {
        Self {
            weekly: schedule
                .weekly
                .iter()
                .map(|w| WeeklyHoursDto {
                    days: w.days.iter().map(|d| (*d).into()).collect(),
                    from: Clock(w.hours.from),
                    to: Clock(w.hours.to),
                })
                .collect(),
            exceptions: schedule
                .exceptions
                .iter()
                .map(|e| ExceptionDto { date: e.date, hours: e.hours.iter().map(hours_dto).collect() })
                .collect(),
        }
    }
}

impl From<PolicyDto> for Policy {
    fn from(p: PolicyDto) -> Self {
        Self {
            min_notice_seconds: p.min_notice_seconds,
            max_advance_seconds: p.max_advance_seconds,
            slot_step_seconds: p.slot_step_seconds,
            min_duration_seconds: p.min_duration_seconds,
            buffer_before_seconds: p.buffer_before_seconds,
            buffer_after_seconds: p.buffer_after_seconds,
            cancel_cutoff_seconds: p.cancel_cutoff_seconds,
            reschedule_cutoff_seconds: p.reschedule_cutoff_seconds,
            max_active_bookings_per_customer: p.max_active_bookings_per_customer,
            waitlist_offer_seconds: p.waitlist_offer_seconds,
            approval_required: p.approval_required.unwrap_or(false),
            approval_timeout_seconds: p.approval_timeout_seconds,
            check_in_window_seconds: p.check_in_window_seconds,
        }
    }
}

/// The policy as answered: `None` when it has no rules.
pub fn policy_dto(p: &Policy) -> Option<PolicyDto> {
    let dto = PolicyDto {
        min_notice_seconds: p.min_notice_seconds,
        max_advance_seconds: p.max_advance_seconds,
        slot_step_seconds: p.slot_step_seconds,
        min_duration_seconds: p.min_duration_seconds,
        buffer_before_seconds: p.buffer_before_seconds,
        buffer_after_seconds: p.buffer_after_seconds,
        cancel_cutoff_seconds: p.cancel_cutoff_seconds,
        reschedule_cutoff_seconds: p.reschedule_cutoff_seconds,
        max_active_bookings_per_customer: p.max_active_bookings_per_customer,
        waitlist_offer_seconds: p.waitlist_offer_seconds,
        approval_required: p.approval_required.then_some(true),
        approval_timeout_seconds: p.approval_timeout_seconds,
        check_in_window_seconds: p.check_in_window_seconds,
    };
    (*p != Policy::default()).then_some(dto)
}

/// RFC 7396: `patch` applied to `target`.
fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(target) = target {
        for (name, value) in patch {
            if value.is_null() {
                target.remove(&name);
            } else {
                merge_patch(target.entry(name).or_insert(Value::Null), value);
            }
        }
    }
}

/// A PATCH's `schedule` onto the current one: `Some(None)` removes it.
pub fn patched_schedule(current: Option<&Schedule>, patch: Value) -> Result<Option<Schedule>, Problem> {
    if patch.is_null() {
        return Ok(None);
    }
    let mut merged =
        current.map(|s| serde_json::to_value(ScheduleDto::from(s)).unwrap_or(Value::Null)).unwrap_or_default();
    merge_patch(&mut merged, patch);
    let dto: ScheduleDto = parse_value(merged, "/schedule")?;
    dto.into_domain().map(Some)
}

/// A PATCH's `policy` onto the current one: `null` removes every rule.
pub fn patched_policy(current: &Policy, patch: Value) -> Result<Policy, Problem> {
    if patch.is_null() {
        return Ok(Policy::default());
    }
    let mut merged = policy_dto(current).and_then(|p| serde_json::to_value(p).ok()).unwrap_or_default();
    merge_patch(&mut merged, patch);
    let dto: PolicyDto = parse_value(merged, "/policy")?;
    Ok(dto.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut target = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]});
        merge_patch(&mut target, json!({"a": null, "b": {"c": 5}, "e": [3], "f": {"g": null}}));
        assert_eq!(target, json!({"b": {"c": 5, "d": 3}, "e": [3], "f": {}}));
    }

    /// The overlap reads bound their scan by the longest buffer: the body
    /// must not accept a longer one.
    #[test]
    fn buffers_stay_within_what_the_overlap_reads_assume() {
        use crate::domain::policy::limits::MAX_BUFFER_SECONDS;
        let at_most = PolicyDto { buffer_after_seconds: Some(MAX_BUFFER_SECONDS), ..PolicyDto::default() };
        assert!(at_most.validate().is_ok());
        for longer in [
            PolicyDto { buffer_after_seconds: Some(MAX_BUFFER_SECONDS + 1), ..PolicyDto::default() },
            PolicyDto { buffer_before_seconds: Some(MAX_BUFFER_SECONDS + 1), ..PolicyDto::default() },
        ] {
            assert!(longer.validate().is_err());
        }
    }

    #[test]
    fn days_map_to_weekdays_and_back() {
        for day in [Day::Mon, Day::Wed, Day::Sun] {
            assert_eq!(Day::from(chrono::Weekday::from(day)), day);
        }
        assert_eq!(crate::domain::schedule::day_name(Day::Fri.into()), "fri");
    }
}
