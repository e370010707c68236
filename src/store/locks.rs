//! Advisory locks on time: how decisions on one resource run side by side
//! when their times are far apart (docs/design.md §20, §32).
//!
//! A booking's occupied time is cut into hour buckets (`TimeRange::hours`);
//! a decision takes transaction-scoped PostgreSQL advisory locks on them,
//! in ascending key order, while holding the resource row `FOR KEY SHARE`
//! (which every change of the resource itself, holding the row `FOR
//! UPDATE`, excludes): an hour its occupied time covers whole,
//! exclusively; an hour it covers in part (at most the first and the
//! last), shared, and each quarter of an hour (15 minutes) it touches
//! there exclusively. Two decisions whose occupied times overlap then
//! always conflict: on an hour one of them covers whole, or on a quarter
//! both touch. Bookings side by side in one hour (9:00-9:30 and
//! 9:30-10:00) do not wait for each other; the rules they check (capacity,
//! duplicates) only ever look at overlapping times. An older instance,
//! which takes every hour exclusively, still excludes them all. Keys are
//! 64-bit hashes of (resource, hour) and (resource, quarter): a collision
//! only makes two decisions wait for each other. SQLite has no advisory
//! locks and serial writers: unused there.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sha2::{Digest, Sha256};

use crate::domain::{
    ids::{CustomerId, ResourceId},
    time_range::TimeRange,
};

const HOUR_SECONDS: i64 = 3_600;

/// Whether decisions on `conn` lock buckets (PostgreSQL).
pub fn in_use(conn: &impl ConnectionTrait) -> bool {
    conn.get_database_backend() == DatabaseBackend::Postgres
}

/// The most hours one decision locks; a longer occupied time takes the
/// whole resource instead (its row `FOR UPDATE`, as every other decision).
pub const MAX_BUCKETS: i64 = 48;

/// A quarter of an hour, the unit of the locks of an hour covered in part.
const QUARTER_SECONDS: i64 = 900;

/// One advisory lock a decision takes: `shared` (an hour covered in part)
/// or exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BucketLock {
    pub key: i64,
    pub shared: bool,
}

impl BucketLock {
    /// Whether holding `self` holds `needed` (an exclusive lock holds the
    /// shared one on its key too).
    pub fn holds(&self, needed: &BucketLock) -> bool {
        self.key == needed.key && (needed.shared || !self.shared)
    }
}

/// Whether `in_order` waits for each lock or only tries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taking {
    /// `pg_try_advisory_xact_lock[_shared]`: never waits.
    Try,
    /// `pg_advisory_xact_lock[_shared]`: waits for it.
    Wait,
}

/// An SQL expression that takes `locks` one after another in the order
/// given, each only once the one before it was had: nested `CASE`s
/// (PostgreSQL evaluates a branch only when its condition held). True when
/// every one was taken; NULL when a try failed, and then the rest were not
/// tried, so what is held is a prefix. `bind` adds a key's value and
/// returns its placeholder.
pub fn in_order(locks: &[BucketLock], taking: Taking, mut bind: impl FnMut(i64) -> String) -> String {
    let mut sql = String::new();
    for lock in locks {
        let key = bind(lock.key);
        let taken = match (taking, lock.shared) {
            (Taking::Try, false) => format!("pg_try_advisory_xact_lock({key})"),
            (Taking::Try, true) => format!("pg_try_advisory_xact_lock_shared({key})"),
            // They return `void`, which is never NULL.
            (Taking::Wait, false) => format!("pg_advisory_xact_lock({key}) IS NOT NULL"),
            (Taking::Wait, true) => format!("pg_advisory_xact_lock_shared({key}) IS NOT NULL"),
        };
        sql.push_str(&format!("CASE WHEN {taken} THEN "));
    }
    sql.push_str("true");
    sql.push_str(&" END".repeat(locks.len()));
    sql
}

