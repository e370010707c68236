//! Opening hours: weekly hours plus date exceptions, in local wall-clock
//! time of the resource's IANA time zone, and how they become instants.
//!
//! - `to <= from` means the interval ends the next day (18:00-02:00
//!   belongs to the day it starts); `to` may be `24:00`.
//! - An exception replaces the weekly hours of its local date; no hours
//!   close the day. An overnight interval of the day before still reaches
//!   into it (it belongs to the day it starts).
//! - Open time is the union of the intervals, touching ones joined: 09-12
//!   and 12-17 admit 11-13.
//! - Daylight saving follows RFC 5545 / Temporal's "compatible" rule: a wall
//!   time in a spring-forward gap moves forward by the gap's length, one
//!   that happens twice (fall back) is its earlier instant. 09:00-17:00 is
//!   therefore 8 hours on every day; 00:00-24:00 is 23 or 25 hours on the
//!   transition days.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use super::field::{Field, Invalid};
use super::time_range::TimeRange;

/// The most weekly entries a schedule may have.
pub const MAX_WEEKLY: usize = 50;
/// The most date exceptions a schedule may have.
pub const MAX_EXCEPTIONS: usize = 500;
/// The most intervals one exception may list.
pub const MAX_EXCEPTION_HOURS: usize = 10;
const DAY_MINUTES: u16 = 24 * 60;

/// A local wall-clock time, minutes after midnight; `24:00` only as an end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WallTime(u16);

impl WallTime {
    /// `HH:MM`, 00:00 to 24:00.
    pub fn parse(text: &str) -> Option<Self> {
        let (hours, minutes) = text.split_once(':')?;
        if hours.len() != 2 || minutes.len() != 2 || !text.bytes().filter(|b| *b != b':').all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (hours, minutes): (u16, u16) = (hours.parse().ok()?, minutes.parse().ok()?);
        let total = hours * 60 + minutes;
        (minutes < 60 && total <= DAY_MINUTES).then_some(Self(total))
    }

    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl std::fmt::Display for WallTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// The names days have in schedules: `mon` to `sun`.
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

pub fn day_name(day: Weekday) -> &'static str {
    DAY_NAMES[day.num_days_from_monday() as usize]
}

pub fn parse_day(name: &str) -> Option<Weekday> {
    let index = DAY_NAMES.iter().position(|d| *d == name)?;
    Weekday::try_from(index as u8).ok()
}

/// One interval of a day: from `from` to `to`, the next day when `to <= from`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hours {
    pub from: WallTime,
    pub to: WallTime,
}

impl Hours {
    /// Minutes after the start of its day: `(start, end)`, `end` past 1440
    /// when it runs into the next day.
    fn span(self) -> (u32, u32) {
        let (from, to) = (u32::from(self.from.0), u32::from(self.to.0));
        (from, if to <= from { to + u32::from(DAY_MINUTES) } else { to })
    }

    /// The instants of this interval on local date `day` in `zone`.
    fn on(self, day: NaiveDate, zone: Tz) -> Option<TimeRange> {
        let (start, end) = self.span();
        let at = |minutes: u32| {
            let days = i64::from(minutes / u32::from(DAY_MINUTES));
            let date = day.checked_add_signed(Duration::days(days))?;
            let time = NaiveTime::from_num_seconds_from_midnight_opt((minutes % u32::from(DAY_MINUTES)) * 60, 0)?;
            Some(instant(zone, date.and_time(time)))
        };
        TimeRange::new(at(start)?, at(end)?)
    }
}

/// The same hours on several days of the week.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeeklyHours {
    pub days: Vec<Weekday>,
    pub hours: Hours,
}

/// Hours that replace the weekly ones on one local date; none: closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    pub date: NaiveDate,
    pub hours: Vec<Hours>,
}

/// When a resource is open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    pub weekly: Vec<WeeklyHours>,
    pub exceptions: Vec<Exception>,
}

