//! The problems in the OpenAPI document: one schema per problem type with
//! exactly its members (`type_schema`), the error responses of an
//! operation (grouped by status, one named example per type, the body a
//! union of the status's types discriminated by `code`), and the
//! `problems!` macro handlers list in their `responses`.
//!
//! Why `code`: a discriminator needs values fixed in the spec, and `type`
//! is not (it is relative, or absolute under `BERTH_PUBLIC_URL`, so a spec
//! naming one deployment's URIs would mislead clients of every other).
//! `code` is the slug of `type`, the same everywhere.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        ContentBuilder, HeaderBuilder, ObjectBuilder, OneOfBuilder, Ref, RefOr, ResponseBuilder, Schema,
        example::ExampleBuilder,
        extensions::Extensions,
        response::Response as OaResponse,
        schema::{Discriminator, KnownFormat, SchemaFormat, Type},
    },
};

use super::{
    catalogue::ProblemType,
    value::{FieldError, PROBLEM_JSON},
};

/// Every extension member any problem type uses, with its schema: each
/// type's schema (`type_schema`) takes its members' properties from here,
/// so a member looks the same in every type that carries it. Never built
/// or sent; the catalogue says which type carries which member.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ProblemMembers {
    resource_id: uuid::Uuid,
    group_id: uuid::Uuid,
    #[schema(minimum = 1, maximum = 1_000_000)]
    capacity: i64,
    #[schema(minimum = 1, maximum = 1_000_000)]
    requested: i64,
    #[schema(minimum = 0, maximum = 1_000_000)]
    available: i64,
    existing_booking_id: uuid::Uuid,
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    waitlist_length: i64,
    entry_id: uuid::Uuid,
    #[schema(max_items = 200)]
    occurrences: Vec<OccurrenceProblem>,
    #[schema(
        pattern = "^(held|pending|confirmed|checked_in|completed|cancelled|expired|declined|no_show|waiting|offered|accepted|left|lapsed)$",
        max_length = 10
    )]
    current_status: String,
    action: BookingAction,
    #[schema(max_items = 8)]
    allowed_actions: Vec<BookingAction>,
    hold_expired_at: chrono::DateTime<chrono::Utc>,
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    peak_usage: i64,
    cutoff_at: chrono::DateTime<chrono::Utc>,
    #[schema(minimum = 0, maximum = 31_622_400)]
    min_notice_seconds: i64,
    earliest_start_at: chrono::DateTime<chrono::Utc>,
    #[schema(minimum = 0, maximum = 316_224_000)]
    max_advance_seconds: i64,
    latest_start_at: chrono::DateTime<chrono::Utc>,
    /// IANA time zone name.
    #[schema(pattern = "^[A-Za-z0-9_+/-]+$", max_length = 64)]
    time_zone: String,
    /// One local date's open time: at most 50 intervals of its own (one
    /// per weekly entry), and the end of the previous day's overnight one.
    #[schema(max_items = 51)]
    open_intervals: Vec<OpenInterval>,
    #[schema(minimum = 60, maximum = 86_400)]
    slot_step_seconds: i64,
    #[schema(minimum = 1, maximum = 10_000)]
    limit: i64,
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    active_bookings: i64,
    #[schema(max_items = 3)]
    alternatives: Vec<Alternative>,
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    blocking_bookings: i64,
    #[schema(pattern = "^[a-z_]+$", max_length = 32)]
    field: String,
    #[schema(pattern = r#"^"[0-9]{1,19}"$"#, max_length = 21)]
    current_etag: String,
    #[schema(pattern = "^[A-Za-z-]+$", max_length = 32)]
    required_header: String,
    #[schema(pattern = "^/items/[0-9]$", max_length = 8, example = "/items/1")]
    item_pointer: String,
    /// At most the first 100 invalid values.
    #[schema(max_items = 100)]
    errors: Vec<FieldError>,
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
    /// The problem type's code, as a whole response's `code`.
    #[schema(pattern = "^[a-z-]+$", max_length = 64, example = "capacity-exceeded")]
    pub code: String,
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
        let kinds = by_status.entry(kind.info().status).or_default();
        if !kinds.contains(kind) {
            kinds.push(*kind);
        }
    }
    by_status
        .into_iter()
        .map(|(status, kinds)| {
            let description =
                kinds.iter().map(|k| format!("`{}`: {}", k.slug(), k.info().when)).collect::<Vec<_>>().join("\n\n");
            let content = ContentBuilder::new()
                .schema(Some(response_schema(&kinds)))
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

/// The problem types a response's content documents: one example each.
pub fn documented_types(content: &utoipa::openapi::Content) -> Vec<ProblemType> {
    content.examples.keys().filter_map(|slug| ProblemType::from_slug(slug)).collect()
}

/// The body of an error response answering `kinds`: the type's schema, or
/// the union of theirs discriminated by `code`.
fn response_schema(kinds: &[ProblemType]) -> RefOr<Schema> {
    match kinds {
        [kind] => Ref::from_schema_name(schema_name(*kind)).into(),
        _ => {
            let mapping =
                kinds.iter().map(|kind| (kind.slug(), format!("#/components/schemas/{}", schema_name(*kind))));
            let union = kinds
                .iter()
                .fold(OneOfBuilder::new(), |union, kind| union.item(Ref::from_schema_name(schema_name(*kind))))
                .discriminator(Some(Discriminator::with_mapping("code", mapping)));
            RefOr::T(Schema::OneOf(union.build()))
        }
    }
}

/// The component name of a problem type's schema: `CapacityExceededProblem`.
pub fn schema_name(kind: ProblemType) -> String {
    let mut name: String = kind
        .slug()
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect();
    name.push_str("Problem");
    name
}

/// A problem type's schema: the standard members (`type`, `code`,
/// `title`, `status`, `detail`, `instance`), `code` and `status` fixed to
/// the type's, and its extension members, required where every problem of
/// the type carries them. Open to members added later (RFC 9457: clients
/// ignore members they do not know).
pub fn type_schema(kind: ProblemType) -> Schema {
    let info = kind.info();
    let fixed = |value: Value| Extensions::from_iter([("const", value)]);
    let string = || ObjectBuilder::new().schema_type(Type::String);
    // Text berth writes: any characters but NUL.
    let prose = || string().pattern(Some("^[^\\u0000]*$"));
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(format!("`{}` ({}): {}", info.slug, info.status, info.when)))
        .property(
            "type",
            string()
                .format(Some(SchemaFormat::Custom("uri-reference".into())))
                .pattern(Some(format!("/problems/{}$", info.slug)))
                .max_length(Some(600))
                .description(Some("The problem type's URI (under `BERTH_PUBLIC_URL` when set); `GET` it for a description.")),
        )
        .property(
            "code",
            string().extensions(Some(fixed(info.slug.into()))).description(Some(
                "The problem type, the last segment of `type`: switch on it (its values are fixed, whatever the deployment's URL).",
            )),
        )
        .property("title", prose().max_length(Some(100)))
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
                .minimum(Some(info.status))
                .maximum(Some(info.status))
                .extensions(Some(fixed(info.status.into())))
                .description(Some("The HTTP status code, repeated.")),
        )
        .property("detail", prose().max_length(Some(2000)).description(Some("What happened this time, for humans.")))
        .property(
            "instance",
            string()
                .pattern(Some("^urn:uuid:[0-9a-f-]{36}$"))
                .max_length(Some(45))
                .description(Some("This occurrence: `urn:uuid:<request id>`, to quote when reporting.")),
        );
    for name in ["type", "code", "title", "status", "detail", "instance"] {
        object = object.required(name);
    }
    let schemas = member_schemas();
    for member in info.members {
        // `every_catalogue_member_has_a_schema...` keeps `None` unreachable.
        let schema = match schemas.get(member.name) {
            Some(RefOr::T(schema)) => {
                let mut schema = schema.clone();
                describe(&mut schema, member.meaning);
                RefOr::T(schema)
            }
            Some(RefOr::Ref(reference)) => {
                let mut reference = reference.clone();
                reference.description = member.meaning.to_owned();
                RefOr::Ref(reference)
            }
            None => continue,
        };
        object = object.property(member.name, schema);
        if member.always {
            object = object.required(member.name);
        }
    }
    Schema::Object(object.build())
}

