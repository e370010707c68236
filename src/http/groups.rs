//! `/v1/groups`: pools of resources ("any one of these courts"): create,
//! list, read, update (`If-Match` required) and delete (`If-Match`
//! required). Booking through a group is `POST /v1/bookings` with
//! `group_id`; its slots are `GET /v1/groups/{id}/slots` (`http::slots`).

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
use validator::Validate;

use super::{
    AppState,
    auth::Admin,
    extract::{ApiJson, ApiPath, ApiQuery, RawBody, parse_json},
    fields::{non_null, not_blank},
    idempotency::Keyed,
    pagination::{PageQuery, paginate},
    precondition::IfMatch,
    problem::Problem,
    reply,
};
use crate::domain::{
    group::{Assignment, Group, GroupChanges, NewGroup},
    ids::{GroupId, ResourceId},
};
use crate::problems;
use crate::service::groups as service;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_group, list_groups)).routes(routes!(
        get_group,
        update_group,
        delete_group
    ))
}

/// How a member is picked for a booking.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentDto {
    /// The first member, in order, for which every rule passes.
    #[default]
    FirstFit,
    /// The member with the fewest units booked over the day of the booking
    /// (its local day) first; ties in member order.
    LeastUsed,
}

impl From<AssignmentDto> for Assignment {
    fn from(a: AssignmentDto) -> Self {
        match a {
            AssignmentDto::FirstFit => Self::FirstFit,
            AssignmentDto::LeastUsed => Self::LeastUsed,
        }
    }
}

impl From<Assignment> for AssignmentDto {
    fn from(a: Assignment) -> Self {
        match a {
            Assignment::FirstFit => Self::FirstFit,
            Assignment::LeastUsed => Self::LeastUsed,
        }
    }
}

/// A new group of resources.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    /// Unique, ignoring case.
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"), custom(function = not_blank))]
    #[schema(pattern = "^[^\\u0000]*$", min_length = 1, max_length = 200, example = "Courts")]
    pub name: String,
    /// The members, in order: 1 to 50 distinct resources. A resource may be
    /// in several groups.
    #[validate(length(min = 1, max = 50, message = "must list 1 to 50 resources"))]
    #[schema(min_items = 1, max_items = 50)]
    pub resource_ids: Vec<Uuid>,
    #[serde(default)]
    #[schema(required = false, default = "first_fit")]
    pub assignment: AssignmentDto,
}

