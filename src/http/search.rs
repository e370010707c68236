//! `GET /v1/search/slots`: "any clay court, indoors, for four, on Saturday
//! morning" (docs/design.md §27). The active resources whose attributes
//! equal every `attr.<key>=<value>` filter, each with the slots its own
//! `/slots` would list, by earliest slot, then name; paged with a cursor
//! that marks a place in that order.

use axum::{Json, extract::State};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

use super::{
    AppState,
    attributes::{AttributesDto, Filtered},
    auth::Caller,
    problem::Problem,
    slots::{SlotResponse, whose_rules, window},
    time::bounded,
};
use crate::domain::ids::{GroupId, ResourceId};
use crate::problems;
use crate::service::search::{self as service, Place, Search};

/// The longest window a search across resources may span.
pub const MAX_SEARCH_DAYS: i64 = 7;
const DEFAULT_LIMIT: usize = 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search_slots))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Slots starting at or after this instant (RFC 3339 with offset;
    /// encode `+` as `%2B`).
    #[serde(deserialize_with = "bounded")]
    pub from: DateTime<FixedOffset>,
    /// Slots starting before this instant; at most 7 days after `from`.
    #[serde(deserialize_with = "bounded")]
    pub to: DateTime<FixedOffset>,
    /// Length of each slot. A resource that cannot take bookings this long
    /// (or this short, or this many units) has no slots.
    #[validate(range(min = 60, max = 31_622_400, message = "must be between 60 and 31622400"))]
    #[param(minimum = 60, maximum = 31_622_400, example = 3600)]
    pub duration_seconds: i64,
    /// Units wanted (default 1).
    #[validate(range(min = 1, max = 1_000_000, message = "must be between 1 and 1000000"))]
    #[param(minimum = 1, maximum = 1_000_000, default = 1)]
    pub quantity: Option<i64>,
    /// Only resources of at least this capacity.
    #[validate(range(min = 1, max = 1_000_000, message = "must be between 1 and 1000000"))]
    #[param(minimum = 1, maximum = 1_000_000, example = 4)]
    pub min_capacity: Option<i32>,
    /// Only this group's members.
    pub group_id: Option<Uuid>,
    /// Admins: what this customer could book (its duplicate and
    /// booking-limit rules apply). A customer's own token does this by
    /// itself.
    pub customer_id: Option<Uuid>,
    /// At most this many resources (default 20).
    #[validate(range(min = 1, max = 100, message = "must be between 1 and 100"))]
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{32,1100}$", max_length = 1100)]
    pub cursor: Option<String>,
}

/// A resource as a search shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FoundResource {
    pub id: Uuid,
    #[schema(pattern = "^[^\\u0000]*$", min_length = 1, max_length = 200)]
    pub name: String,
    /// IANA time zone name, in which `local_start` is given.
    #[schema(pattern = "^[A-Za-z0-9_+/-]+$", max_length = 64, example = "Europe/Berlin")]
    pub time_zone: String,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub capacity: i32,
    pub attributes: AttributesDto,
}

/// A resource with the slots a booking of it could take now.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchMatch {
    pub resource: FoundResource,
    /// In time order; at least one, at most 2,000.
    #[schema(min_items = 1, max_items = 2000)]
    pub slots: Vec<SlotResponse>,
}

/// One page of matching resources.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPage {
    /// By earliest slot, then name.
    #[schema(max_items = 100)]
    pub items: Vec<SearchMatch>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(pattern = "^[A-Za-z0-9_-]{32,1100}$", max_length = 1100)]
    pub next_cursor: Option<String>,
}

problems!(SearchSlotsErrors, api: Unauthenticated, Forbidden, ValidationError);

/// Search slots across resources
///
/// The active resources whose `attributes` equal every `attr.<key>=<value>`
/// parameter (at most 32; compared as JSON: `attr.indoor=true` matches the
/// boolean, `attr.seats=4` the number, `attr.seats="4"` the string, any
/// other value the string as written; only equality: `attr.seats[gt]=4` is
/// a 422), of at least `min_capacity`, in `group_id` when given, that have
/// at least one slot in `[from, to)` (at most 7 days); each with every
/// slot its own `/v1/resources/{id}/slots` would list (the same predicate
/// as `POST /v1/bookings`), ordered by earliest slot, then name. With a
/// customer's token (or `customer_id`, for admins) the customer's own
/// duplicate and booking-limit rules apply. Public.
#[utoipa::path(
    get, path = "/v1/search/slots", tag = "resources", security((), ("bearer_auth" = [])),
    params(SearchQuery),
    responses((status = 200, description = "A page of resources with their slots", body = SearchPage), SearchSlotsErrors)
)]
pub async fn search_slots(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Filtered { query, filters }: Filtered<SearchQuery>,
) -> Result<Json<SearchPage>, Problem> {
    let search = Search {
        window: window(query.from, query.to, MAX_SEARCH_DAYS)?,
        duration_seconds: query.duration_seconds,
        quantity: query.quantity.unwrap_or(1),
        min_capacity: query.min_capacity,
        group: query.group_id.map(GroupId),
        filters,
        customer: whose_rules(&caller, query.customer_id)?,
        limit: query.limit.map_or(DEFAULT_LIMIT, |limit| limit as usize),
        after: query.cursor.as_deref().map(decode_cursor).transpose()?,
    };
    let page = service::slots(&state.db, &search).await?;
    let items = page
        .matches
        .iter()
        .map(|found| SearchMatch {
            resource: FoundResource {
                id: found.resource.id.0,
                name: found.resource.name.clone(),
                time_zone: found.resource.time_zone.name().to_owned(),
                capacity: found.resource.capacity,
                attributes: AttributesDto::of(&found.resource.attributes),
            },
            slots: found.slots.iter().map(|slot| SlotResponse::new(slot, found.resource.time_zone)).collect(),
        })
        .collect();
    Ok(Json(SearchPage { items, next_cursor: page.next.as_ref().map(encode_cursor) }))
}

/// A page's cursor: the place of its last resource (earliest slot in
/// microseconds, id, name), so it needs nothing to exist to be read.
fn encode_cursor(place: &Place) -> String {
    let mut bytes = place.first_start.timestamp_micros().to_be_bytes().to_vec();
    bytes.extend_from_slice(place.id.0.as_bytes());
    bytes.extend_from_slice(place.name.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_cursor(cursor: &str) -> Result<Place, Problem> {
    let bad = || Problem::invalid("/cursor", "is not a cursor returned by this search");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let (micros, rest) = bytes.split_at_checked(8).ok_or_else(bad)?;
    let (id, name) = rest.split_at_checked(16).ok_or_else(bad)?;
    let micros = i64::from_be_bytes(micros.try_into().map_err(|_| bad())?);
    let first_start: DateTime<Utc> = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
    Ok(Place {
        first_start,
        name: String::from_utf8(name.to_vec()).map_err(|_| bad())?,
        id: ResourceId(Uuid::from_slice(id).map_err(|_| bad())?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_its_place() {
        let place = Place {
            first_start: DateTime::from_timestamp_micros(1_800_000_000_123_456).unwrap(),
            name: "Court ü 7".into(),
            id: ResourceId(Uuid::now_v7()),
        };
        let cursor = encode_cursor(&place);
        assert!(cursor.len() >= 32 && cursor.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c)));
        assert_eq!(decode_cursor(&cursor).unwrap(), place);
        assert!(decode_cursor("not-a-cursor").is_err());
        // A name of 200 four-byte characters still fits the declared length.
        let longest = Place { name: "😀".repeat(200), ..place };
        assert!(encode_cursor(&longest).len() <= 1100);
    }
}
