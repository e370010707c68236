//! What this instance remembers of resources' usage timelines, so that a
//! page load (slot search, availability) does not read and sweep every
//! booking of its window again while nothing there changed
//! (docs/design.md §31).
//!
//! A remembered timeline covers whole UTC hours of one resource at one
//! version, as judged at one instant, and carries the summary stamps of
//! those hours as they were read *before* its bookings were. Every write
//! of a booking writes the summary rows of every hour it occupies, with a
//! new stamp, in the same transaction (`usage::Changes`, §21, §30), so
//! unchanged stamps mean no booking occupying those hours changed since
//! the timeline was read, on this instance or any other. What changes
//! with no write (a hold or request running out, a check-in deadline
//! passing) bounds how long it holds: until the first such instant
//! (`bookings::next_lapse`). A page load then costs one read of those
//! hours' stamps (and the probe for bookings the summary does not hold,
//! §22: with one there, nothing is remembered). When a few of its hours'
//! stamps changed, only those hours are read again and spliced into what
//! is remembered (the others' unchanged stamps vouch for them): on a
//! calendar in use a load after a booking reads an hour, not the week.
//! Only windows whose read
//! was heavy (`BERTH_TIMELINE_CACHE_MIN_ROWS`) are remembered, from their
//! second load on: a light window costs no more to read than to check.
//!
//! Only ever an answer to a read: no decision takes a remembered timeline
//! (the write path reads the bookings under its locks, as before). Stamps
//! are trusted once no older release can be writing (`schema::check`):
//! those write rows without a new stamp.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
};

use chrono::{DateTime, Utc};
use quick_cache::{Weighter, sync::Cache};

use sea_orm::ConnectionTrait;

use super::ServiceError;
use crate::domain::{
    capacity::{self, Usage},
    ids::ResourceId,
    resource::Resource,
    time_range::TimeRange,
};
use crate::store::{
    bookings::{self, Overlap},
    usage,
};
use crate::telemetry;

/// The timelines one instance remembers, bounded by how many stretches of
/// constant use they hold together (`BERTH_TIMELINE_CACHE_STRETCHES`;
/// about 40 bytes each). Clones share them.
#[derive(Clone)]
pub(crate) struct Timelines {
    remembered: Option<Arc<Cache<Key, Arc<Memory>, ByStretches>>>,
    /// How many rows a read of a window must return for the window to be
    /// worth remembering (`BERTH_TIMELINE_CACHE_MIN_ROWS`): checking a
    /// light window's stamps costs about what reading it does.
    min_rows: usize,
    /// Unix seconds from which stamps are trusted; `i64::MAX` until
    /// `schema::check` has looked.
    trusted_from: Arc<AtomicI64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    resource: ResourceId,
    /// The resource's version: a change of its settings (the longest
    /// booking bounds the read) starts afresh.
    version: i64,
    first_hour: i64,
    last_hour: i64,
}

/// What an instance knows of a window.
enum Memory {
    /// A read of it was heavy enough: the next load remembers it.
    Worth,
    Remembered(Remembered),
}

struct Remembered {
    /// (hour, stamp) of the hours' summary rows, read before the bookings.
    stamps: Vec<(i64, i64)>,
    judged_at: DateTime<Utc>,
    /// The first instant the clock alone changes it; never, `None`.
    lapses_at: Option<DateTime<Utc>>,
    usages: Vec<Usage>,
}

impl Remembered {
    fn holds(&self, stamps: &[(i64, i64)], now: DateTime<Utc>) -> bool {
        self.stamps == stamps && self.still_judged(now)
    }

    /// No instant it was judged by has passed since.
    fn still_judged(&self, now: DateTime<Utc>) -> bool {
        self.judged_at <= now && self.lapses_at.is_none_or(|lapse| now < lapse)
    }

