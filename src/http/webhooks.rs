//! `/v1/webhooks` (admins): register endpoints that receive events, read,
//! list, change (`If-Match`), delete (`If-Match`), and each endpoint's
//! delivery log. The signing secret is in the answer to the registration
//! only. What is sent is described in the spec's `webhooks` section
//! (`WebhookDocs`); sending is `service::deliveries`.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{
    IntoParams, Modify, ToSchema,
    openapi::{
        Content, HttpMethod, ObjectBuilder, Ref, ResponseBuilder, Type,
        path::{OperationBuilder, ParameterBuilder, ParameterIn},
        request_body::RequestBodyBuilder,
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

use super::{
    AppState,
    auth::Admin,
    extract::{ApiJson, ApiPath, ApiQuery, RawBody, parse_json},
    fields::{no_nul, non_null, nullable},
    idempotency::Keyed,
    pagination::{PageQuery, paginate},
    precondition::IfMatch,
    problem::Problem,
    reply,
};
use crate::domain::{
    event::EventType,
    ids::WebhookId,
    webhook::{Delivery, DeliveryStatus, Endpoint, EndpointChanges, NewEndpoint, message_id},
};
use crate::problems;
use crate::service::webhooks as service;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(list_deliveries))
}

macro_rules! event_type_names {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// An event type.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        pub enum EventTypeName {
            $(#[serde(rename = $name)] $variant),*
        }

        impl From<EventTypeName> for EventType {
            fn from(name: EventTypeName) -> Self {
                match name { $(EventTypeName::$variant => EventType::$variant),* }
            }
        }

        impl From<EventType> for EventTypeName {
            fn from(event: EventType) -> Self {
                match event { $(EventType::$variant => EventTypeName::$variant),* }
            }
        }
    };
}

event_type_names! {
    BookingCreated => "booking.created",
    BookingConfirmed => "booking.confirmed",
    BookingCancelled => "booking.cancelled",
    BookingExpired => "booking.expired",
    BookingCheckedIn => "booking.checked_in",
    BookingCompleted => "booking.completed",
    BookingNoShow => "booking.no_show",
    BookingRescheduled => "booking.rescheduled",
    BookingReassigned => "booking.reassigned",
    ResourceCreated => "resource.created",
    ResourceUpdated => "resource.updated",
    ResourceDeleted => "resource.deleted",
    GroupCreated => "group.created",
    GroupUpdated => "group.updated",
    GroupDeleted => "group.deleted",
    WebhookDisabled => "webhook.disabled",
}

fn event_types(names: Vec<EventTypeName>) -> Vec<EventType> {
    let mut types: Vec<EventType> = Vec::new();
    for name in names {
        let event = EventType::from(name);
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
            types: e.types.iter().copied().map(Into::into).collect(),
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

fn answer(endpoint: &Endpoint) -> Response {
    reply::send(&reply::object(endpoint.version, &WebhookResponse::from(endpoint)))
}

problems!(CreateWebhookErrors, api: Forbidden, MalformedRequest, UnsupportedMediaType, PayloadTooLarge, ValidationError);
problems!(ListWebhooksErrors, api: Forbidden, ValidationError);
problems!(GetWebhookErrors, api: Forbidden, NotFound);
problems!(UpdateWebhookErrors, api: Forbidden, MalformedRequest, NotFound, PreconditionFailed, PreconditionRequired, UnsupportedMediaType, PayloadTooLarge, ValidationError);
problems!(DeleteWebhookErrors, api: Forbidden, MalformedRequest, NotFound, PreconditionFailed, PreconditionRequired);
problems!(ListDeliveriesErrors, api: Forbidden, NotFound, ValidationError);

/// Register a webhook endpoint
///
/// berth POSTs every event of the listed types (all when none are listed)
/// that happens from now on to `url`, signed as Standard Webhooks
/// describes (headers `webhook-id`, `webhook-timestamp`,
/// `webhook-signature`; see the spec's `webhooks` section), at least once,
/// in feed order, retried with exponential backoff while it fails; an
/// endpoint failing for `BERTH_WEBHOOK_DISABLE_AFTER_SECONDS` (a day by
/// default) is switched off (a `webhook.disabled` event). The URL is kept
/// as parsed (scheme and host lower-cased, unsafe characters
/// percent-encoded). The answer carries the signing secret, shown only here. A URL
/// berth may not send to (not `https`, a loopback, private or link-local
/// address) is a 422 at `/url`. Admins only.
#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks", security(("bearer_auth" = [])),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Registered; the secret is shown this once", body = CreatedWebhookResponse,
            headers(("Location" = String, description = "URL of the new endpoint"), ("ETag" = String, description = "Strong validator of this version"))),
        CreateWebhookErrors,
    )
)]
pub async fn create_webhook(
    State(state): State<AppState>,
    Admin(_ctx): Admin,
    keyed: Keyed,
    ApiJson(request): ApiJson<CreateWebhookRequest>,
) -> Result<Response, Problem> {
    let created = |e: &Endpoint| {
        let body = CreatedWebhookResponse { webhook: e.into(), secret: e.secret.clone() };
        reply::created(state.location(&format!("/v1/webhooks/{}", e.id)), e.version, &body)
    };
    let new = NewEndpoint {
        url: request.url,
        description: request.description,
        types: event_types(request.types),
        enabled: request.enabled,
    };
    keyed.write(created, async |seal| service::create(&state.db, &state.webhook_targets, new, seal).await).await
}

