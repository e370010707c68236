//! The handle the services work through (`Db`): the connection pool, the
//! clock decisions read (`Clock`) and how far the database's runs ahead of
//! this process's, how events show objects, what this instance last saw of
//! each resource (its buffers, its queue, its settings for the
//! one-round-trip booking), the schema fence, and on SQLite the turn new
//! bookings take in a shared write transaction. Above the service layer it
//! is opaque.

use std::sync::{
    Arc,
    atomic::{AtomicI64, AtomicU64, Ordering},
};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::{
    error::ServiceError,
    fence::Fence,
    represent::{IdsOnly, Represent},
    timelines::Timelines,
    write_batch::WriteBatch,
};
use crate::domain::{ids::ResourceId, policy::Buffers, resource::Resource};
use crate::store::{self, gather::Gather};

/// The database the services work on, and the clock they decide by. Above
/// the service layer it is an opaque handle: the HTTP layer holds it and
/// hands it back, never queries it. A clone is one reference count: every
/// request's handlers and middleware take one.
#[derive(Clone)]
pub struct Db {
    shared: Arc<Shared>,
}

/// What every clone of a `Db` shares.
#[derive(Clone)]
struct Shared {
    conn: DatabaseConnection,
    clock: Clock,
    represent: std::sync::Arc<dyn Represent>,
    seen: KnownResources,
    schema: Fence,
    /// Whether bookings may be decided in one round trip (docs/design.md
    /// §30); on by default, `BERTH_ONE_TRIP_BOOKINGS=false` turns it off.
    one_trip: bool,
    /// How long a resource's bookings skip the one-round-trip attempt after
    /// one found its hours busy or full (a rush on one slot: every attempt
    /// would fall back).
    one_trip_pause: Duration,
    /// How many microseconds the database's clock was ahead of this
    /// process's when last read (at most: the read travelled meanwhile).
    clock_lead_micros: Arc<AtomicI64>,
    one_trip_written: Arc<AtomicU64>,
    /// The gatherers of one-round-trip bookings (docs/design.md §39),
    /// started by the first.
    one_trip_gather: Arc<std::sync::OnceLock<Gather>>,
    one_trip_gatherers: usize,
    /// Unix seconds from which no older instance can be writing
    /// (`schema::check`); `i64::MAX` until it has looked.
    one_trip_safe_from: Arc<AtomicI64>,
    /// Resources' usage timelines as last read (docs/design.md §31).
    timelines: Timelines,
    /// On SQLite, the transaction new bookings take their turn in
    /// (docs/design.md §46).
    write_batch: Option<Arc<WriteBatch>>,
}

/// What this instance last saw of each resource: its buffers, whether it
/// had a waiting list, and the resource itself as a decision last locked
/// it. A booking chooses how it locks before it has read its resource
/// (docs/design.md §20: the time buckets of its buffers, or the whole row
/// where a queue is to be served, §24), and the one-round-trip booking
/// decides by the settings it remembers (§30). A wrong guess costs one
/// retry, never a wrong decision: the guess is checked against the
/// resource under the lock (the one-round-trip statement checks its
/// version).
#[derive(Clone, Default)]
struct KnownResources(Arc<std::sync::Mutex<std::collections::HashMap<ResourceId, Seen>>>);

#[derive(Clone, Default)]
struct Seen {
    buffers: Buffers,
    queued: bool,
    resource: Option<Arc<Resource>>,
    /// No one-round-trip booking of it before then: the last one found
    /// its hours busy or full, where the full decision is the one to take.
    one_trip_paused_until: Option<Instant>,
}

/// How many stretches of timelines an instance remembers by default
/// (`BERTH_TIMELINE_CACHE_STRETCHES`): about 8 MiB.
pub const DEFAULT_TIMELINE_STRETCHES: u64 = 200_000;

/// How many rows a window's read must return to be remembered by default
/// (`BERTH_TIMELINE_CACHE_MIN_ROWS`).
pub const DEFAULT_TIMELINE_MIN_ROWS: usize = 100;

/// Forgotten all at once past this many resources (a guess is only a guess).
const KNOWN_RESOURCES_MAX: usize = 10_000;

impl Db {
    pub fn new(conn: DatabaseConnection) -> Self {
        Self::with_clock(conn, Clock::Database)
    }

