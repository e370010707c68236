//! The capacity rule as pure functions over intervals.
//!
//! Capacity is a *peak* check: what matters is the largest total quantity
//! at any single instant of the window, not the sum of everything that
//! overlaps it. With capacity 2, bookings 09-10 and 10-11 leave room for a
//! third booking 09-11. Availability timelines and the capacity rule use the
//! same sweep, so they can never disagree.

use chrono::{DateTime, Utc};

use super::time_range::TimeRange;

/// Units taken over a range by one blocking booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub range: TimeRange,
    pub quantity: i64,
}

/// A stretch of the window over which usage is constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub range: TimeRange,
    pub used: i64,
}

/// The window cut into segments of constant usage, covering it exactly,
/// adjacent segments with equal usage merged.
pub fn timeline(usages: &[Usage], window: &TimeRange) -> Vec<Segment> {
    // (instant, change): usage outside the window is clipped away.
    let mut changes: Vec<(DateTime<Utc>, i64)> = Vec::with_capacity(usages.len() * 2);
    for usage in usages.iter().filter(|u| u.range.overlaps(window)) {
        changes.push((usage.range.start().max(window.start()), usage.quantity));
        changes.push((usage.range.end().min(window.end()), -usage.quantity));
    }
    changes.sort_unstable_by_key(|(at, _)| *at);

    let mut segments: Vec<Segment> = Vec::new();
    let mut cursor = window.start();
    let mut used = 0;
    let mut push = |from: DateTime<Utc>, to: DateTime<Utc>, used: i64| {
        let Some(range) = TimeRange::new(from, to) else { return };
        match segments.last_mut() {
            Some(last) if last.used == used => {
                if let Some(merged) = TimeRange::new(last.range.start(), to) {
                    last.range = merged;
                }
            }
            _ => segments.push(Segment { range, used }),
        }
    };
    let mut index = 0;
    while index < changes.len() {
        let at = changes[index].0;
        push(cursor, at, used);
        // Apply every change at this instant before measuring: a booking
        // ending at 10:00 and one starting at 10:00 never count together.
        while index < changes.len() && changes[index].0 == at {
            used += changes[index].1;
            index += 1;
        }
        cursor = at;
    }
    push(cursor, window.end(), used);
    segments
}

/// A stretch of the window over which usage and open-ness are constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenSegment {
    pub range: TimeRange,
    pub used: i64,
    /// Inside opening hours (always, without a schedule).
    pub open: bool,
}

/// The usage timeline, also cut where open time starts and ends. `open` is
/// the open time inside the window in time order (`Schedule::open_time`),
/// or `None` for a resource that is always open.
pub fn timeline_open(usages: &[Usage], open: Option<&[TimeRange]>, window: &TimeRange) -> Vec<OpenSegment> {
    let segments = timeline(usages, window);
    let Some(open) = open else {
        return segments.into_iter().map(|s| OpenSegment { range: s.range, used: s.used, open: true }).collect();
    };
    let mut out: Vec<OpenSegment> = Vec::with_capacity(segments.len() + open.len() * 2);
    let mut next_open = 0;
    for segment in segments {
        let mut cursor = segment.range.start();
        while cursor < segment.range.end() {
            while next_open < open.len() && open[next_open].end() <= cursor {
                next_open += 1;
            }
            let (is_open, until) = match open.get(next_open) {
                Some(stretch) if stretch.start() <= cursor => (true, stretch.end().min(segment.range.end())),
                Some(stretch) => (false, stretch.start().min(segment.range.end())),
                None => (false, segment.range.end()),
            };
            let Some(range) = TimeRange::new(cursor, until) else { break };
            match out.last_mut() {
                Some(last) if last.used == segment.used && last.open == is_open => {
                    if let Some(merged) = TimeRange::new(last.range.start(), until) {
                        last.range = merged;
                    }
                }
                _ => out.push(OpenSegment { range, used: segment.used, open: is_open }),
            }
            cursor = until;
        }
    }
    out
}

/// The largest usage over `window` of a timeline (`timeline`'s segments, in
/// order, contiguous); time the timeline does not cover counts as unused.
/// A binary search and the few segments inside the window: a slot search
/// judges many candidates against one timeline this way.
pub fn peak_in(segments: &[Segment], window: &TimeRange) -> i64 {
    let first = segments.partition_point(|s| s.range.end() <= window.start());
    segments[first..].iter().take_while(|s| s.range.start() < window.end()).map(|s| s.used).max().unwrap_or(0)
}

