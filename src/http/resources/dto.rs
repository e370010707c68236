//! The wire shapes of `/v1/resources`: request bodies, the response, and
//! their conversions to the domain.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::{Validate, ValidationError};

use super::settings::{PolicyDto, ScheduleDto, patched_policy, patched_schedule, policy_dto};
use crate::domain::resource::{self, NewResource, Resource, ResourceChanges};
use crate::http::{
    attributes::{self, AttributesDto},
    fields::{no_nul, non_null, not_blank, nullable},
    problem::Problem,
};

fn default_time_zone() -> String {
    resource::DEFAULT_TIME_ZONE.name().to_owned()
}
fn default_active() -> bool {
    true
}
fn default_hold_ttl() -> i32 {
    resource::DEFAULT_HOLD_TTL_SECONDS
}
fn default_max_duration() -> i64 {
    resource::DEFAULT_MAX_BOOKING_DURATION_SECONDS
}

fn valid_time_zone(name: &str) -> Result<(), ValidationError> {
    name.parse::<chrono_tz::Tz>()
        .map(|_| ())
        .map_err(|_| ValidationError::new("time_zone").with_message("is not an IANA time zone name".into()))
}

/// A new bookable resource.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateResourceRequest {
    /// Unique, ignoring case.
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"), custom(function = not_blank))]
    #[schema(pattern = "^[^\\u0000]*$", min_length = 1, max_length = 200, example = "Court 1")]
    pub name: String,
    #[validate(length(max = 2000, message = "must be at most 2000 characters"), custom(function = no_nul))]
    #[schema(pattern = "^[^\\u0000]*$", max_length = 2000, example = "Clay court with floodlights")]
    pub description: Option<String>,
    /// Units usable at the same instant (1 for a room, 12 for a class).
    #[validate(range(min = 1, max = 1_000_000, message = "must be between 1 and 1000000"))]
    #[schema(minimum = 1, maximum = 1_000_000, example = 4)]
    pub capacity: i32,
    /// IANA time zone name.
    #[serde(default = "default_time_zone")]
    #[validate(custom(function = valid_time_zone))]
    #[schema(
        required = false,
        default = "UTC",
        pattern = "^[A-Za-z0-9_+/-]+$",
        max_length = 64,
        example = "Europe/Paris"
    )]
    pub time_zone: String,
    /// Inactive resources take no new bookings.
    #[serde(default = "default_active")]
    #[schema(required = false, default = true)]
    pub active: bool,
    /// How long a hold blocks capacity before it expires.
    #[serde(default = "default_hold_ttl")]
    #[validate(range(min = 30, max = 86_400, message = "must be between 30 and 86400"))]
    #[schema(required = false, minimum = 30, maximum = 86_400, default = 600)]
    pub hold_ttl_seconds: i32,
    /// The longest booking this resource allows.
    #[serde(default = "default_max_duration")]
    #[validate(range(min = 60, max = 31_622_400, message = "must be between 60 and 31622400"))]
    #[schema(required = false, minimum = 60, maximum = 31_622_400, default = 2_678_400)]
    pub max_booking_duration_seconds: i64,
    /// Opening hours; absent or null: always open.
    #[serde(default)]
    #[validate(nested)]
    #[schema(required = false)]
    pub schedule: Option<ScheduleDto>,
    /// Booking rules; absent or null: none.
    #[serde(default)]
    #[validate(nested)]
    #[schema(required = false)]
    pub policy: Option<PolicyDto>,
    /// What search filters on (`GET /v1/search/slots`); absent or null: none.
    #[serde(default)]
    #[schema(required = false)]
    pub attributes: Option<AttributesDto>,
    /// What a booking asks (its `fields`): a JSON Schema of an object whose
    /// properties are strings, numbers, integers, booleans or `enum`s, with
    /// `required` and the usual bounds (`minLength`, `maxLength`,
    /// `pattern`, `minimum`, `maximum`, `exclusiveMinimum`,
    /// `exclusiveMaximum`, `multipleOf`); absent or null: bookings take no
    /// fields.
    #[serde(default)]
    #[schema(required = false, value_type = Option<Object>,
        example = json!({"type": "object", "required": ["party_size"], "properties": {"party_size": {"type": "integer", "minimum": 1, "maximum": 12}}}))]
    pub booking_fields: Option<serde_json::Value>,
}