    /// The whole hours to read again for it to hold at `stamps`: from the
    /// first whose stamp changed (or whose row came or went) to the last.
    /// `None` when it no longer holds by the clock or when they are more
    /// than half of it (a read of the whole costs about the same then).
    fn to_refresh(&self, stamps: &[(i64, i64)], now: DateTime<Utc>) -> Option<TimeRange> {
        if !self.still_judged(now) {
            return None;
        }
        let before: HashMap<i64, i64> = self.stamps.iter().copied().collect();
        let after: HashMap<i64, i64> = stamps.iter().copied().collect();
        let changed = before.keys().chain(after.keys()).copied().filter(|hour| before.get(hour) != after.get(hour));
        let (first, last) = changed.fold(None, |span: Option<(i64, i64)>, hour| match span {
            Some((first, last)) => Some((first.min(hour), last.max(hour))),
            None => Some((hour, hour)),
        })?;
        let all = before.len().max(after.len()) as i64;
        if 2 * (last - first + 1) > all.max(1) {
            return None;
        }
        whole_hours_between(first, last)
    }
}

/// `[first, last + 1)` in hours.
fn whole_hours_between(first: i64, last: i64) -> Option<TimeRange> {
    let at = |hour: i64| DateTime::<Utc>::from_timestamp(hour.checked_mul(3_600)?, 0);
    TimeRange::new(at(first)?, at(last.checked_add(1)?)?)
}

/// `remembered` (stretches of `window`) with what lies within `span`
/// replaced by `fresh`, a read of the bookings overlapping `span`.
fn spliced(remembered: &[Usage], fresh: &[Usage], span: &TimeRange, window: &TimeRange) -> Vec<Usage> {
    let mut parts: Vec<Usage> = remembered
        .iter()
        .flat_map(|usage| {
            let before = TimeRange::new(usage.range.start(), usage.range.end().min(span.start()));
            let after = TimeRange::new(usage.range.start().max(span.end()), usage.range.end());
            [before, after].into_iter().flatten().map(|range| Usage { range, quantity: usage.quantity })
        })
        .collect();
    parts.extend(stretches(fresh, span));
    stretches(&parts, window)
}

#[derive(Clone)]
struct ByStretches;

impl Weighter<Key, Arc<Memory>> for ByStretches {
    fn weight(&self, _key: &Key, memory: &Arc<Memory>) -> u64 {
        match memory.as_ref() {
            Memory::Worth => 1,
            Memory::Remembered(remembered) => (remembered.usages.len() + remembered.stamps.len() + 1) as u64,
        }
    }
}

/// How many timelines a bound of stretches is sized for, at a guess.
const STRETCHES_PER_TIMELINE: u64 = 200;

impl Timelines {
    /// Remembering at most `stretches` stretches (none: off) of windows
    /// whose read returned at least `min_rows` rows.
    pub(crate) fn new(stretches: u64, min_rows: usize) -> Self {
        let remembered = (stretches > 0).then(|| {
            let items = usize::try_from((stretches / STRETCHES_PER_TIMELINE).max(1)).unwrap_or(usize::MAX);
            Arc::new(Cache::with_weighter(items, stretches, ByStretches))
        });
        Self { remembered, min_rows, trusted_from: Arc::new(AtomicI64::new(i64::MAX)) }
    }

