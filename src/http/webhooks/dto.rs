//! The wire shapes of `/v1/webhooks`: requests, responses, the event type
//! names, the delivery log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::domain::{
    event::EventType,
    webhook::{Delivery, DeliveryStatus, Endpoint, message_id},
};
use crate::http::fields::{no_nul, non_null, nullable};

/// An event type as the API spells it (`booking.created`). Its spec enum
/// is the domain's list itself, so the spec and the wire cannot disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventTypeName(pub EventType);

impl Serialize for EventTypeName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for EventTypeName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        EventType::parse(&name)
            .map(EventTypeName)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown event type `{name}`")))
    }
}

impl utoipa::PartialSchema for EventTypeName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .description(Some("An event type."))
            .enum_values(Some(EventType::ALL.iter().map(|event| event.as_str())))
            .into()
    }
}

impl ToSchema for EventTypeName {}

pub fn event_types(names: Vec<EventTypeName>) -> Vec<EventType> {
    let mut types: Vec<EventType> = Vec::new();
    for name in names {
        let event = name.0;
        if !types.contains(&event) {
            types.push(event);
        }
    }
    types
}

/// A new endpoint.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where to POST events: `https`, a public address (unless berth is
    /// configured with `BERTH_WEBHOOK_ALLOW_HTTP` / `..._ALLOW_PRIVATE`),
    /// no user name or password.
    #[validate(length(min = 1, max = 2048, message = "must be 1 to 2048 characters"), custom(function = no_nul))]
    #[schema(pattern = "^https?://\\S+$", max_length = 2048, example = "https://hooks.example.com/berth")]
    pub url: String,
    /// What it is for.
    #[validate(length(max = 500, message = "must be at most 500 characters"), custom(function = no_nul))]
    #[schema(pattern = "^[^\\u0000]*$", max_length = 500)]
    pub description: Option<String>,
    /// The event types it receives; absent or empty: all of them.
    #[serde(default)]
    #[validate(length(max = 16, message = "must list at most 16 types"))]
    #[schema(max_items = 16)]
    pub types: Vec<EventTypeName>,
    /// Switched on (the default): it receives events from now on.
    #[serde(default = "switched_on")]
    #[schema(default = true)]
    pub enabled: bool,
}

fn switched_on() -> bool {
    true
}

