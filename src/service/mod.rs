//! Use cases. Each write opens exactly one transaction (via
//! `store::begin_write`), applies the domain rules inside it and commits.
//! Lost races (serialization failures, deadlocks, SQLite busy) are retried
//! here a bounded number of times, then reported as `Unavailable`.

pub mod audit;
pub mod bookings;
pub mod bundles;
pub mod customers;
mod decision;
pub mod deliveries;
pub mod events;
pub mod groups;
pub mod idempotency;
pub mod resources;
pub mod schema;
pub mod sender;
pub mod slots;
pub mod webhooks;

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use rand::Rng;

use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::domain::{
    booking::InvalidTransition,
    field::{Field, Invalid},
    ids::ResourceId,
    policy::Buffers,
    rules::Refusal,
    time_range::TimeRange,
};
use crate::store::{self, StoreError};

/// The database the services work on, and the clock they decide by. Above
/// the service layer it is an opaque handle: the HTTP layer holds it and
/// hands it back, never queries it.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    clock: Clock,
    represent: std::sync::Arc<dyn events::Represent>,
    buffers: KnownBuffers,
    schema: schema::Fence,
}

/// What this instance last saw of each resource's buffers: a booking
/// chooses the time buckets it locks before it has read its resource
/// (docs/design.md §20). A wrong guess costs one retry, never a wrong
/// decision: the buckets are checked against the resource under the lock.
#[derive(Clone, Default)]
struct KnownBuffers(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<ResourceId, Buffers>>>);

/// Forgotten all at once past this many resources (a guess is only a guess).
const KNOWN_BUFFERS_MAX: usize = 10_000;

impl Db {
    pub fn new(conn: DatabaseConnection) -> Self {
        Self::with_clock(conn, Clock::Database)
    }

    /// Decisions read `clock` instead of the database's.
    pub fn with_clock(conn: DatabaseConnection, clock: Clock) -> Self {
        Self {
            conn,
            clock,
            represent: std::sync::Arc::new(events::IdsOnly),
            buffers: KnownBuffers::default(),
            schema: schema::Fence::default(),
        }
    }

    /// The buffers `resource` had when this instance last looked (none
    /// when it never did).
    pub(crate) fn known_buffers(&self, resource: ResourceId) -> Buffers {
        self.buffers.0.lock().ok().and_then(|known| known.get(&resource).copied()).unwrap_or_default()
    }

    pub(crate) fn remember_buffers(&self, resource: ResourceId, buffers: Buffers) {
        if let Ok(mut known) = self.buffers.0.lock() {
            if known.len() >= KNOWN_BUFFERS_MAX {
                known.clear();
            }
            known.insert(resource, buffers);
        }
    }

    /// Events show objects as `represent` does (the API's shapes).
    pub fn representing(mut self, represent: std::sync::Arc<dyn events::Represent>) -> Self {
        self.represent = represent;
        self
    }

    pub(crate) fn represent(&self) -> &dyn events::Represent {
        self.represent.as_ref()
    }

    pub(crate) fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// The instant a decision is made at, read after the decision's locks
    /// (docs/design.md §5).
    pub(crate) async fn decision_clock(&self, conn: &impl ConnectionTrait) -> Result<DateTime<Utc>, ServiceError> {
        match &self.clock {
            Clock::Database => Ok(store::decision_clock(conn).await?),
            Clock::Manual(at) => Ok(at.lock().map(|at| *at).unwrap_or_else(|poisoned| *poisoned.into_inner())),
        }
    }

    /// `decision_clock`, given what the database's clock read `read` (in a
    /// statement after the locks) when the caller has it.
    pub(crate) async fn decision_clock_or(
        &self,
        conn: &impl ConnectionTrait,
        read: Option<DateTime<Utc>>,
    ) -> Result<DateTime<Utc>, ServiceError> {
        match (&self.clock, read) {
            (Clock::Database, Some(read)) => Ok(read),
            _ => self.decision_clock(conn).await,
        }
    }

    /// The schema fence this handle's writers obey (shared by its clones).
    pub fn schema_fence(&self) -> &schema::Fence {
        &self.schema
    }

    /// Whether the database has migrations this binary does not know, as
    /// last looked (`schema::check`): writes are then refused.
    pub fn schema_ahead(&self) -> bool {
        self.schema.is_closed()
    }

    /// Whether decisions read the database's clock (not a manual one).
    pub(crate) fn reads_database_clock(&self) -> bool {
        matches!(self.clock, Clock::Database)
    }

    /// This instance's idea of the decision clock, without asking the
    /// database: for guesses that a decision checks again (a key's expiry
    /// before the request runs).
    pub(crate) fn approximate_now(&self) -> DateTime<Utc> {
        match &self.clock {
            Clock::Database => now(),
            Clock::Manual(at) => at.lock().map(|at| *at).unwrap_or_else(|poisoned| *poisoned.into_inner()),
        }
    }

    /// Whether the database answers a trivial query (readiness).
    pub async fn ping(&self) -> Result<(), ServiceError> {
        Ok(store::ping(&self.conn).await?)
    }

