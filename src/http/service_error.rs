//! How a service error becomes a problem: one `From`, so `?` in a handler
//! answers every refusal with its documented type and members.

use super::{
    precondition::precondition_failed,
    problem::{FieldError, Problem, ProblemType},
};
use crate::domain::{
    field::{Field, Step},
    rules::Refusal,
    time_range::TimeRange,
};
use crate::http::problem::{Alternative, OccurrenceProblem, OpenInterval};
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
            ServiceError::InvalidAt(problems) => Problem::validation(
                problems.into_iter().map(|(pointer, detail)| FieldError { pointer, detail }).collect(),
            ),
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
            ServiceError::Refused { refusal, alternatives } => with_alternatives(refused(refusal), alternatives),
            ServiceError::BundleItem { index, error } => {
                let item = format!("/items/{index}");
                match *error {
                    // A value of the item itself: point into it.
                    ServiceError::Invalid { field, detail }
                        if matches!(field.steps(), [Step::Name("resource_id" | "group_id" | "quantity")]) =>
                    {
                        Problem::invalid(format!("{item}{}", pointer(&field)), detail)
                    }
                    // Not the item's fault: no pointer.
                    other @ (ServiceError::Unavailable(_) | ServiceError::Internal(_)) => Problem::from(other),
                    other => Problem::from(other).with("item_pointer", item),
                }
            }
            ServiceError::NoResourceAvailable { group_id, alternatives, waitlist_length } => with_alternatives(
                with_waitlist_length(
                    Problem::new(
                        ProblemType::NoResourceAvailable,
                        "No member of the group can take this booking over the whole interval.",
                    )
                    .with("group_id", group_id.0),
                    waitlist_length,
                ),
                alternatives,
            ),
            ServiceError::SeriesConflict { occurrences } => {
                let count = occurrences.len();
                let listed: Vec<OccurrenceProblem> =
                    occurrences.iter().map(|(range, err)| OccurrenceProblem::new(range, err, "")).collect();
                Problem::new(
                    ProblemType::SeriesConflict,
                    format!("{count} occurrences of the series cannot be booked; see `occurrences`."),
                )
                .with("occurrences", listed)
            }
            ServiceError::WaitlistNotNeeded { available } => Problem::new(
                ProblemType::WaitlistNotNeeded,
                format!("{available} units are free over the whole interval: book it instead of waiting."),
            )
            .with("available", available),
            ServiceError::AlreadyOnWaitlist { entry_id } => Problem::new(
                ProblemType::AlreadyOnWaitlist,
                "The customer already waits for an overlapping interval of this resource or group.",
            )
            .with("entry_id", entry_id.0),
            ServiceError::WaitlistEntryClosed { status } => Problem::new(
                ProblemType::WaitlistEntryClosed,
                format!("The entry is {status}: it is no longer in the queue."),
            )
            .with("current_status", status.as_str()),
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
            ServiceError::IdempotencyKeyTaken => Problem::new(
                ProblemType::IdempotencyKeyInUse,
                "Another request with this Idempotency-Key finished first; nothing was changed by this one.",
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

impl OccurrenceProblem {
    /// Occurrence `range` refused with `err`, its `type` under `base`.
    pub fn new(range: &TimeRange, err: &ServiceError, base: &str) -> Self {
        let problem = match err.refusal_copy() {
            Some(copy) => Problem::from(copy),
            None => Problem::internal(),
        };
        let info = problem.kind.info();
        let alternatives = problem.extensions.iter().find(|(name, _)| name == "alternatives").map(|(_, v)| v.clone());
        Self {
            start_at: range.start(),
            end_at: range.end(),
            r#type: format!("{base}/problems/{}", info.slug),
            code: info.slug.to_owned(),
            title: info.title.to_owned(),
            status: info.status,
            detail: problem.detail,
            alternatives,
        }
    }
}

/// `problem` with its `alternatives`, when it offers any.
fn with_alternatives(problem: Problem, alternatives: Option<Vec<TimeRange>>) -> Problem {
    match alternatives {
        Some(alternatives) => problem.with(
            "alternatives",
            alternatives.iter().map(|r| Alternative { start_at: r.start(), end_at: r.end() }).collect::<Vec<_>>(),
        ),
        None => problem,
    }
}

/// A rule's refusal as its problem, with the members a frontend acts on.
fn refused(refusal: Refusal) -> Problem {
    match refusal {
        Refusal::ResourceInactive { resource_id } => {
            Problem::new(ProblemType::ResourceInactive, "The resource is inactive and takes no new bookings.")
                .with("resource_id", resource_id.0)
        }
        Refusal::CutoffPassed { action, cutoff_at } => Problem::new(
            ProblemType::CutoffPassed,
            format!("Customers may {action} this booking only until {cutoff_at}; ask the venue."),
        )
        .with("action", action.as_str())
        .with("cutoff_at", cutoff_at),
        Refusal::NoticeTooShort { min_notice_seconds, earliest_start_at } => Problem::new(
            ProblemType::NoticeTooShort,
            format!("Bookings of this resource need {min_notice_seconds} s of notice."),
        )
        .with("min_notice_seconds", min_notice_seconds)
        .with("earliest_start_at", earliest_start_at),
        Refusal::BeyondHorizon { max_advance_seconds, latest_start_at } => Problem::new(
            ProblemType::BeyondBookingHorizon,
            format!("This resource takes bookings up to {max_advance_seconds} s ahead."),
        )
        .with("max_advance_seconds", max_advance_seconds)
        .with("latest_start_at", latest_start_at),
        Refusal::OutsideOpeningHours { time_zone, open_intervals } => {
            let intervals: Vec<OpenInterval> = open_intervals.iter().map(|r| open_interval(r, time_zone)).collect();
            let detail = if intervals.is_empty() {
                format!("The resource is closed that day ({}).", time_zone.name())
            } else {
                let hours: Vec<String> = intervals
                    .iter()
                    .map(|i| format!("{}-{}", local_clock(&i.local_start), local_clock(&i.local_end)))
                    .collect();
                format!("The resource is open {} ({}) that day.", hours.join(", "), time_zone.name())
            };
            Problem::new(ProblemType::OutsideOpeningHours, detail)
                .with("time_zone", time_zone.name())
                .with("open_intervals", intervals)
        }
        Refusal::NotOnSlotGrid { slot_step_seconds } => Problem::new(
            ProblemType::NotOnSlotGrid,
            format!("Bookings start every {slot_step_seconds} s from the opening time."),
        )
        .with("slot_step_seconds", slot_step_seconds),
        Refusal::BookingLimitReached { limit, active_bookings } => Problem::new(
            ProblemType::BookingLimitReached,
            format!("A customer may hold {limit} active bookings of this resource."),
        )
        .with("limit", limit)
        .with("active_bookings", active_bookings),
        Refusal::Duplicate { existing } => Problem::new(
            ProblemType::DuplicateBooking,
            "The customer already has a booking of this resource that overlaps the interval.",
        )
        .with("existing_booking_id", existing.0),
        Refusal::CapacityExceeded { resource_id, capacity, requested, available, waitlist_length } => {
            with_waitlist_length(
                Problem::new(
                    ProblemType::CapacityExceeded,
                    format!("Only {available} of the {requested} requested units are free over the whole interval."),
                )
                .with("resource_id", resource_id.0)
                .with("capacity", capacity)
                .with("requested", requested)
                .with("available", available),
                waitlist_length,
            )
        }
    }
}

/// `problem` with `waitlist_length`, when the refusal counted it.
fn with_waitlist_length(problem: Problem, waitlist_length: Option<i64>) -> Problem {
    match waitlist_length {
        Some(length) => problem.with("waitlist_length", length),
        None => problem,
    }
}

fn open_interval(range: &TimeRange, zone: chrono_tz::Tz) -> OpenInterval {
    OpenInterval {
        start_at: range.start(),
        end_at: range.end(),
        local_start: range.start().with_timezone(&zone).to_rfc3339(),
        local_end: range.end().with_timezone(&zone).to_rfc3339(),
    }
}

/// `09:00` of `2027-03-29T09:00:00+02:00`.
fn local_clock(rfc3339: &str) -> &str {
    rfc3339.get(11..16).unwrap_or(rfc3339)
}
