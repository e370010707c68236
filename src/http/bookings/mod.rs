//! `/v1/bookings`: book (confirmed, or held for the resource's hold TTL),
//! list, read, the state-machine actions, reschedule, and the history.
//! `dto` holds the wire shapes, `handlers` the operations, `actions` the
//! state-machine actions; `bundles` books several at once (`/v1/bundles`).

pub mod actions;
pub mod bundles;
pub mod dto;
pub mod handlers;

use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use actions::*;
use bundles::*;
use handlers::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_booking, list_bookings))
        .routes(routes!(get_booking))
        .routes(routes!(confirm_booking))
        .routes(routes!(cancel_booking))
        .routes(routes!(check_in_booking))
        .routes(routes!(complete_booking))
        .routes(routes!(no_show_booking))
        .routes(routes!(approve_booking))
        .routes(routes!(decline_booking))
        .routes(routes!(reschedule_booking))
        .routes(routes!(list_booking_events))
        .routes(routes!(create_bundle))
        .routes(routes!(get_bundle))
}
