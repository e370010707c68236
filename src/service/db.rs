//! The handle the services work through (`Db`): the connection pool, the
//! clock decisions read (`Clock`), how events show objects, what this
//! instance last saw of each resource's buffers, and the schema fence.
//! Above the service layer it is opaque.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::{
    error::ServiceError,
    fence::Fence,
    represent::{IdsOnly, Represent},
};
use crate::domain::{ids::ResourceId, policy::Buffers};
use crate::store;

/// The database the services work on, and the clock they decide by. Above
/// the service layer it is an opaque handle: the HTTP layer holds it and
/// hands it back, never queries it.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    clock: Clock,
    represent: std::sync::Arc<dyn Represent>,
    seen: KnownResources,
    schema: Fence,
}

/// What this instance last saw of each resource: its buffers and whether it
/// had a waiting list. A booking chooses how it locks before it has read
/// its resource (docs/design.md §20: the time buckets of its buffers, or
/// the whole row where a queue is to be served, §24). A wrong guess costs
/// one retry, never a wrong decision: the guess is checked against the
/// resource under the lock.
#[derive(Clone, Default)]
struct KnownResources(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<ResourceId, Seen>>>);

#[derive(Clone, Copy, Default)]
struct Seen {
    buffers: Buffers,
    queued: bool,
}

/// Forgotten all at once past this many resources (a guess is only a guess).
const KNOWN_RESOURCES_MAX: usize = 10_000;

impl Db {
    pub fn new(conn: DatabaseConnection) -> Self {
        Self::with_clock(conn, Clock::Database)
    }

    /// Decisions read `clock` instead of the database's.
    pub fn with_clock(conn: DatabaseConnection, clock: Clock) -> Self {
        Self {
            conn,
            clock,
            represent: std::sync::Arc::new(IdsOnly),
            seen: KnownResources::default(),
            schema: Fence::default(),
        }
    }

    /// The buffers `resource` had when this instance last looked (none
    /// when it never did).
    pub(crate) fn known_buffers(&self, resource: ResourceId) -> Buffers {
        self.seen(resource).buffers
    }

    pub(crate) fn remember_buffers(&self, resource: ResourceId, buffers: Buffers) {
        self.remember(resource, |seen| seen.buffers = buffers);
    }

    /// Whether `resource` had a waiting list when this instance last looked.
    pub(crate) fn known_queue(&self, resource: ResourceId) -> bool {
        self.seen(resource).queued
    }

    pub(crate) fn remember_queue(&self, resource: ResourceId, queued: bool) {
        if self.known_queue(resource) != queued {
            self.remember(resource, |seen| seen.queued = queued);
        }
    }

    fn seen(&self, resource: ResourceId) -> Seen {
        self.seen.0.lock().ok().and_then(|known| known.get(&resource).copied()).unwrap_or_default()
    }

    fn remember(&self, resource: ResourceId, change: impl FnOnce(&mut Seen)) {
        if let Ok(mut known) = self.seen.0.lock() {
            if known.len() >= KNOWN_RESOURCES_MAX {
                known.clear();
            }
            change(known.entry(resource).or_default());
        }
    }

    /// Events show objects as `represent` does (the API's shapes).
    pub fn representing(mut self, represent: std::sync::Arc<dyn Represent>) -> Self {
        self.represent = represent;
        self
    }

    pub(crate) fn represent(&self) -> &dyn Represent {
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
    pub fn schema_fence(&self) -> &Fence {
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

/// The current time at the database's precision (PostgreSQL keeps
/// microseconds), so what we return equals what a later read returns. For
/// timestamps and reads; decisions take `Db::decision_clock` after
/// their locks.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
