//! Slot search: the grid candidates of a window, each judged by
//! `rules::admit`, the same predicate the write path decides with. What is
//! offered is what would be accepted, by construction; a property test
//! (`tests/api/slots.rs` and the unit tests below) checks the data each
//! side hands the predicate agree.
//!
//! Candidates start on the resource's grid: every `slot_step_seconds`
//! (else every `duration`) from the start of each opening interval as
//! given, or from local midnight of each day without a schedule, with the
//! start in `[from, to)`. A candidate is listed when booking it now would
//! succeed; `available` is the most units that would fit.

use chrono::{DateTime, Duration, NaiveTime, Utc};

use super::{
    capacity::Segment,
    resource::Resource,
    rules::{self, Occupancy, OwnBookings, Refusal, Request, Situation},
    schedule::{self, local_date},
    time_range::TimeRange,
};

/// The most candidates one search may judge.
pub const MAX_CANDIDATES: usize = 2_000;

/// A bookable slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub range: TimeRange,
    /// The most units a booking of this slot could take now.
    pub available: i64,
}

/// The step between candidate starts.
pub fn step(resource: &Resource, duration: Duration) -> Duration {
    resource.policy.slot_step_seconds.map_or(duration, Duration::seconds)
}

/// The grid starts in `window` for bookings of `duration`, in time order,
/// or `None` when there are more than `MAX_CANDIDATES`.
pub fn candidates(resource: &Resource, window: &TimeRange, duration: Duration) -> Option<Vec<DateTime<Utc>>> {
    grid_starts(resource, window, duration, MAX_CANDIDATES)
}

fn grid_starts(
    resource: &Resource,
    window: &TimeRange,
    duration: Duration,
    at_most: usize,
) -> Option<Vec<DateTime<Utc>>> {
    let step = step(resource, duration);
    if step <= Duration::zero() {
        return Some(Vec::new());
    }
    let zone = resource.time_zone;
    let (first, last) = (local_date(zone, window.start()) - Duration::days(1), local_date(zone, window.end()));
    // Each grid runs from its anchor to the end of its interval (or day).
    let grids: Vec<TimeRange> = match &resource.schedule {
        Some(schedule) => schedule.intervals(zone, first, last),
        None => first
            .iter_days()
            .take_while(|day| *day <= last)
            .filter_map(|day| {
                let midnight = |d: chrono::NaiveDate| schedule::instant(zone, d.and_time(NaiveTime::MIN));
                TimeRange::new(midnight(day), midnight(day + Duration::days(1)))
            })
            .collect(),
    };
    let mut starts = Vec::new();
    for grid in grids {
        let mut at = grid.start();
        if at < window.start() {
            // Jump to the first grid point at or after the window.
            let behind = (window.start() - at).num_microseconds()?;
            let step_micros = step.num_microseconds()?;
            at += Duration::microseconds((behind + step_micros - 1) / step_micros * step_micros);
        }
        while at < grid.end() && at < window.end() {
            starts.push(at);
            if starts.len() > at_most.saturating_mul(2) {
                return None;
            }
            at += step;
        }
    }
    starts.sort_unstable();
    starts.dedup();
    (starts.len() <= at_most).then_some(starts)
}

/// Judges one candidate exactly as a booking of it would be judged now.
pub fn judge(resource: &Resource, request: &Request, situation: &Situation<'_>) -> Result<Slot, Refusal> {
    rules::admit(resource, request, situation)?;
    let available = rules::room(resource, &request.range, &situation.occupancy);
    Ok(Slot { range: request.range, available })
}

/// Everything a search reads, besides the resource: the clock, the
/// customer's bookings (if any) and the usage timeline covering every
/// candidate's occupied time.
#[derive(Clone, Copy, Debug)]
pub struct Reads<'a> {
    pub now: DateTime<Utc>,
    pub own_bookings: Option<OwnBookings<'a>>,
    pub timeline: &'a [Segment],
}

/// Each candidate of `window` with its verdict, in time order.
pub fn search(
    resource: &Resource,
    starts: &[DateTime<Utc>],
    duration: Duration,
    quantity: i64,
    reads: &Reads<'_>,
) -> Vec<(TimeRange, Result<Slot, Refusal>)> {
    let situation = Situation {
        now: reads.now,
        apply_policy: true,
        rescheduled_from: None,
        own_bookings: reads.own_bookings,
        occupancy: Occupancy::Timeline(reads.timeline),
    };
    starts
        .iter()
        .filter_map(|start| TimeRange::new(*start, *start + duration))
        .map(|range| (range, judge(resource, &Request { range, quantity }, &situation)))
        .collect()
}

/// How far from the requested start alternatives are looked for.
pub const ALTERNATIVES_REACH_DAYS: i64 = 7;
/// The most alternatives a refusal offers.
pub const ALTERNATIVES: usize = 3;
/// The most candidates a refusal judges for alternatives (a minute's grid
/// over both weeks).
const MAX_ALTERNATIVE_CANDIDATES: usize = 2 * 7 * 24 * 60 + 2;

/// The window alternatives to `request` are searched in: 7 days either side
/// of its start.
pub fn alternatives_window(request: &Request) -> Option<TimeRange> {
    let reach = Duration::days(ALTERNATIVES_REACH_DAYS);
    let start = request.range.start();
    TimeRange::new(start.checked_sub_signed(reach)?, start.checked_add_signed(reach + Duration::microseconds(1))?)
}

/// Up to `ALTERNATIVES` bookable intervals of the same length and quantity
/// as `request`, nearest to its start (earlier first on a tie), judged by
/// `situation` as the request itself was.
pub fn alternatives(resource: &Resource, request: &Request, situation: &Situation<'_>) -> Vec<TimeRange> {
    let Some(window) = alternatives_window(request) else { return Vec::new() };
    let duration = request.range.end() - request.range.start();
    let Some(mut starts) = grid_starts(resource, &window, duration, MAX_ALTERNATIVE_CANDIDATES) else {
        return Vec::new();
    };
    let wanted = request.range.start();
    starts.sort_by_key(|start| ((*start - wanted).abs(), *start));
    starts
        .into_iter()
        .filter(|start| *start != wanted)
        .filter_map(|start| TimeRange::new(start, start + duration))
        .filter(|range| {
            rules::admit(resource, &Request { range: *range, quantity: request.quantity }, situation).is_ok()
        })
        .take(ALTERNATIVES)
        .collect()
}
