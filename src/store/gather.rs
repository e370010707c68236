//! Group commit for one-round-trip bookings (docs/design.md §39): the
//! bookings that wait at the same moment are gathered into one statement
//! and one commit (`one_trip::run`), where each would have been a
//! statement, a commit and two round trips of its own (the pool pings a
//! connection as it takes it back).
//!
//! A few gatherers run statements; one dispatcher hands them out. It waits
//! for the first booking, gives it to the gatherer that came back last
//! (last in, first out), with the others already waiting whose statement
//! part has the same shape (at most `MOST_PER_STATEMENT`, a power of two).
//! So a lone booking goes at once, alone, and bookings gather only while
//! statements are under way: when every gatherer is busy, the bookings
//! that arrive meanwhile wait for the first to come back and go together.
//! Last in, first out keeps a lone client on one warm connection instead
//! of rotating it over all of them (docs/design.md §44); under load every
//! gatherer is busy and the order does not matter. A gatherer counts as
//! back before it answers, so the client it answers finds it free.
//! Half the gatherers are held in reserve for queues (`Free`, §47): while
//! the first half are busy, a lone waiting booking waits for one of them
//! (or for a second booking) instead of starting one more statement.
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
use tokio::sync::{mpsc, oneshot};

use super::{
    StoreError, StoreResult,
    one_trip::{self, Outcome, Part, Ran, Statements},
};
use crate::telemetry;

/// How many gatherers run statements by default: statements under way at once,
/// and connections held outside the pool. Eight, not four: on two cores the
/// bookings wait for the log's flush, and more statements under way share
/// each flush (docs/design.md §43). Half of them are held for queues (`Free`,
/// §47).
pub const GATHERERS: u8 = 8;

/// How many bookings must wait before a reserve gatherer is taken (`Free`).
const RESERVE_FROM: usize = 2;

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

/// The bookings not yet taken, the dispatcher's alone.
struct Queue {
    arriving: mpsc::UnboundedReceiver<Waiting>,
    /// Bookings a statement did not take, first in line for the next.
    put_back: VecDeque<Waiting>,
}

/// A gatherer's number, sent when it comes back free.
type Back = mpsc::UnboundedSender<usize>;