    /// Connections of the pool: (in use, idle).
    pub fn pool_stats(&self) -> (u32, u32) {
        store::pool_stats(&self.conn)
    }
}

/// Who asks, and the request it came with: recorded in a booking's
/// history and in every event.
#[derive(Clone, Debug)]
pub struct Context {
    pub actor: crate::domain::booking::Actor,
    pub request_id: Option<String>,
    pub reason: Option<String>,
}

/// A write's precondition on the row version (an `If-Match`), checked
/// under the row's lock: `Any` holds for whatever version is current
/// (RFC 9110 §13.1.1: `*`, or no `If-Match` where it is optional).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Expected {
    #[default]
    Any,
    /// One of these versions.
    OneOf(Vec<i64>),
}

impl Expected {
    /// `VersionMismatch` unless `version` satisfies the condition.
    pub fn check(&self, version: i64) -> Result<(), ServiceError> {
        match self {
            Expected::OneOf(versions) if !versions.contains(&version) => {
                Err(ServiceError::VersionMismatch { current_version: version })
            }
            _ => Ok(()),
        }
    }
}

/// Where decisions read the time.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// `store::decision_clock`: the database's clock (PostgreSQL), or this
    /// process's (SQLite). Always, in production.
    #[default]
    Database,
    /// A time set by hand, for tests that put a rule's boundary exactly on
    /// the clock. Not reachable from configuration.
    Manual(std::sync::Arc<std::sync::Mutex<DateTime<Utc>>>),
}

impl Clock {
    pub fn manual(at: DateTime<Utc>) -> Self {
        Clock::Manual(std::sync::Arc::new(std::sync::Mutex::new(at.trunc_subsecs(6))))
    }

    /// Sets a manual clock (a database clock ignores it).
    pub fn set(&self, at: DateTime<Utc>) {
        if let Clock::Manual(clock) = self
            && let Ok(mut now) = clock.lock()
        {
            *now = at.trunc_subsecs(6);
        }
    }
}

/// How many times a transaction that lost a race is run in all.
const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("not found")]
    NotFound,
    #[error("the value of {field} is already taken")]
    AlreadyExists { field: &'static str },
    #[error("the object is at version {current_version}")]
    VersionMismatch { current_version: i64 },
    /// A value the client sent is unacceptable given the current data (the
    /// interval is longer than the resource allows, a referenced id does not
    /// exist, ...). `field` names the value; the HTTP layer points at it.
    #[error("{field}: {detail}")]
    Invalid { field: Field, detail: String },
    #[error("{action} is not allowed from {current}", current = .0.current, action = .0.action)]
    InvalidTransition(InvalidTransition),
    #[error("the hold expired at {at}")]
    HoldExpired { at: DateTime<Utc> },
    /// A rule of `domain::rules` refused the booking; on create and
    /// reschedule with the nearest bookable `alternatives`.
    #[error("refused: {refusal:?}")]
    Refused { refusal: Refusal, alternatives: Option<Vec<TimeRange>> },
    /// Item `index` of a bundle was refused (or named nothing): nothing
    /// of the bundle was booked.
    #[error("item {index}: {error}")]
    BundleItem { index: usize, error: Box<ServiceError> },
    /// No member of the group could take the booking; with the nearest
    /// `alternatives` over all members, except for a bundle's item.
    #[error("no member of group {group_id} is free")]
    NoResourceAvailable { group_id: crate::domain::ids::GroupId, alternatives: Option<Vec<TimeRange>> },
    #[error("future bookings use {peak_usage} units at once")]
    CapacityBelowCommitments { peak_usage: i64 },
    #[error("{blocking_bookings} future blocking bookings")]
    HasBookings { blocking_bookings: u64 },
    /// The request's Idempotency-Key holds another answer by now (a request
    /// with the same key committed first): this one's effect rolled back.
    #[error("the idempotency key holds another answer")]
    IdempotencyKeyTaken,
    /// The database is unreachable, or the write lost every retry.
    #[error("database unavailable")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Retryable(_) | StoreError::Unavailable(_) => ServiceError::Unavailable(err),
            other => ServiceError::Internal(other),
        }
    }
}

impl From<Invalid> for ServiceError {
    fn from(invalid: Invalid) -> Self {
        ServiceError::Invalid { field: invalid.field, detail: invalid.detail }
    }
}

impl From<sea_orm::DbErr> for ServiceError {
    fn from(err: sea_orm::DbErr) -> Self {
        StoreError::from(err).into()
    }
}

impl ServiceError {
    /// A race lost in a way the database did not report as one.
    pub fn lost_race() -> Self {
        ServiceError::Unavailable(StoreError::Retryable(sea_orm::DbErr::Custom("lost a race".into())))
    }

    pub fn invalid(field: impl Into<Field>, detail: impl Into<String>) -> Self {
        ServiceError::Invalid { field: field.into(), detail: detail.into() }
    }

    fn is_retryable(&self) -> bool {
        matches!(self, ServiceError::Unavailable(StoreError::Retryable(_)))
    }
}

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

/// The current time at the database's precision (PostgreSQL keeps
/// microseconds), so what we return equals what a later read returns. For
/// timestamps and reads; decisions take `Db::decision_clock` after
/// their locks.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
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