    /// Notes from when (Unix seconds) stamps are trusted; `None`: their
    /// migration is not there (never, then).
    pub(crate) fn trust_stamps_from(&self, from: Option<i64>) {
        self.trusted_from.store(from.unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    fn in_use(&self) -> Option<&Cache<Key, Arc<Memory>, ByStretches>> {
        let trusted = Utc::now().timestamp() >= self.trusted_from.load(Ordering::Relaxed);
        self.remembered.as_deref().filter(|_| trusted)
    }
}

/// What the blocking bookings of `resource` take of `span` as judged at
/// `now` (`bookings::blocking_timeline`), remembered where this instance
/// can (above). What it returns may reach past `span`, to whole hours.
pub(super) async fn blocking_timeline(
    conn: &impl ConnectionTrait,
    timelines: &Timelines,
    resource: &Resource,
    span: &TimeRange,
    now: DateTime<Utc>,
) -> Result<Vec<Usage>, ServiceError> {
    let read = |range| Overlap {
        resource: resource.id,
        range,
        max_duration_seconds: resource.max_booking_duration_seconds,
        now,
        exclude: None,
    };
    // A queue's share is judged over each entry's whole time, which may
    // reach past the remembered hours: read as before then.
    let queued = resource.waitlist_active != 0;
    let (Some(cache), Some(hours), false) = (timelines.in_use(), whole_hours(span), queued) else {
        return Ok(bookings::blocking_timeline(conn, &read(span)).await?);
    };
    let hour_numbers = span.hours();
    let key = Key {
        resource: resource.id,
        version: resource.version,
        first_hour: *hour_numbers.start(),
        last_hour: *hour_numbers.end(),
    };
    // A window seen for the first time, or one too light to be worth its
    // stamps, is read as before; a heavy one is remembered from its next
    // load on.
    let Some(memory) = cache.get(&key) else {
        telemetry::timeline_cache("unremembered");
        let usages = bookings::blocking_timeline(conn, &read(span)).await?;
        if usages.len() >= timelines.min_rows {
            cache.insert(key, Arc::new(Memory::Worth));
        }
        return Ok(usages);
    };
    // The stamps first: whatever the bookings read below then shows is at
    // least as new as they are, so a write they miss changes a stamp.
    let (stamps, uncounted) = usage::stamps(conn, resource.id, &hours).await?;
    if uncounted {
        telemetry::timeline_cache("bypassed");
        return Ok(bookings::blocking_timeline(conn, &read(span)).await?);
    }
    if let Memory::Remembered(remembered) = memory.as_ref() {
        if remembered.holds(&stamps, now) {
            telemetry::timeline_cache("hit");
            return Ok(remembered.usages.clone());
        }
        // Written to in a few hours since: those hours are read again, the
        // rest is as remembered (their stamps say nothing there changed).
        if let Some(changed) = remembered.to_refresh(&stamps, now) {
            telemetry::timeline_cache("refreshed");
            let fresh = bookings::blocking_timeline(conn, &read(&changed)).await?;
            let lapses_at = match bookings::next_lapse(conn, &read(&changed)).await? {
                Some(lapse) => Some(remembered.lapses_at.map_or(lapse, |earlier| earlier.min(lapse))),
                None => remembered.lapses_at,
            };
            let usages = spliced(&remembered.usages, &fresh, &changed, &hours);
            let refreshed = Remembered { stamps, judged_at: now, lapses_at, usages: usages.clone() };
            cache.insert(key, Arc::new(Memory::Remembered(refreshed)));
            return Ok(usages);
        }
    }
    telemetry::timeline_cache("miss");
    let usages = bookings::blocking_timeline(conn, &read(&hours)).await?;
    let lapses_at = bookings::next_lapse(conn, &read(&hours)).await?;
    let usages = stretches(&usages, &hours);
    let remembered = Remembered { stamps, judged_at: now, lapses_at, usages: usages.clone() };
    cache.insert(key, Arc::new(Memory::Remembered(remembered)));
    Ok(usages)
}

/// The whole UTC hours `span` touches.
fn whole_hours(span: &TimeRange) -> Option<TimeRange> {
    let hours = span.hours();
    whole_hours_between(*hours.start(), *hours.end())
}

/// `usages` as stretches of constant use within `window` (the same
/// timeline, one `Usage` per stretch: what is remembered is as small as
/// the profile, however many bookings make it).
fn stretches(usages: &[Usage], window: &TimeRange) -> Vec<Usage> {
    capacity::timeline(usages, window)
        .into_iter()
        .filter(|segment| segment.used != 0)
        .map(|segment| Usage { range: segment.range, quantity: segment.used })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2030, 1, 1, hour, minute, 0).single().expect("a valid instant")
    }

    /// `quantity` units from `from` to `to` (hour, minute) on one day.
    fn usage(from: (u32, u32), to: (u32, u32), quantity: i64) -> Usage {
        Usage { range: TimeRange::new(at(from.0, from.1), at(to.0, to.1)).expect("a range"), quantity }
    }

    #[test]
    fn whole_hours_reach_out_to_the_hour_on_both_sides() {
        let span = TimeRange::new(at(9, 15), at(11, 0)).expect("a range");
        assert_eq!(whole_hours(&span), TimeRange::new(at(9, 0), at(11, 0)));
        let span = TimeRange::new(at(9, 15), at(10, 30)).expect("a range");
        assert_eq!(whole_hours(&span), TimeRange::new(at(9, 0), at(11, 0)));
    }

