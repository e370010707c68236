//! sea-orm entities, written in the generated style: persistence shapes only
//! (no serde, no utoipa). The API's shapes live in `berth::http`.

pub mod booking;
pub mod booking_event;
pub mod booking_series;
pub mod calendar_feed;
pub mod customer;
pub mod idempotency_record;
pub mod outbox_event;
pub mod resource;
pub mod resource_group;
pub mod resource_group_member;
pub mod resource_usage;
pub mod waitlist_entry;
pub mod webhook_delivery;
pub mod webhook_endpoint;
