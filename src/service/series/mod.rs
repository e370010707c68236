//! Recurring series (docs/design.md §25): many occurrences of one
//! wall-clock time, each judged by the one predicate, all in one
//! transaction.
//!
//! - `create`: expand the rule, judge and book every occurrence (all or
//!   nothing, or skipping the refused), or only say what would happen
//!   (`dry_run`);
//! - `cancel`: the occurrences not yet started (or from a date on), each
//!   under its own cut-off for customers;
//! - `reads`: a series with its occurrences.

mod cancel;
mod create;
mod reads;

pub use cancel::{Cancelled, cancel};
pub use create::{Made, NewSeries, create};
pub use reads::{Shown, get};