/// List webhook endpoints
///
/// In registration order, one page at a time; never with their secrets.
/// Admins only.
#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks", security(("bearer_auth" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of endpoints", body = WebhookPage), ListWebhooksErrors)
)]
pub async fn list_webhooks(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<WebhookPage>, Problem> {
    let after = page.after()?.map(WebhookId);
    let rows = service::list(&state.db, after, u64::from(page.limit()) + 1).await?;
    let (rows, next_cursor) = paginate(rows, page.limit(), |e| e.id.0);
    Ok(Json(WebhookPage { items: rows.iter().map(Into::into).collect(), next_cursor }))
}

/// Get a webhook endpoint
///
/// Without its secret. Admins only.
#[utoipa::path(
    get, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer_auth" = [])),
    params(("id" = Uuid, Path, description = "Webhook endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookResponse,
            headers(("ETag" = String, description = "Strong validator of this version"))),
        GetWebhookErrors,
    )
)]
pub async fn get_webhook(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, Problem> {
    Ok(answer(&service::get(&state.db, WebhookId(id)).await?))
}

/// Update a webhook endpoint
///
/// Changes the given fields. `enabled: false` switches it off and gives
/// up its pending deliveries; `enabled: true` switches it on again, with
/// the events from then on (and clears `failing_since`). Requires
/// `If-Match`. Admins only.
#[utoipa::path(
    patch, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Webhook endpoint id"),
        ("If-Match" = String, Header, description = "ETag of the version you read, or `*`"),
    ),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, description = "Updated", body = WebhookResponse,
            headers(("ETag" = String, description = "Strong validator of the new version"))),
        UpdateWebhookErrors,
    )
)]
pub async fn update_webhook(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, Problem> {
    let id = WebhookId(id);
    let if_match = IfMatch::from_headers(&headers)?;
    let current = service::get(&state.db, id).await?;
    if_match.require(current.version)?;
    let request: UpdateWebhookRequest = parse_json(&headers, &body)?;
    let changes = EndpointChanges {
        url: request.url,
        description: request.description,
        types: request.types.map(event_types),
        enabled: request.enabled,
    };
    let updated = service::update(&state.db, &state.webhook_targets, id, &if_match.expected(), changes).await?;
    Ok(answer(&updated))
}

/// Delete a webhook endpoint
///
/// With its delivery log; nothing more is sent to it. Requires
/// `If-Match`. Admins only.
#[utoipa::path(
    delete, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Webhook endpoint id"),
        ("If-Match" = String, Header, description = "ETag of the version you read, or `*`"),
    ),
    responses((status = 204, description = "Deleted"), DeleteWebhookErrors)
)]
pub async fn delete_webhook(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let id = WebhookId(id);
    let if_match = IfMatch::from_headers(&headers)?;
    let current = service::get(&state.db, id).await?;
    if_match.require(current.version)?;
    service::delete(&state.db, id, &if_match.expected()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's delivery log
///
/// Every event made for this endpoint, newest first: its status, how many
/// attempts, the last answer or error, when it is tried next. Kept for
/// `BERTH_EVENT_RETENTION_HOURS` once finished. Admins only.
#[utoipa::path(
    get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer_auth" = [])),
    params(("id" = Uuid, Path, description = "Webhook endpoint id"), DeliveriesQuery),
    responses((status = 200, description = "A page of deliveries", body = DeliveryPage), ListDeliveriesErrors)
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> Result<Json<DeliveryPage>, Problem> {
    let before = match query.cursor.as_deref() {
        None => None,
        Some(text) => Some(
            text.parse::<i64>().map_err(|_| Problem::invalid("/cursor", "is not a cursor returned by this list"))?,
        ),
    };
    let limit = query.limit.unwrap_or(50);
    let mut rows =
        service::deliveries(&state.db, WebhookId(id), before, query.status.map(Into::into), u64::from(limit) + 1)
            .await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|d| d.id.to_string())
    } else {
        None
    };
    Ok(Json(DeliveryPage { items: rows.iter().map(Into::into).collect(), next_cursor }))
}

