//! The problems in the OpenAPI document: the `Problem` schema, the error
//! responses of an operation (grouped by status, one named example per
//! type), and the `problems!` macro handlers list in their `responses`.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::{
    ToSchema,
    openapi::{
        ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, example::ExampleBuilder,
        response::Response as OaResponse,
    },
};

use super::{
    catalogue::ProblemType,
    value::{FieldError, PROBLEM_JSON},
};

/// The `Problem` schema of the OpenAPI document: the standard members plus
/// every extension member any problem type uses (each present only for its
/// types; see `/problems/{slug}`).
#[derive(Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemSchema {
    /// URI reference identifying the problem type; `GET` it for a description.
    #[schema(format = "uri-reference", max_length = 600, example = "/problems/capacity-exceeded")]
    pub r#type: String,
    #[schema(max_length = 100)]
    pub title: String,
    /// The HTTP status code, repeated.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What happened this time, for humans.
    #[schema(max_length = 2000)]
    pub detail: String,
    /// This occurrence: `urn:uuid:<request id>`, to quote when reporting.
    #[schema(pattern = "^urn:uuid:[0-9a-f-]{36}$", max_length = 45)]
    pub instance: Option<String>,
    pub resource_id: Option<uuid::Uuid>,
    pub group_id: Option<uuid::Uuid>,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub capacity: Option<i64>,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub requested: Option<i64>,
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub available: Option<i64>,
    pub existing_booking_id: Option<uuid::Uuid>,
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub waitlist_length: Option<i64>,
    /// The customer's waiting-list entry (`already-on-waitlist`).
    pub entry_id: Option<uuid::Uuid>,
    /// A series' refused occurrences (`series-conflict`).
    #[schema(max_items = 200)]
    pub occurrences: Option<Vec<OccurrenceProblem>>,
    /// A booking's status, or (`waitlist-entry-closed`) a waiting-list entry's.
    #[schema(
        pattern = "^(held|pending|confirmed|checked_in|completed|cancelled|expired|declined|no_show|waiting|offered|accepted|left|lapsed)$",
        max_length = 10
    )]
    pub current_status: Option<String>,
    pub action: Option<BookingAction>,
    #[schema(max_items = 8)]
    pub allowed_actions: Option<Vec<BookingAction>>,
    pub hold_expired_at: Option<chrono::DateTime<chrono::Utc>>,
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub peak_usage: Option<i64>,
    pub cutoff_at: Option<chrono::DateTime<chrono::Utc>>,
    #[schema(minimum = 0, maximum = 31_622_400)]
    pub min_notice_seconds: Option<i64>,
    pub earliest_start_at: Option<chrono::DateTime<chrono::Utc>>,
    #[schema(minimum = 0, maximum = 316_224_000)]
    pub max_advance_seconds: Option<i64>,
    pub latest_start_at: Option<chrono::DateTime<chrono::Utc>>,
    /// IANA time zone name.
    #[schema(pattern = "^[A-Za-z0-9_+/-]+$", max_length = 64)]
    pub time_zone: Option<String>,
    /// One local date's open time: at most 50 intervals of its own (one
    /// per weekly entry), and the end of the previous day's overnight one.
    #[schema(max_items = 51)]
    pub open_intervals: Option<Vec<OpenInterval>>,
    #[schema(minimum = 60, maximum = 86_400)]
    pub slot_step_seconds: Option<i64>,
    #[schema(minimum = 1, maximum = 10_000)]
    pub limit: Option<i64>,
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub active_bookings: Option<i64>,
    /// On create and reschedule: up to 3 bookable intervals of the same
    /// length and quantity, nearest to the requested start, within 7 days
    /// either side; `[]` when there is none.
    #[schema(max_items = 3)]
    pub alternatives: Option<Vec<Alternative>>,
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub blocking_bookings: Option<i64>,
    /// The field whose value is taken.
    #[schema(pattern = "^[a-z_]+$", max_length = 32)]
    pub field: Option<String>,
    #[schema(pattern = r#"^"[0-9]{1,19}"$"#, max_length = 21)]
    pub current_etag: Option<String>,
    #[schema(pattern = "^[A-Za-z-]+$", max_length = 32)]
    pub required_header: Option<String>,
    /// A refusal of a bundle: the item refused (nothing was booked).
    #[schema(pattern = "^/items/[0-9]$", max_length = 8, example = "/items/1")]
    pub item_pointer: Option<String>,
    /// At most the first 100 invalid values.
    #[schema(max_items = 100)]
    pub errors: Option<Vec<FieldError>>,
}

/// An action on a booking, as a problem names it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BookingAction {
    Create,
    Confirm,
    Approve,
    Decline,
    Cancel,
    CheckIn,
    Complete,
    NoShow,
    Reschedule,
    Expire,
}

