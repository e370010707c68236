//! `/v1/customers`: create, list, read, update (`If-Match` required) and
//! delete (`If-Match` required) customers.

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
    auth::{Admin, SignedIn},
    extract::{ApiJson, ApiPath, ApiQuery, RawBody, parse_json},
    fields::{key_fits, non_null, not_blank},
    idempotency::Keyed,
    pagination::{PageQuery, paginate},
    precondition::IfMatch,
    problem::Problem,
    reply,
};
use crate::domain::{
    customer::{Customer, CustomerChanges, NewCustomer},
    ids::CustomerId,
};
use crate::problems;
use crate::service::customers as service;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_customer, list_customers)).routes(routes!(
        get_customer,
        update_customer,
        delete_customer
    ))
}

/// A new customer.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomerRequest {
    /// Unique, ignoring case.
    #[validate(
        email(message = "is not an e-mail address"),
        length(max = 254, message = "must be at most 254 characters"),
        custom(function = key_fits)
    )]
    #[schema(format = "email", max_length = 254, example = "ada@example.com")]
    pub email: String,
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"), custom(function = not_blank))]
    #[schema(pattern = "^[^\\u0000]*$", min_length = 1, max_length = 200, example = "Ada Lovelace")]
    pub name: String,
}

/// Changes to a customer; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomerRequest {
    #[serde(default, deserialize_with = "non_null")]
    #[validate(
        email(message = "is not an e-mail address"),
        length(max = 254, message = "must be at most 254 characters"),
        custom(function = key_fits)
    )]
    #[schema(value_type = String, required = false, format = "email", max_length = 254)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"), custom(function = not_blank))]
    #[schema(value_type = String, required = false, pattern = "^[^\\u0000]*$", min_length = 1, max_length = 200)]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerResponse {
    pub id: Uuid,
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    #[schema(pattern = "^[^\\u0000]*$", min_length = 1, max_length = 200)]
    pub name: String,
    /// Row version; the ETag is this number in quotes.
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One page of customers.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerPage {
    #[schema(max_items = 200)]
    pub items: Vec<CustomerResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$", max_length = 22)]
    pub next_cursor: Option<String>,
}

impl From<Customer> for CustomerResponse {
    fn from(c: Customer) -> Self {
        Self {
            id: c.id.0,
            email: c.email,
            name: c.name,
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

impl From<CreateCustomerRequest> for NewCustomer {
    fn from(r: CreateCustomerRequest) -> Self {
        Self { email: r.email.trim().to_owned(), name: r.name.trim().to_owned() }
    }
}

impl From<UpdateCustomerRequest> for CustomerChanges {
    fn from(r: UpdateCustomerRequest) -> Self {
        Self { email: r.email.map(|e| e.trim().to_owned()), name: r.name.map(|n| n.trim().to_owned()) }
    }
}

/// A customer as answered (200), and as stored for Idempotency-Key replays.
fn answer(customer: &Customer) -> Response {
    reply::send(&reply::object(customer.version, &CustomerResponse::from(customer.clone())))
}

problems!(CreateCustomerErrors, api: Forbidden, MalformedRequest, UnsupportedMediaType, PayloadTooLarge, ValidationError, AlreadyExists);
problems!(ListCustomersErrors, api: Forbidden, ValidationError);
problems!(GetCustomerErrors, api: Forbidden, NotFound);
problems!(UpdateCustomerErrors, api: Forbidden, MalformedRequest, NotFound, PreconditionFailed, PreconditionRequired, UnsupportedMediaType, PayloadTooLarge, ValidationError, AlreadyExists);
problems!(DeleteCustomerErrors, api: Forbidden, MalformedRequest, NotFound, PreconditionFailed, PreconditionRequired, ResourceHasBookings);

/// Create a customer
///
/// Creates a customer. The e-mail address must be unique, ignoring case.
#[utoipa::path(
    post, path = "/v1/customers", tag = "customers", security(("bearer_auth" = [])),
    request_body = CreateCustomerRequest,
    responses(
        (status = 201, description = "Created", body = CustomerResponse,
            headers(("Location" = String, description = "URL of the new customer"), ("ETag" = String, description = "Strong validator of this version"))),
        CreateCustomerErrors,
    )
)]
pub async fn create_customer(
    State(state): State<AppState>,
    _admin: Admin,
    keyed: Keyed,
    ApiJson(request): ApiJson<CreateCustomerRequest>,
) -> Result<Response, Problem> {
    let created = |c: &Customer| {
        reply::created(
            state.location(&format!("/v1/customers/{}", c.id)),
            c.version,
            &CustomerResponse::from(c.clone()),
        )
    };
    keyed.write(created, async |seal| service::create(&state.db, request.into(), seal).await).await
}

/// List customers
///
/// Customers in creation order, one page at a time.
#[utoipa::path(
    get, path = "/v1/customers", tag = "customers", security(("bearer_auth" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of customers", body = CustomerPage), ListCustomersErrors)
)]
pub async fn list_customers(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<CustomerPage>, Problem> {
    let after = page.after()?.map(CustomerId);
    let rows = service::list(&state.db, after, u64::from(page.limit()) + 1).await?;
    let (rows, next_cursor) = paginate(rows, page.limit(), |c| c.id.0);
    Ok(Json(CustomerPage { items: rows.into_iter().map(Into::into).collect(), next_cursor }))
}

/// Get a customer
#[utoipa::path(
    get, path = "/v1/customers/{id}", tag = "customers", security(("bearer_auth" = [])),
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The customer", body = CustomerResponse,
            headers(("ETag" = String, description = "Strong validator of this version"))),
        GetCustomerErrors,
    )
)]
pub async fn get_customer(
    State(state): State<AppState>,
    who: SignedIn,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, Problem> {
    who.admin_or_self(CustomerId(id))?;
    let customer = service::get(&state.db, CustomerId(id)).await?;
    Ok(answer(&customer))
}

/// Update a customer
///
/// Changes the given fields. Requires `If-Match` with the current ETag.
#[utoipa::path(
    patch, path = "/v1/customers/{id}", tag = "customers", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("If-Match" = String, Header, description = "ETag of the version you read, or `*`"),
    ),
    request_body = UpdateCustomerRequest,
    responses(
        (status = 200, description = "Updated", body = CustomerResponse,
            headers(("ETag" = String, description = "Strong validator of the new version"))),
        UpdateCustomerErrors,
    )
)]
pub async fn update_customer(
    State(state): State<AppState>,
    who: SignedIn,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, Problem> {
    let id = CustomerId(id);
    who.admin_or_self(id)?;
    let if_match = IfMatch::from_headers(&headers)?;
    let current = service::get(&state.db, id).await?;
    if_match.require(current.version)?;
    let request: UpdateCustomerRequest = parse_json(&headers, &body)?;
    let customer = service::update(&state.db, id, &if_match.expected(), request.into()).await?;
    Ok(answer(&customer))
}

/// Delete a customer
///
/// Requires `If-Match`.
#[utoipa::path(
    delete, path = "/v1/customers/{id}", tag = "customers", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("If-Match" = String, Header, description = "ETag of the version you read, or `*`"),
    ),
    responses((status = 204, description = "Deleted"), DeleteCustomerErrors)
)]
pub async fn delete_customer(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let id = CustomerId(id);
    let if_match = IfMatch::from_headers(&headers)?;
    let current = service::get(&state.db, id).await?;
    if_match.require(current.version)?;
    service::delete(&state.db, id, &if_match.expected()).await?;
    Ok(StatusCode::NO_CONTENT)
}