/// The property schema of every extension member, by name.
fn member_schemas() -> BTreeMap<String, RefOr<Schema>> {
    match ProblemMembers::schema() {
        RefOr::T(Schema::Object(object)) => object.properties.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

/// Sets a member's description to its meaning in this type, keeping what
/// its declaration says about its limits.
fn describe(schema: &mut Schema, meaning: &str) {
    let description = match schema {
        Schema::Object(object) => &mut object.description,
        Schema::Array(array) => &mut array.description,
        _ => return,
    };
    *description = Some(match description.take() {
        Some(limits) => format!("{meaning}. {limits}"),
        None => meaning.to_owned(),
    });
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
                existing.schema = Some(response_schema(&documented_types(existing)));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_member_has_a_schema_and_every_schema_a_type() {
        let schemas = member_schemas();
        let mut used = std::collections::BTreeSet::new();
        for kind in ProblemType::ALL {
            for member in kind.info().members {
                assert!(schemas.contains_key(member.name), "{} has no schema for {}", kind.slug(), member.name);
                used.insert(member.name);
            }
        }
        let unused: Vec<_> = schemas.keys().filter(|name| !used.contains(name.as_str())).collect();
        assert!(unused.is_empty(), "members no type carries: {unused:?}");
    }

    #[test]
    fn schema_names_are_the_slug_in_pascal_case() {
        assert_eq!(schema_name(ProblemType::CapacityExceeded), "CapacityExceededProblem");
        assert_eq!(schema_name(ProblemType::NotFound), "NotFoundProblem");
    }
}