/// Open time of one day, as `outside-opening-hours` lists it.
#[derive(Serialize, ToSchema)]
pub struct OpenInterval {
    pub start_at: chrono::DateTime<chrono::Utc>,
    pub end_at: chrono::DateTime<chrono::Utc>,
    /// `start_at` in the resource's time zone.
    #[schema(format = DateTime, example = "2027-03-29T09:00:00+02:00")]
    pub local_start: String,
    /// `end_at` in the resource's time zone.
    #[schema(format = DateTime, example = "2027-03-29T17:00:00+02:00")]
    pub local_end: String,
}

/// A bookable interval offered instead of a refused one.
#[derive(Serialize, ToSchema)]
pub struct Alternative {
    pub start_at: chrono::DateTime<chrono::Utc>,
    pub end_at: chrono::DateTime<chrono::Utc>,
}

/// One refused occurrence of a series: its interval, and the problem it
/// alone would have got (`type`, `title`, `status`, `detail`, and its
/// `alternatives` when that problem offers them).
#[derive(Debug, Serialize, ToSchema)]
pub struct OccurrenceProblem {
    pub start_at: chrono::DateTime<chrono::Utc>,
    pub end_at: chrono::DateTime<chrono::Utc>,
    /// The problem type's URI, as a whole response's `type`.
    #[schema(pattern = "/problems/[a-z-]+$", max_length = 600, example = "/problems/capacity-exceeded")]
    pub r#type: String,
    #[schema(pattern = "^[^\\u0000]*$", max_length = 100)]
    pub title: String,
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    #[schema(pattern = "^[^\\u0000]*$", max_length = 2000)]
    pub detail: String,
    #[schema(value_type = Option<Vec<Alternative>>, max_items = 3)]
    pub alternatives: Option<serde_json::Value>,
}

/// OpenAPI responses for a set of problem types, grouped by status, each
/// type a named example.
pub fn problem_responses(kinds: &[ProblemType]) -> BTreeMap<String, RefOr<OaResponse>> {
    let mut by_status: BTreeMap<u16, Vec<ProblemType>> = BTreeMap::new();
    for kind in kinds {
        by_status.entry(kind.info().status).or_default().push(*kind);
    }
    by_status
        .into_iter()
        .map(|(status, kinds)| {
            let description =
                kinds.iter().map(|k| format!("`{}`: {}", k.slug(), k.info().when)).collect::<Vec<_>>().join("\n\n");
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .examples_from_iter(kinds.iter().map(|k| {
                    (k.slug(), ExampleBuilder::new().summary(k.info().title).value(Some(k.example())).build())
                }))
                .build();
            let mut response = ResponseBuilder::new().description(description).content(PROBLEM_JSON, content);
            for kind in &kinds {
                if let Some((name, meaning)) = kind.info().header {
                    response = response.header(
                        name,
                        HeaderBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String)))
                            .description(Some(meaning))
                            .build(),
                    );
                }
            }
            (status.to_string(), RefOr::T(response.build()))
        })
        .collect()
}

/// Adds the error responses of `kinds` to `operation`: into the response
/// of their status when it has one (its examples, headers and description
/// joined), as a new response otherwise. For problems that a pass over the
/// whole document adds (Idempotency-Key, the schema fence).
pub fn add_problem_responses(operation: &mut utoipa::openapi::path::Operation, kinds: &[ProblemType]) {
    for (status, addition) in problem_responses(kinds) {
        let RefOr::T(addition) = addition else { continue };
        match operation.responses.responses.get_mut(&status) {
            Some(RefOr::T(existing)) => merge_response(existing, &addition),
            _ => {
                operation.responses.responses.insert(status, RefOr::T(addition));
            }
        }
    }
}

fn merge_response(existing: &mut OaResponse, addition: &OaResponse) {
    existing.description = format!("{}\n\n{}", existing.description, addition.description);
    for (name, header) in &addition.headers {
        existing.headers.entry(name.clone()).or_insert_with(|| header.clone());
    }
    for (media, content) in &addition.content {
        match (existing.content.get_mut(media), content) {
            (Some(RefOr::T(existing)), RefOr::T(content)) => {
                for (name, example) in &content.examples {
                    existing.examples.entry(name.clone()).or_insert_with(|| example.clone());
                }
            }
            _ => {
                existing.content.insert(media.clone(), content.clone());
            }
        }
    }
}

/// Declares a type whose `IntoResponses` documents the given problem types;
/// list it in a handler's `responses(...)`. Every operation also gets
/// `internal-error` and `service-unavailable`, which any route can answer;
/// `/v1` operations (`problems!(Name, api: ...)`) also get `unauthenticated`
/// (a bad token is refused everywhere) and `rate-limited`.
#[macro_export]
macro_rules! problems {
    ($(#[$doc:meta])* $name:ident, api: $($kind:ident),* $(,)?) => {
        $crate::problems!($(#[$doc])* $name: $($kind,)* Unauthenticated, RateLimited);
    };
    ($(#[$doc:meta])* $name:ident: $($kind:ident),* $(,)?) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                use $crate::http::problem::ProblemType::*;
                $crate::http::problem::problem_responses(&[$($kind,)* InternalError, ServiceUnavailable])
            }
        }
    };
}