/// Changes to a resource; absent fields stay as they are, `description: null`
/// clears the description.
#[derive(Clone, Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateResourceRequest {
    #[serde(default, deserialize_with = "non_null")]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"), custom(function = not_blank))]
    #[schema(value_type = String, required = false, pattern = "^[^\\u0000]*$", min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 2000, message = "must be at most 2000 characters"), custom(function = no_nul))]
    #[schema(value_type = Option<String>, required = false, pattern = "^[^\\u0000]*$", max_length = 2000)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "non_null")]
    #[validate(range(min = 1, max = 1_000_000, message = "must be between 1 and 1000000"))]
    #[schema(value_type = i32, required = false, minimum = 1, maximum = 1_000_000)]
    pub capacity: Option<i32>,
    #[serde(default, deserialize_with = "non_null")]
    #[validate(custom(function = valid_time_zone))]
    #[schema(value_type = String, required = false, pattern = "^[A-Za-z0-9_+/-]+$", max_length = 64)]
    pub time_zone: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = bool, required = false)]
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "non_null")]
    #[validate(range(min = 30, max = 86_400, message = "must be between 30 and 86400"))]
    #[schema(value_type = i32, required = false, minimum = 30, maximum = 86_400)]
    pub hold_ttl_seconds: Option<i32>,
    #[serde(default, deserialize_with = "non_null")]
    #[validate(range(min = 60, max = 31_622_400, message = "must be between 60 and 31622400"))]
    #[schema(value_type = i64, required = false, minimum = 60, maximum = 31_622_400)]
    pub max_booking_duration_seconds: Option<i64>,
    /// Merged into the current schedule (RFC 7396: absent members stay,
    /// `null` removes them, lists are replaced whole); `null` removes the
    /// schedule (always open).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<ScheduleDto>, required = false)]
    pub schedule: Option<Option<serde_json::Value>>,
    /// Merged into the current policy like `schedule`; `null` removes
    /// every rule.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<PolicyDto>, required = false)]
    pub policy: Option<Option<serde_json::Value>>,
    /// Merged into the current attributes (RFC 7396: a key set to `null`
    /// is removed, the others set); `null` removes every one.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<AttributesDto>, required = false)]
    pub attributes: Option<Option<serde_json::Value>>,
    /// Replaces the schema of what a booking asks (not merged); `null`
    /// removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>, required = false)]
    pub booking_fields: Option<Option<serde_json::Value>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceResponse {
    pub id: Uuid,
    #[schema(pattern = "^[^\\u0000]*$", min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(pattern = "^[^\\u0000]*$", max_length = 2000)]
    pub description: Option<String>,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub capacity: i32,
    /// IANA time zone name.
    #[schema(pattern = "^[A-Za-z0-9_+/-]+$", max_length = 64)]
    pub time_zone: String,
    pub active: bool,
    #[schema(minimum = 30, maximum = 86_400)]
    pub hold_ttl_seconds: i32,
    #[schema(minimum = 60, maximum = 31_622_400)]
    pub max_booking_duration_seconds: i64,
    /// Opening hours; null: always open.
    pub schedule: Option<ScheduleDto>,
    /// Booking rules; null: none.
    pub policy: Option<PolicyDto>,
    /// What search filters on; `{}` when none.
    pub attributes: AttributesDto,
    /// The JSON Schema a booking's `fields` must satisfy; null: bookings
    /// take no fields.
    #[schema(value_type = Option<Object>)]
    pub booking_fields: Option<serde_json::Value>,
    /// Row version; the ETag is this number in quotes.
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One page of resources.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourcePage {
    #[schema(max_items = 200)]
    pub items: Vec<ResourceResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$", max_length = 22)]
    pub next_cursor: Option<String>,
}

impl From<&Resource> for ResourceResponse {
    fn from(r: &Resource) -> Self {
        Self {
            id: r.id.0,
            name: r.name.clone(),
            description: r.description.clone(),
            capacity: r.capacity,
            time_zone: r.time_zone.name().to_owned(),
            active: r.active,
            hold_ttl_seconds: r.hold_ttl_seconds,
            max_booking_duration_seconds: r.max_booking_duration_seconds,
            schedule: r.schedule.as_ref().map(ScheduleDto::from),
            policy: policy_dto(&r.policy),
            attributes: AttributesDto::of(&r.attributes),
            booking_fields: r.booking_fields.as_deref().and_then(|text| serde_json::from_str(text).ok()),
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl CreateResourceRequest {
    /// The domain request; a schedule that breaks its rules is a 422.
    pub fn into_domain(self) -> Result<NewResource, Problem> {
        Ok(NewResource {
            name: self.name.trim().to_owned(),
            description: self.description,
            capacity: self.capacity,
            time_zone: zone(&self.time_zone),
            active: self.active,
            hold_ttl_seconds: self.hold_ttl_seconds,
            max_booking_duration_seconds: self.max_booking_duration_seconds,
            schedule: self.schedule.map(ScheduleDto::into_domain).transpose()?,
            policy: self.policy.map(Into::into).unwrap_or_default(),
            attributes: self.attributes.map(AttributesDto::into_domain).transpose()?.unwrap_or_default(),
            booking_fields: self.booking_fields.as_ref().map(fields_schema).transpose()?,
        })
    }
}

impl UpdateResourceRequest {
    /// The domain changes; `schedule` and `policy` are merged into
    /// `current`'s.
    pub fn into_domain(self, current: &Resource) -> Result<ResourceChanges, Problem> {
        Ok(ResourceChanges {
            name: self.name.map(|n| n.trim().to_owned()),
            description: self.description,
            capacity: self.capacity,
            time_zone: self.time_zone.as_deref().map(zone),
            active: self.active,
            hold_ttl_seconds: self.hold_ttl_seconds,
            max_booking_duration_seconds: self.max_booking_duration_seconds,
            schedule: self
                .schedule
                .map(|patch| patched_schedule(current.schedule.as_ref(), patch.unwrap_or_default()))
                .transpose()?,
            policy: self.policy.map(|patch| patched_policy(&current.policy, patch.unwrap_or_default())).transpose()?,
            attributes: self
                .attributes
                .map(|patch| attributes::patched(&current.attributes, patch.unwrap_or_default()))
                .transpose()?,
            booking_fields: self
                .booking_fields
                .map(|schema| schema.as_ref().map(fields_schema).transpose())
                .transpose()?,
        })
    }
}

/// A booking-fields schema as stored, or a 422 at every place in
/// `/booking_fields` where it leaves the subset berth takes.
fn fields_schema(schema: &serde_json::Value) -> Result<String, Problem> {
    let problems = crate::service::fields::schema_problems(schema);
    if problems.is_empty() {
        return Ok(schema.to_string());
    }
    Err(Problem::validation(
        problems
            .into_iter()
            .map(|(at, detail)| crate::http::problem::FieldError { pointer: format!("/booking_fields{at}"), detail })
            .collect(),
    ))
}

/// A validated IANA name (`valid_time_zone` ran first).
fn zone(name: &str) -> chrono_tz::Tz {
    name.parse().unwrap_or(resource::DEFAULT_TIME_ZONE)
}

#[cfg(test)]
mod tests {
    /// The spec's `time_zone` (pattern and maxLength) admits every name.
    #[test]
    fn every_iana_name_fits_the_declared_pattern_and_length() {
        for zone in chrono_tz::TZ_VARIANTS {
            let name = zone.name();
            assert!(name.len() <= 64, "{name}");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "_+/-".contains(c)), "{name}");
        }
    }
}