    #[test]
    fn stretches_keep_the_timeline() {
        let window = TimeRange::new(at(9, 0), at(12, 0)).expect("a range");
        let usages = [usage((9, 0), (10, 0), 2), usage((9, 30), (11, 0), 1), usage((11, 0), (11, 30), 1)];
        let compact = stretches(&usages, &window);
        assert_eq!(compact.len(), 3);
        assert_eq!(capacity::timeline(&compact, &window), capacity::timeline(&usages, &window));
    }

    #[test]
    fn a_splice_keeps_what_lies_outside_the_hours_read_again_and_takes_the_rest_from_the_read() {
        let window = TimeRange::new(at(9, 0), at(13, 0)).expect("a range");
        // Remembered: 2 units from 9:30 to 12:30. Read again, hour 10 to
        // 11: the booking there (9:30-12:30) and a new one, 10:15-10:45.
        let remembered = stretches(&[usage((9, 30), (12, 30), 2)], &window);
        let fresh = [usage((9, 30), (12, 30), 2), usage((10, 15), (10, 45), 1)];
        let span = TimeRange::new(at(10, 0), at(11, 0)).expect("a range");
        let read_again = spliced(&remembered, &fresh, &span, &window);
        let whole = [usage((9, 30), (12, 30), 2), usage((10, 15), (10, 45), 1)];
        assert_eq!(capacity::timeline(&read_again, &window), capacity::timeline(&whole, &window));
        // A booking gone from the hours read again is gone; one outside
        // them stays as remembered, even if the read no longer shows it.
        let emptied = spliced(&remembered, &[], &span, &window);
        let kept = [usage((9, 30), (10, 0), 2), usage((11, 0), (12, 30), 2)];
        assert_eq!(capacity::timeline(&emptied, &window), capacity::timeline(&kept, &window));
    }

    #[test]
    fn only_the_hours_whose_stamps_changed_are_read_again_while_few() {
        // Hours 1 to 20 have rows but hour 8.
        let stamps_but = |changed: &[(i64, i64)], with_8: bool| -> Vec<(i64, i64)> {
            (1..=20)
                .filter(|hour| with_8 || *hour != 8)
                .map(|hour| changed.iter().find(|(h, _)| *h == hour).copied().unwrap_or((hour, 7)))
                .collect()
        };
        let remembered = Remembered {
            stamps: stamps_but(&[], false),
            judged_at: at(9, 0),
            lapses_at: Some(at(10, 0)),
            usages: vec![],
        };
        let hour = |hour: i64| DateTime::<Utc>::from_timestamp(hour * 3_600, 0).expect("an hour");
        let changed = stamps_but(&[(3, 8), (5, 9)], false);
        assert_eq!(remembered.to_refresh(&changed, at(9, 30)), TimeRange::new(hour(3), hour(6)));
        // A row that came: its hour is read too.
        let came = stamps_but(&[(3, 8), (5, 9)], true);
        assert_eq!(remembered.to_refresh(&came, at(9, 30)), TimeRange::new(hour(3), hour(9)));
        // Past what the clock allows, or more than half of the hours: whole.
        assert_eq!(remembered.to_refresh(&changed, at(10, 0)), None);
        assert_eq!(remembered.to_refresh(&changed, at(8, 59)), None);
        let many = stamps_but(&[(3, 8), (15, 9)], false);
        assert_eq!(remembered.to_refresh(&many, at(9, 30)), None);
        // Nothing changed: nothing to read (it holds).
        assert_eq!(remembered.to_refresh(&remembered.stamps, at(9, 30)), None);
    }

    #[test]
    fn a_remembered_timeline_holds_only_with_the_same_stamps_before_its_lapse() {
        let remembered = Remembered {
            stamps: vec![(1, 7), (2, 9)],
            judged_at: at(9, 0),
            lapses_at: Some(at(10, 0)),
            usages: vec![],
        };
        assert!(remembered.holds(&[(1, 7), (2, 9)], at(9, 59)));
        assert!(!remembered.holds(&[(1, 7), (2, 8)], at(9, 30)));
        assert!(!remembered.holds(&[(1, 7)], at(9, 30)));
        assert!(!remembered.holds(&[(1, 7), (2, 9), (3, 1)], at(9, 30)));
        assert!(!remembered.holds(&[(1, 7), (2, 9)], at(10, 0)));
        assert!(!remembered.holds(&[(1, 7), (2, 9)], at(8, 59)));
    }
}
