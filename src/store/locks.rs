//! Advisory locks on time: how decisions on one resource run side by side
//! when their times are far apart (docs/design.md §20).
//!
//! A booking's occupied time is cut into hour buckets (`TimeRange::hours`);
//! a decision takes an exclusive PostgreSQL advisory lock (transaction-
//! scoped) on each bucket it touches, in ascending key order, while
//! holding the resource row `FOR KEY SHARE` (which every change of the
//! resource itself, holding the row `FOR UPDATE`, excludes). The usage
//! summary's rows (`store::usage`) are the same hours: a booking reads and
//! writes only rows its buckets cover. Two decisions whose occupied times
//! overlap share a bucket and so run one after the other; the rules they
//! check (capacity, duplicates) only ever look at overlapping times. Keys
//! are 64-bit hashes of (resource, hour): a collision only makes two
//! decisions wait for each other. SQLite has no advisory locks and serial
//! writers: unused there.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sha2::{Digest, Sha256};

use crate::domain::{
    ids::{CustomerId, ResourceId},
    time_range::TimeRange,
};

/// Whether decisions on `conn` lock buckets (PostgreSQL).
pub fn in_use(conn: &impl ConnectionTrait) -> bool {
    conn.get_database_backend() == DatabaseBackend::Postgres
}

/// The most buckets one decision locks; a longer occupied time takes the
/// whole resource instead (its row `FOR UPDATE`, as every other decision).
pub const MAX_BUCKETS: i64 = 48;

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

/// The keys of the buckets `occupied` touches on `resource`, ascending and
/// without repeats; `None` when there are more than `MAX_BUCKETS`.
pub fn bucket_keys(resource: ResourceId, occupied: &TimeRange) -> Option<Vec<i64>> {
    let hours = occupied.hours();
    if hours.end() - hours.start() >= MAX_BUCKETS {
        return None;
    }
    let id = resource.0.as_bytes();
    let mut keys: Vec<i64> = hours.map(|h| key(&[b"bucket", id, &h.to_be_bytes()])).collect();
    keys.sort_unstable();
    keys.dedup();
    Some(keys)
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

    #[test]
    fn overlapping_times_share_a_bucket_and_distant_ones_do_not() {
        let resource = ResourceId(uuid::Uuid::now_v7());
        let keys = |r| bucket_keys(resource, &r).unwrap();
        assert_eq!(keys(range(9, 0, 10, 0)).len(), 1, "ending on the hour touches one bucket");
        assert_eq!(keys(range(9, 30, 11, 15)).len(), 3);
        let a = keys(range(9, 0, 10, 0));
        let b = keys(range(9, 59, 10, 30));
        assert!(a.iter().any(|k| b.contains(k)), "overlapping times share a key");
        let c = keys(range(10, 0, 11, 0));
        assert!(!a.iter().any(|k| c.contains(k)), "adjacent hours do not");
        let other = ResourceId(uuid::Uuid::now_v7());
        assert_ne!(bucket_keys(other, &range(9, 0, 10, 0)).unwrap(), a, "per resource");
        let sorted = keys(range(0, 0, 23, 0));
        assert!(sorted.windows(2).all(|w| w[0] < w[1]), "ascending");
        let long = TimeRange::new(range(0, 0, 1, 0).start(), range(0, 0, 1, 0).start() + chrono::Duration::hours(49));
        assert!(bucket_keys(resource, &long.unwrap()).is_none());
    }
}
