//! How a service error becomes a problem: one `From`, so `?` in a handler
//! answers every refusal with its documented type and members.

use super::{
    precondition::precondition_failed,
    problem::{Problem, ProblemType},
};
use crate::domain::field::{Field, Step};
use crate::service::ServiceError;

/// A field of the request as a JSON Pointer (RFC 6901): `/schedule/weekly/1/to`.
pub fn pointer(field: &Field) -> String {
    let mut pointer = String::new();
    for step in field.steps() {
        pointer.push('/');
        match step {
            Step::Name(name) => pointer.push_str(&name.replace('~', "~0").replace('/', "~1")),
            Step::Index(index) => pointer.push_str(&index.to_string()),
        }
    }
    pointer
}

impl From<crate::service::ServiceError> for Problem {
    fn from(err: crate::service::ServiceError) -> Self {
        match err {
            ServiceError::NotFound => Problem::new(ProblemType::NotFound, "No object with this id."),
            ServiceError::AlreadyExists { field } => {
                Problem::new(ProblemType::AlreadyExists, format!("Another object already has this {field}."))
                    .with("field", field)
            }
            ServiceError::VersionMismatch { current_version } => precondition_failed(current_version),
            ServiceError::Invalid { field, detail } => Problem::invalid(pointer(&field), detail),
            ServiceError::InvalidTransition(invalid) => Problem::new(
                ProblemType::InvalidStateTransition,
                format!("A {} booking cannot {}.", invalid.current, invalid.action),
            )
            .with("current_status", invalid.current.as_str())
            .with("action", invalid.action.as_str())
            .with("allowed_actions", invalid.allowed.iter().map(|a| a.as_str()).collect::<Vec<_>>()),
            ServiceError::HoldExpired { at } => {
                Problem::new(ProblemType::HoldExpired, "The hold ran out before this request; the booking is expired.")
                    .with("hold_expired_at", at)
            }
            ServiceError::ResourceInactive { resource_id } => {
                Problem::new(ProblemType::ResourceInactive, "The resource is inactive and takes no new bookings.")
                    .with("resource_id", resource_id.0)
            }
            ServiceError::DuplicateBooking { existing } => Problem::new(
                ProblemType::DuplicateBooking,
                "The customer already has a booking of this resource that overlaps the interval.",
            )
            .with("existing_booking_id", existing.0),
            ServiceError::CapacityExceeded { resource_id, capacity, requested, available } => Problem::new(
                ProblemType::CapacityExceeded,
                format!("Only {available} of the {requested} requested units are free over the whole interval."),
            )
            .with("resource_id", resource_id.0)
            .with("capacity", capacity)
            .with("requested", requested)
            .with("available", available),
            ServiceError::CapacityBelowCommitments { peak_usage } => Problem::new(
                ProblemType::CapacityBelowCommitments,
                format!("Future bookings use up to {peak_usage} units at once; capacity cannot go below that."),
            )
            .with("peak_usage", peak_usage),
            ServiceError::HasBookings { blocking_bookings } => Problem::new(
                ProblemType::ResourceHasBookings,
                format!("It has {blocking_bookings} future blocking bookings; cancel them or deactivate instead."),
            )
            .with("blocking_bookings", blocking_bookings),
            ServiceError::IdempotencyClaimLost => Problem::new(
                ProblemType::IdempotencyKeyInUse,
                "Another request with this Idempotency-Key took over; nothing was changed by this one.",
            ),
            ServiceError::Unavailable(source) => {
                tracing::warn!(error = %source, "answering 503: database unavailable or contended");
                Problem::unavailable("The database is busy or unreachable. Nothing was changed; retry later.")
            }
            ServiceError::Internal(source) => {
                tracing::error!(error = ?source, "internal error");
                Problem::internal()
            }
        }
    }
}
