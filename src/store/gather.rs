//! Group commit for one-round-trip bookings (docs/design.md §39): the
//! bookings that wait at the same moment are gathered into one statement
//! and one commit (`one_trip::run`), where each would have been a
//! statement, a commit and two round trips of its own (the pool pings a
//! connection as it takes it back).
//!
//! A few gatherers take turns: the one whose turn it is waits for the
//! first booking, takes the others already waiting whose statement part
//! has the same shape (at most `MOST_PER_STATEMENT`, a power of two), and
//! runs them while the next gatherer waits. So a lone booking goes at
//! once, alone, and bookings gather only while statements are under way.
//! Two bookings that would take the same advisory lock (the same hour of
//! the same resource, or a hash's collision) never share a statement: one
//! statement's locks are one transaction's, which would not keep them
//! apart, and two writes of one summary row in one statement would not
//! see each other. The later one waits for the next statement. A
//! statement's parts go in order of resource and hour (`Part::lock_order`):
//! every statement then takes summary rows in one global order, and two
//! never wait for each other in a cycle.
//!
//! Each gatherer runs its statements on a connection of its own, outside
//! the pool, set to generic plans: PostgreSQL would otherwise plan the
//! statement again for every execution, which costs more than running it
//! (§39 has the numbers), and a pooled connection would be pinged on its
//! way back. Shapes and sizes are few (one per hours, policy and key;
//! sizes powers of two), so each connection plans each once.
//!
//! A booking whose check fails in a shared statement is answered with that
//! check (its caller decides it the full way), and the others are run
//! again without it. When a shared statement fails otherwise (a customer
//! deleted meanwhile, a deadlock), nobody can tell whose part failed:
//! each is run again alone and gets its own answer.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{
    DbErr, RuntimeErr,
    sqlx::{self, PgConnection, PgPool},
};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{
    StoreError, StoreResult,
    one_trip::{self, Outcome, Part, Ran, Statements},
};
use crate::telemetry;

/// How many gatherers take turns by default: statements under way at once,
/// and connections held outside the pool. Eight, not four: on two cores the
/// bookings wait for the log's flush, and more statements under way share
/// each flush (docs/design.md §43).
pub const GATHERERS: u8 = 8;

/// The most bookings one statement carries.
const MOST_PER_STATEMENT: usize = 16;

/// Runs one-round-trip bookings, gathered. A clone is a handle on the same
/// gatherers; they stop when the last handle is dropped.
#[derive(Clone)]
pub struct Gather {
    queue: mpsc::UnboundedSender<Waiting>,
    shared_bookings: Arc<AtomicU64>,
}

/// A booking's part and who waits for its answer.
struct Waiting {
    part: Part,
    answer: oneshot::Sender<StoreResult<Outcome>>,
}

/// What the gatherers share: the bookings not yet taken.
struct Queue {
    arriving: mpsc::UnboundedReceiver<Waiting>,
    /// Bookings a statement did not take, first in line for the next.
    put_back: VecDeque<Waiting>,
}

impl Gather {
    /// Starts `gatherers` gatherers (at least one); their connections come
    /// from `pool` (and are then its no longer). Needs a Tokio runtime.
    pub fn start(pool: PgPool, gatherers: usize) -> Self {
        let (queue, arriving) = mpsc::unbounded_channel();
        let waiting = Arc::new(Mutex::new(Queue { arriving, put_back: VecDeque::new() }));
        let shared_bookings = Arc::new(AtomicU64::new(0));
        for _ in 0..gatherers.max(1) {
            let connection = Connection { pool: pool.clone(), open: None, statements: Statements::default() };
            tokio::spawn(gatherer(connection, waiting.clone(), shared_bookings.clone()));
        }
        Self { queue, shared_bookings }
    }

