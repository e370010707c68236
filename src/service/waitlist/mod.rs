//! Waiting lists (docs/design.md §24): a refusal that can wait its turn.
//!
//! - `join`: a place in the queue of a full interval;
//! - `entries`: reading entries (with their position) and leaving;
//! - `queue`: serving a queue inside a decision (`serve`);
//! - `settle`: an offered booking's entry follows the booking;
//! - `idle`: the sweeper's turn, for queues no request touches;
//! - `ahead`: what the queue would take, for slot search and availability.
//!
//! The offer is a hold made in the transaction that frees the units, and
//! every decision on a resource with a queue serves it first, so nobody
//! books past the queue; `resource.waitlist_active` tells a decision, in
//! the row it locks anyway, whether there is a queue to serve.

pub(in crate::service) mod ahead;
mod entries;
mod idle;
mod join;
pub(in crate::service) mod queue;
pub(in crate::service) mod settle;

pub use entries::{Placed, get, leave, list, waiting_length};
pub use idle::serve_idle_queues;
pub use join::{NewEntry, join};
