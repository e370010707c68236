//! `/v1/resources`: create, list, read, update (`If-Match` required) and
//! delete (`If-Match` required) bookable resources.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::{Validate, ValidationError};

use super::{
    AppState,
    auth::Admin,
    extract::{ApiJson, ApiPath, ApiQuery, RawBody, parse_json},
    fields::{no_nul, non_null, not_blank, nullable},
    idempotency::Keyed,
    pagination::{PageQuery, paginate},
    precondition::IfMatch,
    problem::Problem,
    reply,
};
use crate::domain::{
    ids::ResourceId,
    resource::{self, NewResource, Resource, ResourceChanges},
};
use crate::problems;
use crate::service::resources as service;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_resource, list_resources)).routes(routes!(
        get_resource,
        update_resource,
        delete_resource
    ))
}

fn default_time_zone() -> String {
    resource::DEFAULT_TIME_ZONE.to_owned()
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
    #[schema(min_length = 1, max_length = 200, example = "Court 1")]
    pub name: String,
    #[validate(length(max = 2000, message = "must be at most 2000 characters"), custom(function = no_nul))]
    #[schema(max_length = 2000, example = "Clay court with floodlights")]
    pub description: Option<String>,
    /// Units usable at the same instant (1 for a room, 12 for a class).
    #[validate(range(min = 1, max = 1_000_000, message = "must be between 1 and 1000000"))]
    #[schema(minimum = 1, maximum = 1_000_000, example = 4)]
    pub capacity: i32,
    /// IANA time zone name.
    #[serde(default = "default_time_zone")]
    #[validate(custom(function = valid_time_zone))]
    #[schema(required = false, default = "UTC", example = "Europe/Paris")]
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
}

