//! `/v1/series`: recurring series (docs/design.md §25). Book every
//! occurrence of a rule at once (all or nothing, or skipping the refused;
//! `?dry_run=true` only says what would happen), read a series with its
//! occurrences, cancel it (all not yet started, or "this and following").
//! Each occurrence is an ordinary booking (`series_id`): confirm, cancel or
//! reschedule it alone at `/v1/bookings/{id}`.

use axum::{extract::State, http::HeaderMap, response::Response};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

use super::{
    AppState,
    auth::{SignedIn, request_context},
    bookings::{
        dto::BookingResponse,
        handlers::{booking_customer, target},
    },
    extract::{ApiJson, ApiPath, ApiQuery, RawBody, optional_json},
    fields::no_nul,
    idempotency::Keyed,
    precondition::IfMatch,
    problem::{OccurrenceProblem, Problem},
    reply,
    time::{bounded, bounded_option, instant, time_range},
};
use crate::domain::{
    ids::SeriesId,
    recurrence::Rule,
    series::{Series, SeriesMode, SeriesStatus},
};
use crate::problems;
use crate::service::{
    idempotency::StoredResponse,
    series::{self as service, Cancelled, Made, NewSeries, Shown},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_series)).routes(routes!(get_series)).routes(routes!(cancel_series))
}

/// What happens when some occurrences are refused.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeriesModeDto {
    /// Any refused occurrence refuses the series (409 `series-conflict`
    /// listing every one): nothing is booked.
    #[default]
    AllOrNothing,
    /// The occurrences that pass are booked, the others listed in
    /// `skipped`; 409 `series-conflict` when none passes.
    SkipConflicts,
}

impl From<SeriesModeDto> for SeriesMode {
    fn from(m: SeriesModeDto) -> Self {
        match m {
            SeriesModeDto::AllOrNothing => Self::AllOrNothing,
            SeriesModeDto::SkipConflicts => Self::SkipConflicts,
        }
    }
}