/// The largest total quantity at any instant of the window.
pub fn peak_usage(usages: &[Usage], window: &TimeRange) -> i64 {
    timeline(usages, window).iter().map(|s| s.used).max().unwrap_or(0)
}

/// The largest quantity that still fits over the whole window.
pub fn available(capacity: i64, usages: &[Usage], window: &TimeRange) -> i64 {
    (capacity - peak_usage(usages, window)).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, hour, 0, 0).unwrap()
    }

    fn range(from: u32, to: u32) -> TimeRange {
        TimeRange::new(at(from), at(to)).unwrap()
    }

    fn usage(from: u32, to: u32, quantity: i64) -> Usage {
        Usage { range: range(from, to), quantity }
    }

    #[test]
    fn back_to_back_bookings_do_not_add_up() {
        // A sum of overlaps would say 2 and refuse a third booking 09-11 at
        // capacity 2; the peak is 1.
        let usages = [usage(9, 10, 1), usage(10, 11, 1)];
        assert_eq!(peak_usage(&usages, &range(9, 11)), 1);
        assert_eq!(available(2, &usages, &range(9, 11)), 1);
    }

    #[test]
    fn the_peak_is_where_bookings_really_overlap() {
        // 08-12 x2, 09-10 x3, 11-13 x1: sum over 08-13 is 6, peak is 5 at 09-10.
        let usages = [usage(8, 12, 2), usage(9, 10, 3), usage(11, 13, 1)];
        assert_eq!(peak_usage(&usages, &range(8, 13)), 5);
        assert_eq!(peak_usage(&usages, &range(10, 13)), 3);
        assert_eq!(peak_usage(&usages, &range(12, 13)), 1);
    }

    #[test]
    fn usage_outside_the_window_does_not_count() {
        let usages = [usage(6, 8, 5), usage(12, 14, 5)];
        assert_eq!(peak_usage(&usages, &range(8, 12)), 0);
        assert_eq!(available(3, &usages, &range(8, 12)), 3);
    }

    #[test]
    fn available_never_goes_negative() {
        let usages = [usage(9, 10, 7)];
        assert_eq!(available(5, &usages, &range(9, 10)), 0);
    }

    #[test]
    fn the_timeline_covers_the_window_and_merges_equal_neighbours() {
        let usages = [usage(9, 10, 1), usage(10, 11, 1), usage(12, 13, 2)];
        let segments = timeline(&usages, &range(8, 14));
        let got: Vec<(u32, u32, i64)> = segments
            .iter()
            .map(|s| {
                (
                    s.range.start().format("%H").to_string().parse().unwrap(),
                    s.range.end().format("%H").to_string().parse().unwrap(),
                    s.used,
                )
            })
            .collect();
        assert_eq!(got, [(8, 9, 0), (9, 11, 1), (11, 12, 0), (12, 13, 2), (13, 14, 0)]);
    }

    #[test]
    fn the_peak_inside_a_window_of_a_timeline_matches_a_fresh_sweep() {
        let usages = [usage(8, 12, 2), usage(9, 10, 3), usage(11, 13, 1)];
        let segments = timeline(&usages, &range(6, 15));
        for (from, to) in [(6, 15), (8, 9), (9, 10), (10, 13), (12, 13), (13, 14), (6, 7)] {
            assert_eq!(peak_in(&segments, &range(from, to)), peak_usage(&usages, &range(from, to)), "{from}-{to}");
        }
    }

    #[test]
    fn closed_time_is_marked_and_cuts_segments() {
        let usages = [usage(9, 12, 1)];
        let open = [range(10, 11), range(13, 14)];
        let segments = timeline_open(&usages, Some(&open), &range(8, 14));
        let got: Vec<(DateTime<Utc>, DateTime<Utc>, i64, bool)> =
            segments.iter().map(|s| (s.range.start(), s.range.end(), s.used, s.open)).collect();
        assert_eq!(
            got,
            [
                (at(8), at(9), 0, false),
                (at(9), at(10), 1, false),
                (at(10), at(11), 1, true),
                (at(11), at(12), 1, false),
                (at(12), at(13), 0, false),
                (at(13), at(14), 0, true),
            ]
        );
        let always = timeline_open(&usages, None, &range(8, 14));
        assert!(always.iter().all(|s| s.open) && always.len() == 3);
    }

    #[test]
    fn an_empty_window_timeline_is_one_free_segment() {
        let segments = timeline(&[], &range(8, 9));
        assert_eq!(segments, [Segment { range: range(8, 9), used: 0 }]);
    }
}
