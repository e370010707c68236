//! `GET /v1/search/slots`: "any clay court, indoors, for four, on Saturday
//! morning" (docs/design.md §27). The active resources whose attributes
//! equal every `attr.<key>=<value>` filter, each with the slots its own
//! `/slots` would list, by earliest slot, then name; paged with a cursor
//! that marks a place in that order.

use axum::{Json, extract::State};
use base64::{
    Engine, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
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
    #[param(pattern = "^(?:[A-Za-z0-9_-]{4}){8,275}(?:[A-Za-z0-9_-]{2,3})?$", min_length = 32, max_length = 1103)]
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
    #[schema(pattern = "^(?:[A-Za-z0-9_-]{4}){8,275}(?:[A-Za-z0-9_-]{2,3})?$", min_length = 32, max_length = 1103)]
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

/// base64url without padding, reading any string of its alphabet whose
/// length can be base64 (whatever the last symbol's spare bits), so every
/// cursor the declared pattern admits reads as a place.
const CURSOR: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// A page's cursor: the place of its last resource (earliest slot in
/// microseconds, id, name), so it needs nothing to exist to be read.
fn encode_cursor(place: &Place) -> String {
    let mut bytes = place.first_start.timestamp_micros().to_be_bytes().to_vec();
    bytes.extend_from_slice(place.id.0.as_bytes());
    bytes.extend_from_slice(place.name.as_bytes());
    CURSOR.encode(bytes)
}

/// Any well-formed cursor marks a place: an instant outside the years 1 to
/// 9999 is before or after every slot, bytes that are not UTF-8 a name
/// that sorts somewhere.
fn decode_cursor(cursor: &str) -> Result<Place, Problem> {
    let bad = || Problem::invalid("/cursor", "is not a cursor returned by this search");
    let bytes = CURSOR.decode(cursor).map_err(|_| bad())?;
    let (micros, rest) = bytes.split_at_checked(8).ok_or_else(bad)?;
    let (id, name) = rest.split_at_checked(16).ok_or_else(bad)?;
    let micros = i64::from_be_bytes(micros.try_into().map_err(|_| bad())?);
    const YEAR_1: i64 = -62_135_596_800_000_000;
    const LAST_OF_9999: i64 = 253_402_300_799_999_999;
    let first_start: DateTime<Utc> =
        DateTime::from_timestamp_micros(micros.clamp(YEAR_1, LAST_OF_9999)).ok_or_else(bad)?;
    Ok(Place {
        first_start,
        name: String::from_utf8_lossy(name).into_owned(),
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
        let pattern = regex::Regex::new("^(?:[A-Za-z0-9_-]{4}){8,275}(?:[A-Za-z0-9_-]{2,3})?$").unwrap();
        assert!(pattern.is_match(&cursor), "{cursor}");
        assert_eq!(decode_cursor(&cursor).unwrap(), place);
        assert!(decode_cursor("not-a-cursor").is_err());
        // A name of 200 four-byte characters still fits the declared length.
        let longest = Place { name: "😀".repeat(200), ..place };
        assert!(pattern.is_match(&encode_cursor(&longest)));
        // Whatever the pattern admits reads as a place.
        for admitted in ["_".repeat(32), "A".repeat(34), "z9".repeat(20) + "xy", "-".repeat(1103)] {
            assert!(pattern.is_match(&admitted), "{admitted}");
            assert!(decode_cursor(&admitted).is_ok(), "{admitted}");
        }
    }
}
