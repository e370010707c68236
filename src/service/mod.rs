//! Use cases. Each write opens exactly one transaction (via
//! `store::begin_write`), applies the domain rules inside it and commits;
//! new bookings on SQLite take a savepoint of a transaction shared in turn
//! instead (`write_batch`, docs/design.md §46).
//! Lost races (serialization failures, deadlocks, SQLite busy) are retried
//! here a bounded number of times, then reported as `Unavailable`.

pub mod audit;
pub mod bookings;
pub mod bundles;
mod context;
pub mod customers;
mod db;
mod decision;
pub mod deliveries;
mod error;
pub mod events;
pub mod feeds;
mod fence;
pub mod fields;
pub mod groups;
pub mod idempotency;
mod represent;
pub mod resources;
mod retry;
pub mod schema;
pub mod search;
pub mod sender;
pub mod series;
pub mod slots;
mod timelines;
pub mod waitlist;
pub mod webhooks;
mod write_batch;

pub use context::{Context, Expected};
pub use db::{Clock, DEFAULT_TIMELINE_MIN_ROWS, DEFAULT_TIMELINE_STRETCHES, Db, now};
pub use error::ServiceError;
pub(crate) use retry::forget_in_batches;
pub use retry::retrying;