impl From<SeriesMode> for SeriesModeDto {
    fn from(m: SeriesMode) -> Self {
        match m {
            SeriesMode::AllOrNothing => Self::AllOrNothing,
            SeriesMode::SkipConflicts => Self::SkipConflicts,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeriesStatusDto {
    Active,
    /// Cancelled whole (its occurrences not yet started were cancelled).
    Cancelled,
}

fn default_quantity() -> i32 {
    1
}

/// A request for a recurring series.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSeriesRequest {
    /// The resource to book; or give `group_id` instead.
    #[serde(default)]
    #[schema(required = false)]
    pub resource_id: Option<Uuid>,
    /// Book any member of this group for each occurrence.
    #[serde(default)]
    #[schema(required = false)]
    pub group_id: Option<Uuid>,
    /// Who books. A customer's token books for that customer; admins name one.
    #[serde(default)]
    #[schema(required = false)]
    pub customer_id: Option<Uuid>,
    /// The first occurrence (RFC 3339 with an offset). Its wall-clock time
    /// in the resource's time zone repeats (18:00 stays 18:00 across
    /// daylight saving).
    #[serde(deserialize_with = "bounded")]
    #[schema(example = "2027-03-16T18:00:00+01:00")]
    pub start_at: DateTime<FixedOffset>,
    #[serde(deserialize_with = "bounded")]
    #[schema(example = "2027-03-16T19:00:00+01:00")]
    pub end_at: DateTime<FixedOffset>,
    /// An RFC 5545 `RRULE` value: `FREQ=DAILY|WEEKLY|MONTHLY`, `INTERVAL`,
    /// `BYDAY` (weekly `MO,WE`; monthly also `2TU`, `-1FR`), `BYMONTHDAY`,
    /// and `COUNT` or `UNTIL` (UTC, inclusive); at most 200 occurrences.
    #[schema(pattern = "^[A-Z0-9=;,+-]+$", min_length = 1, max_length = 500, example = "FREQ=WEEKLY;COUNT=10")]
    #[validate(length(min = 1, max = 500, message = "must be 1 to 500 characters"))]
    pub rrule: String,
    #[serde(default = "default_quantity")]
    #[validate(range(min = 1, max = 1_000_000, message = "must be between 1 and 1000000"))]
    #[schema(required = false, minimum = 1, maximum = 1_000_000, default = 1)]
    pub quantity: i32,
    /// Hold every occurrence (for the resource's hold time) instead of
    /// confirming.
    #[serde(default)]
    #[schema(required = false, default = false)]
    pub hold: bool,
    #[validate(length(max = 2000, message = "must be at most 2000 characters"), custom(function = no_nul))]
    #[schema(pattern = "^[^\\u0000]*$", max_length = 2000)]
    pub notes: Option<String>,
    #[serde(default)]
    #[schema(required = false, default = "all_or_nothing")]
    pub mode: SeriesModeDto,
    /// Admins only: skip opening hours and the booking policy for every
    /// occurrence.
    #[serde(default)]
    #[schema(required = false, default = false)]
    pub override_policy: bool,
}

/// `?dry_run=true`: judge every occurrence, book nothing.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// Answer as if booking (200, not 201), write nothing.
    pub dry_run: Option<bool>,
}

/// A series and its occurrences.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesResponse {
    pub id: Uuid,
    /// Null for a group's series.
    pub resource_id: Option<Uuid>,
    pub group_id: Option<Uuid>,
    pub customer_id: Uuid,
    /// The first occurrence, as asked.
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    #[schema(pattern = "^[A-Z0-9=;,+-]+$", min_length = 1, max_length = 500)]
    pub rrule: String,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub quantity: i32,
    pub mode: SeriesModeDto,
    pub status: SeriesStatusDto,
    /// Its occurrences (the bookings), in start order.
    #[schema(max_items = 200)]
    pub bookings: Vec<BookingResponse>,
    /// On create in `skip_conflicts` mode: the occurrences not booked, each
    /// with the problem it alone would have got; otherwise `[]`.
    #[schema(max_items = 200)]
    pub skipped: Vec<OccurrenceProblem>,
    /// On cancel: the occurrences a customer may no longer cancel (past
    /// their cut-off), which stay booked; otherwise `[]`.
    #[schema(max_items = 200)]
    pub kept: Vec<BookingResponse>,
    /// Row version; the ETag is this number in quotes.
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SeriesResponse {
    pub fn new(series: &Series) -> Self {
        let (resource_id, group_id) = series.target.parts();
        Self {
            id: series.id.0,
            resource_id: resource_id.map(|r| r.0),
            group_id: group_id.map(|g| g.0),
            customer_id: series.customer_id.0,
            start_at: series.first.start(),
            end_at: series.first.end(),
            rrule: series.rrule.clone(),
            quantity: series.quantity,
            mode: series.mode.into(),
            status: match series.status {
                SeriesStatus::Active => SeriesStatusDto::Active,
                SeriesStatus::Cancelled => SeriesStatusDto::Cancelled,
            },
            bookings: Vec::new(),
            skipped: Vec::new(),
            kept: Vec::new(),
            version: series.version,
            created_at: series.created_at,
            updated_at: series.updated_at,
        }
    }
}

/// Optional body of `cancel`.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelSeriesRequest {
    /// Only the occurrences starting at or after this instant ("this and
    /// following"); all not yet started when absent (the series is then
    /// cancelled).
    #[serde(default, deserialize_with = "bounded_option")]
    pub from: Option<DateTime<FixedOffset>>,
    #[validate(length(max = 2000, message = "must be at most 2000 characters"), custom(function = no_nul))]
    #[schema(pattern = "^[^\\u0000]*$", max_length = 2000)]
    pub reason: Option<String>,
}

problems!(CreateSeriesErrors, api: Forbidden, MalformedRequest, UnsupportedMediaType, PayloadTooLarge, ValidationError, SeriesConflict);
problems!(GetSeriesErrors, api: NotFound);
problems!(CancelSeriesErrors, api: MalformedRequest, NotFound, PreconditionFailed, UnsupportedMediaType, PayloadTooLarge, ValidationError);

