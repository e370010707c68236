//! The `/v1/resources` operations.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use uuid::Uuid;

use super::dto::{CreateResourceRequest, ResourcePage, ResourceResponse, UpdateResourceRequest};
use crate::domain::{ids::ResourceId, resource::Resource};
use crate::http::{
    AppState,
    attributes::Filtered,
    auth::Admin,
    extract::{ApiJson, ApiPath, RawBody, parse_json},
    idempotency::Keyed,
    pagination::{PageQuery, paginate},
    precondition::IfMatch,
    problem::Problem,
    reply,
};
use crate::problems;
use crate::service::{Expected, ServiceError, resources as service};

/// How often an update is merged again onto a version that changed under
/// it (as many concurrent writers as this all succeed).
const MERGE_ATTEMPTS: usize = 10;

/// A resource as answered (200), and as stored for Idempotency-Key replays.
fn answer(resource: &Resource) -> Response {
    reply::send(&reply::object(resource.version, &ResourceResponse::from(resource)))
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
    Admin(ctx): Admin,
    keyed: Keyed,
    ApiJson(request): ApiJson<CreateResourceRequest>,
) -> Result<Response, Problem> {
    let created = |r: &Resource| {
        reply::created(state.location(&format!("/v1/resources/{}", r.id)), r.version, &ResourceResponse::from(r))
    };
    let new = request.into_domain()?;
    keyed.write(created, async |seal| service::create(&state.db, new, &ctx, seal).await).await
}

/// List resources
///
/// Resources in creation order, one page at a time; with `attr.<key>=<value>`
/// parameters (at most 32), only those whose attributes equal every one
/// (compared as JSON: `attr.indoor=true` the boolean, `attr.seats=4` the
/// number, `attr.seats="4"` the string, anything else the string as
/// written). Public.
#[utoipa::path(
    get, path = "/v1/resources", tag = "resources", security((), ("bearer_auth" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of resources", body = ResourcePage), ListResourcesErrors)
)]
pub async fn list_resources(
    State(state): State<AppState>,
    Filtered { query: page, filters }: Filtered<PageQuery>,
) -> Result<Json<ResourcePage>, Problem> {
    let after = page.after()?.map(ResourceId);
    let rows = service::list(&state.db, after, u64::from(page.limit()) + 1, &filters).await?;
    let (rows, next_cursor) = paginate(rows, page.limit(), |r| r.id.0);
    Ok(Json(ResourcePage { items: rows.iter().map(Into::into).collect(), next_cursor }))
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
    Admin(ctx): Admin,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, Problem> {
    let id = ResourceId(id);
    let if_match = IfMatch::from_headers(&headers)?;
    let mut request: Option<UpdateResourceRequest> = None;
    // Plain fields are decided on `If-Match` under the lock. `schedule` and
    // `policy` are merged into the version read here, so that write must
    // find exactly that version; when another write got in between and
    // `If-Match` still holds for the version it left (`*`, or a list naming
    // it), merge again onto that one rather than answer 412. Each round one
    // of the racing writers wins.
    for _ in 0..MERGE_ATTEMPTS {
        let current = service::get(&state.db, id).await?;
        if_match.require(current.version)?;
        let request = match &request {
            Some(request) => request,
            None => request.insert(parse_json(&headers, &body)?),
        };
        let merges = request.schedule.is_some() || request.policy.is_some();
        let expected = if merges { Expected::OneOf(vec![current.version]) } else { if_match.expected() };
        let changes = request.clone().into_domain(&current)?;
        match service::update(&state.db, id, &expected, changes, &ctx).await {
            Err(ServiceError::VersionMismatch { current_version })
                if merges && if_match.check(current_version).is_ok() => {}
            outcome => return Ok(answer(&outcome?)),
        }
    }
    Err(Problem::unavailable("The resource kept changing while this update was merged into it; retry."))
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
    Admin(ctx): Admin,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let id = ResourceId(id);
    let if_match = IfMatch::from_headers(&headers)?;
    let current = service::get(&state.db, id).await?;
    if_match.require(current.version)?;
    service::delete(&state.db, id, &if_match.expected(), &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
