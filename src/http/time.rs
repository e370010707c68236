//! Client times at the edge: RFC 3339 with an explicit offset in (at most
//! `MAX_DATE_TIME_LENGTH` characters), UTC at the database's precision out.

use chrono::{DateTime, Datelike, FixedOffset, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, de::Error};

use super::problem::Problem;

/// The longest date-time berth reads: RFC 3339 to the nanosecond with a
/// numeric offset, `2030-05-01T09:00:00.123456789+02:00`.
pub const MAX_DATE_TIME_LENGTH: usize = 35;
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

/// Reads a client date-time, refusing one longer than the spec's
/// `maxLength` (chrono would read any number of fraction digits).
pub fn bounded<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<FixedOffset>, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    if text.chars().count() > MAX_DATE_TIME_LENGTH {
        return Err(D::Error::custom(format!(
            "must be an RFC 3339 date-time of at most {MAX_DATE_TIME_LENGTH} characters"
        )));
    }
    text.parse().map_err(|err| D::Error::custom(format!("must be an RFC 3339 date-time: {err}")))
}

/// `bounded`, for an optional field (`#[serde(default, ...)]`).
pub fn bounded_option<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<FixedOffset>>, D::Error> {
    bounded(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::de::{IntoDeserializer, value::Error};

    use super::*;

    fn read(text: &str) -> Result<DateTime<FixedOffset>, Error> {
        bounded(text.into_deserializer())
    }

    #[test]
    fn date_times_are_read_up_to_the_nanosecond_with_an_offset_and_no_longer() {
        let longest = "2030-05-01T09:00:00.123456789+02:00";
        assert_eq!(longest.len(), MAX_DATE_TIME_LENGTH);
        assert_eq!(read(longest).unwrap().timestamp_subsec_nanos(), 123_456_789);
        assert!(read("2030-05-01T09:00:00.1234567891+02:00").is_err());
        assert!(read("2030-05-01T09:00:00Z").is_ok());
        assert!(read("tomorrow").is_err());
    }
}
