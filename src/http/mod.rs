//! The HTTP surface: routes (each documented in the same `routes!`
//! declaration), the OpenAPI document, and the middleware stack every
//! request goes through.

pub mod attributes;
pub mod audit;
pub mod auth;
pub mod availability;
pub mod bookings;
pub mod calendar;
pub mod changes;
pub mod customers;
pub mod events;
pub mod extract;
pub mod fields;
pub mod groups;
pub mod health;
pub mod idempotency;
pub mod metrics;
pub mod observe;
pub mod openapi;
mod own_buffers;
pub mod pagination;
pub mod precondition;
pub mod problem;
pub mod problem_pages;
pub mod rate_limit;
pub mod reply;
pub mod resources;
mod routes;
pub mod schema_fence;
pub mod search;
pub mod series;
pub mod serve;
pub mod service_error;
pub mod slots;
mod stack;
mod state;
pub mod strict_json;
pub mod time;
pub mod waitlist;
pub mod webhooks;

pub use openapi::{BEARER, openapi};
pub use stack::{Edge, Limits, app, with_middleware};
pub use state::{Admission, AppState};
