//! The spec's `webhooks` section (OpenAPI 3.1): one POST per event type,
//! its signed headers and its body, the feed's item.

use utoipa::{
    Modify,
    openapi::{
        Content, HttpMethod, ObjectBuilder, Ref, ResponseBuilder, Type,
        path::{OperationBuilder, ParameterBuilder, ParameterIn},
        request_body::RequestBodyBuilder,
    },
};

use crate::domain::event::EventType;

/// The spec's `webhooks` section: what berth POSTs for each event type.
pub struct WebhookDocs;

impl Modify for WebhookDocs {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let header = |name: &str, description: &str, pattern: &str, max: usize| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .required(utoipa::openapi::Required::True)
                .description(Some(description))
                .schema(Some(
                    ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)).max_length(Some(max)),
                ))
                .build()
        };
        let mut webhooks = utoipa::openapi::Paths::new();
        for event in EventType::ALL {
            let operation = OperationBuilder::new()
                .summary(Some(format!("`{}`", event.as_str())))
                .description(Some(format!(
                    "Sent for every `{}` event to each switched-on endpoint that wants it: the event as \
                     `GET /v1/events` lists it. Answer 2xx within `BERTH_WEBHOOK_TIMEOUT_MS` to accept it; \
                     anything else (or no answer) is retried with exponential backoff, and the next events \
                     for your endpoint wait until it is accepted. Verify `webhook-signature` before you trust \
                     the body, and drop repeats by `webhook-id`.",
                    event.as_str()
                )))
                .operation_id(Some(format!("webhook_{}", event.as_str().replace('.', "_"))))
                .tag("webhooks")
                // No bearer token: the receiver authenticates berth by the
                // signature.
                .securities(Some([utoipa::openapi::security::SecurityRequirement::default()]))
                .parameter(header(
                    "webhook-id",
                    "The message id, `msg_` and the event's feed position: the same on every attempt.",
                    "^msg_[0-9]{1,19}$",
                    23,
                ))
                .parameter(header(
                    "webhook-timestamp",
                    "Unix seconds when the attempt was made; reject old ones to stop replays.",
                    "^[0-9]{1,12}$",
                    12,
                ))
                .parameter(header(
                    "webhook-signature",
                    "`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`, keyed \
                     with the base64-decoded secret after `whsec_`.",
                    "^v1,[A-Za-z0-9+/]{43}=$",
                    47,
                ))
                .request_body(Some(
                    RequestBodyBuilder::new()
                        .content("application/json", Content::new(Some(Ref::from_schema_name("EventResponse"))))
                        .required(Some(utoipa::openapi::Required::True))
                        .build(),
                ))
                .response("2XX", ResponseBuilder::new().description("Accepted: not sent again").build())
                .response("default", ResponseBuilder::new().description("Not accepted: retried later").build())
                .build();
            webhooks.add_path_operation(event.as_str(), vec![HttpMethod::Post], operation);
        }
        openapi.webhooks = Some(webhooks);
    }
}