/// The spec's `webhooks` section: what berth POSTs for each event type.
pub struct WebhookDocs;

impl Modify for WebhookDocs {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let header = |name: &str, description: &str, pattern: &str, max: usize| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .required(utoipa::openapi::Required::True)
                .description(Some(description))
                .schema(Some(
                    ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)).max_length(Some(max)),
                ))
                .build()
        };
        let mut webhooks = utoipa::openapi::Paths::new();
        for event in EventType::ALL {
            let operation = OperationBuilder::new()
                .summary(Some(format!("`{}`", event.as_str())))
                .description(Some(format!(
                    "Sent for every `{}` event to each switched-on endpoint that wants it: the event as \
                     `GET /v1/events` lists it. Answer 2xx within `BERTH_WEBHOOK_TIMEOUT_MS` to accept it; \
                     anything else (or no answer) is retried with exponential backoff, and the next events \
                     for your endpoint wait until it is accepted. Verify `webhook-signature` before you trust \
                     the body, and drop repeats by `webhook-id`.",
                    event.as_str()
                )))
                .operation_id(Some(format!("webhook_{}", event.as_str().replace('.', "_"))))
                .tag("webhooks")
                // No bearer token: the receiver authenticates berth by the
                // signature.
                .securities(Some([utoipa::openapi::security::SecurityRequirement::default()]))
                .parameter(header(
                    "webhook-id",
                    "The message id, `msg_` and the event's feed position: the same on every attempt.",
                    "^msg_[0-9]{1,19}$",
                    23,
                ))
                .parameter(header(
                    "webhook-timestamp",
                    "Unix seconds when the attempt was made; reject old ones to stop replays.",
                    "^[0-9]{1,12}$",
                    12,
                ))
                .parameter(header(
                    "webhook-signature",
                    "`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`, keyed \
                     with the base64-decoded secret after `whsec_`.",
                    "^v1,[A-Za-z0-9+/]{43}=$",
                    47,
                ))
                .request_body(Some(
                    RequestBodyBuilder::new()
                        .content("application/json", Content::new(Some(Ref::from_schema_name("EventResponse"))))
                        .required(Some(utoipa::openapi::Required::True))
                        .build(),
                ))
                .response("2XX", ResponseBuilder::new().description("Accepted: not sent again").build())
                .response("default", ResponseBuilder::new().description("Not accepted: retried later").build())
                .build();
            webhooks.add_path_operation(event.as_str(), vec![HttpMethod::Post], operation);
        }
        openapi.webhooks = Some(webhooks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_has_a_name_in_the_spec() {
        for event in EventType::ALL {
            let name = EventTypeName::from(*event);
            assert_eq!(EventType::from(name), *event);
            assert_eq!(serde_json::to_value(name).unwrap(), event.as_str());
        }
    }
}
