//! `/v1/webhooks` (admins): register endpoints that receive events, read,
//! list, change (`If-Match`), delete (`If-Match`), and each endpoint's
//! delivery log. The signing secret is in the answer to the registration
//! only. `dto` holds the wire shapes, `handlers` the operations, `docs` the
//! spec's `webhooks` section (what is sent); sending is
//! `service::deliveries`.

pub mod docs;
pub mod dto;
pub mod handlers;

use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
pub use docs::WebhookDocs;
pub use dto::WebhookResponse;
use handlers::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(list_deliveries))
}
