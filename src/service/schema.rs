//! The schema fence (docs/design.md §22): an instance whose binary does not
//! know every migration applied to its database refuses writes until it is
//! replaced. A newer release may have changed what a row means (the usage
//! summary's `counted_version` is such a change); an older binary writing
//! on would write by the old meaning.
//!
//! The fence is looked at when the app starts and every
//! `BERTH_SCHEMA_CHECK_SECONDS` after (`watch`); HTTP writes, readiness and
//! the background writers read it from memory (`Db::schema_ahead`). The
//! same look says from when bookings may be decided in one round trip
//! (docs/design.md §30): once no older instance can be writing.

use std::time::Duration;

use super::{Db, ServiceError};
use crate::store;

/// Looks at the applied migrations once; returns those this binary does
/// not know (the fence is closed while there are any).
pub async fn check(db: &Db) -> Result<Vec<String>, ServiceError> {
    let unknown = store::unknown_migrations(db.conn()).await?;
    let was_closed = db.schema_fence().is_closed();
    db.schema_fence().set(!unknown.is_empty());
    if !unknown.is_empty() && !was_closed {
        tracing::error!(
            migrations = ?unknown,
            "the database has migrations this binary does not know: refusing writes until this instance is replaced"
        );
    } else if unknown.is_empty() && was_closed {
        tracing::info!("the database's migrations are all known again: writes accepted");
    }
    match older_writers_gone_from(db, ONE_TRIP_GUARD).await {
        Ok(from) => db.one_trip_safe_from(from),
        Err(err) => tracing::warn!(error = %err, "cannot read when the one-trip guard was applied; will retry"),
    }
    match older_writers_gone_from(db, USAGE_STAMP).await {
        Ok(from) => db.timelines().trust_stamps_from(from),
        Err(err) => tracing::warn!(error = %err, "cannot read when the usage stamps were added; will retry"),
    }
    Ok(unknown)
}

/// The migration the one-round-trip booking relies on (docs/design.md
/// §30), and the one before it.
const ONE_TRIP_GUARD: (&str, &str) = ("m20261212_000014_status_check_validated", "m20261213_000015_one_trip_guard");

/// The migration that gives the summary's rows their stamps, which cached
/// timelines are checked against (docs/design.md §31), and the one before.
const USAGE_STAMP: (&str, &str) = ("m20261213_000015_one_trip_guard", "m20261214_000016_usage_stamp");

/// How long after such a migration an older instance may still write: it
/// sees the fence within `BERTH_SCHEMA_CHECK_SECONDS` (at most 30), twice
/// that to be sure.
const OLDER_WRITERS_GONE_AFTER: i64 = 60;

/// From when no instance older than `(earlier, guard).1` can be writing
/// (Unix seconds), for what relies on every writer doing what that
/// release started doing: the one-round-trip booking (§30: older releases
/// write a change's summary rows only where units change, which its
/// statement cannot tell from no change), cached timelines (§31: older
/// releases write no new stamp). Right away on a database this release
/// created (the migration applied in the same run as the one before it,
/// so no older binary ever ran on it); else a minute after the migration;
/// never (`None`) while it is not there.
async fn older_writers_gone_from(db: &Db, (earlier, guard): (&str, &str)) -> Result<Option<i64>, ServiceError> {
    let Some((earlier, guard)) = store::applied_at(db.conn(), earlier, guard).await? else {
        return Ok(None);
    };
    Ok(Some(if guard - earlier <= 5 { guard } else { guard + OLDER_WRITERS_GONE_AFTER }))
}

/// Looks again every `every`, forever. A failed look keeps the last state.
pub async fn watch(db: Db, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(err) = check(&db).await {
            tracing::warn!(error = %err, "cannot read the applied migrations; will retry");
        }
    }
}
