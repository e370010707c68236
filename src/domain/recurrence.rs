//! Recurrence rules (docs/design.md §25): the subset of RFC 5545 `RRULE`
//! a series takes, parsed strictly (`Rule::parse`: every part outside the
//! subset is refused by name), and expanded in the resource's local time
//! (`Rule::occurrences`): the first occurrence's wall-clock start and end
//! repeat on every date the rule gives, each mapped to an instant by the
//! schedule's one rule for daylight saving (`schedule::instant`: a time in
//! the spring gap moves forward by the gap, one in the autumn fold is the
//! earlier), so 18:00 stays 18:00 while the UTC offset changes.
//!
//! The subset: `FREQ=DAILY|WEEKLY|MONTHLY`, `INTERVAL`, `BYDAY` (weekly:
//! `MO,WE`; monthly also `2TU`, `-1FR`), `BYMONTHDAY` (daily and monthly),
//! and exactly one of `COUNT` or `UNTIL` (UTC, inclusive, `YYYYMMDDTHHMMSSZ`
//! or a date). Written here rather than taken from a crate: the expansion
//! has to use berth's own daylight-saving rule, and the subset is small.

use chrono::{DateTime, Datelike, Days, Duration, Months, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

use super::{schedule, time_range::TimeRange};

/// The most occurrences one series may have.
pub const MAX_OCCURRENCES: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freq {
    Daily,
    Weekly,
    Monthly,
}

/// How a rule ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Count(u32),
    /// The last instant an occurrence may start at (inclusive).
    Until(DateTime<Utc>),
}

/// A weekday, with its place in the month (`2TU`: 2, `-1FR`: -1) for a
/// monthly rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByDay {
    pub nth: Option<i8>,
    pub day: Weekday,
}

/// A parsed rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub freq: Freq,
    pub interval: u32,
    pub by_day: Vec<ByDay>,
    pub by_month_day: Vec<i8>,
    pub end: End,
}

/// Why a rule is refused: the part (`FREQ`, `BYDAY`, ...) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    pub part: String,
    pub detail: String,
}

fn refuse(part: &str, detail: impl Into<String>) -> RuleError {
    RuleError { part: part.to_owned(), detail: detail.into() }
}

const DAYS: [(&str, Weekday); 7] = [
    ("MO", Weekday::Mon),
    ("TU", Weekday::Tue),
    ("WE", Weekday::Wed),
    ("TH", Weekday::Thu),
    ("FR", Weekday::Fri),
    ("SA", Weekday::Sat),
    ("SU", Weekday::Sun),
];

fn parse_by_day(value: &str, freq: Freq) -> Result<Vec<ByDay>, RuleError> {
    let mut days = Vec::new();
    for item in value.split(',') {
        let split = item.len().saturating_sub(2);
        let (nth, name) = (item.get(..split).unwrap_or(""), item.get(split..).unwrap_or(""));
        let day = DAYS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| *d)
            .ok_or_else(|| refuse("BYDAY", format!("`{item}` is not a weekday (MO, TU, WE, TH, FR, SA, SU)")))?;
        let nth = match nth {
            "" => None,
            _ if freq != Freq::Monthly => {
                return Err(refuse("BYDAY", format!("`{item}`: a place in the month (2TU, -1FR) needs FREQ=MONTHLY")));
            }
            text => match text.parse::<i8>() {
                Ok(n) if (1..=5).contains(&n.abs()) && !text.starts_with("+0") && !text.starts_with('0') => Some(n),
                _ => return Err(refuse("BYDAY", format!("`{item}`: the place in the month is 1 to 5 or -1 to -5"))),
            },
        };
        if days.iter().any(|d: &ByDay| d.day == day && d.nth == nth) {
            return Err(refuse("BYDAY", format!("`{item}` is listed twice")));
        }
        days.push(ByDay { nth, day });
    }
    Ok(days)
}

