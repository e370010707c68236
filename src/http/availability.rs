//! `GET /v1/resources/{id}/availability`: the usage timeline of a resource,
//! computed by the same sweep and the same blocking predicate as the
//! capacity rule, so what it shows as free is what a booking can get.

use axum::{Json, extract::State};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

use super::{
    AppState,
    extract::{ApiPath, ApiQuery},
    problem::Problem,
    time::{bounded, instant},
};
use crate::domain::ids::ResourceId;
use crate::problems;
use crate::service::bookings as service;

/// The longest window one request may ask for.
pub const MAX_WINDOW_DAYS: i64 = 31;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_availability))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    /// Window start (RFC 3339 with offset; encode `+` as `%2B`).
    #[serde(deserialize_with = "bounded")]
    pub from: DateTime<FixedOffset>,
    /// Window end, exclusive; at most 31 days after `from`.
    #[serde(deserialize_with = "bounded")]
    pub to: DateTime<FixedOffset>,
}

/// A stretch of time over which usage is constant.
#[derive(Debug, Serialize, ToSchema)]
pub struct AvailabilitySegment {
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    /// Units taken by blocking bookings.
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub used: i64,
    /// Units still free: `capacity - used`, never below 0.
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub available: i64,
    /// Inside the resource's opening hours (always, without a schedule).
    /// Closed time takes no bookings whatever `available` says.
    pub open: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AvailabilityResponse {
    pub resource_id: Uuid,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub capacity: i32,
    pub active: bool,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Consecutive segments covering `[from, to)`; neighbours differ in `used`.
    pub segments: Vec<AvailabilitySegment>,
}

problems!(GetAvailabilityErrors, api: NotFound, ValidationError);

/// Availability of a resource
///
/// The timeline of used and available units over `[from, to)` (at most 31
/// days), as of now, with closed time marked. Usage counts what bookings
/// occupy, their buffers included. Public.
#[utoipa::path(
    get, path = "/v1/resources/{id}/availability", tag = "resources", security((), ("bearer_auth" = [])),
    params(("id" = Uuid, Path, description = "Resource id"), AvailabilityQuery),
    responses((status = 200, description = "The timeline", body = AvailabilityResponse), GetAvailabilityErrors)
)]
pub async fn get_availability(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<AvailabilityQuery>,
) -> Result<Json<AvailabilityResponse>, Problem> {
    let (from, to) = (instant(query.from, "/from")?, instant(query.to, "/to")?);
    let Some(window) = crate::domain::time_range::TimeRange::new(from, to) else {
        return Err(Problem::invalid("/to", "must be after from"));
    };
    if window.duration_seconds() > MAX_WINDOW_DAYS * 86_400 {
        return Err(Problem::invalid("/to", format!("the window may span at most {MAX_WINDOW_DAYS} days")));
    }
    let (resource, segments) = service::availability(&state.db, ResourceId(id), window).await?;
    let capacity = i64::from(resource.capacity);
    Ok(Json(AvailabilityResponse {
        resource_id: resource.id.0,
        capacity: resource.capacity,
        active: resource.active,
        from,
        to,
        segments: segments
            .into_iter()
            .map(|s| AvailabilitySegment {
                start_at: s.range.start(),
                end_at: s.range.end(),
                used: s.used,
                available: (capacity - s.used).max(0),
                open: s.open,
            })
            .collect(),
    }))
}