/// The instant of a local wall time, by the "compatible" rule: in a gap,
/// the time is read with the offset before the gap (so it lands the gap's
/// length later); in a fold, the earlier instant.
pub fn instant(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(at) => at.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => {
            // The offset a day earlier is the one in force before the gap
            // (no zone changes its offset twice within a day).
            let before = local.and_utc() - Duration::days(1);
            let offset = zone.offset_from_utc_datetime(&before.naive_utc());
            let seconds = chrono::Offset::fix(&offset).local_minus_utc();
            (local - Duration::seconds(i64::from(seconds))).and_utc()
        }
    }
}

/// The local date of an instant in `zone`.
pub fn local_date(zone: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

impl Schedule {
    /// The intervals of local date `day`: its exception's, or the weekly ones.
    pub fn hours_on(&self, day: NaiveDate) -> Vec<Hours> {
        if let Some(exception) = self.exceptions.iter().find(|e| e.date == day) {
            return exception.hours.clone();
        }
        let weekday = chrono::Datelike::weekday(&day);
        self.weekly.iter().filter(|w| w.days.contains(&weekday)).map(|w| w.hours).collect()
    }

    /// The intervals of the local dates `first..=last`, as instants in
    /// start order, not merged.
    pub fn intervals(&self, zone: Tz, first: NaiveDate, last: NaiveDate) -> Vec<TimeRange> {
        let mut intervals: Vec<TimeRange> = first
            .iter_days()
            .take_while(|day| *day <= last)
            .flat_map(|day| self.hours_on(day).into_iter().filter_map(move |h| h.on(day, zone)))
            .collect();
        intervals.sort_by_key(|r| r.start());
        intervals
    }

    /// Open time over `window`, clipped to it: merged stretches in time
    /// order, neighbours separated by closed time.
    pub fn open_time(&self, zone: Tz, window: &TimeRange) -> Vec<TimeRange> {
        // An interval starts at most a day before the local date it ends
        // on, so the dates from the day before the window's first to its
        // last hold everything that reaches into the window.
        let first = local_date(zone, window.start()) - Duration::days(1);
        let last = local_date(zone, window.end());
        let mut merged: Vec<TimeRange> = Vec::new();
        for interval in self.intervals(zone, first, last) {
            match merged.last_mut() {
                Some(previous) if interval.start() <= previous.end() => {
                    if interval.end() > previous.end()
                        && let Some(joined) = TimeRange::new(previous.start(), interval.end())
                    {
                        *previous = joined;
                    }
                }
                _ => merged.push(interval),
            }
        }
        merged
            .into_iter()
            .filter_map(|open| TimeRange::new(open.start().max(window.start()), open.end().min(window.end())))
            .collect()
    }

    /// Whether all of `range` is open time.
    pub fn is_open(&self, zone: Tz, range: &TimeRange) -> bool {
        self.open_time(zone, range).first().is_some_and(|open| *open == *range)
    }

    /// Where the slot grid of an instant starts: the start of the earliest
    /// interval (as given, not merged) that holds it.
    pub fn grid_anchor(&self, zone: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let day = local_date(zone, at);
        self.intervals(zone, day - Duration::days(1), day)
            .into_iter()
            .find(|interval| interval.start() <= at && at < interval.end())
            .map(|interval| interval.start())
    }

    /// What is wrong with this schedule, each at its field under `at`:
    /// too many entries, a `from` of 24:00, a day listed twice in one
    /// entry, intervals overlapping on one day, an exception date twice.
    pub fn problems(&self, at: &Field) -> Vec<Invalid> {
        let mut problems = Vec::new();
        let weekly = at.clone().then("weekly");
        let exceptions = at.clone().then("exceptions");
        if self.weekly.len() > MAX_WEEKLY {
            problems.push(Invalid::new(weekly.clone(), format!("must have at most {MAX_WEEKLY} entries")));
        }
        if self.exceptions.len() > MAX_EXCEPTIONS {
            problems.push(Invalid::new(exceptions.clone(), format!("must have at most {MAX_EXCEPTIONS} entries")));
        }
        // Every interval of each weekday, with where it was given.
        let mut by_day: Vec<Vec<((u32, u32), Field)>> = vec![Vec::new(); 7];
        for (index, entry) in self.weekly.iter().enumerate() {
            let here = weekly.clone().at(index);
            problems.extend(from_problem(entry.hours, &here));
            for (position, day) in entry.days.iter().enumerate() {
                if entry.days[..position].contains(day) {
                    problems.push(Invalid::new(here.clone().then("days").at(position), "lists this day twice"));
                    continue;
                }
                by_day[day.num_days_from_monday() as usize].push((entry.hours.span(), here.clone()));
            }
        }
        for intervals in &by_day {
            problems.extend(overlaps(intervals));
        }
        for (index, exception) in self.exceptions.iter().enumerate() {
            let here = exceptions.clone().at(index);
            if !(1..=9999).contains(&chrono::Datelike::year(&exception.date)) {
                problems.push(Invalid::new(here.clone().then("date"), "must be between the years 0001 and 9999"));
            }
            if self.exceptions[..index].iter().any(|e| e.date == exception.date) {
                problems.push(Invalid::new(here.clone().then("date"), "this date already has an exception"));
            }
            if exception.hours.len() > MAX_EXCEPTION_HOURS {
                problems.push(Invalid::new(
                    here.clone().then("hours"),
                    format!("must have at most {MAX_EXCEPTION_HOURS} entries"),
                ));
            }
            let mut intervals = Vec::new();
            for (position, hours) in exception.hours.iter().enumerate() {
                let field = here.clone().then("hours").at(position);
                problems.extend(from_problem(*hours, &field));
                intervals.push((hours.span(), field));
            }
            problems.extend(overlaps(&intervals));
        }
        problems
    }
}

fn from_problem(hours: Hours, at: &Field) -> Option<Invalid> {
    (hours.from.0 == DAY_MINUTES).then(|| Invalid::new(at.clone().then("from"), "must be before 24:00"))
}

/// Intervals of one day that overlap (touching is fine), reported at the
/// later one.
fn overlaps(intervals: &[((u32, u32), Field)]) -> Vec<Invalid> {
    let mut problems = Vec::new();
    for (index, ((start, end), field)) in intervals.iter().enumerate() {
        if let Some((_, other)) = intervals[..index].iter().find(|((s, e), _)| s < end && start < e) {
            problems.push(Invalid::new(field.clone(), format!("overlaps the hours at {other} on the same day")));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, Timelike};

    fn wall(text: &str) -> WallTime {
        WallTime::parse(text).unwrap()
    }

    fn hours(from: &str, to: &str) -> Hours {
        Hours { from: wall(from), to: wall(to) }
    }

    fn every_day(from: &str, to: &str) -> Schedule {
        let days =
            vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];
        Schedule { weekly: vec![WeeklyHours { days, hours: hours(from, to) }], exceptions: vec![] }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn day_window(zone: Tz, day: NaiveDate) -> TimeRange {
        let start = instant(zone, day.and_hms_opt(0, 0, 0).unwrap());
        let end = instant(zone, (day + Duration::days(1)).and_hms_opt(0, 0, 0).unwrap());
        TimeRange::new(start, end).unwrap()
    }

    /// The open time of local date `day`.
    fn opened_on(schedule: &Schedule, zone: Tz, day: NaiveDate) -> Vec<TimeRange> {
        schedule.open_time(zone, &day_window(zone, day))
    }

    fn range(from: &str, to: &str) -> TimeRange {
        TimeRange::new(utc(from), utc(to)).unwrap()
    }

    #[test]
    fn wall_times_parse_strictly() {
        assert_eq!(wall("09:30").minutes(), 570);
        assert_eq!(wall("24:00").minutes(), 1440);
        for bad in ["25:00", "24:01", "9:30", "09:60", "0930", "09:3a", "", "+9:30", "09:30:00"] {
            assert_eq!(WallTime::parse(bad), None, "{bad}");
        }
        assert_eq!(wall("07:05").to_string(), "07:05");
    }

    #[test]
    fn a_wall_time_in_the_spring_gap_moves_forward_by_the_gap() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 2027-03-28: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        assert_eq!(instant(berlin, date(2027, 3, 28).and_hms_opt(2, 30, 0).unwrap()), utc("2027-03-28T01:30:00Z"));
        let new_york: Tz = "America/New_York".parse().unwrap();
        // 2027-03-14: 02:00 EST jumps to 03:00 EDT.
        assert_eq!(instant(new_york, date(2027, 3, 14).and_hms_opt(2, 15, 0).unwrap()), utc("2027-03-14T07:15:00Z"));
        // Lord Howe jumps 30 minutes: 02:00 → 02:30 on 2027-10-03.
        let lord_howe: Tz = "Australia/Lord_Howe".parse().unwrap();
        let shifted = instant(lord_howe, date(2027, 10, 3).and_hms_opt(2, 10, 0).unwrap());
        assert_eq!(shifted.with_timezone(&lord_howe).time().minute(), 40);
        assert_eq!(shifted, utc("2027-10-02T15:40:00Z"));
    }

    #[test]
    fn a_wall_time_in_the_autumn_fold_is_its_earlier_instant() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 2027-10-31: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
        assert_eq!(instant(berlin, date(2027, 10, 31).and_hms_opt(2, 30, 0).unwrap()), utc("2027-10-31T00:30:00Z"));
        let new_york: Tz = "America/New_York".parse().unwrap();
        assert_eq!(instant(new_york, date(2027, 11, 7).and_hms_opt(1, 30, 0).unwrap()), utc("2027-11-07T05:30:00Z"));
    }

    #[test]
    fn nine_to_five_is_eight_hours_on_every_transition_day() {
        for (zone, days) in [
            ("Europe/Berlin", [date(2027, 3, 28), date(2027, 10, 31)]),
            ("America/New_York", [date(2027, 3, 14), date(2027, 11, 7)]),
            ("Australia/Lord_Howe", [date(2027, 4, 4), date(2027, 10, 3)]),
        ] {
            let zone: Tz = zone.parse().unwrap();
            for day in days {
                let open = opened_on(&every_day("09:00", "17:00"), zone, day);
                assert_eq!(open.len(), 1, "{zone} {day}");
                assert_eq!(open[0].duration_seconds(), 8 * 3600, "{zone} {day}");
            }
        }
    }

    #[test]
    fn a_whole_day_is_23_or_25_hours_on_the_transition_days() {
        // 00:00-24:00 every day joins into one stretch; look at one day of it.
        let schedule = Schedule {
            weekly: vec![],
            exceptions: vec![
                Exception { date: date(2027, 3, 28), hours: vec![hours("00:00", "24:00")] },
                Exception { date: date(2027, 10, 31), hours: vec![hours("00:00", "24:00")] },
                Exception { date: date(2027, 6, 1), hours: vec![hours("00:00", "24:00")] },
            ],
        };
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let length = |day| opened_on(&schedule, berlin, day)[0].duration_seconds() / 3600;
        assert_eq!((length(date(2027, 3, 28)), length(date(2027, 10, 31)), length(date(2027, 6, 1))), (23, 25, 24));
        // Lord Howe's days are 23.5 and 24.5 hours.
        let lord_howe: Tz = "Australia/Lord_Howe".parse().unwrap();
        let spring = Schedule {
            weekly: vec![],
            exceptions: vec![Exception { date: date(2027, 10, 3), hours: vec![hours("00:00", "24:00")] }],
        };
        assert_eq!(opened_on(&spring, lord_howe, date(2027, 10, 3))[0].duration_seconds(), 23 * 3600 + 1800);
    }

    #[test]
    fn kathmandu_opens_at_its_own_quarter_hour_offset() {
        let kathmandu: Tz = "Asia/Kathmandu".parse().unwrap();
        let open = opened_on(&every_day("09:00", "17:00"), kathmandu, date(2027, 1, 5));
        assert_eq!(open[0].start(), utc("2027-01-05T03:15:00Z"));
        assert_eq!(open[0].end(), utc("2027-01-05T11:15:00Z"));
    }

    #[test]
    fn overnight_hours_belong_to_their_first_day_and_touching_hours_join() {
        let utc_zone: Tz = "UTC".parse().unwrap();
        let friday_night = Schedule {
            weekly: vec![WeeklyHours { days: vec![Weekday::Fri], hours: hours("18:00", "02:00") }],
            exceptions: vec![],
        };
        // 2027-01-01 is a Friday: Saturday 01:00-02:00 is open, 02:00-03:00 is not.
        let saturday_one = range("2027-01-02T01:00:00Z", "2027-01-02T02:00:00Z");
        assert!(friday_night.is_open(utc_zone, &saturday_one));
        assert!(!friday_night.is_open(utc_zone, &range("2027-01-02T01:00:00Z", "2027-01-02T02:00:00.000001Z")));
        assert_eq!(friday_night.grid_anchor(utc_zone, saturday_one.start()), Some(utc("2027-01-01T18:00:00Z")));
        // A Saturday exception closing the day does not cut Friday's night short.
        let mut closed_saturday = friday_night.clone();
        closed_saturday.exceptions.push(Exception { date: date(2027, 1, 2), hours: vec![] });
        assert!(closed_saturday.is_open(utc_zone, &saturday_one));

        let split = Schedule {
            weekly: vec![
                WeeklyHours { days: vec![Weekday::Mon], hours: hours("09:00", "12:00") },
                WeeklyHours { days: vec![Weekday::Mon], hours: hours("12:00", "17:00") },
            ],
            exceptions: vec![],
        };
        assert!(split.is_open(utc_zone, &range("2027-01-04T11:00:00Z", "2027-01-04T13:00:00Z")));
        let day = split.open_time(utc_zone, &range("2027-01-04T00:00:00Z", "2027-01-05T00:00:00Z"));
        assert_eq!(day, [range("2027-01-04T09:00:00Z", "2027-01-04T17:00:00Z")]);
        // The grid restarts at each interval as given.
        assert_eq!(split.grid_anchor(utc_zone, utc("2027-01-04T12:30:00Z")), Some(utc("2027-01-04T12:00:00Z")));
        assert_eq!(split.grid_anchor(utc_zone, utc("2027-01-04T17:00:00Z")), None);
    }

    #[test]
    fn exceptions_close_or_shorten_a_day() {
        let utc_zone: Tz = "UTC".parse().unwrap();
        let mut schedule = every_day("09:00", "17:00");
        schedule.exceptions.push(Exception { date: date(2027, 12, 25), hours: vec![] });
        schedule.exceptions.push(Exception { date: date(2027, 12, 24), hours: vec![hours("09:00", "12:00")] });
        assert!(opened_on(&schedule, utc_zone, date(2027, 12, 25)).is_empty());
        let eve = opened_on(&schedule, utc_zone, date(2027, 12, 24));
        assert_eq!(eve[0].duration_seconds(), 3 * 3600);
    }

    #[test]
    fn bad_schedules_are_reported_at_their_fields() {
        let at = Field::named("schedule");
        let schedule = Schedule {
            weekly: vec![
                WeeklyHours { days: vec![Weekday::Mon, Weekday::Mon], hours: hours("09:00", "12:00") },
                WeeklyHours { days: vec![Weekday::Mon], hours: hours("11:00", "13:00") },
                WeeklyHours { days: vec![Weekday::Tue], hours: hours("24:00", "13:00") },
            ],
            exceptions: vec![
                Exception { date: date(2027, 1, 1), hours: vec![hours("09:00", "10:00"), hours("09:30", "11:00")] },
                Exception { date: date(2027, 1, 1), hours: vec![] },
            ],
        };
        let fields: Vec<String> = schedule.problems(&at).iter().map(|p| p.field.to_string()).collect();
        assert_eq!(
            fields,
            [
                "schedule.weekly[0].days[1]",
                "schedule.weekly[2].from",
                "schedule.weekly[1]",
                "schedule.exceptions[0].hours[1]",
                "schedule.exceptions[1].date",
            ]
        );
        assert!(every_day("09:00", "17:00").problems(&at).is_empty());
    }
}
