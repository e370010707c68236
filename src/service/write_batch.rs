//! SQLite's new bookings decided one after another in one write
//! transaction, each in a savepoint of its own (docs/design.md §46).
//!
//! SQLite lets one connection write at a time, so its bookings were
//! decided one after another already, each in a transaction of its own on
//! whichever pooled connection won the write lock (the others polling for
//! it, asleep between tries). Here they take their turn in this process
//! instead (a first-come, first-served async mutex). One that finds
//! nobody waiting decides alone in a transaction of its own, as before;
//! otherwise the first opens a transaction (`BEGIN IMMEDIATE`), each
//! decides inside a savepoint of it, and it commits when no booking is
//! waiting for its turn, or after [`MOST_PER_COMMIT`]. Each booking sees
//! the ones before it exactly as it would have after their commits,
//! nothing else could have written in between, and every answer waits for
//! the commit that makes it durable.
//!
//! A booking whose request is dropped halfway (its client went away)
//! leaves its savepoint to sqlx's queued rollback, which runs on the
//! connection before anything sent after it, and whoever takes the next
//! turn (or a closer task spawned for it) commits what the others decided.
//! A commit that fails is a lost race for every booking in it: each is
//! decided again.

use std::sync::{
    Arc,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};

use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tokio::sync::{Mutex, watch};

use super::error::ServiceError;
use crate::store;

/// The most bookings decided in one transaction: it commits after them
/// even while more are waiting, so a busy instance still commits (and
/// answers) every few milliseconds.
pub(crate) const MOST_PER_COMMIT: usize = 16;

/// The transaction bookings take their turn in, and how many wait.
#[derive(Default)]
pub(crate) struct WriteBatch {
    open: Mutex<Open>,
    /// Bookings waiting for their turn (not yet holding `open`).
    waiting: AtomicUsize,
    commits: AtomicU64,
    decided: AtomicU64,
}

/// The transaction under way, if any.
#[derive(Default)]
struct Open {
    txn: Option<DatabaseTransaction>,
    /// Which transaction this is (a closer commits only its own).
    id: u64,
    /// Bookings decided in it so far.
    decided: usize,
    /// Whether it committed, for the bookings waiting to answer (a new
    /// sender for each transaction).
    done: watch::Sender<Option<bool>>,
}

impl WriteBatch {
    /// Runs `decide` in its turn: in a transaction of its own when no
    /// other booking waits, else in a savepoint of the shared transaction
    /// (it commits or drops what it is given), and returns what it decided
    /// once that committed. An error of its own is returned at once: what
    /// it wrote was rolled back.
    pub(crate) async fn decide<T>(
        self: &Arc<Self>,
        conn: &DatabaseConnection,
        decide: impl AsyncFnOnce(DatabaseTransaction) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        let mut open = {
            let _queued = Waiting::count(&self.waiting);
            self.open.lock().await
        };
        if open.txn.is_none() && self.waiting.load(Ordering::Acquire) == 0 {
            // Alone: a transaction of its own, as on PostgreSQL, with no
            // savepoint to pay for; those who come meanwhile wait their turn.
            self.decided.fetch_add(1, Ordering::Relaxed);
            self.commits.fetch_add(1, Ordering::Relaxed);
            return decide(store::begin_write(conn).await?).await;
        }
        if open.txn.is_none() {
            let txn = store::begin_write(conn).await?;
            open.txn = Some(txn);
            open.id += 1;
            open.decided = 0;
        }
        let mut turn = Turn { batch: Arc::clone(self), id: open.id, closed: false };
        let mut committed = open.done.subscribe();
        let savepoint = match &open.txn {
            Some(txn) => txn.begin().await?,
            None => return Err(ServiceError::lost_race()),
        };
        let decided = decide(savepoint).await;
        self.decided.fetch_add(1, Ordering::Relaxed);
        open.decided += 1;
        if self.waiting.load(Ordering::Acquire) == 0 || open.decided >= MOST_PER_COMMIT {
            turn.closed = true;
            let ok = self.commit(&mut open).await;
            return if ok || decided.is_err() { decided } else { Err(ServiceError::lost_race()) };
        }
        // Left open for the next in turn; `turn`'s drop makes sure it
        // commits even if none of them is left to.
        drop(open);
        drop(turn);
        let decided = decided?;
        match committed.wait_for(Option::is_some).await.map(|ok| *ok) {
            Ok(Some(true)) => Ok(decided),
            _ => Err(ServiceError::lost_race()),
        }
    }

    /// Commits the transaction under way and tells its bookings. The
    /// commit runs as a task of its own: a caller dropped halfway cannot
    /// leave its bookings not knowing whether they committed.
    async fn commit(&self, open: &mut Open) -> bool {
        let (txn, done, decided) = (open.txn.take(), std::mem::take(&mut open.done), open.decided);
        self.commits.fetch_add(1, Ordering::Relaxed);
        let commit = tokio::spawn(async move {
            let ok = match txn {
                Some(txn) => match txn.commit().await {
                    Ok(()) => true,
                    Err(err) => {
                        tracing::warn!(error = %err, decided, "a batch of bookings failed to commit");
                        false
                    }
                },
                None => false,
            };
            done.send_replace(Some(ok));
            ok
        });
        commit.await.unwrap_or(false)
    }

    /// Commits transaction `id` if it is still under way, after the
    /// bookings already waiting for their turn (which may commit it).
    async fn commit_if_open(self: Arc<Self>, id: u64) {
        let mut open = self.open.lock().await;
        if open.id == id && open.txn.is_some() {
            self.commit(&mut open).await;
        }
    }

    /// Transactions committed and bookings decided so far (for tests and
    /// the benchmark).
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.commits.load(Ordering::Relaxed), self.decided.load(Ordering::Relaxed))
    }
}

/// A booking's turn in transaction `id`: unless it committed the
/// transaction itself, a closer is queued behind whoever waits, so the
/// transaction commits even when its last booking left halfway.
struct Turn {
    batch: Arc<WriteBatch>,
    id: u64,
    closed: bool,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if !self.closed
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(Arc::clone(&self.batch).commit_if_open(self.id));
        }
    }
}

/// Counts a booking as waiting for its turn while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn count(waiting: &'a AtomicUsize) -> Self {
        waiting.fetch_add(1, Ordering::AcqRel);
        Self(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