    /// Decisions read `clock` instead of the database's.
    pub fn with_clock(conn: DatabaseConnection, clock: Clock) -> Self {
        let write_batch = (conn.get_database_backend() == sea_orm::DatabaseBackend::Sqlite).then(Arc::default);
        let shared = Shared {
            conn,
            clock,
            represent: std::sync::Arc::new(IdsOnly),
            seen: KnownResources::default(),
            schema: Fence::default(),
            one_trip: true,
            one_trip_pause: Duration::from_millis(250),
            clock_lead_micros: Arc::default(),
            one_trip_written: Arc::default(),
            one_trip_gather: Arc::default(),
            one_trip_gatherers: usize::from(store::gather::GATHERERS),
            one_trip_safe_from: Arc::new(AtomicI64::new(i64::MAX)),
            timelines: Timelines::new(DEFAULT_TIMELINE_STRETCHES, DEFAULT_TIMELINE_MIN_ROWS),
            write_batch,
        };
        Self { shared: Arc::new(shared) }
    }

    /// The settings to change while building (a copy when already shared).
    fn settings(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.shared)
    }

    /// Remembers at most `stretches` stretches of resources' usage
    /// timelines for page loads (docs/design.md §31; 0 remembers none), of
    /// windows whose read returned at least `min_rows` rows.
    pub fn with_timeline_cache(mut self, stretches: u64, min_rows: usize) -> Self {
        self.settings().timelines = Timelines::new(stretches, min_rows);
        self
    }

    pub(crate) fn timelines(&self) -> &Timelines {
        &self.shared.timelines
    }

    /// Turns the one-round-trip booking (docs/design.md §30) on or off.
    pub fn with_one_trip(mut self, on: bool) -> Self {
        self.settings().one_trip = on;
        self
    }

    /// Sets how many gatherers run one-round-trip bookings (docs/design.md
    /// §39; `store::gather::GATHERERS` by default), before the first such
    /// booking starts them: one gathers the most.
    pub fn with_one_trip_gatherers(mut self, gatherers: usize) -> Self {
        self.settings().one_trip_gatherers = gatherers;
        self
    }

    /// Sets how long a resource's bookings skip the one-round-trip attempt
    /// after one found its hours busy or full (250 ms; tests racing on one
    /// resource set none).
    pub fn with_one_trip_pause(mut self, pause: Duration) -> Self {
        self.settings().one_trip_pause = pause;
        self
    }

    /// Whether bookings of `resource` may be tried in one round trip now.
    pub(crate) fn one_trip_allowed(&self, resource: ResourceId) -> bool {
        self.shared.one_trip
            && Utc::now().timestamp() >= self.shared.one_trip_safe_from.load(Ordering::Relaxed)
            && self.seen(resource).one_trip_paused_until.is_none_or(|until| Instant::now() >= until)
    }

    /// Notes from when (Unix seconds) no older instance can be writing;
    /// `None`: the migration is not there (never, then).
    pub(crate) fn one_trip_safe_from(&self, from: Option<i64>) {
        self.shared.one_trip_safe_from.store(from.unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// The resource as this instance last read it.
    pub(crate) fn known_resource(&self, resource: ResourceId) -> Option<Arc<Resource>> {
        self.seen(resource).resource
    }

    /// On SQLite, the transaction new bookings take their turn in
    /// (docs/design.md §46).
    pub(crate) fn write_batch(&self) -> Option<&Arc<WriteBatch>> {
        self.shared.write_batch.as_ref()
    }

    /// SQLite's shared booking transactions committed, and the bookings
    /// decided in them (docs/design.md §46; zeros on PostgreSQL).
    pub fn batched_bookings(&self) -> (u64, u64) {
        self.shared.write_batch.as_ref().map_or((0, 0), |batch| batch.counts())
    }

    /// Counts a booking written in one round trip.
    pub(crate) fn one_trip_written(&self) {
        self.shared.one_trip_written.fetch_add(1, Ordering::Relaxed);
    }

    /// How many bookings this handle wrote in one round trip (for tests and
    /// the benchmark; the metric `berth_one_trip_bookings_total` counts the
    /// whole process's).
    pub fn one_trip_bookings(&self) -> u64 {
        self.shared.one_trip_written.load(Ordering::Relaxed)
    }

    /// The gatherers one-round-trip bookings are run by, on PostgreSQL
    /// (started here the first time: they need the runtime).
    pub(crate) fn one_trip_gather(&self) -> Option<&Gather> {
        let conn = &self.shared.conn;
        let gatherers = self.shared.one_trip_gatherers;
        (conn.get_database_backend() == sea_orm::DatabaseBackend::Postgres).then(|| {
            self.shared
                .one_trip_gather
                .get_or_init(|| Gather::start(conn.get_postgres_connection_pool().clone(), gatherers))
        })
    }

    /// How many of `one_trip_bookings` were written by a statement that
    /// carried others too (docs/design.md §39).
    pub fn one_trip_bookings_shared(&self) -> u64 {
        self.shared.one_trip_gather.get().map_or(0, Gather::shared_bookings)
    }

    /// Remembers `resource` as a decision locked it (or a one-round-trip
    /// booking read it).
    pub(crate) fn remember_resource(&self, resource: &Resource) {
        let fresh = |seen: &Seen| seen.resource.as_ref().is_some_and(|known| known.version == resource.version);
        if !fresh(&self.seen(resource.id)) {
            let known = Arc::new(resource.clone());
            self.remember(resource.id, |seen| seen.resource = Some(known));
        }
    }

    /// Its bookings skip the one-round-trip attempt for a moment.
    pub(crate) fn pause_one_trip(&self, resource: ResourceId) {
        let until = Instant::now() + self.shared.one_trip_pause;
        self.remember(resource, |seen| seen.one_trip_paused_until = Some(until));
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
        self.shared.seen.0.lock().ok().and_then(|known| known.get(&resource).cloned()).unwrap_or_default()
    }

    fn remember(&self, resource: ResourceId, change: impl FnOnce(&mut Seen)) {
        if let Ok(mut known) = self.shared.seen.0.lock() {
            if known.len() >= KNOWN_RESOURCES_MAX {
                known.clear();
            }
            change(known.entry(resource).or_default());
        }
    }

    /// Events show objects as `represent` does (the API's shapes).
    pub fn representing(mut self, represent: std::sync::Arc<dyn Represent>) -> Self {
        self.settings().represent = represent;
        self
    }

    pub(crate) fn represent(&self) -> &dyn Represent {
        self.shared.represent.as_ref()
    }

    pub(crate) fn conn(&self) -> &DatabaseConnection {
        &self.shared.conn
    }

    /// The instant a decision is made at, read after the decision's locks
    /// (docs/design.md §5).
    pub(crate) async fn decision_clock(&self, conn: &impl ConnectionTrait) -> Result<DateTime<Utc>, ServiceError> {
        match &self.shared.clock {
            Clock::Database => Ok(self.learn_clock(store::decision_clock(conn).await?)),
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
        match (&self.shared.clock, read) {
            (Clock::Database, Some(read)) => Ok(self.learn_clock(read)),
            _ => self.decision_clock(conn).await,
        }
    }

    /// The schema fence this handle's writers obey (shared by its clones).
    pub fn schema_fence(&self) -> &Fence {
        &self.shared.schema
    }

    /// Whether the database has migrations this binary does not know, as
    /// last looked (`schema::check`): writes are then refused.
    pub fn schema_ahead(&self) -> bool {
        self.shared.schema.is_closed()
    }

    /// Whether decisions read the database's clock (not a manual one).
    pub(crate) fn reads_database_clock(&self) -> bool {
        matches!(self.shared.clock, Clock::Database)
    }

    /// This instance's idea of the decision clock, without asking the
    /// database: for guesses that a decision checks again (a key's expiry
    /// before the request runs).
    pub(crate) fn approximate_now(&self) -> DateTime<Utc> {
        match &self.shared.clock {
            Clock::Database => now(),
            Clock::Manual(at) => at.lock().map(|at| *at).unwrap_or_else(|poisoned| *poisoned.into_inner()),
        }
    }

    /// Notes how far the database's clock, as `read` by a statement that
    /// just answered, is ahead of this process's; returns `read`.
    pub(crate) fn learn_clock(&self, read: DateTime<Utc>) -> DateTime<Utc> {
        if let Some(lead) = (read - Utc::now()).num_microseconds() {
            self.shared.clock_lead_micros.store(lead, Ordering::Relaxed);
        }
        read
    }

    /// The one-round-trip booking's decision clock (docs/design.md §30): a
    /// manual clock as it is; else this process's clock moved by the
    /// database's last known lead, which a statement then checks against
    /// the database's own clock (the flag: whether to check).
    pub(crate) fn one_trip_clock(&self) -> (DateTime<Utc>, bool) {
        match &self.shared.clock {
            Clock::Database => {
                let lead = chrono::Duration::microseconds(self.shared.clock_lead_micros.load(Ordering::Relaxed));
                ((Utc::now() + lead).trunc_subsecs(6), true)
            }
            Clock::Manual(_) => (self.approximate_now(), false),
        }
    }

    /// Whether the database answers a trivial query (readiness).
    pub async fn ping(&self) -> Result<(), ServiceError> {
        Ok(store::ping(&self.shared.conn).await?)
    }

    /// Connections of the pool: (in use, idle).
    pub fn pool_stats(&self) -> (u32, u32) {
        store::pool_stats(&self.shared.conn)
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