/// Changes to a resource; absent fields stay as they are, `description: null`
/// clears the description.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateResourceRequest {
    #[serde(default, deserialize_with = "non_null")]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"), custom(function = not_blank))]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 2000, message = "must be at most 2000 characters"), custom(function = no_nul))]
    #[schema(value_type = Option<String>, required = false, max_length = 2000)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "non_null")]
    #[validate(range(min = 1, max = 1_000_000, message = "must be between 1 and 1000000"))]
    #[schema(value_type = i32, required = false, minimum = 1, maximum = 1_000_000)]
    pub capacity: Option<i32>,
    #[serde(default, deserialize_with = "non_null")]
    #[validate(custom(function = valid_time_zone))]
    #[schema(value_type = String, required = false)]
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
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceResponse {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub capacity: i32,
    pub time_zone: String,
    pub active: bool,
    pub hold_ttl_seconds: i32,
    pub max_booking_duration_seconds: i64,
    /// Row version; the ETag is this number in quotes.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One page of resources.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourcePage {
    pub items: Vec<ResourceResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl From<Resource> for ResourceResponse {
    fn from(r: Resource) -> Self {
        Self {
            id: r.id.0,
            name: r.name,
            description: r.description,
            capacity: r.capacity,
            time_zone: r.time_zone,
            active: r.active,
            hold_ttl_seconds: r.hold_ttl_seconds,
            max_booking_duration_seconds: r.max_booking_duration_seconds,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl From<CreateResourceRequest> for NewResource {
    fn from(r: CreateResourceRequest) -> Self {
        Self {
            name: r.name.trim().to_owned(),
            description: r.description,
            capacity: r.capacity,
            time_zone: r.time_zone,
            active: r.active,
            hold_ttl_seconds: r.hold_ttl_seconds,
            max_booking_duration_seconds: r.max_booking_duration_seconds,
        }
    }
}

impl From<UpdateResourceRequest> for ResourceChanges {
    fn from(r: UpdateResourceRequest) -> Self {
        Self {
            name: r.name.map(|n| n.trim().to_owned()),
            description: r.description,
            capacity: r.capacity,
            time_zone: r.time_zone,
            active: r.active,
            hold_ttl_seconds: r.hold_ttl_seconds,
            max_booking_duration_seconds: r.max_booking_duration_seconds,
        }
    }
}

/// A resource as answered (200), and as stored for Idempotency-Key replays.
fn answer(resource: &Resource) -> Response {
    reply::send(&reply::object(resource.version, &ResourceResponse::from(resource.clone())))
}

problems!(CreateResourceErrors, api: Forbidden, MalformedRequest, UnsupportedMediaType, PayloadTooLarge, ValidationError, AlreadyExists);
problems!(ListResourcesErrors, api: ValidationError);
problems!(GetResourceErrors, api: NotFound);
problems!(UpdateResourceErrors, api: Forbidden, MalformedRequest, NotFound, PreconditionFailed, PreconditionRequired, UnsupportedMediaType, PayloadTooLarge, ValidationError, AlreadyExists, CapacityBelowCommitments);
problems!(DeleteResourceErrors, api: Forbidden, MalformedRequest, NotFound, PreconditionFailed, PreconditionRequired, ResourceHasBookings);

/// Create a resource
///
/// Creates a bookable resource. Its name must be unique, ignoring case.
#[utoipa::path(
    post, path = "/v1/resources", tag = "resources", security(("bearer_auth" = [])),
    request_body = CreateResourceRequest,
    responses(
        (status = 201, description = "Created", body = ResourceResponse,
            headers(("Location" = String, description = "URL of the new resource"), ("ETag" = String, description = "Strong validator of this version"))),
        CreateResourceErrors,
    )
)]
pub async fn create_resource(
    State(state): State<AppState>,
    _admin: Admin,
    keyed: Keyed,
    ApiJson(request): ApiJson<CreateResourceRequest>,
) -> Result<Response, Problem> {
    let created = |r: &Resource| {
        reply::created(
            state.location(&format!("/v1/resources/{}", r.id)),
            r.version,
            &ResourceResponse::from(r.clone()),
        )
    };
    keyed.write(created, async |seal| service::create(&state.db, request.into(), seal).await).await
}

/// List resources
///
/// Resources in creation order, one page at a time. Public.
#[utoipa::path(
    get, path = "/v1/resources", tag = "resources", security((), ("bearer_auth" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of resources", body = ResourcePage), ListResourcesErrors)
)]
pub async fn list_resources(
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<ResourcePage>, Problem> {
    let after = page.after()?.map(ResourceId);
    let rows = service::list(&state.db, after, u64::from(page.limit()) + 1).await?;
    let (rows, next_cursor) = paginate(rows, page.limit(), |r| r.id.0);
    Ok(Json(ResourcePage { items: rows.into_iter().map(Into::into).collect(), next_cursor }))
}

/// Get a resource
#[utoipa::path(
    get, path = "/v1/resources/{id}", tag = "resources", security((), ("bearer_auth" = [])),
    params(("id" = Uuid, Path, description = "Resource id")),
    responses(
        (status = 200, description = "The resource", body = ResourceResponse,
            headers(("ETag" = String, description = "Strong validator of this version"))),
        GetResourceErrors,
    )
)]
pub async fn get_resource(State(state): State<AppState>, ApiPath(id): ApiPath<Uuid>) -> Result<Response, Problem> {
    let resource = service::get(&state.db, ResourceId(id)).await?;
    Ok(answer(&resource))
}

/// Update a resource
///
/// Changes the given fields. Requires `If-Match` with the current ETag; a
/// stale ETag changes nothing (412).
#[utoipa::path(
    patch, path = "/v1/resources/{id}", tag = "resources", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Resource id"),
        ("If-Match" = String, Header, description = "ETag of the version you read, or `*`"),
    ),
    request_body = UpdateResourceRequest,
    responses(
        (status = 200, description = "Updated", body = ResourceResponse,
            headers(("ETag" = String, description = "Strong validator of the new version"))),
        UpdateResourceErrors,
    )
)]
pub async fn update_resource(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, Problem> {
    let id = ResourceId(id);
    let if_match = IfMatch::from_headers(&headers)?;
    let current = service::get(&state.db, id).await?;
    if_match.require(current.version)?;
    let request: UpdateResourceRequest = parse_json(&headers, &body)?;
    let resource = service::update(&state.db, id, current.version, request.into()).await?;
    Ok(answer(&resource))
}

/// Delete a resource
///
/// Requires `If-Match`. A resource with future bookings cannot be deleted;
/// deactivate it instead.
#[utoipa::path(
    delete, path = "/v1/resources/{id}", tag = "resources", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Resource id"),
        ("If-Match" = String, Header, description = "ETag of the version you read, or `*`"),
    ),
    responses((status = 204, description = "Deleted"), DeleteResourceErrors)
)]
pub async fn delete_resource(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let id = ResourceId(id);
    let if_match = IfMatch::from_headers(&headers)?;
    let current = service::get(&state.db, id).await?;
    if_match.require(current.version)?;
    service::delete(&state.db, id, current.version).await?;
    Ok(StatusCode::NO_CONTENT)
}