fn key(parts: &[&[u8]]) -> i64 {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// The locks of the buckets `occupied` touches on `resource`, ascending by
/// key and without repeats; `None` when it touches more than `MAX_BUCKETS`
/// hours.
pub fn bucket_keys(resource: ResourceId, occupied: &TimeRange) -> Option<Vec<BucketLock>> {
    let hours = occupied.hours();
    if hours.end() - hours.start() >= MAX_BUCKETS {
        return None;
    }
    let id = resource.0.as_bytes();
    let per_hour = HOUR_SECONDS / QUARTER_SECONDS;
    let covers_whole = |hour: i64| {
        occupied.start().timestamp() <= hour * HOUR_SECONDS && occupied.end().timestamp() >= (hour + 1) * HOUR_SECONDS
    };
    let mut locks = Vec::new();
    for hour in hours {
        let whole = covers_whole(hour);
        locks.push(BucketLock { key: key(&[b"bucket", id, &hour.to_be_bytes()]), shared: !whole });
        if !whole {
            let quarters = occupied.spans(QUARTER_SECONDS);
            let inside = (hour * per_hour)..(hour + 1) * per_hour;
            locks.extend(
                quarters
                    .filter(|quarter| inside.contains(quarter))
                    .map(|quarter| BucketLock { key: key(&[b"quarter", id, &quarter.to_be_bytes()]), shared: false }),
            );
        }
    }
    // Exclusive before shared on one key (a collision), so `dedup_by_key`
    // keeps the exclusive one.
    locks.sort_unstable_by_key(|lock| (lock.key, lock.shared));
    locks.dedup_by_key(|lock| lock.key);
    Some(locks)
}

/// The key that makes one customer's decisions on one resource run one
/// after another: taken after the buckets when a booking limit counts the
/// customer's bookings at all times.
pub fn customer_key(resource: ResourceId, customer: CustomerId) -> i64 {
    key(&[b"customer", resource.0.as_bytes(), customer.0.as_bytes()])
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn range(start_h: u32, start_m: u32, end_h: u32, end_m: u32) -> TimeRange {
        let at = |h, m| Utc.with_ymd_and_hms(2027, 1, 1, h, m, 0).unwrap();
        TimeRange::new(at(start_h, start_m), at(end_h, end_m)).unwrap()
    }

    /// Whether two decisions holding `a` and `b` exclude each other.
    fn conflict(a: &[BucketLock], b: &[BucketLock]) -> bool {
        a.iter().any(|x| b.iter().any(|y| x.key == y.key && !(x.shared && y.shared)))
    }

    #[test]
    fn overlapping_times_conflict_and_others_do_not() {
        let resource = ResourceId(uuid::Uuid::now_v7());
        let keys = |r| bucket_keys(resource, &r).unwrap();
        assert_eq!(keys(range(9, 0, 10, 0)), vec![BucketLock { key: keys(range(9, 0, 10, 0))[0].key, shared: false }]);
        assert_eq!(keys(range(9, 30, 11, 15)).len(), 6, "two hours in part (shared, three quarters), one whole");
        let whole = keys(range(9, 0, 10, 0));
        assert!(conflict(&whole, &keys(range(9, 59, 10, 30))), "an hour covered whole excludes a part of it");
        assert!(!conflict(&whole, &keys(range(10, 0, 11, 0))), "adjacent hours do not");
        let first_half = keys(range(9, 0, 9, 30));
        assert!(!conflict(&first_half, &keys(range(9, 30, 10, 0))), "side by side in one hour: free");
        assert!(!conflict(&first_half, &keys(range(9, 30, 10, 30))), "nor across the hour");
        assert!(conflict(&first_half, &keys(range(9, 29, 9, 31))), "a minute's overlap shares a quarter");
        assert!(conflict(&first_half, &whole), "the whole hour excludes its half");
        let (exclusive, shared) = (whole[0], BucketLock { shared: true, ..whole[0] });
        assert!(exclusive.holds(&shared) && exclusive.holds(&exclusive) && shared.holds(&shared));
        assert!(!shared.holds(&exclusive), "a shared hold is not an exclusive one");
        // The shared yardstick's workload: half an hour from :46:40, every
        // hour; neighbours touch one hour each and no quarter in common.
        let at = |h, m, s| Utc.with_ymd_and_hms(2027, 1, 1, h, m, s).unwrap();
        let yardstick = |h| TimeRange::new(at(h, 46, 40), at(h + 1, 16, 40)).unwrap();
        assert!(!conflict(&keys(yardstick(9)), &keys(yardstick(10))));
        let other = ResourceId(uuid::Uuid::now_v7());
        assert!(!conflict(&bucket_keys(other, &range(9, 0, 10, 0)).unwrap(), &whole), "per resource");
        let sorted = keys(range(0, 10, 23, 0));
        assert!(sorted.windows(2).all(|w| w[0].key < w[1].key), "ascending");
        let long = TimeRange::new(range(0, 0, 1, 0).start(), range(0, 0, 1, 0).start() + chrono::Duration::hours(49));
        assert!(bucket_keys(resource, &long.unwrap()).is_none());
    }

    /// Any two ranges on a minute grid over three hours: they exclude each
    /// other exactly when they overlap (never admitted side by side when
    /// they overlap; never kept apart when they do not share a quarter).
    #[test]
    fn locks_exclude_every_overlapping_pair() {
        let resource = ResourceId(uuid::Uuid::now_v7());
        let at = |minute: i64| Utc.with_ymd_and_hms(2027, 1, 1, 9, 0, 0).unwrap() + chrono::Duration::minutes(minute);
        let ranges: Vec<TimeRange> = (0..180)
            .step_by(7)
            .flat_map(|start| [5, 15, 31, 60, 95].map(move |length| (start, start + length)))
            .filter_map(|(start, end)| TimeRange::new(at(start), at(end)))
            .collect();
        for a in &ranges {
            for b in &ranges {
                let (ka, kb) = (bucket_keys(resource, a).unwrap(), bucket_keys(resource, b).unwrap());
                if a.overlaps(b) {
                    assert!(conflict(&ka, &kb), "{a:?} and {b:?} overlap and must exclude each other");
                }
            }
        }
    }
}
