//! Calendar feeds (docs/design.md §28): `POST .../calendar-token` makes a
//! feed token (shown once, in the feed's URL; a new one revokes the old),
//! `GET .../calendar.ics?token=` is the feed, `text/calendar`, with a
//! strong `ETag` and 304 for `If-None-Match`. Any wrong, revoked or
//! missing token is 404: a feed URL reveals nothing.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

use super::{
    AppState,
    auth::SignedIn,
    extract::{ApiPath, ApiQuery},
    precondition::none_match,
    problem::Problem,
};
use crate::domain::ids::{CustomerId, ResourceId};
use crate::problems;
use crate::service::feeds::{self as service, Owner};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(resource_calendar_token))
        .routes(routes!(customer_calendar_token))
        .routes(routes!(resource_calendar))
        .routes(routes!(customer_calendar))
}

/// A feed: iCalendar text (RFC 5545).
pub struct CalendarText;

impl utoipa::PartialSchema for CalendarText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .description(Some("An iCalendar stream (RFC 5545): one VCALENDAR, one VEVENT per booking."))
            .pattern(Some("^BEGIN:VCALENDAR\\r\\n"))
            .max_length(Some(16_000_000))
            .into()
    }
}

impl ToSchema for CalendarText {}

/// A new feed token, in the URL a calendar app subscribes to.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedToken {
    /// The feed's URL, token included: shown this once (only its hash is
    /// kept). Making another revokes this one. Absolute when berth knows
    /// its public URL (`BERTH_PUBLIC_URL`), else a path.
    #[schema(
        pattern = "^(https?://\\S+|/\\S+)$",
        max_length = 2048,
        example = "https://berth.example/v1/resources/0190.../calendar.ics?token=3q2-7w..."
    )]
    pub url: String,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The feed token from `calendar-token`.
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$", max_length = 64)]
    pub token: Option<String>,
}

problems!(FeedTokenErrors, api: Unauthenticated, Forbidden, NotFound);
problems!(FeedErrors, api: MalformedRequest, NotFound);

/// Make a resource's feed token
///
/// Admins. Answers the feed's URL with a new token, once; the resource's
/// previous token stops working at once.
#[utoipa::path(
    post, path = "/v1/resources/{id}/calendar-token", tag = "resources", security(("bearer_auth" = [])),
    params(("id" = Uuid, Path, description = "Resource id")),
    responses((status = 201, description = "The feed's URL, with its token", body = FeedToken), FeedTokenErrors)
)]
pub async fn resource_calendar_token(
    State(state): State<AppState>,
    who: SignedIn,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, Problem> {
    who.admin()?;
    let token = service::issue(&state.db, Owner::Resource(ResourceId(id))).await?;
    Ok(issued(&state, &format!("/v1/resources/{id}/calendar.ics"), &token))
}

/// Make a customer's feed token
///
/// Admins, or the customer itself. Answers the feed's URL with a new
/// token, once; the customer's previous token stops working at once.
#[utoipa::path(
    post, path = "/v1/customers/{id}/calendar-token", tag = "customers", security(("bearer_auth" = [])),
    params(("id" = Uuid, Path, description = "Customer id")),
    responses((status = 201, description = "The feed's URL, with its token", body = FeedToken), FeedTokenErrors)
)]
pub async fn customer_calendar_token(
    State(state): State<AppState>,
    who: SignedIn,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, Problem> {
    who.admin_or_self(CustomerId(id))?;
    let token = service::issue(&state.db, Owner::Customer(CustomerId(id))).await?;
    Ok(issued(&state, &format!("/v1/customers/{id}/calendar.ics"), &token))
}

fn issued(state: &AppState, path: &str, token: &str) -> Response {
    let location = state.location(path);
    let url = format!("{}?token={token}", location.to_str().unwrap_or(path));
    (StatusCode::CREATED, Json(FeedToken { url })).into_response()
}

/// A resource's calendar feed
///
/// Its bookings from 30 days back to a year ahead as iCalendar (RFC 5545):
/// one `VEVENT` per booking, `UID` `<booking id>@berth`, `SEQUENCE` its
/// version, `STATUS` `TENTATIVE` (held, pending), `CONFIRMED` or
/// `CANCELLED` (cancelled, declined, expired, no-show), `SUMMARY` the
/// resource's name; no customer data. With the feed token; anything else
/// is 404.
#[utoipa::path(
    get, path = "/v1/resources/{id}/calendar.ics", tag = "resources", security(()),
    params(("id" = Uuid, Path, description = "Resource id"), FeedQuery,
        ("If-None-Match" = Option<String>, Header, description = "304 when the feed is still at this ETag")),
    responses(
        (status = 200, description = "The feed", content_type = "text/calendar", body = CalendarText,
            headers(("ETag" = String, description = "Strong validator of the feed's content"))),
        (status = 304, description = "Unchanged since the ETag given"),
        FeedErrors,
    )
)]
pub async fn resource_calendar(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<FeedQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let token = query.token.unwrap_or_default();
    let body = service::feed(&state.db, Owner::Resource(ResourceId(id)), &token).await?;
    calendar(body, &headers)
}

/// A customer's calendar feed
///
/// The customer's bookings, as a resource's feed shows them (`SUMMARY`
/// the resource's name). With the feed token; anything else is 404.
#[utoipa::path(
    get, path = "/v1/customers/{id}/calendar.ics", tag = "customers", security(()),
    params(("id" = Uuid, Path, description = "Customer id"), FeedQuery,
        ("If-None-Match" = Option<String>, Header, description = "304 when the feed is still at this ETag")),
    responses(
        (status = 200, description = "The feed", content_type = "text/calendar", body = CalendarText,
            headers(("ETag" = String, description = "Strong validator of the feed's content"))),
        (status = 304, description = "Unchanged since the ETag given"),
        FeedErrors,
    )
)]
pub async fn customer_calendar(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<FeedQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let token = query.token.unwrap_or_default();
    let body = service::feed(&state.db, Owner::Customer(CustomerId(id)), &token).await?;
    calendar(body, &headers)
}

/// The feed with its ETag (a hash of the content), or 304 when
/// `If-None-Match` names it (a malformed one is a 400).
fn calendar(body: String, headers: &HeaderMap) -> Result<Response, Problem> {
    let opaque = hex::encode(Sha256::digest(body.as_bytes()))[..32].to_owned();
    let etag = HeaderValue::from_str(&format!("\"{opaque}\"")).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    if none_match(headers, &opaque)? {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8")), (header::ETAG, etag)],
        body,
    )
        .into_response())
}
