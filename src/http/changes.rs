//! `GET /v1/resources/{id}/changes`: a live stream (Server-Sent Events) of
//! the changes to a resource's occupied time, so a slot picker refreshes
//! only when it has to. Each message names the changed window, never who
//! booked; its `id` is the change's position in the event feed, so a
//! client that reconnects with `Last-Event-ID` misses nothing the feed
//! still keeps.

use std::{collections::VecDeque, convert::Infallible, time::Duration};

use axum::{
    extract::State,
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Serialize;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{ObjectBuilder, Ref, RefOr, Schema, schema::Type},
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{AppState, extract::ApiPath, problem::Problem};
use crate::domain::ids::ResourceId;
use crate::problems;
use crate::service::{
    Db,
    events::{self, ResourceChange},
    resources,
};

/// How often a stream looks for new changes.
const POLL: Duration = Duration::from_millis(250);
/// How often an idle stream sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(resource_changes))
}

/// The `data` of a `change` message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeMessage {
    pub resource_id: Uuid,
    /// The changed window (what bookings occupy, buffers included); both
    /// null when all of the resource's time may have changed (its schedule,
    /// policy or capacity changed, or it was deleted).
    #[schema(required = true)]
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
    #[schema(required = true)]
    pub end_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// One message of the stream as a Server-Sent Events parser reads it:
/// `event`, `id` and `data` are the fields of the message (the first
/// message carries only `id`), `data` a `ChangeMessage` as JSON. Described
/// this way (OpenAPI 3.1: the schema of an event stream describes each
/// event), a validator can check a real stream message by message.
pub struct ChangeStreamMessage;

impl utoipa::PartialSchema for ChangeStreamMessage {
    fn schema() -> RefOr<Schema> {
        let string = || ObjectBuilder::new().schema_type(Type::String);
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "One message of the stream: `event: change`, `id: <position>`, `data: <ChangeMessage as JSON>`; \
the first message carries only its `id`.",
            ))
            .property(
                "event",
                string().enum_values(Some(["change"])).description(Some("`change`; absent on the first message")),
            )
            .property(
                "id",
                string()
                    .pattern(Some("^[0-9]{1,19}$"))
                    .max_length(Some(19))
                    .description(Some("The change's position in the event feed: send it back as `Last-Event-ID`")),
            )
            .required("id")
            .property(
                "data",
                string()
                    .content_media_type("application/json")
                    .content_schema(Some(Ref::from_schema_name("ChangeMessage")))
                    .max_length(Some(200))
                    .description(Some("A `ChangeMessage`, as JSON; absent on the first message")),
            )
            .build()
            .into()
    }
}

impl ToSchema for ChangeStreamMessage {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("ChangeMessage".into(), ChangeMessage::schema()));
    }
}

problems!(ResourceChangesErrors, api: MalformedRequest, NotFound);

/// Live changes of a resource
///
/// Server-Sent Events: `event: change`, `id: <position>`, `data:
/// {"resource_id", "start_at", "end_at"}` whenever what the resource's
/// bookings occupy changes (a booking made, confirmed, cancelled, expired,
/// moved onto or off it) or the resource itself changes (window null).
/// No customer data. The first message carries only an `id` (where the
/// stream starts), so a client that drops early resumes from there. A
/// comment every 15 s keeps idle connections open.
/// Without `Last-Event-ID` the stream starts now; with it, right after
/// that change. Public.
#[utoipa::path(
    get, path = "/v1/resources/{id}/changes", tag = "resources", security((), ("bearer_auth" = [])),
    params(
        ("id" = Uuid, Path, description = "Resource id"),
        ("Last-Event-ID" = Option<String>, Header, description = "The `id` of the last message received", pattern = "^[0-9]{1,19}$", max_length = 19),
    ),
    responses(
        (status = 200, description = "The stream (`text/event-stream`); the schema describes each message",
            content_type = "text/event-stream", body = inline(ChangeStreamMessage)),
        ResourceChangesErrors,
    )
)]
pub async fn resource_changes(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let resource = ResourceId(id);
    resources::get(&state.db, resource).await?;
    let start = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|text| (1..=19).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|text| text.parse::<i64>().ok())
            .ok_or_else(|| Problem::malformed("Last-Event-ID must be the id of a message of this stream."))?,
        None => events::latest_position(&state.db).await?,
    };
    let changes = stream::unfold(
        (state.db.clone(), start, VecDeque::new()),
        move |(db, cursor, mut pending): (Db, i64, VecDeque<ResourceChange>)| async move {
            let mut cursor = cursor;
            loop {
                if let Some(change) = pending.pop_front() {
                    cursor = change.position;
                    return Some((Ok(message(id, &change)), (db, cursor, pending)));
                }
                tokio::time::sleep(POLL).await;
                match events::resource_changes(&db, resource, cursor, 100).await {
                    Ok(found) => pending.extend(found),
                    Err(err) => tracing::warn!(error = %err, "change stream could not read; will retry"),
                }
            }
        },
    );
    // The stream's first message only carries its starting `id`: a client
    // that drops before any change still resumes from where it began.
    let start_id = stream::once(async move { Ok(Event::default().id(start.to_string())) });
    Ok(Sse::new(start_id.chain(changes)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

fn message(resource: Uuid, change: &ResourceChange) -> Event {
    let data = ChangeMessage {
        resource_id: resource,
        start_at: change.window.map(|w| w.start()),
        end_at: change.window.map(|w| w.end()),
    };
    let event = Event::default().id(change.position.to_string()).event("change");
    // Serialising three plain fields cannot fail; were it to, the message
    // still says that something changed.
    event.clone().json_data(&data).unwrap_or(event)
}
