//! The OpenAPI document: its header (`ApiDoc`), the bearer scheme, and the
//! passes that run over the whole document once every route is in it:
//!
//! - response headers: one table says what each header berth sends looks
//!   like (`header_schema`), so an `ETag` is described the same everywhere;
//!   every `/v1` 2xx and 4xx names the RateLimit headers and every response
//!   the CORS origin header;
//! - formats whose spelling has a fixed length (`uuid`, `date-time`,
//!   `date`) get that length as `maxLength`. Requests are held to it:
//!   date-times by `http::time::bounded` (at most 35 characters, RFC 3339
//!   to the nanosecond with an offset); ids and dates cannot be longer and
//!   still parse, except the other spellings the `uuid` crate reads
//!   (braced, `urn:uuid:`), which berth accepts and never writes.
//!
//! Everything else states its limit where it is declared, next to the code
//! that enforces it (`#[validate]` beside `#[schema]`).

use utoipa::{
    Modify, OpenApi,
    openapi::{
        HeaderBuilder, ObjectBuilder, RefOr, Schema,
        path::{Operation, PathItem},
        schema::{AdditionalProperties, ArrayItems, KnownFormat, SchemaFormat, SchemaType, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};
use utoipa_axum::router::OpenApiRouter;

use super::problem::{self, Alternative, BookingAction, FieldError, OccurrenceProblem, OpenInterval};
use super::{AppState, idempotency, precondition};

/// The name of the bearer security scheme in the spec.
pub const BEARER: &str = "bearer_auth";

pub use super::time::MAX_DATE_TIME_LENGTH;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "berth",
        description = "A booking engine that says no correctly. Every refusal is an RFC 9457 problem \
(`application/problem+json`) whose `type` names one of the problem types listed under `/problems`; \
switch on its `code` (the last segment of `type`) and read the extension members, never the prose. \
Each problem type has its own schema (`<Code>Problem`) with exactly its members, and each error response lists \
the types that operation answers with, as a union discriminated by `code`.",
        license(name = "MIT", identifier = "MIT"),
    ),
    components(schemas(FieldError, Alternative, OpenInterval, OccurrenceProblem, BookingAction)),
    modifiers(&SecurityAddon),
    tags(
        (name = "resources", description = "Bookable resources and their capacity"),
        (name = "groups", description = "Pools of resources: book any one member"),
        (name = "customers", description = "Who books"),
        (name = "bookings", description = "Holds and bookings, their state machine and history"),
        (name = "series", description = "Recurring series: every occurrence checked, all or nothing or skip and report"),
        (name = "waitlist", description = "Waiting lists: a full interval's queue, offers made as held bookings"),
        (name = "events", description = "Every change, in one durable order"),
        (name = "webhooks", description = "Endpoints that receive events, signed, in order, retried"),
        (name = "problems", description = "The problem types berth answers with"),
        (name = "operations", description = "Health probes and metrics"),
    )
)]
struct ApiDoc;

/// The OpenAPI document, as served at `/openapi.json` and committed in
/// `openapi/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .merge(super::routes::api_routes())
        .merge(super::routes::ops_routes())
        .into_openapi();
    idempotency::IdempotencyDocs.modify(&mut doc);
    precondition::PreconditionDocs.modify(&mut doc);
    super::webhooks::WebhookDocs.modify(&mut doc);
    super::schema_fence::SchemaFenceDocs.modify(&mut doc);
    ProblemTypeSchemas.modify(&mut doc);
    ResponseHeaders.modify(&mut doc);
    FormatLengths.modify(&mut doc);
    doc
}

/// Adds the schema of every problem type an operation answers with (each
/// error response's examples name them) to the components.
struct ProblemTypeSchemas;

impl Modify for ProblemTypeSchemas {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut kinds = std::collections::BTreeSet::new();
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                for response in operation.responses.responses.values() {
                    if let RefOr::T(response) = response
                        && let Some(RefOr::T(content)) = response.content.get(problem::PROBLEM_JSON)
                    {
                        kinds.extend(problem::documented_types(content));
                    }
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        for kind in kinds {
            components.schemas.insert(problem::schema_name(kind), RefOr::T(problem::type_schema(kind)));
        }
    }
}

