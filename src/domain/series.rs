//! Recurring series (docs/design.md §25): one request for many
//! occurrences of the same wall-clock time, each an ordinary booking that
//! names its series. The series keeps what was asked (the first
//! occurrence, the rule, the quantity, the mode) and whether it was
//! cancelled; the occurrences are the bookings.

use chrono::{DateTime, Utc};

use super::{
    booking::Target,
    ids::{CustomerId, SeriesId},
    time_range::TimeRange,
};

/// What happens when some occurrences are refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SeriesMode {
    /// Any refused occurrence refuses the series: nothing is written.
    #[default]
    AllOrNothing,
    /// The occurrences that pass are booked; the others are reported.
    SkipConflicts,
}

impl SeriesMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllOrNothing => "all_or_nothing",
            Self::SkipConflicts => "skip_conflicts",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::AllOrNothing, Self::SkipConflicts].into_iter().find(|m| m.as_str() == value)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeriesStatus {
    Active,
    Cancelled,
}

impl SeriesStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Active, Self::Cancelled].into_iter().find(|s| s.as_str() == value)
    }
}

/// A series as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Series {
    pub id: SeriesId,
    pub target: Target,
    pub customer_id: CustomerId,
    /// The first occurrence, as asked.
    pub first: TimeRange,
    /// The `RRULE` value, as given.
    pub rrule: String,
    pub quantity: i32,
    pub mode: SeriesMode,
    pub status: SeriesStatus,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