fn parse_until(value: &str) -> Result<DateTime<Utc>, RuleError> {
    let bad = || refuse("UNTIL", "must be a UTC date-time (20270330T170000Z) or a date (20270330)");
    if let Some(text) = value.strip_suffix('Z') {
        let at = NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%S").map_err(|_| bad())?;
        return Ok(at.and_utc());
    }
    if value.len() == 8 {
        let date = NaiveDate::parse_from_str(value, "%Y%m%d").map_err(|_| bad())?;
        return Ok(date.and_time(NaiveTime::from_hms_opt(23, 59, 59).ok_or_else(bad)?).and_utc());
    }
    Err(bad())
}

impl Rule {
    /// Parses an `RRULE` value (without the `RRULE:` prefix), refusing
    /// every part outside the subset by name.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let mut parts: Vec<(&str, &str)> = Vec::new();
        for part in text.split(';') {
            let (key, value) =
                part.split_once('=').ok_or_else(|| refuse(part, "every part is NAME=VALUE, separated by `;`"))?;
            if parts.iter().any(|(k, _)| *k == key) {
                return Err(refuse(key, "is given twice"));
            }
            if value.is_empty() {
                return Err(refuse(key, "has no value"));
            }
            parts.push((key, value));
        }
        let get = |key: &str| parts.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        for (key, _) in &parts {
            if !["FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "COUNT", "UNTIL"].contains(key) {
                return Err(refuse(key, "is not supported (FREQ, INTERVAL, BYDAY, BYMONTHDAY, COUNT and UNTIL are)"));
            }
        }
        let freq = match get("FREQ") {
            Some("DAILY") => Freq::Daily,
            Some("WEEKLY") => Freq::Weekly,
            Some("MONTHLY") => Freq::Monthly,
            Some(other) => return Err(refuse("FREQ", format!("`{other}` is not supported (DAILY, WEEKLY, MONTHLY)"))),
            None => return Err(refuse("FREQ", "is required")),
        };
        let interval = match get("INTERVAL") {
            None => 1,
            Some(text) => match text.parse::<u32>() {
                Ok(n) if (1..=366).contains(&n) => n,
                _ => return Err(refuse("INTERVAL", "must be a whole number from 1 to 366")),
            },
        };
        let by_day = get("BYDAY").map(|v| parse_by_day(v, freq)).transpose()?.unwrap_or_default();
        let by_month_day = match get("BYMONTHDAY") {
            None => Vec::new(),
            Some(_) if freq == Freq::Weekly => return Err(refuse("BYMONTHDAY", "does not go with FREQ=WEEKLY")),
            Some(value) => {
                let mut days = Vec::new();
                for item in value.split(',') {
                    match item.parse::<i8>() {
                        Ok(n) if n != 0 && (-31..=31).contains(&n) && !days.contains(&n) => days.push(n),
                        _ => {
                            return Err(refuse(
                                "BYMONTHDAY",
                                format!("`{item}`: days are 1 to 31 or -1 to -31, once each"),
                            ));
                        }
                    }
                }
                days
            }
        };
        let end = match (get("COUNT"), get("UNTIL")) {
            (Some(_), Some(_)) => return Err(refuse("UNTIL", "give COUNT or UNTIL, not both")),
            (None, None) => return Err(refuse("COUNT", "give COUNT or UNTIL: a series must end")),
            (Some(count), None) => match count.parse::<u32>() {
                Ok(n) if n >= 1 && n as usize <= MAX_OCCURRENCES => End::Count(n),
                Ok(n) if n as usize > MAX_OCCURRENCES => {
                    return Err(refuse("COUNT", format!("at most {MAX_OCCURRENCES} occurrences")));
                }
                _ => return Err(refuse("COUNT", "must be a whole number from 1")),
            },
            (None, Some(until)) => End::Until(parse_until(until)?),
        };
        Ok(Rule { freq, interval, by_day, by_month_day, end })
    }

    /// The local dates of period number `period` (counted from the first
    /// occurrence's) that the rule gives, in order.
    fn dates_of(&self, first: NaiveDate, period: u32) -> Vec<NaiveDate> {
        let step = period.saturating_mul(self.interval);
        let day_ok = |date: &NaiveDate| {
            (self.by_day.is_empty() || self.by_day.iter().any(|d| d.day == date.weekday()))
                && (self.by_month_day.is_empty() || self.by_month_day.iter().any(|n| month_day(*date, *n)))
        };
        match self.freq {
            Freq::Daily => first.checked_add_days(Days::new(u64::from(step))).filter(day_ok).into_iter().collect(),
            Freq::Weekly => {
                let monday = first - Duration::days(i64::from(first.weekday().num_days_from_monday()));
                let Some(week) = monday.checked_add_days(Days::new(u64::from(step) * 7)) else { return Vec::new() };
                let days: Vec<Weekday> = if self.by_day.is_empty() {
                    vec![first.weekday()]
                } else {
                    self.by_day.iter().map(|d| d.day).collect()
                };
                let mut dates: Vec<NaiveDate> = (0..7)
                    .filter_map(|offset| week.checked_add_days(Days::new(offset)))
                    .filter(|date| days.contains(&date.weekday()))
                    .collect();
                dates.sort();
                dates
            }
            Freq::Monthly => {
                let Some(month) = first.with_day(1).and_then(|d| d.checked_add_months(Months::new(step))) else {
                    return Vec::new();
                };
                let Some(next) = month.checked_add_months(Months::new(1)) else { return Vec::new() };
                let in_month: Vec<NaiveDate> = month.iter_days().take_while(|d| *d < next).collect();
                let mut dates: Vec<NaiveDate> = if self.by_day.is_empty() && self.by_month_day.is_empty() {
                    in_month.iter().copied().filter(|d| d.day() == first.day()).collect()
                } else {
                    in_month
                        .iter()
                        .copied()
                        .filter(|date| {
                            (self.by_day.is_empty() || self.by_day.iter().any(|d| nth_weekday(&in_month, *date, d)))
                                && (self.by_month_day.is_empty()
                                    || self.by_month_day.iter().any(|n| month_day(*date, *n)))
                        })
                        .collect()
                };
                dates.sort();
                dates
            }
        }
    }

    /// Every occurrence, in order: `first` (in the local time of `zone`)
    /// and the rule's later dates with the same wall-clock start and end.
    /// `Err(n)` when there are more than `MAX_OCCURRENCES` (`n` found by
    /// then).
    pub fn occurrences(&self, first: &TimeRange, zone: Tz) -> Result<Vec<TimeRange>, usize> {
        let start = first.start().with_timezone(&zone).naive_local();
        let end = first.end().with_timezone(&zone).naive_local();
        let (first_date, wall_start) = (start.date(), start.time());
        let end_days = (end.date() - first_date).num_days();
        let wall_end = end.time();
        let duration = first.end() - first.start();
        let occurrence = |date: NaiveDate| -> Option<TimeRange> {
            let at = schedule::instant(zone, date.and_time(wall_start));
            let end_date = date.checked_add_signed(Duration::days(end_days))?;
            let until = schedule::instant(zone, end_date.and_time(wall_end));
            // A wall end that daylight saving folds onto the start keeps
            // the first occurrence's length.
            TimeRange::new(at, until).or_else(|| TimeRange::new(at, at + duration))
        };
        let mut found = vec![*first];
        // Enough periods for the most occurrences at one per period, and
        // for rules that skip most periods (BYMONTHDAY=31, a leap day).
        const MAX_PERIODS: u32 = 5_000;
        for period in 0..MAX_PERIODS {
            for date in self.dates_of(first_date, period) {
                if date <= first_date {
                    continue;
                }
                let Some(next) = occurrence(date) else { continue };
                match self.end {
                    End::Count(count) if found.len() >= count as usize => return Ok(found),
                    End::Until(until) if next.start() > until => return Ok(found),
                    _ => {}
                }
                if found.len() == MAX_OCCURRENCES {
                    return Err(found.len() + 1);
                }
                found.push(next);
            }
        }
        Ok(found)
    }
}

