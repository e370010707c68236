//! A half-open interval `[start, end)` with `start < end`: a booking ending at
//! 10:00 and one starting at 10:00 do not overlap.

use chrono::{DateTime, Utc};

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

    pub fn duration_seconds(&self) -> i64 {
        (self.end - self.start).num_seconds()
    }

    pub fn overlaps(&self, other: &TimeRange) -> bool {
        self.start < other.end && other.start < self.end
    }
}

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
    fn adjacent_ranges_do_not_overlap() {
        let a = TimeRange::new(at(9), at(10)).unwrap();
        let b = TimeRange::new(at(10), at(11)).unwrap();
        let c = TimeRange::new(at(9), at(11)).unwrap();
        assert!(!a.overlaps(&b) && !b.overlaps(&a));
        assert!(a.overlaps(&c) && c.overlaps(&b));
    }
}
