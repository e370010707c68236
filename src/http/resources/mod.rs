//! `/v1/resources`: create, list, read, update (`If-Match` required) and
//! delete (`If-Match` required) bookable resources, with their opening
//! hours and booking policy. `dto` and `settings` hold the wire shapes,
//! `handlers` the operations.

pub mod dto;
pub mod handlers;
pub mod settings;

use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use handlers::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_resource, list_resources)).routes(routes!(
        get_resource,
        update_resource,
        delete_resource
    ))
}
