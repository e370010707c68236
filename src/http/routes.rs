//! Which routes the application serves: the `/v1` API and the open
//! operations routes, each module's `router()` merged. The OpenAPI
//! document is made from the same routers (`openapi`).

use utoipa_axum::router::OpenApiRouter;

use super::{
    audit, availability, bookings, calendar, changes, customers, events, groups, health, metrics, problem_pages,
    resources, search, series, slots, state::AppState, waitlist, webhooks,
};

/// The `/v1` API: authenticated (when a token is sent) and rate limited.
pub(crate) fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(resources::router())
        .merge(availability::router())
        .merge(changes::router())
        .merge(slots::router())
        .merge(search::router())
        .merge(calendar::router())
        .merge(groups::router())
        .merge(customers::router())
        .merge(events::router())
        .merge(webhooks::router())
        .merge(bookings::router())
        .merge(waitlist::router())
        .merge(series::router())
        .merge(audit::router())
}

/// Documentation and probes: open to anyone, never rate limited.
pub(crate) fn ops_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(problem_pages::router()).merge(health::router()).merge(metrics::router())
}
