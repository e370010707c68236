//! Client times at the edge: RFC 3339 with an explicit offset in, UTC at the
//! database's precision out.

use chrono::{DateTime, Datelike, FixedOffset, SubsecRound, Utc};

use super::problem::Problem;
use crate::domain::time_range::TimeRange;

/// A client time in UTC, if its year is 1 to 9999: RFC 3339's range, and
/// what both databases can store and compare (chrono would parse more).
/// Digits below the microsecond are dropped, as PostgreSQL would drop them
/// on write: what berth decides on, answers and stores is the same instant.
pub fn instant(time: DateTime<FixedOffset>, pointer: &str) -> Result<DateTime<Utc>, Problem> {
    let utc = time.with_timezone(&Utc).trunc_subsecs(6);
    if (1..=9999).contains(&utc.year()) {
        Ok(utc)
    } else {
        Err(Problem::invalid(pointer, "must be between the years 0001 and 9999"))
    }
}

/// Turns client times into a range; `end_at <= start_at` is a 422 at `/end_at`.
pub fn time_range(start: DateTime<FixedOffset>, end: DateTime<FixedOffset>) -> Result<TimeRange, Problem> {
    TimeRange::new(instant(start, "/start_at")?, instant(end, "/end_at")?)
        .ok_or_else(|| Problem::invalid("/end_at", "must be after start_at"))
}
