//! The schema fence (docs/design.md §22): an instance whose binary does not
//! know every migration applied to its database refuses writes until it is
//! replaced. A newer release may have changed what a row means (the usage
//! summary's `counted_version` is such a change); an older binary writing
//! on would write by the old meaning.
//!
//! The fence is looked at when the app starts and every
//! `BERTH_SCHEMA_CHECK_SECONDS` after (`watch`); HTTP writes, readiness and
//! the background writers read it from memory (`Db::schema_ahead`).

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
    Ok(unknown)
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
