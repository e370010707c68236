//! What a use case can answer besides its result: `ServiceError`, which
//! the HTTP layer turns into problems (`http::service_error`).

use chrono::{DateTime, Utc};

use crate::domain::{
    booking::InvalidTransition,
    field::{Field, Invalid},
    rules::Refusal,
    time_range::TimeRange,
};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("not found")]
    NotFound,
    #[error("the value of {field} is already taken")]
    AlreadyExists { field: &'static str },
    #[error("the object is at version {current_version}")]
    VersionMismatch { current_version: i64 },
    /// A value the client sent is unacceptable given the current data (the
    /// interval is longer than the resource allows, a referenced id does not
    /// exist, ...). `field` names the value; the HTTP layer points at it.
    #[error("{field}: {detail}")]
    Invalid { field: Field, detail: String },
    /// Values wrong at JSON pointers only known at run time (a booking's
    /// custom fields, a resource's fields schema): (pointer, why) each.
    #[error("{} invalid values", .0.len())]
    InvalidAt(Vec<(String, String)>),
    #[error("{action} is not allowed from {current}", current = .0.current, action = .0.action)]
    InvalidTransition(InvalidTransition),
    #[error("the hold expired at {at}")]
    HoldExpired { at: DateTime<Utc> },
    /// A rule of `domain::rules` refused the booking; on create and
    /// reschedule with the nearest bookable `alternatives`.
    #[error("refused: {refusal:?}")]
    Refused { refusal: Refusal, alternatives: Option<Vec<TimeRange>> },
    /// Item `index` of a bundle was refused (or named nothing): nothing
    /// of the bundle was booked.
    #[error("item {index}: {error}")]
    BundleItem { index: usize, error: Box<ServiceError> },
    /// No member of the group could take the booking; with the nearest
    /// `alternatives` over all members, except for a bundle's item.
    #[error("no member of group {group_id} is free")]
    NoResourceAvailable {
        group_id: crate::domain::ids::GroupId,
        alternatives: Option<Vec<TimeRange>>,
        /// Entries waiting on overlapping intervals, on a booking's create.
        waitlist_length: Option<i64>,
    },
    /// A request to join a waiting list that would book right now.
    #[error("{available} units are free: book instead")]
    WaitlistNotNeeded { available: i64 },
    /// Occurrences of a series were refused (all or nothing: any; skip
    /// conflicts: all): each with what it alone would have been answered.
    #[error("{} occurrences refused", occurrences.len())]
    SeriesConflict { occurrences: Vec<(TimeRange, ServiceError)> },
    /// The customer already waits for an overlapping interval here.
    #[error("already on the waiting list as {entry_id}")]
    AlreadyOnWaitlist { entry_id: crate::domain::ids::WaitlistEntryId },
    /// The entry is no longer in the queue.
    #[error("the entry is {status}")]
    WaitlistEntryClosed { status: crate::domain::waitlist::EntryStatus },
    #[error("future bookings use {peak_usage} units at once")]
    CapacityBelowCommitments { peak_usage: i64 },
    #[error("{blocking_bookings} future blocking bookings")]
    HasBookings { blocking_bookings: u64 },
    /// The request's Idempotency-Key holds another answer by now (a request
    /// with the same key committed first): this one's effect rolled back.
    #[error("the idempotency key holds another answer")]
    IdempotencyKeyTaken,
    /// The database is unreachable, or the write lost every retry.
    #[error("database unavailable")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Retryable(_) | StoreError::Unavailable(_) => ServiceError::Unavailable(err),
            other => ServiceError::Internal(other),
        }
    }
}

impl From<Invalid> for ServiceError {
    fn from(invalid: Invalid) -> Self {
        ServiceError::Invalid { field: invalid.field, detail: invalid.detail }
    }
}

impl From<sea_orm::DbErr> for ServiceError {
    fn from(err: sea_orm::DbErr) -> Self {
        StoreError::from(err).into()
    }
}

impl ServiceError {
    /// A race lost in a way the database did not report as one.
    pub fn lost_race() -> Self {
        ServiceError::Unavailable(StoreError::Retryable(sea_orm::DbErr::Custom("lost a race".into())))
    }

    /// A copy of a refusal of one thing (a rule's, a group's, a wrong
    /// value), to show beside others (a series' occurrences); `None` for
    /// any other error.
    pub fn refusal_copy(&self) -> Option<ServiceError> {
        match self {
            ServiceError::Refused { refusal, alternatives } => {
                Some(ServiceError::Refused { refusal: refusal.clone(), alternatives: alternatives.clone() })
            }
            ServiceError::NoResourceAvailable { group_id, alternatives, waitlist_length } => {
                Some(ServiceError::NoResourceAvailable {
                    group_id: *group_id,
                    alternatives: alternatives.clone(),
                    waitlist_length: *waitlist_length,
                })
            }
            ServiceError::Invalid { field, detail } => {
                Some(ServiceError::Invalid { field: field.clone(), detail: detail.clone() })
            }
            _ => None,
        }
    }

    pub fn invalid(field: impl Into<Field>, detail: impl Into<String>) -> Self {
        ServiceError::Invalid { field: field.into(), detail: detail.into() }
    }

    pub(super) fn is_retryable(&self) -> bool {
        matches!(self, ServiceError::Unavailable(StoreError::Retryable(_)))
    }
}