/// Changes to a group; absent fields stay as they are. `resource_ids`
/// replaces the member list whole.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupRequest {
    #[serde(default, deserialize_with = "non_null")]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"), custom(function = not_blank))]
    #[schema(value_type = String, required = false, pattern = "^[^\\u0000]*$", min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[validate(length(min = 1, max = 50, message = "must list 1 to 50 resources"))]
    #[schema(value_type = Vec<Uuid>, required = false, min_items = 1, max_items = 50)]
    pub resource_ids: Option<Vec<Uuid>>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(value_type = AssignmentDto, required = false)]
    pub assignment: Option<AssignmentDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupResponse {
    pub id: Uuid,
    #[schema(pattern = "^[^\\u0000]*$", min_length = 1, max_length = 200)]
    pub name: String,
    /// The members, in order.
    #[schema(min_items = 1, max_items = 50)]
    pub resource_ids: Vec<Uuid>,
    pub assignment: AssignmentDto,
    /// Row version; the ETag is this number in quotes.
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One page of groups.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupPage {
    #[schema(max_items = 200)]
    pub items: Vec<GroupResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$", max_length = 22)]
    pub next_cursor: Option<String>,
}

impl From<&Group> for GroupResponse {
    fn from(g: &Group) -> Self {
        Self {
            id: g.id.0,
            name: g.name.clone(),
            resource_ids: g.members.iter().map(|m| m.0).collect(),
            assignment: g.assignment.into(),
            version: g.version,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

fn members(ids: Vec<Uuid>) -> Vec<ResourceId> {
    ids.into_iter().map(ResourceId).collect()
}

fn answer(group: &Group) -> Response {
    reply::send(&reply::object(group.version, &GroupResponse::from(group)))
}

problems!(CreateGroupErrors, api: Forbidden, MalformedRequest, UnsupportedMediaType, PayloadTooLarge, ValidationError, AlreadyExists);
problems!(ListGroupsErrors, api: ValidationError);
problems!(GetGroupErrors, api: NotFound);
problems!(UpdateGroupErrors, api: Forbidden, MalformedRequest, NotFound, PreconditionFailed, PreconditionRequired, UnsupportedMediaType, PayloadTooLarge, ValidationError, AlreadyExists);
problems!(DeleteGroupErrors, api: Forbidden, MalformedRequest, NotFound, PreconditionFailed, PreconditionRequired);

/// Create a group
///
/// A named pool of resources to book "any one of". Its name must be
/// unique, ignoring case; every member must exist (422 at
/// `/resource_ids/N` otherwise).
#[utoipa::path(
    post, path = "/v1/groups", tag = "groups", security(("bearer_auth" = [])),
    request_body = CreateGroupRequest,
    responses(
        (status = 201, description = "Created", body = GroupResponse,
            headers(("Location" = String, description = "URL of the new group"), ("ETag" = String, description = "Strong validator of this version"))),
        CreateGroupErrors,
    )
)]
pub async fn create_group(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    keyed: Keyed,
    ApiJson(request): ApiJson<CreateGroupRequest>,
) -> Result<Response, Problem> {
    let created =
        |g: &Group| reply::created(state.location(&format!("/v1/groups/{}", g.id)), g.version, &GroupResponse::from(g));
    let new = NewGroup {
        name: request.name.trim().to_owned(),
        members: members(request.resource_ids),
        assignment: request.assignment.into(),
    };
    keyed.write(created, async |seal| service::create(&state.db, new, &ctx, seal).await).await
}

/// List groups
///
/// Groups in creation order, one page at a time. Public.
#[utoipa::path(
    get, path = "/v1/groups", tag = "groups", security((), ("bearer_auth" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of groups", body = GroupPage), ListGroupsErrors)
)]
pub async fn list_groups(
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<GroupPage>, Problem> {
    let after = page.after()?.map(GroupId);
    let rows = service::list(&state.db, after, u64::from(page.limit()) + 1).await?;
    let (rows, next_cursor) = paginate(rows, page.limit(), |g| g.id.0);
    Ok(Json(GroupPage { items: rows.iter().map(Into::into).collect(), next_cursor }))
}

/// Get a group
///
/// Public.
#[utoipa::path(
    get, path = "/v1/groups/{id}", tag = "groups", security((), ("bearer_auth" = [])),
    params(("id" = Uuid, Path, description = "Group id")),
    responses(
        (status = 200, description = "The group", body = GroupResponse,
            headers(("ETag" = String, description = "Strong validator of this version"))),
        GetGroupErrors,
    )
)]
pub async fn get_group(State(state): State<AppState>, ApiPath(id): ApiPath<Uuid>) -> Result<Response, Problem> {
    Ok(answer(&service::get(&state.db, GroupId(id)).await?))
}

/// Update a group
///
/// Changes the given fields; `resource_ids` replaces the members. Requires
/// `If-Match`. Bookings already made through the group keep their
/// resource.
#[utoipa::path(
    patch, path = "/v1/groups/{id}", tag = "groups", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Group id"),
        ("If-Match" = String, Header, description = "ETag of the version you read, or `*`"),
    ),
    request_body = UpdateGroupRequest,
    responses(
        (status = 200, description = "Updated", body = GroupResponse,
            headers(("ETag" = String, description = "Strong validator of the new version"))),
        UpdateGroupErrors,
    )
)]
pub async fn update_group(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, Problem> {
    let id = GroupId(id);
    let if_match = IfMatch::from_headers(&headers)?;
    let current = service::get(&state.db, id).await?;
    if_match.require(current.version)?;
    let request: UpdateGroupRequest = parse_json(&headers, &body)?;
    let changes = GroupChanges {
        name: request.name.map(|n| n.trim().to_owned()),
        members: request.resource_ids.map(members),
        assignment: request.assignment.map(Into::into),
    };
    Ok(answer(&service::update(&state.db, id, &if_match.expected(), changes, &ctx).await?))
}

/// Delete a group
///
/// Requires `If-Match`. Its resources and the bookings made through it
/// stay (those keep `group_id` as a record of how they were made).
#[utoipa::path(
    delete, path = "/v1/groups/{id}", tag = "groups", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Group id"),
        ("If-Match" = String, Header, description = "ETag of the version you read, or `*`"),
    ),
    responses((status = 204, description = "Deleted"), DeleteGroupErrors)
)]
pub async fn delete_group(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let id = GroupId(id);
    let if_match = IfMatch::from_headers(&headers)?;
    let current = service::get(&state.db, id).await?;
    if_match.require(current.version)?;
    service::delete(&state.db, id, &if_match.expected(), &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
