//! The operations of `/v1/webhooks`.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use uuid::Uuid;

use super::dto::*;
use crate::domain::{
    ids::WebhookId,
    webhook::{Endpoint, EndpointChanges, NewEndpoint},
};
use crate::http::{
    AppState,
    auth::Admin,
    extract::{ApiJson, ApiPath, ApiQuery, RawBody, parse_json},
    idempotency::Keyed,
    pagination::{DEFAULT_LIMIT, PageQuery, cut, paginate},
    precondition::IfMatch,
    problem::Problem,
    reply,
};
use crate::problems;
use crate::service::webhooks as service;

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
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    let rows =
        service::deliveries(&state.db, WebhookId(id), before, query.status.map(Into::into), u64::from(limit) + 1)
            .await?;
    let (rows, next_cursor) = cut(rows, limit, |d| d.id.to_string());
    Ok(Json(DeliveryPage { items: rows.iter().map(Into::into).collect(), next_cursor }))
}
