//! RFC 9457 problem details, one job per file:
//!
//! - `catalogue`: every problem type, its status, title, meaning, members
//!   and example, in one table;
//! - `value`: the `Problem` a handler returns, and its rendering;
//! - `middleware`: renders problems with their request context and turns
//!   the framework's bare error responses into problems;
//! - `openapi`: the `Problem` schema and the documented error responses.
//!
//! How a service error becomes a problem lives next door, in
//! `http::service_error`.

mod catalogue;
mod middleware;
mod openapi;
mod value;

pub use catalogue::{ProblemInfo, ProblemType};
pub use middleware::{ProblemContext, finalize, finish_problems, instance_of};
pub use openapi::{
    Alternative, OccurrenceProblem, OpenInterval, ProblemSchema, add_problem_responses, problem_responses,
};
pub use value::{FieldError, PROBLEM_JSON, Problem, RETRY_AFTER_SECONDS};
