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
    field::Invalid,
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

/// Why a candidate is not bookable: a value the write path answers 422 for
/// (a start in the past), or a rule's refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    Invalid(Invalid),
    Refused(Refusal),
}

/// Judges one candidate exactly as a booking of it would be judged now:
/// `rules::check_values`, then `rules::admit`.
pub fn judge(resource: &Resource, request: &Request, situation: &Situation<'_>) -> Result<Slot, Rejection> {
    rules::check_values(resource, request, situation.now, situation.apply_policy).map_err(Rejection::Invalid)?;
    let available = rules::admit(resource, request, situation).map_err(Rejection::Refused)?;
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
) -> Vec<(TimeRange, Result<Slot, Rejection>)> {
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
        .filter(|range| judge(resource, &Request { range: *range, quantity: request.quantity }, situation).is_ok())
        .take(ALTERNATIVES)
        .collect()
}

#[cfg(test)]
mod tests {
    //! The property of docs/design.md §13: slot search and the write path
    //! judge every grid candidate alike. Random schedules, policies, time
    //! zones (with daylight saving days in the range), bookings (with
    //! buffers, holds that ran out, a customer's own) and clocks; for every
    //! candidate, the verdict slot search reaches over its one timeline
    //! equals the one the write path reaches over the interval reads it
    //! makes for that booking, refusal and members included, and a listed
    //! slot's `available` matches a brute-force count. Cases:
    //! `BERTH_PROPERTY_CASES` (500 by default); the seed is fixed.

    use chrono::{TimeZone, Weekday};
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    use rand::{Rng, SeedableRng, rngs::StdRng};

    use super::*;
    use crate::domain::{
        capacity::{self, Usage},
        ids::{BookingId, ResourceId},
        policy::{Buffers, Policy},
        resource::NewResource,
        rules::OwnBooking,
        schedule::{Exception, Hours, Schedule, WallTime, WeeklyHours},
    };

    const ZONES: [&str; 5] = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"];
    const HOURS: [(&str, &str); 7] = [
        ("09:00", "17:00"),
        ("18:00", "02:00"),
        ("00:00", "24:00"),
        ("06:30", "11:45"),
        ("12:00", "13:00"),
        ("22:00", "06:00"),
        ("02:30", "03:30"),
    ];

    struct Booked {
        id: BookingId,
        range: TimeRange,
        occupied: TimeRange,
        quantity: i64,
        blocking: bool,
        own: bool,
    }

    struct World {
        resource: Resource,
        bookings: Vec<Booked>,
        now: DateTime<Utc>,
        window: TimeRange,
        duration: Duration,
        quantity: i64,
        customer: bool,
    }

    fn minutes(n: i64) -> Duration {
        Duration::minutes(n)
    }

    fn hours(rng: &mut StdRng) -> Hours {
        let (from, to) = HOURS[rng.random_range(0..HOURS.len())];
        Hours { from: WallTime::parse(from).unwrap(), to: WallTime::parse(to).unwrap() }
    }