/// Declares the bearer scheme that protected operations name.
struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "HS256 token signed with BERTH_JWT_SECRET (mint one with `berth token`), or an identity \
provider's token. Claims: `sub` (at most 255 characters, as OpenID Connect requires), `role` (`admin` | `customer`; \
a customer's `sub` is its customer id), `exp`; `iss` and `aud` when berth is configured with them. Validated as \
RFC8725 (JSON Web Token Best Current Practices) asks: the algorithm is never taken on the token's word (only one \
berth holds a key for; `none` never verifies, an HS256 token signed with the public key neither), `exp` is \
required, issuer and audience are checked when configured.",
                    ))
                    .build(),
            ),
        );
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// What a response header berth sends looks like, by name; `None` for a
/// header berth does not know (the spec lint then reports it unbounded).
pub fn header_schema(name: &str) -> Option<Schema> {
    let schema = match name.to_ascii_lowercase().as_str() {
        "etag" => string().pattern(Some(r#"^"[0-9]{1,19}"$"#)).max_length(Some(21)),
        // BERTH_PUBLIC_URL is at most 512 characters; the path after it is short.
        "location" => string().format(Some(SchemaFormat::Custom("uri-reference".into()))).max_length(Some(600)),
        "retry-after" => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .minimum(Some(1))
            .maximum(Some(60)),
        "www-authenticate" => string().pattern(Some("^Bearer")).max_length(Some(200)),
        "allow" => string().pattern(Some("^[A-Z]+(, [A-Z]+)*$")).max_length(Some(64)),
        "idempotent-replayed" => string().enum_values(Some(["true"])),
        "ratelimit" => string().pattern(Some(r#"^"caller";r=[0-9]+;t=[0-9]+$"#)).max_length(Some(64)),
        "ratelimit-policy" => string().pattern(Some(r#"^"caller";q=[0-9]+;w=[0-9]+$"#)).max_length(Some(64)),
        // Each of BERTH_CORS_ORIGINS is at most 512 characters.
        "access-control-allow-origin" => {
            string().pattern(Some(r"^(\*|[a-z][a-z0-9+.-]*://\S+)$")).max_length(Some(512))
        }
        _ => return None,
    };
    Some(schema.into())
}

/// Response headers: the schemas of `header_schema`, the RateLimit headers
/// on every `/v1` 2xx and 4xx (the limiter counted those), the CORS origin
/// on every response.
struct ResponseHeaders;

impl Modify for ResponseHeaders {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let documented = |name: &str, description: &str| {
            RefOr::T(HeaderBuilder::new().schema(header_schema(name)).description(Some(description)).build())
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let limited = path.starts_with("/v1/");
            for operation in operations(item) {
                for (status, response) in operation.responses.responses.iter_mut() {
                    let RefOr::T(response) = response else { continue };
                    if limited && (status.starts_with('2') || status.starts_with('4')) {
                        response.headers.insert(
                            "RateLimit".into(),
                            documented(
                                "RateLimit",
                                "This caller's budget now (IETF RateLimit headers draft): `r` requests left, `t` \
seconds until all are back. Sent when rate limiting is on and the request was counted.",
                            ),
                        );
                        response.headers.insert(
                            "RateLimit-Policy".into(),
                            documented(
                                "RateLimit-Policy",
                                "The policy: `q` requests at once per caller, refilled continuously over `w` seconds.",
                            ),
                        );
                    }
                    response.headers.insert(
                        "Access-Control-Allow-Origin".into(),
                        documented(
                            "Access-Control-Allow-Origin",
                            "The request's Origin (or `*`) when it is one of BERTH_CORS_ORIGINS; absent otherwise.",
                        ),
                    );
                    for (name, header) in response.headers.iter_mut() {
                        if let (RefOr::T(header), Some(schema)) = (header, header_schema(name)) {
                            header.schema = Some(RefOr::T(schema));
                        }
                    }
                }
            }
        }
    }
}

/// `maxLength` for strings whose format fixes it (see the module header).
struct FormatLengths;

impl Modify for FormatLengths {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.schemas.values_mut().for_each(bound_formats);
        }
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if let RefOr::T(parameter) = parameter {
                        parameter.schema.iter_mut().for_each(bound_formats);
                    }
                }
            }
        }
    }
}

fn bound_formats(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(object) => {
            let is_string = match &object.schema_type {
                SchemaType::Type(t) => *t == Type::String,
                SchemaType::Array(types) => types.contains(&Type::String),
                SchemaType::AnyValue => false,
            };
            if is_string && object.max_length.is_none() {
                object.max_length = match &object.format {
                    Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)) => Some(36),
                    Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)) => Some(MAX_DATE_TIME_LENGTH),
                    Some(SchemaFormat::KnownFormat(KnownFormat::Date)) => Some(10),
                    _ => None,
                };
            }
            object.properties.values_mut().for_each(bound_formats);
            if let Some(AdditionalProperties::RefOr(extra)) = object.additional_properties.as_deref_mut() {
                bound_formats(extra);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                bound_formats(items);
            }
        }
        Schema::OneOf(one_of) => one_of.items.iter_mut().for_each(bound_formats),
        Schema::AllOf(all_of) => all_of.items.iter_mut().for_each(bound_formats),
        Schema::AnyOf(any_of) => any_of.items.iter_mut().for_each(bound_formats),
        _ => {}
    }
}