impl Gather {
    /// Starts `gatherers` gatherers (at least one); their connections come
    /// from `pool` (and are then its no longer). Needs a Tokio runtime.
    pub fn start(pool: PgPool, gatherers: usize) -> Self {
        let (queue, arriving) = mpsc::unbounded_channel();
        let shared_bookings = Arc::new(AtomicU64::new(0));
        let (back, came_back) = mpsc::unbounded_channel();
        let mut work = Vec::new();
        for number in 0..gatherers.max(1) {
            let (give, given) = mpsc::unbounded_channel();
            work.push(give);
            let connection = Connection { pool: pool.clone(), open: None, statements: Statements::default() };
            tokio::spawn(gatherer(number, connection, given, back.clone(), shared_bookings.clone()));
        }
        let queue_of_bookings = Queue { arriving, put_back: VecDeque::new() };
        tokio::spawn(dispatcher(queue_of_bookings, work, came_back));
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

/// Hands each gathering of bookings to the gatherer that came back last;
/// stops (and so stops the gatherers) once no handle is left.
async fn dispatcher(
    mut queue: Queue,
    work: Vec<mpsc::UnboundedSender<Vec<Waiting>>>,
    mut came_back: mpsc::UnboundedReceiver<usize>,
) {
    let mut free = Free::all(work.len());
    loop {
        let Some(first) = queue.first().await else { return };
        let number = loop {
            while let Ok(number) = came_back.try_recv() {
                free.back(number);
            }
            if let Some(number) = free.take(1 + queue.waiting()) {
                break number;
            }
            // None free for a gathering this small: wait for a gatherer to
            // come back, or for enough bookings to take a reserve one.
            let reserve_free = free.any();
            tokio::select! {
                back = came_back.recv() => match back {
                    Some(number) => free.back(number),
                    None => return,
                },
                Some(arrived) = queue.arriving.recv(), if reserve_free => queue.put_back.push_back(arrived),
            }
        };
        let taken = queue.gather(first);
        if let Some(give) = work.get(number) {
            // A gatherer stops only when this sender is dropped.
            let _ = give.send(taken);
        }
    }
}

/// The free gatherers, the one back last on top. The first half are the
/// core: a gathering goes to the core one back last. The others are held
/// in reserve for queues: one is taken only while at least `RESERVE_FROM`
/// bookings wait (the first included), so that while the core is busy a
/// lone booking waits for a core gatherer, gathering those that arrive
/// meanwhile, rather than start one more statement (docs/design.md §47).
struct Free {
    stack: Vec<usize>,
    core: usize,
}

impl Free {
    /// All of `gatherers` free, the first on top.
    fn all(gatherers: usize) -> Self {
        Self { stack: (0..gatherers).rev().collect(), core: gatherers.div_ceil(2) }
    }

    /// `number` came back.
    fn back(&mut self, number: usize) {
        self.stack.push(number);
    }

    /// Whether any gatherer is free.
    fn any(&self) -> bool {
        !self.stack.is_empty()
    }

    /// The gatherer for the next gathering while `waiting` bookings wait,
    /// if one is free for it.
    fn take(&mut self, waiting: usize) -> Option<usize> {
        match self.stack.iter().rposition(|&number| number < self.core) {
            Some(at) => Some(self.stack.remove(at)),
            None if waiting >= RESERVE_FROM => self.stack.pop(),
            None => None,
        }
    }
}

/// One gatherer: runs what it is given, comes back, answers, again.
async fn gatherer(
    number: usize,
    mut connection: Connection,
    mut given: mpsc::UnboundedReceiver<Vec<Waiting>>,
    back: Back,
    shared_bookings: Arc<AtomicU64>,
) {
    while let Some(taken) = given.recv().await {
        let answers = settle(&mut connection, taken, &shared_bookings).await;
        // Back before answering: the client answered finds this one free.
        let _ = back.send(number);
        for (waiting, answer) in answers {
            let _ = waiting.send(answer);
        }
    }
}

impl Queue {
    /// How many bookings wait, not yet taken.
    fn waiting(&self) -> usize {
        self.put_back.len() + self.arriving.len()
    }

    /// Waits for the first booking; `None` once no handle is left.
    async fn first(&mut self) -> Option<Waiting> {
        match self.put_back.pop_front() {
            Some(first) => Some(first),
            None => self.arriving.recv().await,
        }
    }

    /// Takes, with `first`, the others waiting of its shape that share no
    /// lock key with those taken, as many as the largest power of two
    /// allows.
    fn gather(&mut self, first: Waiting) -> Vec<Waiting> {
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
        taken
    }
}

/// An answer ready to send, and where to.
type Answer = (oneshot::Sender<StoreResult<Outcome>>, StoreResult<Outcome>);

/// Runs `taken` together and returns each one's answer (a part that fell
/// back is answered at once, so its caller starts the full way while the
/// others run again); see the module's header for what happens when a
/// part fails.
async fn settle(connection: &mut Connection, mut taken: Vec<Waiting>, shared_bookings: &AtomicU64) -> Vec<Answer> {
    taken.sort_by_key(|waiting| waiting.part.lock_order());
    loop {
        // Nobody waits for an answer any more (the request was dropped):
        // nothing to book.
        taken.retain(|waiting| !waiting.answer.is_closed());
        if taken.is_empty() {
            return Vec::new();
        }
        let parts: Vec<&Part> = taken.iter().map(|waiting| &waiting.part).collect();
        match connection.run(&parts).await {
            Ok(Ran::Written(clocks)) => {
                if taken.len() > 1 {
                    shared_bookings.fetch_add(taken.len() as u64, Ordering::Relaxed);
                }
                return taken
                    .into_iter()
                    .zip(clocks)
                    .map(|(waiting, clock)| (waiting.answer, Ok(Outcome::Written(clock))))
                    .collect();
            }
            Ok(Ran::FellBack { member, check }) => {
                let failed = taken.remove(member);
                let _ = failed.answer.send(Ok(Outcome::FellBack(check)));
            }
            Err(err) if taken.len() == 1 => {
                return vec![(taken.remove(0).answer, Err(err))];
            }
            Err(_) => {
                let mut answers = Vec::with_capacity(taken.len());
                for waiting in taken {
                    let alone = connection.run(&[&waiting.part]).await.map(|ran| match ran {
                        Ran::Written(clocks) => clocks
                            .first()
                            .map_or_else(|| Outcome::FellBack("no answer".into()), |c| Outcome::Written(*c)),
                        Ran::FellBack { check, .. } => Outcome::FellBack(check),
                    });
                    answers.push((waiting.answer, alone));
                }
                return answers;
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

#[cfg(test)]
mod tests {
    use super::{Free, RESERVE_FROM};

    #[test]
    fn a_gathering_goes_to_the_core_gatherer_back_last() {
        let mut free = Free::all(8);
        assert_eq!(Some(0), free.take(1));
        assert_eq!(Some(1), free.take(1));
        free.back(0);
        assert_eq!(Some(0), free.take(1), "the one back last, not the next one never used");
        free.back(1);
        free.back(0);
        assert_eq!(Some(0), free.take(1));
        assert_eq!(Some(1), free.take(1));
    }

    #[test]
    fn a_reserve_gatherer_waits_for_a_queue() {
        let mut free = Free::all(8);
        for core in 0..4 {
            assert_eq!(Some(core), free.take(RESERVE_FROM));
        }
        assert_eq!(None, free.take(RESERVE_FROM - 1), "a short queue waits for the core");
        assert_eq!(Some(4), free.take(RESERVE_FROM));
        free.back(2);
        free.back(4);
        assert_eq!(Some(2), free.take(1), "a core gatherer before a reserve one back after it");
        assert_eq!(None, free.take(1));
        assert_eq!(Some(4), free.take(RESERVE_FROM));
        for _ in 5..8 {
            assert!(free.take(RESERVE_FROM).is_some());
        }
        assert!(!free.any());
        assert_eq!(None, free.take(16));
    }

    #[test]
    fn one_gatherer_is_all_core() {
        let mut free = Free::all(1);
        assert_eq!(Some(0), free.take(1));
        assert_eq!(None, free.take(16));
        free.back(0);
        assert_eq!(Some(0), free.take(1));
    }
}
