//! Booking use cases: the conflict engine.
//!
//! Every decision runs in one write transaction that first locks the
//! resource row (PostgreSQL `FOR UPDATE`; SQLite `BEGIN IMMEDIATE`), and
//! only then reads the clock, so the order in which deciders take the lock is
//! also the order of their `now`: a hold that one decider saw expire can
//! never be confirmed by a later one. On PostgreSQL that clock is the
//! database's (`Db::decision_clock`), so this holds across instances
//! whose own clocks disagree. The resource row carries the schedule and the
//! policy, so they are read under the same lock as the decision.
//!
//! Checks run in the order of docs/design.md §4: existence (404),
//! preconditions (412), values (422), then the rules in the order of §3,
//! decided by `domain::rules` from what this module reads.
//!
//! A booking through a group (docs/design.md §14) locks every member, in
//! the one global order (resources by id), then tries them in the group's
//! trial order and takes the first the rules admit; a reschedule tries its
//! own member first. All of it in the one transaction, so two deciders can
//! never pick the same free unit.
//!
//! One module per use case, sharing the types of `types` and the writes of
//! `write` (docs/design.md §8 has the map and the recipe for a new flow):
//!
//! - `create`: a new booking or hold;
//! - `one_trip`: a new booking on one resource in one round trip, when it
//!   can be (docs/design.md §30);
//! - `actions`: confirm, approve, decline, cancel, check-in, complete,
//!   no-show;
//! - `reschedule`: moving a booking;
//! - `locking`: how a decision locks what it decides on;
//! - `snapshot`: refusals from a snapshot, without the lock;
//! - `write`: writing what was decided, with its events and summary;
//! - `reads`: bookings, histories, availability, commitments;
//! - `sweep`: the sweeper (holds and requests that ran out, missed
//!   check-ins).
//!
//! The decision itself, the one place that judges, is `service::decision`.

mod actions;
mod create;
mod locking;
mod one_trip;
pub(in crate::service) mod reads;
mod reschedule;
mod snapshot;
mod sweep;
pub(in crate::service) mod types;
pub(in crate::service) mod write;

pub use crate::service::Context;
pub use actions::act;
pub use create::create;
pub use reads::{availability, get, history, list};
pub use reschedule::reschedule;
pub use sweep::{SWEEP_BATCH, expire_due_holds, release_missed_check_ins};
pub use types::{NewBooking, Reschedule, Target};
