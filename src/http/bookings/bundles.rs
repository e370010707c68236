//! `/v1/bundles`: several things booked for one interval, all or nothing
//! (docs/design.md §15). A bundle is its bookings: after it is made, each
//! is an ordinary booking under `/v1/bookings/{id}`, and an action or a
//! reschedule of any of them acts on all of them. Bundles have their own
//! endpoint so that `POST /v1/bookings` keeps one response type.

use axum::{Json, extract::State, http::HeaderMap, response::Response};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::{
    dto::BookingResponse,
    handlers::{booking_customer, context, target},
};
use crate::domain::{booking::Booking, ids::BundleId};
use crate::http::{
    AppState,
    auth::SignedIn,
    extract::{ApiJson, ApiPath},
    fields::no_nul,
    idempotency::Keyed,
    problem::Problem,
    reply,
    time::{bounded, time_range},
};
use crate::problems;
use crate::service::bundles::{self as service, Item, NewBundle};

fn default_quantity() -> i32 {
    1
}

/// One thing of a bundle: a resource, or any member of a group.
#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleItemRequest {
    /// The resource; or give `group_id`.
    #[serde(default)]
    #[schema(required = false)]
    pub resource_id: Option<Uuid>,
    /// Any member of this group, picked as for a booking.
    #[serde(default)]
    #[schema(required = false)]
    pub group_id: Option<Uuid>,
    #[serde(default = "default_quantity")]
    #[validate(range(min = 1, max = 1_000_000, message = "must be between 1 and 1000000"))]
    #[schema(required = false, minimum = 1, maximum = 1_000_000, default = 1)]
    pub quantity: i32,
}

/// Several things to book for one interval, all or nothing.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBundleRequest {
    /// 2 to 10 items, each a resource or a group.
    #[validate(length(min = 2, max = 10, message = "must have 2 to 10 items"), nested)]
    #[schema(min_items = 2, max_items = 10)]
    pub items: Vec<BundleItemRequest>,
    /// Who books; as on `POST /v1/bookings`.
    #[serde(default)]
    #[schema(required = false)]
    pub customer_id: Option<Uuid>,
    #[serde(deserialize_with = "bounded")]
    #[schema(example = "2030-05-01T09:00:00+02:00")]
    pub start_at: DateTime<FixedOffset>,
    #[serde(deserialize_with = "bounded")]
    #[schema(example = "2030-05-01T10:00:00+02:00")]
    pub end_at: DateTime<FixedOffset>,
    /// Hold every item instead of confirming now.
    #[serde(default)]
    #[schema(required = false, default = false)]
    pub hold: bool,
    #[validate(length(max = 2000, message = "must be at most 2000 characters"), custom(function = no_nul))]
    #[schema(pattern = "^[^\\u0000]*$", max_length = 2000)]
    pub notes: Option<String>,
    /// Admins only, as on `POST /v1/bookings`.
    #[serde(default)]
    #[schema(required = false, default = false)]
    pub override_policy: bool,
}

/// A bundle: its bookings, in item order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BundleResponse {
    pub bundle_id: Uuid,
    #[schema(min_items = 2, max_items = 10)]
    pub bookings: Vec<BookingResponse>,
}

fn bundle_response(made: &[Booking]) -> BundleResponse {
    BundleResponse {
        bundle_id: made.first().and_then(|b| b.bundle).map_or_else(Uuid::nil, |(bundle, _)| bundle.0),
        bookings: made.iter().map(BookingResponse::from).collect(),
    }
}

problems!(CreateBundleErrors, api: Forbidden, MalformedRequest, UnsupportedMediaType, PayloadTooLarge, ValidationError, ResourceInactive, NoticeTooShort, BeyondBookingHorizon, OutsideOpeningHours, NotOnSlotGrid, BookingLimitReached, DuplicateBooking, CapacityExceeded, NoResourceAvailable);
problems!(GetBundleErrors, api: NotFound);

/// Book a bundle
///
/// Books every item for `[start_at, end_at)`, or nothing: one booking per
/// item, sharing a `bundle_id`. Every resource any item may use is locked
/// first, in one global order, so crossing bundles never deadlock. The
/// first item refused refuses the bundle with that item's problem and
/// `item_pointer` (`/items/1`); a bad value of an item is a 422 pointing
/// into it. Afterwards, an action or reschedule of any of its bookings
/// acts on all of them.
#[utoipa::path(
    post, path = "/v1/bundles", tag = "bookings", security(("bearer_auth" = [])),
    request_body = CreateBundleRequest,
    responses(
        (status = 201, description = "Booked, every item", body = BundleResponse,
            headers(("Location" = String, description = "URL of the bundle"))),
        CreateBundleErrors,
    )
)]
pub async fn create_bundle(
    State(state): State<AppState>,
    who: SignedIn,
    keyed: Keyed,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreateBundleRequest>,
) -> Result<Response, Problem> {
    let customer_id = booking_customer(&who, request.customer_id, request.override_policy)?;
    let items = request
        .items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let target = target(item.resource_id, item.group_id, &format!("/items/{index}"))?;
            Ok(Item { target, quantity: item.quantity })
        })
        .collect::<Result<Vec<_>, Problem>>()?;
    let new = NewBundle {
        items,
        customer_id,
        range: time_range(request.start_at, request.end_at)?,
        hold: request.hold,
        notes: request.notes,
        override_policy: request.override_policy,
    };
    let ctx = context(&who, &headers, None);
    let created = |made: &Vec<Booking>| {
        let bundle = bundle_response(made);
        reply::created_at(state.location(&format!("/v1/bundles/{}", bundle.bundle_id)), &bundle)
    };
    keyed.write(created, async |seal| service::create(&state.db, new, &ctx, seal).await).await
}

/// Get a bundle
///
/// Its bookings, in item order. A customer sees only its own.
#[utoipa::path(
    get, path = "/v1/bundles/{id}", tag = "bookings", security(("bearer_auth" = [])),
    params(("id" = Uuid, Path, description = "Bundle id")),
    responses((status = 200, description = "The bundle", body = BundleResponse), GetBundleErrors)
)]
pub async fn get_bundle(
    State(state): State<AppState>,
    who: SignedIn,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<BundleResponse>, Problem> {
    let bookings = service::get(&state.db, BundleId(id), who.booking_owner()).await?;
    Ok(Json(bundle_response(&bookings)))
}