/// Book a recurring series
///
/// Books every occurrence of `rrule` from the first (`start_at`/`end_at`),
/// its local wall-clock time repeated in the resource's time zone. Every
/// occurrence is judged by the same rules as a single booking (hours,
/// policy, grid, duplicates, capacity, waiting lists), all in one
/// transaction. `all_or_nothing` (default): any refused occurrence answers
/// 409 `series-conflict` listing each refused one with its own problem,
/// and nothing is booked. `skip_conflicts`: the others are booked and the
/// refused listed in `skipped`. A bad rule is 422 at `/rrule`.
#[utoipa::path(
    post, path = "/v1/series", tag = "series", security(("bearer_auth" = [])),
    params(SeriesQuery),
    request_body = CreateSeriesRequest,
    responses(
        (status = 201, description = "Booked", body = SeriesResponse,
            headers(("Location" = String, description = "URL of the series"), ("ETag" = String, description = "Strong validator of this version"))),
        (status = 200, description = "Dry run: what would be booked; nothing was", body = SeriesResponse),
        CreateSeriesErrors,
    )
)]
pub async fn create_series(
    State(state): State<AppState>,
    who: SignedIn,
    keyed: Keyed,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<SeriesQuery>,
    ApiJson(request): ApiJson<CreateSeriesRequest>,
) -> Result<Response, Problem> {
    let customer_id = booking_customer(&who, request.customer_id, request.override_policy)?;
    let first = time_range(request.start_at, request.end_at)?;
    let rule = Rule::parse(&request.rrule)
        .map_err(|err| Problem::invalid("/rrule", format!("{}: {}", err.part, err.detail)))?;
    let new = NewSeries {
        target: target(request.resource_id, request.group_id, "")?,
        customer_id,
        first,
        rule,
        rrule: request.rrule,
        quantity: request.quantity,
        hold: request.hold,
        notes: request.notes,
        mode: request.mode.into(),
        override_policy: request.override_policy,
    };
    let ctx = request_context(&who.0, &headers, None);
    let dry_run = query.dry_run.unwrap_or(false);
    let base = state.public_url.clone();
    let location = |id| state.location(&format!("/v1/series/{id}"));
    let answer = move |made: &Made| {
        let body = made_response(made, &base);
        if dry_run {
            reply::object(made.series.version, &body)
        } else {
            reply::created(location(made.series.id), made.series.version, &body)
        }
    };
    let db = state.db.clone();
    keyed.write(answer, async |seal| service::create(&db, new, dry_run, &ctx, seal).await).await
}

fn made_response(made: &Made, base: &str) -> SeriesResponse {
    let mut body = SeriesResponse::new(&made.series);
    body.bookings = made.bookings.iter().map(BookingResponse::from).collect();
    body.skipped = made.skipped.iter().map(|(range, err)| OccurrenceProblem::new(range, err, base)).collect();
    body
}

fn shown_response(shown: &Shown) -> StoredResponse {
    let mut body = SeriesResponse::new(&shown.series);
    body.bookings = shown.bookings.iter().map(BookingResponse::from).collect();
    reply::object(shown.series.version, &body)
}

fn cancelled_response(done: &Cancelled) -> StoredResponse {
    let mut body = SeriesResponse::new(&done.series);
    body.bookings = done.cancelled.iter().map(BookingResponse::from).collect();
    body.kept = done.kept.iter().map(BookingResponse::from).collect();
    reply::object(done.series.version, &body)
}

/// Get a series
///
/// The series (owner or admin) with its occurrences as they are now.
#[utoipa::path(
    get, path = "/v1/series/{id}", tag = "series", security(("bearer_auth" = [])),
    params(("id" = Uuid, Path, description = "Series id")),
    responses(
        (status = 200, description = "The series", body = SeriesResponse,
            headers(("ETag" = String, description = "Strong validator of this version"))),
        GetSeriesErrors,
    )
)]
pub async fn get_series(
    State(state): State<AppState>,
    who: SignedIn,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, Problem> {
    let shown = service::get(&state.db, SeriesId(id), who.booking_owner()).await?;
    Ok(reply::send(&shown_response(&shown)))
}

/// Cancel a series
///
/// Cancels every occurrence not yet started, or (`from`) those starting at
/// or after an instant ("this and following"), in one transaction. A
/// customer is held to each occurrence's cancel cut-off: the ones past it
/// stay booked and are listed in `kept`. The answer's `bookings` are the
/// occurrences cancelled now.
#[utoipa::path(
    post, path = "/v1/series/{id}/cancel", tag = "series", security(("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Series id"),
        ("If-Match" = Option<String>, Header, description = "Act only if the series is still at this ETag"),
    ),
    request_body(content = Option<CancelSeriesRequest>, description = "Optional: from when, and a reason"),
    responses(
        (status = 200, description = "Cancelled", body = SeriesResponse,
            headers(("ETag" = String, description = "Strong validator of the new version"))),
        CancelSeriesErrors,
    )
)]
pub async fn cancel_series(
    State(state): State<AppState>,
    who: SignedIn,
    keyed: Keyed,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, Problem> {
    let id = SeriesId(id);
    let owner = who.booking_owner();
    let if_match = IfMatch::from_headers(&headers)?;
    let current = service::get(&state.db, id, owner).await?;
    if_match.check(current.series.version)?;
    let expected = if_match.expected();
    let request: CancelSeriesRequest = optional_json(&headers, &body)?;
    let from = request.from.map(|at| instant(at, "/from")).transpose()?;
    let ctx = request_context(&who.0, &headers, request.reason);
    keyed
        .write(cancelled_response, async |seal| {
            service::cancel(&state.db, id, from, &expected, owner, &ctx, seal).await
        })
        .await
}
