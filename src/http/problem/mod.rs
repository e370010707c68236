//! RFC 9457 problem details, one job per file:
//!
//! - `catalogue`: every problem type, its status, title, meaning, members
//!   and example, in one table;
//! - `value`: the `Problem` a handler returns, and its rendering;
//! - `middleware`: renders problems with their request context and turns
//!   the framework's bare error responses into problems;
//! - `openapi`: each type's schema and the documented error responses.
//!
//! How a service error becomes a problem lives next door, in
//! `http::service_error`.

mod catalogue;
mod middleware;
mod openapi;
mod value;

pub use catalogue::{Member, ProblemInfo, ProblemType};
pub use middleware::{ProblemContext, finalize, finish_problems, instance_of};
pub use openapi::{
    Alternative, BookingAction, OccurrenceProblem, OpenInterval, add_problem_responses, documented_types,
    problem_responses, schema_name, type_schema,
};
pub use value::{FieldError, PROBLEM_JSON, Problem, RETRY_AFTER_SECONDS};
