//! `GET /v1/events`: the outbox as an ordered, durable feed (admins), and
//! the representations events carry (the API's own shapes, so a consumer
//! parses a `booking.confirmed` event's `data.booking` like a `GET
//! /v1/bookings/{id}`).

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

use super::{
    AppState, auth::Admin, bookings::dto::BookingResponse, extract::ApiQuery, groups::GroupResponse, problem::Problem,
    resources::dto::ResourceResponse, series::SeriesResponse, waitlist::WaitlistEntryResponse,
    webhooks::WebhookResponse,
};
use crate::domain::{
    booking::Booking, group::Group, resource::Resource, series::Series, waitlist::Entry, webhook::Endpoint,
};
use crate::problems;
use crate::service::events::{self as service, EventType, Represent};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

/// What events carry: the objects as the API shows them.
pub struct Representations;

impl Represent for Representations {
    fn booking(&self, booking: &Booking) -> Value {
        serde_json::to_value(BookingResponse::from(booking)).unwrap_or(Value::Null)
    }
    fn resource(&self, resource: &Resource) -> Value {
        serde_json::to_value(ResourceResponse::from(resource)).unwrap_or(Value::Null)
    }
    fn group(&self, group: &Group) -> Value {
        serde_json::to_value(GroupResponse::from(group)).unwrap_or(Value::Null)
    }
    /// Without its URL (which may carry a token of its own) and secret:
    /// other endpoints receive this.
    fn series(&self, series: &Series) -> Value {
        serde_json::to_value(SeriesResponse::new(series)).unwrap_or(Value::Null)
    }
    fn waitlist_entry(&self, entry: &Entry) -> Value {
        serde_json::to_value(WaitlistEntryResponse::new(entry, None)).unwrap_or(Value::Null)
    }
    fn webhook(&self, endpoint: &Endpoint) -> Value {
        let mut shown = serde_json::to_value(WebhookResponse::from(endpoint)).unwrap_or(Value::Null);
        if let Some(fields) = shown.as_object_mut() {
            fields.remove("url");
        }
        shown
    }
}

/// Where to read from, how much, and what.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// `next_cursor` of the previous page; from the oldest kept event when
    /// absent.
    #[param(pattern = "^[0-9]{1,19}$", max_length = 19)]
    pub after: Option<String>,
    /// Page size.
    #[validate(range(min = 1, max = 500, message = "must be between 1 and 500"))]
    #[param(minimum = 1, maximum = 500, default = 100)]
    pub limit: Option<u32>,
    /// Only these types, comma-separated (`booking.created,booking.cancelled`).
    #[param(
        pattern = r"^(booking\.(created|pending|approved|declined|confirmed|cancelled|expired|checked_in|completed|no_show|rescheduled|reassigned)|(resource|group)\.(created|updated|deleted)|webhook\.disabled|waitlist\.(joined|offered|accepted|declined|expired|left|lapsed)|series\.(created|cancelled))(,(booking\.(created|pending|approved|declined|confirmed|cancelled|expired|checked_in|completed|no_show|rescheduled|reassigned)|(resource|group)\.(created|updated|deleted)|webhook\.disabled|waitlist\.(joined|offered|accepted|declined|expired|left|lapsed)|series\.(created|cancelled)))*$",
        max_length = 512
    )]
    pub types: Option<String>,
}

/// One change.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventResponse {
    /// Its place in the feed: unique, increasing, never reused.
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    pub position: i64,
    /// `booking.created`, `booking.pending`, `booking.approved`,
    /// `booking.declined`, `booking.confirmed`, `booking.cancelled`,
    /// `booking.expired`, `booking.checked_in`, `booking.completed`,
    /// `booking.no_show`, `booking.rescheduled`, `booking.reassigned`,
    /// `resource.created|updated|deleted`, `group.created|updated|deleted`,
    /// `webhook.disabled`,
    /// `waitlist.joined|offered|accepted|declined|expired|left|lapsed`,
    /// `series.created|cancelled`.
    #[schema(pattern = "^[a-z_]+\\.[a-z_]+$", max_length = 32, example = "booking.confirmed")]
    pub r#type: String,
    /// The booking, resource, group, webhook endpoint or waiting-list entry
    /// it is about.
    pub subject_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// `booking` / `resource` / `group` as `GET` would show it then (for a
    /// deletion: as it was; `webhook` without its `url`), `actor` (`sub`,
    /// `role`), `request_id`; for
    /// bookings `previous_status` (null when created), for
    /// `booking.reassigned` the `previous_resource_id` it moved from, and
    /// for a booking offered from a waiting list its `waitlist_entry_id`;
    /// `waitlist_entry` for `waitlist.*` (as `GET` shows it, without its
    /// `position`).
    #[schema(value_type = Object)]
    pub data: Value,
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// In feed order; at most `limit`.
    #[schema(max_items = 500)]
    pub items: Vec<EventResponse>,
    /// Pass as `after` for what comes next; never null (poll with it).
    #[schema(pattern = "^[0-9]{1,19}$", max_length = 19)]
    pub next_cursor: String,
}

problems!(ListEventsErrors, api: Forbidden, ValidationError);

/// The event feed
///
/// Every change (bookings, resources, groups), written in the transaction
/// that made it, in one order: following `next_cursor` sees every
/// committed event exactly once, and a booking's events in the order they
/// happened. Events are kept for `BERTH_EVENT_RETENTION_HOURS` (7 days by
/// default). Admins only.
#[utoipa::path(
    get, path = "/v1/events", tag = "events", security(("bearer_auth" = [])),
    params(EventsQuery),
    responses((status = 200, description = "A page of events", body = EventPage), ListEventsErrors)
)]
pub async fn list_events(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<EventPage>, Problem> {
    let after = match query.after.as_deref() {
        None => 0,
        Some(text) => text.parse::<i64>().map_err(|_| Problem::invalid("/after", "is not a cursor of this feed"))?,
    };
    let types = match query.types.as_deref() {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|name| {
                EventType::parse(name).ok_or_else(|| Problem::invalid("/types", format!("unknown type {name}")))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let limit = u64::from(query.limit.unwrap_or(100));
    let page = service::feed(&state.db, after, limit, &types).await?;
    let next_cursor = page.next_after.to_string();
    let items = page
        .events
        .into_iter()
        .map(|e| EventResponse {
            position: e.position,
            r#type: e.event_type,
            subject_id: e.subject_id,
            occurred_at: e.occurred_at,
            data: e.data,
        })
        .collect();
    Ok(Json(EventPage { items, next_cursor }))
}

#[cfg(test)]
mod tests {
    use utoipa::IntoParams;

    use super::*;

    /// The spec's pattern for `types` admits every type and nothing else.
    #[test]
    fn the_types_pattern_is_the_list_of_types() {
        let params = EventsQuery::into_params(|| None);
        let types = params.iter().find(|p| p.name == "types").unwrap();
        let schema = serde_json::to_value(&types.schema).unwrap();
        let pattern = regex::Regex::new(schema["pattern"].as_str().unwrap()).unwrap();
        for event in EventType::ALL {
            assert!(pattern.is_match(event.as_str()), "{}", event.as_str());
        }
        assert!(pattern.is_match("booking.created,group.deleted"));
        for wrong in ["_", "booking.teleported", "booking.created,", ",booking.created", "booking.createdx"] {
            assert!(!pattern.is_match(wrong), "{wrong}");
        }
    }
}
