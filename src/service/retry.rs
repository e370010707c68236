//! Lost races (serialization failures, deadlocks, SQLite busy) run again,
//! a bounded number of times (`retrying`); batched deletes of what aged out
//! (`forget_in_batches`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use super::{db::Db, error::ServiceError};
use crate::store::{self, StoreError};

/// How many times a transaction that lost a race is run in all.
const MAX_ATTEMPTS: u32 = 5;

/// Runs `attempt` (which opens and commits its own transaction) again when it
/// lost a race, with a short jittered backoff, at most `MAX_ATTEMPTS` times.
pub async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ServiceError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(err) if err.is_retryable() && tries < MAX_ATTEMPTS => {
                let backoff_ms = rand::rng().random_range(1..=10u64 << tries);
                tracing::debug!(tries, backoff_ms, "transaction lost a race; retrying");
                crate::telemetry::transaction_retry();
                tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                tries += 1;
            }
            other => return other,
        }
    }
}

/// Deletes what `delete` finds older than `retention` (by the decision
/// clock), `batch` rows per write transaction, until a batch comes back
/// short; returns how many. For the history that ages out (events,
/// webhook deliveries).
pub(crate) async fn forget_in_batches(
    db: &Db,
    retention: chrono::Duration,
    batch: u64,
    delete: impl AsyncFn(&sea_orm::DatabaseTransaction, DateTime<Utc>, u64) -> Result<u64, StoreError>,
) -> Result<u64, ServiceError> {
    let mut total = 0;
    loop {
        let deleted = retrying(|| async {
            let txn = store::begin_write(db.conn()).await?;
            let before = db.decision_clock(&txn).await? - retention;
            let deleted = delete(&txn, before, batch).await?;
            txn.commit().await?;
            Ok(deleted)
        })
        .await?;
        total += deleted;
        if deleted < batch {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn lost_race() -> ServiceError {
        ServiceError::Unavailable(StoreError::Retryable(sea_orm::DbErr::Custom("serialization failure".into())))
    }

    #[tokio::test]
    async fn a_lost_race_is_retried_until_it_wins() {
        let calls = AtomicU32::new(0);
        let result =
            retrying(|| async { if calls.fetch_add(1, Ordering::SeqCst) < 2 { Err(lost_race()) } else { Ok("won") } })
                .await;
        assert_eq!(result.unwrap(), "won");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retries_are_bounded_and_end_as_unavailable() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = retrying(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(lost_race())
        })
        .await;
        assert!(matches!(result, Err(ServiceError::Unavailable(_))));
        assert_eq!(calls.load(Ordering::SeqCst), MAX_ATTEMPTS);
    }

    #[tokio::test]
    async fn rule_refusals_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = retrying(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ServiceError::NotFound)
        })
        .await;
        assert!(matches!(result, Err(ServiceError::NotFound)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