    fn schedule(rng: &mut StdRng, base: DateTime<Utc>) -> Option<Schedule> {
        let days = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];
        for _ in 0..20 {
            let mut schedule = Schedule::default();
            for day in days {
                for _ in 0..rng.random_range(0..=2) {
                    schedule.weekly.push(WeeklyHours { days: vec![day], hours: hours(rng) });
                }
            }
            for _ in 0..rng.random_range(0..=3) {
                let date = (base + Duration::days(rng.random_range(0..30))).date_naive();
                let hours = (0..rng.random_range(0..=1)).map(|_| hours(rng)).collect();
                schedule.exceptions.push(Exception { date, hours });
            }
            if schedule.problems(&"schedule".into()).is_empty() {
                return Some(schedule);
            }
        }
        None
    }

    fn maybe(rng: &mut StdRng, value: i64) -> Option<i64> {
        rng.random_bool(0.4).then_some(value)
    }

    impl World {
        fn random(seed: u64) -> World {
            let mut rng = StdRng::seed_from_u64(seed);
            // 2027-03-08: the range holds New York's (03-14) and Berlin's
            // (03-28) spring-forward days.
            let base = Utc.with_ymd_and_hms(2027, 3, 8, 0, 0, 0).unwrap();
            let capacity = rng.random_range(1..=3);
            let step = [900, 1800, 3600, 5400][rng.random_range(0..4)];
            let (notice, advance) = (rng.random_range(0..=2 * 86_400), rng.random_range(3600..=10 * 86_400));
            let (before, after, limit) =
                (rng.random_range(0..=4) * 900, rng.random_range(0..=4) * 900, rng.random_range(1..=3));
            let policy = Policy {
                min_notice_seconds: maybe(&mut rng, notice),
                max_advance_seconds: maybe(&mut rng, advance),
                slot_step_seconds: maybe(&mut rng, step),
                min_duration_seconds: maybe(&mut rng, 1800),
                buffer_before_seconds: maybe(&mut rng, before),
                buffer_after_seconds: maybe(&mut rng, after),
                cancel_cutoff_seconds: None,
                reschedule_cutoff_seconds: None,
                max_active_bookings_per_customer: maybe(&mut rng, limit),
                waitlist_offer_seconds: None,
                approval_required: false,
                approval_timeout_seconds: None,
                check_in_window_seconds: None,
            };
            let schedule = if rng.random_bool(0.75) { schedule(&mut rng, base) } else { None };
            let resource = NewResource {
                name: "Court".into(),
                description: None,
                capacity,
                time_zone: ZONES[rng.random_range(0..ZONES.len())].parse().unwrap(),
                active: true,
                hold_ttl_seconds: 600,
                max_booking_duration_seconds: 86_400,
                schedule,
                policy,
                attributes: Default::default(),
                booking_fields: None,
            }
            .into_resource(ResourceId::generate(), base);
            let now = base + minutes(rng.random_range(0..20 * 1440)) + Duration::seconds(rng.random_range(0..2) * 17);
            let window_start = now + minutes(rng.random_range(-120..4 * 1440));
            let window = TimeRange::new(window_start, window_start + minutes(rng.random_range(60..2 * 1440))).unwrap();
            // Bookings on a quarter-hour grid, like a booking page makes
            // them, so that their edges often touch the candidates'.
            let quarter = |n: i64| base + minutes(15 * n);
            let bookings = (0..rng.random_range(0..25))
                .map(|_| {
                    let start = quarter((window.start() - base).num_minutes() / 15 + rng.random_range(-96..3 * 96));
                    let range = TimeRange::new(start, start + minutes(15 * rng.random_range(1..16))).unwrap();
                    let buffers = Buffers {
                        before_seconds: rng.random_range(0..=2) * 900,
                        after_seconds: rng.random_range(0..=2) * 900,
                    };
                    let blocking = match rng.random_range(0..100) {
                        0..60 => true,
                        // A hold: blocking while it runs.
                        60..85 => now + minutes(rng.random_range(-30..30)) > now,
                        _ => false,
                    };
                    Booked {
                        id: BookingId::generate(),
                        range,
                        occupied: rules::occupied(&range, buffers),
                        quantity: rng.random_range(1..=i64::from(capacity)),
                        blocking,
                        own: rng.random_bool(0.3),
                    }
                })
                .collect();
            World {
                resource,
                bookings,
                now,
                window,
                duration: minutes([30, 60, 90, 120][rng.random_range(0..4)]),
                quantity: rng.random_range(1..=i64::from(capacity)),
                customer: rng.random_bool(0.6),
            }
        }

        /// The customer's active bookings, by start.
        fn own_active(&self) -> Vec<OwnBooking> {
            let mut own: Vec<OwnBooking> = self
                .bookings
                .iter()
                .filter(|b| self.customer && b.own && b.blocking && b.range.end() > self.now)
                .map(|b| OwnBooking { id: b.id, range: b.range })
                .collect();
            own.sort_by_key(|b| b.range.start());
            own
        }

        fn usages(&self) -> Vec<Usage> {
            self.bookings
                .iter()
                .filter(|b| b.blocking)
                .map(|b| Usage { range: b.occupied, quantity: b.quantity })
                .collect()
        }

        /// What the write path reads for one booking (`service::bookings`):
        /// with a limit, the first `limit` active bookings; without, the
        /// first one overlapping; and the intervals occupying its time.
        fn write_path(&self, request: &Request) -> Result<i64, Rejection> {
            let own = self.own_active();
            let limit = self.resource.policy.max_active_bookings_per_customer;
            let (active, nearby): (i64, Vec<OwnBooking>) = match limit {
                Some(limit) => {
                    let first: Vec<_> = own.iter().take(limit as usize).copied().collect();
                    (first.len() as i64, first)
                }
                None => (0, own.iter().filter(|b| b.range.overlaps(&request.range)).take(1).copied().collect()),
            };
            let window = rules::occupied(&request.range, self.resource.policy.buffers());
            let usages: Vec<Usage> = self.usages().into_iter().filter(|u| u.range.overlaps(&window)).collect();
            let situation = Situation {
                now: self.now,
                apply_policy: true,
                rescheduled_from: None,
                own_bookings: self.customer.then_some(OwnBookings { active, nearby: &nearby }),
                occupancy: Occupancy::Intervals(&usages),
            };
            rules::check_values(&self.resource, request, self.now, true).map_err(Rejection::Invalid)?;
            rules::admit(&self.resource, request, &situation).map_err(Rejection::Refused)
        }

        /// The most units free over `window`, counted at every instant where
        /// usage can change.
        fn brute_force_room(&self, window: &TimeRange) -> i64 {
            let usages = self.usages();
            let instants = std::iter::once(window.start())
                .chain(usages.iter().map(|u| u.range.start()).filter(|at| window.start() <= *at && *at < window.end()));
            let peak = instants
                .map(|at| {
                    usages.iter().filter(|u| u.range.start() <= at && at < u.range.end()).map(|u| u.quantity).sum()
                })
                .max()
                .unwrap_or(0);
            (i64::from(self.resource.capacity) - peak).max(0)
        }
    }

    /// The slot side, as `service::slots::search` assembles it.
    fn slot_side(world: &World, starts: &[DateTime<Utc>]) -> Vec<(TimeRange, Result<Slot, Rejection>)> {
        let (Some(first), Some(last)) = (starts.first(), starts.last()) else { return Vec::new() };
        let booked = TimeRange::new(*first, *last + world.duration).unwrap();
        let span = rules::occupied(&booked, world.resource.policy.buffers());
        let usages: Vec<Usage> = world.usages().into_iter().filter(|u| u.range.overlaps(&span)).collect();
        let timeline = capacity::timeline(&usages, &span);
        let own = world.own_active();
        let (active, nearby): (i64, Vec<OwnBooking>) = match world.resource.policy.max_active_bookings_per_customer {
            Some(limit) => {
                let first: Vec<_> = own.iter().take(limit as usize).copied().collect();
                (first.len() as i64, first)
            }
            None => (0, own.iter().filter(|b| b.range.overlaps(&booked)).copied().collect()),
        };
        let reads = Reads {
            now: world.now,
            own_bookings: world.customer.then_some(OwnBookings { active, nearby: &nearby }),
            timeline: &timeline,
        };
        search(&world.resource, starts, world.duration, world.quantity, &reads)
    }

    fn check(world: &World) -> Result<usize, String> {
        let Some(starts) = candidates(&world.resource, &world.window, world.duration) else { return Ok(0) };
        let mut listed = 0;
        for (range, verdict) in slot_side(world, &starts) {
            if !(world.window.start() <= range.start() && range.start() < world.window.end()) {
                return Err(format!("candidate {range:?} outside the window"));
            }
            let written = world.write_path(&Request { range, quantity: world.quantity });
            match (&verdict, &written) {
                (Ok(slot), Ok(room)) => {
                    listed += 1;
                    let window = rules::occupied(&range, world.resource.policy.buffers());
                    if slot.available != *room
                        || slot.available != world.brute_force_room(&window)
                        || slot.available < world.quantity
                    {
                        return Err(format!("{range:?}: available {} disagrees", slot.available));
                    }
                }
                (Err(left_out), Err(refused)) if left_out == refused => {}
                _ => return Err(format!("{range:?}: slot search says {verdict:?}, booking says {written:?}")),
            }
        }
        Ok(listed)
    }

    #[test]
    fn slot_search_and_the_write_path_agree_on_every_candidate() {
        let cases = std::env::var("BERTH_PROPERTY_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(500);
        let config = Config { cases, failure_persistence: None, ..Config::default() };
        let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]));
        let listed = std::cell::Cell::new(0);
        let judged = std::cell::Cell::new(0);
        let result = runner.run(&proptest::prelude::any::<u64>(), |seed| {
            let world = World::random(seed);
            judged
                .set(judged.get() + candidates(&world.resource, &world.window, world.duration).map_or(0, |c| c.len()));
            match check(&world) {
                Ok(n) => {
                    listed.set(listed.get() + n);
                    Ok(())
                }
                Err(why) => Err(proptest::test_runner::TestCaseError::fail(format!("seed {seed}: {why}"))),
            }
        });
        if let Err(failure) = result {
            panic!("{failure}");
        }
        // The generator must reach both verdicts, or the property says little.
        assert!(listed.get() > 0 && judged.get() > listed.get(), "listed {} of {}", listed.get(), judged.get());
        eprintln!("slot property: {cases} cases, {} candidates judged, {} listed", judged.get(), listed.get());
    }
}