/// Changes to an endpoint; absent fields stay as they are.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[serde(default, deserialize_with = "non_null")]
    #[validate(length(min = 1, max = 2048, message = "must be 1 to 2048 characters"), custom(function = no_nul))]
    #[schema(value_type = String, pattern = "^https?://\\S+$", required = false, max_length = 2048)]
    pub url: Option<String>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 500, message = "must be at most 500 characters"), custom(function = no_nul))]
    #[schema(value_type = Option<String>, required = false, pattern = "^[^\\u0000]*$", max_length = 500)]
    pub description: Option<Option<String>>,
    /// Replaces the list; empty: all types.
    #[serde(default, deserialize_with = "non_null")]
    #[validate(length(max = 16, message = "must list at most 16 types"))]
    #[schema(value_type = Vec<EventTypeName>, required = false, max_items = 16)]
    pub types: Option<Vec<EventTypeName>>,
    /// `false` switches it off (pending deliveries are given up); `true`
    /// switches it on again, receiving events from then on.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = bool, required = false)]
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookResponse {
    pub id: Uuid,
    #[schema(pattern = "^https?://\\S+$", max_length = 2048)]
    pub url: String,
    #[schema(pattern = "^[^\\u0000]*$", max_length = 500)]
    pub description: Option<String>,
    /// Empty: every type.
    #[schema(max_items = 16)]
    pub types: Vec<EventTypeName>,
    pub enabled: bool,
    /// When it was switched off, by an admin or after failing for
    /// `BERTH_WEBHOOK_DISABLE_AFTER_SECONDS`.
    pub disabled_at: Option<DateTime<Utc>>,
    /// The first failed attempt since the last delivered one.
    pub failing_since: Option<DateTime<Utc>>,
    /// Row version; the ETag is this number in quotes.
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Endpoint> for WebhookResponse {
    fn from(e: &Endpoint) -> Self {
        Self {
            id: e.id.0,
            url: e.url.clone(),
            description: e.description.clone(),
            types: e.types.iter().copied().map(EventTypeName).collect(),
            enabled: e.enabled,
            disabled_at: e.disabled_at,
            failing_since: e.failing_since,
            version: e.version,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// A registered endpoint with its signing secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhookResponse {
    #[serde(flatten)]
    pub webhook: WebhookResponse,
    /// The Standard Webhooks signing secret: `whsec_` and the base64 of 32
    /// bytes. Verify `webhook-signature` with it; berth never shows it
    /// again.
    #[schema(pattern = "^whsec_[A-Za-z0-9+/]{43}=$", max_length = 50)]
    pub secret: String,
}

/// One page of endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookPage {
    #[schema(max_items = 200)]
    pub items: Vec<WebhookResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$", max_length = 22)]
    pub next_cursor: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatusDto {
    /// Not accepted yet; tried again at `next_attempt_at`.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up: the endpoint was switched off first.
    Failed,
}

impl From<DeliveryStatus> for DeliveryStatusDto {
    fn from(s: DeliveryStatus) -> Self {
        match s {
            DeliveryStatus::Pending => Self::Pending,
            DeliveryStatus::Delivered => Self::Delivered,
            DeliveryStatus::Failed => Self::Failed,
        }
    }
}

impl From<DeliveryStatusDto> for DeliveryStatus {
    fn from(s: DeliveryStatusDto) -> Self {
        match s {
            DeliveryStatusDto::Pending => Self::Pending,
            DeliveryStatusDto::Delivered => Self::Delivered,
            DeliveryStatusDto::Failed => Self::Failed,
        }
    }
}

/// One event for this endpoint and how its sending went.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryResponse {
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    pub id: i64,
    /// The `webhook-id` header it is sent with (the same on every attempt).
    #[schema(pattern = "^msg_[0-9]{1,19}$", max_length = 23)]
    pub message_id: String,
    /// The event's position in `GET /v1/events`.
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    pub position: i64,
    #[schema(pattern = "^[a-z_]+\\.[a-z_]+$", max_length = 32, example = "booking.confirmed")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub status: DeliveryStatusDto,
    /// Attempts started (one may be under way: its outcome is not in
    /// `last_*` yet).
    #[schema(minimum = 0, maximum = 2_147_483_647)]
    pub attempts: u32,
    /// While pending: when it is tried next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status the endpoint last answered with.
    #[schema(minimum = 100, maximum = 999)]
    pub last_status: Option<u16>,
    /// Why the last attempt got no answer (timeout, connection, a target
    /// the guard refused).
    #[schema(pattern = "^[^\\u0000]*$", max_length = 500)]
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<&Delivery> for DeliveryResponse {
    fn from(d: &Delivery) -> Self {
        Self {
            id: d.id,
            message_id: message_id(d.position),
            position: d.position,
            event_type: d.event_type.clone(),
            occurred_at: d.occurred_at,
            status: d.status.into(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_attempt_at: d.last_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            delivered_at: d.delivered_at,
            created_at: d.created_at,
        }
    }
}

/// A page of a delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// Newest first.
    #[schema(max_items = 200)]
    pub items: Vec<DeliveryResponse>,
    /// Pass as `cursor` for older deliveries; null on the last page.
    #[schema(pattern = "^[0-9]{1,19}$", max_length = 19)]
    pub next_cursor: Option<String>,
}

/// Which deliveries, how many.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Page size.
    #[validate(range(min = 1, max = 200, message = "must be between 1 and 200"))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,19}$", max_length = 19)]
    pub cursor: Option<String>,
    /// Only deliveries in this state.
    pub status: Option<DeliveryStatusDto>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_has_a_name_in_the_spec() {
        for event in EventType::ALL {
            let name = EventTypeName(*event);
            let json = serde_json::to_value(name).unwrap();
            assert_eq!(json, event.as_str());
            assert_eq!(serde_json::from_value::<EventTypeName>(json).unwrap(), name);
        }
        let schema = serde_json::to_value(<EventTypeName as utoipa::PartialSchema>::schema()).unwrap();
        let names: Vec<&str> = EventType::ALL.iter().map(|event| event.as_str()).collect();
        assert_eq!(schema["enum"], serde_json::json!(names), "the spec lists the names sent on the wire");
        assert!(serde_json::from_value::<EventTypeName>(serde_json::json!("BookingCreated")).is_err());
    }
}