/// Whether `date` is day `n` of its month (`-1`: the last).
fn month_day(date: NaiveDate, n: i8) -> bool {
    if n > 0 {
        return date.day() == u32::from(n.unsigned_abs());
    }
    let last = date.with_day(1).and_then(|d| d.checked_add_months(Months::new(1))).and_then(|d| d.pred_opt());
    last.is_some_and(|last| i64::from(last.day()) + 1 + i64::from(n) == i64::from(date.day()))
}

/// Whether `date` (of the month whose days are `month`) is what `by` names:
/// its weekday, and (`nth`) its place among that weekday's dates.
fn nth_weekday(month: &[NaiveDate], date: NaiveDate, by: &ByDay) -> bool {
    if date.weekday() != by.day {
        return false;
    }
    let Some(nth) = by.nth else { return true };
    let same: Vec<&NaiveDate> = month.iter().filter(|d| d.weekday() == by.day).collect();
    let index = if nth > 0 {
        usize::from(nth.unsigned_abs()) - 1
    } else {
        same.len().wrapping_sub(usize::from(nth.unsigned_abs()))
    };
    same.get(index).is_some_and(|d| **d == date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn first(start: &str, end: &str) -> TimeRange {
        TimeRange::new(utc(start), utc(end)).unwrap()
    }

    fn local(zone: Tz, ranges: &[TimeRange]) -> Vec<String> {
        ranges.iter().map(|r| r.start().with_timezone(&zone).format("%Y-%m-%d %a %H:%M %:z").to_string()).collect()
    }

    #[test]
    fn weekly_at_six_pm_in_berlin_stays_at_six_across_the_spring_change() {
        let zone: Tz = "Europe/Berlin".parse().unwrap();
        let rule = Rule::parse("FREQ=WEEKLY;COUNT=4").unwrap();
        let found = rule.occurrences(&first("2027-03-16T18:00:00+01:00", "2027-03-16T19:00:00+01:00"), zone).unwrap();
        assert_eq!(
            local(zone, &found),
            [
                "2027-03-16 Tue 18:00 +01:00",
                "2027-03-23 Tue 18:00 +01:00",
                "2027-03-30 Tue 18:00 +02:00",
                "2027-04-06 Tue 18:00 +02:00"
            ]
        );
        assert!(found.iter().all(|r| r.duration_seconds() == 3600));
        assert_eq!(found[2].start(), utc("2027-03-30T16:00:00Z"));
    }

    #[test]
    fn by_day_and_the_nth_weekday_of_the_month() {
        let zone: Tz = "America/New_York".parse().unwrap();
        let rule = Rule::parse("FREQ=WEEKLY;BYDAY=TU,TH;COUNT=5").unwrap();
        let found = rule.occurrences(&first("2027-03-09T18:00:00-05:00", "2027-03-09T19:00:00-05:00"), zone).unwrap();
        assert_eq!(
            local(zone, &found),
            [
                "2027-03-09 Tue 18:00 -05:00",
                "2027-03-11 Thu 18:00 -05:00",
                "2027-03-16 Tue 18:00 -04:00",
                "2027-03-18 Thu 18:00 -04:00",
                "2027-03-23 Tue 18:00 -04:00"
            ]
        );
        let second_tuesday = Rule::parse("FREQ=MONTHLY;BYDAY=2TU;COUNT=3").unwrap();
        let found =
            second_tuesday.occurrences(&first("2027-01-12T10:00:00-05:00", "2027-01-12T11:00:00-05:00"), zone).unwrap();
        assert_eq!(
            local(zone, &found),
            ["2027-01-12 Tue 10:00 -05:00", "2027-02-09 Tue 10:00 -05:00", "2027-03-09 Tue 10:00 -05:00"]
        );
        let last_friday = Rule::parse("FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20270501T000000Z").unwrap();
        let found =
            last_friday.occurrences(&first("2027-01-29T10:00:00-05:00", "2027-01-29T11:00:00-05:00"), zone).unwrap();
        assert_eq!(
            local(zone, &found),
            [
                "2027-01-29 Fri 10:00 -05:00",
                "2027-02-26 Fri 10:00 -05:00",
                "2027-03-26 Fri 10:00 -04:00",
                "2027-04-30 Fri 10:00 -04:00"
            ]
        );
    }

    #[test]
    fn a_half_hour_change_keeps_the_wall_time_too() {
        // Lord Howe moves by 30 minutes on 2027-04-04 (02:00 → 01:30).
        let zone: Tz = "Australia/Lord_Howe".parse().unwrap();
        let rule = Rule::parse("FREQ=DAILY;INTERVAL=2;COUNT=3").unwrap();
        let found = rule.occurrences(&first("2027-04-02T18:00:00+11:00", "2027-04-02T19:00:00+11:00"), zone).unwrap();
        assert_eq!(
            local(zone, &found),
            ["2027-04-02 Fri 18:00 +11:00", "2027-04-04 Sun 18:00 +10:30", "2027-04-06 Tue 18:00 +10:30"]
        );
    }

    #[test]
    fn a_monthly_day_that_a_month_lacks_is_skipped_and_until_is_inclusive() {
        let rule = Rule::parse("FREQ=MONTHLY;UNTIL=20270531T090000Z").unwrap();
        let found = rule.occurrences(&first("2027-01-31T09:00:00Z", "2027-01-31T10:00:00Z"), Tz::UTC).unwrap();
        assert_eq!(
            local(Tz::UTC, &found),
            ["2027-01-31 Sun 09:00 +00:00", "2027-03-31 Wed 09:00 +00:00", "2027-05-31 Mon 09:00 +00:00"]
        );
        let last_day = Rule::parse("FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=2").unwrap();
        let found = last_day.occurrences(&first("2027-02-28T09:00:00Z", "2027-02-28T10:00:00Z"), Tz::UTC).unwrap();
        assert_eq!(local(Tz::UTC, &found), ["2027-02-28 Sun 09:00 +00:00", "2027-03-31 Wed 09:00 +00:00"]);
    }

    #[test]
    fn more_than_two_hundred_occurrences_are_refused() {
        let over = Rule::parse("FREQ=DAILY;UNTIL=20280101T000000Z").unwrap();
        assert!(over.occurrences(&first("2027-01-01T09:00:00Z", "2027-01-01T10:00:00Z"), Tz::UTC).is_err());
        assert_eq!(Rule::parse("FREQ=DAILY;COUNT=201").unwrap_err().part, "COUNT");
        let exactly = Rule::parse("FREQ=DAILY;COUNT=200").unwrap();
        assert_eq!(
            exactly.occurrences(&first("2027-01-01T09:00:00Z", "2027-01-01T10:00:00Z"), Tz::UTC).unwrap().len(),
            200
        );
    }

    #[test]
    fn parts_outside_the_subset_are_refused_by_name() {
        for (text, part) in [
            ("FREQ=YEARLY;COUNT=2", "FREQ"),
            ("FREQ=WEEKLY", "COUNT"),
            ("FREQ=WEEKLY;COUNT=2;UNTIL=20270101", "UNTIL"),
            ("FREQ=WEEKLY;COUNT=2;BYHOUR=9", "BYHOUR"),
            ("FREQ=WEEKLY;COUNT=2;BYDAY=2TU", "BYDAY"),
            ("FREQ=MONTHLY;COUNT=2;BYDAY=6TU", "BYDAY"),
            ("FREQ=WEEKLY;COUNT=2;BYDAY=XX", "BYDAY"),
            ("FREQ=WEEKLY;COUNT=2;BYMONTHDAY=3", "BYMONTHDAY"),
            ("FREQ=DAILY;COUNT=0", "COUNT"),
            ("FREQ=DAILY;INTERVAL=0;COUNT=2", "INTERVAL"),
            ("FREQ=DAILY;COUNT=2;COUNT=3", "COUNT"),
            ("FREQ=DAILY;UNTIL=tomorrow", "UNTIL"),
            ("COUNT=2", "FREQ"),
        ] {
            assert_eq!(Rule::parse(text).map_err(|e| e.part), Err(part.to_owned()), "{text}");
        }
    }
}
