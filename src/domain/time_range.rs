//! A half-open interval `[start, end)` with `start < end`: a booking ending at
//! 10:00 and one starting at 10:00 do not overlap.

use std::ops::RangeInclusive;

use chrono::{DateTime, Duration, Utc};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeRange {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl TimeRange {
    /// `None` unless `start < end`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Self> {
        (start < end).then_some(Self { start, end })
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// The length in seconds, rounded **up**: a range 3,600.5 s long does
    /// not fit a 3,600 s limit. The overlap reads rely on that limit as an
    /// exact bound (anything overlapping starts less than the longest
    /// allowed booking before), so rounding down would hide bookings.
    pub fn duration_seconds(&self) -> i64 {
        let length = self.end - self.start;
        let whole = length.num_seconds();
        if length > Duration::seconds(whole) { whole + 1 } else { whole }
    }

    pub fn overlaps(&self, other: &TimeRange) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// The UTC hours it touches, as hour numbers since the Unix epoch
    /// (hour `h` is `[h·3600 s, (h+1)·3600 s)`). The end is exclusive: a
    /// range ending on the hour does not touch the hour that starts then.
    pub fn hours(&self) -> RangeInclusive<i64> {
        self.spans(HOUR_SECONDS)
    }

    /// The spans of `seconds` it touches, numbered like hours (span `s` is
    /// `[s·seconds, (s+1)·seconds)`; the end is exclusive). `seconds > 0`.
    pub fn spans(&self, seconds: i64) -> RangeInclusive<i64> {
        let first = self.start.timestamp().div_euclid(seconds);
        let end = self.end.timestamp();
        let on_the_edge = end.rem_euclid(seconds) == 0 && self.end.timestamp_subsec_nanos() == 0;
        let last = end.div_euclid(seconds) - i64::from(on_the_edge);
        first..=last
    }
}

const HOUR_SECONDS: i64 = 3_600;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, hour, 0, 0).unwrap()
    }

    #[test]
    fn empty_and_reversed_ranges_do_not_exist() {
        assert!(TimeRange::new(at(10), at(10)).is_none());
        assert!(TimeRange::new(at(11), at(10)).is_none());
    }

    #[test]
    fn a_fraction_of_a_second_counts_as_a_whole_one() {
        let exact = TimeRange::new(at(10), at(11)).unwrap();
        let longer = TimeRange::new(at(10), at(11) + Duration::microseconds(1)).unwrap();
        let short = TimeRange::new(at(10), at(10) + Duration::milliseconds(1)).unwrap();
        assert_eq!((exact.duration_seconds(), longer.duration_seconds(), short.duration_seconds()), (3600, 3601, 1));
    }

    #[test]
    fn a_range_touches_the_hours_it_overlaps_and_not_the_one_it_ends_at() {
        let hours = |start, end| TimeRange::new(start, end).unwrap().hours();
        let h10 = at(10).timestamp() / 3600;
        assert_eq!(hours(at(10), at(11)), h10..=h10, "ending on the hour");
        assert_eq!(hours(at(10), at(11) + Duration::nanoseconds(1)), h10..=h10 + 1, "a nanosecond past it");
        assert_eq!(hours(at(11) - Duration::nanoseconds(1), at(11)), h10..=h10);
        assert_eq!(hours(at(9) + Duration::minutes(30), at(12) + Duration::minutes(15)), h10 - 1..=h10 + 2);
        let before_1970 = Utc.with_ymd_and_hms(1969, 12, 31, 23, 30, 0).unwrap();
        assert_eq!(hours(before_1970, before_1970 + Duration::minutes(45)), -1..=0);
    }

    #[test]
    fn adjacent_ranges_do_not_overlap() {
        let a = TimeRange::new(at(9), at(10)).unwrap();
        let b = TimeRange::new(at(10), at(11)).unwrap();
        let c = TimeRange::new(at(9), at(11)).unwrap();
        assert!(!a.overlaps(&b) && !b.overlaps(&a));
        assert!(a.overlaps(&c) && c.overlaps(&b));
    }
}