    /// Runs `part`, gathered with whatever else waits.
    pub async fn run(&self, part: Part) -> StoreResult<Outcome> {
        let (answer, answered) = oneshot::channel();
        if self.queue.send(Waiting { part, answer }).is_err() {
            return Err(stopped());
        }
        answered.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Bookings written by a statement that carried others too.
    pub fn shared_bookings(&self) -> u64 {
        self.shared_bookings.load(Ordering::Relaxed)
    }
}

/// The error of a booking the gatherers dropped (the runtime shutting down).
fn stopped() -> StoreError {
    StoreError::Unavailable(DbErr::Custom("the one-trip gatherers stopped".into()))
}

/// One gatherer: takes its turn, runs what it took, again.
async fn gatherer(mut connection: Connection, waiting: Arc<Mutex<Queue>>, shared_bookings: Arc<AtomicU64>) {
    loop {
        let Some(taken) = waiting.lock().await.take().await else { return };
        settle(&mut connection, taken, &shared_bookings).await;
    }
}

impl Queue {
    /// Waits for the first booking and takes the others waiting of its
    /// shape that share no lock key with those taken, as many as the
    /// largest power of two allows; `None` once no handle is left.
    async fn take(&mut self) -> Option<Vec<Waiting>> {
        let first = match self.put_back.pop_front() {
            Some(first) => first,
            None => self.arriving.recv().await?,
        };
        let mut taken = vec![first];
        let mut left = VecDeque::new();
        while taken.len() < MOST_PER_STATEMENT {
            let Some(next) = self.put_back.pop_front().or_else(|| self.arriving.try_recv().ok()) else { break };
            if next.answer.is_closed() {
                continue;
            }
            if next.part.same_shape(&taken[0].part) && !taken.iter().any(|t| t.part.clashes(&next.part)) {
                taken.push(next);
            } else {
                left.push_back(next);
            }
        }
        // Sizes in powers of two: fewer statements to plan.
        let size = 1 << taken.len().ilog2();
        for extra in taken.drain(size..).rev() {
            left.push_front(extra);
        }
        left.append(&mut self.put_back);
        self.put_back = left;
        Some(taken)
    }
}

/// Runs `taken` together and answers each; see the module's header for
/// what happens when a part fails.
async fn settle(connection: &mut Connection, mut taken: Vec<Waiting>, shared_bookings: &AtomicU64) {
    taken.sort_by_key(|waiting| waiting.part.lock_order());
    loop {
        // Nobody waits for an answer any more (the request was dropped):
        // nothing to book.
        taken.retain(|waiting| !waiting.answer.is_closed());
        if taken.is_empty() {
            return;
        }
        let parts: Vec<&Part> = taken.iter().map(|waiting| &waiting.part).collect();
        match connection.run(&parts).await {
            Ok(Ran::Written(clocks)) => {
                if taken.len() > 1 {
                    shared_bookings.fetch_add(taken.len() as u64, Ordering::Relaxed);
                }
                for (waiting, clock) in taken.into_iter().zip(clocks) {
                    let _ = waiting.answer.send(Ok(Outcome::Written(clock)));
                }
                return;
            }
            Ok(Ran::FellBack { member, check }) => {
                let failed = taken.remove(member);
                let _ = failed.answer.send(Ok(Outcome::FellBack(check)));
            }
            Err(err) if taken.len() == 1 => {
                let _ = taken.remove(0).answer.send(Err(err));
                return;
            }
            Err(_) => {
                for waiting in taken {
                    let alone = connection.run(&[&waiting.part]).await.map(|ran| match ran {
                        Ran::Written(clocks) => clocks
                            .first()
                            .map_or_else(|| Outcome::FellBack("no answer".into()), |c| Outcome::Written(*c)),
                        Ran::FellBack { check, .. } => Outcome::FellBack(check),
                    });
                    let _ = waiting.answer.send(alone);
                }
                return;
            }
        }
    }
}

/// A gatherer's connection: taken from the pool when first needed (or
/// after a failure), then kept.
struct Connection {
    pool: PgPool,
    open: Option<PgConnection>,
    /// The texts of its recent statements (not bound to the connection).
    statements: Statements,
}

impl Connection {
    async fn run(&mut self, parts: &[&Part]) -> StoreResult<Ran> {
        let conn = match &mut self.open {
            Some(conn) => conn,
            None => self.open.insert(open(&self.pool).await?),
        };
        telemetry::one_trip_statement();
        let ran = one_trip::run(conn, &mut self.statements, parts).await;
        if ran.is_err() {
            // It may be broken: the next statement takes a fresh one.
            self.open = None;
        }
        ran
    }
}

/// A connection of the pool's, detached from it, on generic plans.
async fn open(pool: &PgPool) -> StoreResult<PgConnection> {
    let driver = |err: sqlx::Error| StoreError::from(DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err))));
    let mut conn = pool.acquire().await.map_err(driver)?.detach();
    sqlx::raw_sql(sqlx::AssertSqlSafe("SET plan_cache_mode = force_generic_plan"))
        .execute(&mut conn)
        .await
        .map_err(driver)?;
    Ok(conn)
}
