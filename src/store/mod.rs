//! The persistence layer: the only code that builds sea-orm queries. It owns
//! the connection pool (SQLite tuning, PostgreSQL pool), migrations, the
//! write-transaction opener and the classification of database errors.
//!
//! Store functions take `&impl ConnectionTrait` so they run on the pool or
//! inside a transaction alike. Inside a transaction always pass the
//! transaction: with a small pool, a query on the pool would wait for the
//! connection the transaction holds.

pub mod audit;
pub mod batch;
pub mod bookings;
pub mod customers;
pub mod events;
pub mod feeds;
pub mod gather;
pub mod groups;
pub mod idempotency;
pub mod locks;
pub mod one_trip;
pub mod outbox;
pub mod resources;
pub mod series;
pub mod settings_json;
pub mod usage;
pub mod waitlist;
pub mod webhooks;

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    RuntimeErr, SqlErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

/// How long a connection waits for SQLite's write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the pool. SQLite gets WAL, a busy timeout, foreign keys and
/// `synchronous=NORMAL` (durable with WAL, minus the last commits on power
/// loss) and the file is created when missing.
pub async fn connect(url: &str, pool_size: u32, acquire_timeout: Duration) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(pool_size.max(1))
        .min_connections(1)
        .acquire_timeout(acquire_timeout)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
                .create_if_missing(true)
        });
    Database::connect(options).await
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Migrations applied and pending.
pub async fn migration_state(db: &DatabaseConnection) -> Result<(usize, usize), DbErr> {
    let applied = Migrator::get_applied_migrations(db).await?.len();
    let pending = Migrator::get_pending_migrations(db).await?.len();
    Ok((applied, pending))
}

/// The migrations applied to the database that this binary does not know
/// (a newer release migrated it). Empty before the first migration.
pub async fn unknown_migrations(db: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    let known: std::collections::HashSet<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
    let backend = db.get_database_backend();
    let exists = if backend == DatabaseBackend::Postgres {
        "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name = 'seaql_migrations' \
AND table_schema = current_schema()"
    } else {
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'seaql_migrations'"
    };
    let found = db.query_one_raw(Statement::from_string(backend, exists)).await?;
    if found.map(|row| row.try_get::<i64>("", "n")).transpose()?.unwrap_or(0) == 0 {
        return Ok(Vec::new());
    }
    let rows = db.query_all_raw(Statement::from_string(backend, "SELECT version FROM seaql_migrations")).await?;
    let mut unknown = Vec::new();
    for row in rows {
        let version: String = row.try_get("", "version")?;
        if !known.contains(&version) {
            unknown.push(version);
        }
    }
    unknown.sort();
    Ok(unknown)
}

/// When (Unix seconds) migrations `earlier` and `later` were applied, if
/// both were (read with `unknown_migrations`, after it found the table).
pub async fn applied_at(db: &impl ConnectionTrait, earlier: &str, later: &str) -> Result<Option<(i64, i64)>, DbErr> {
    let backend = db.get_database_backend();
    let sql = if backend == DatabaseBackend::Postgres {
        "SELECT version, applied_at FROM seaql_migrations WHERE version IN ($1, $2)"
    } else {
        "SELECT version, applied_at FROM seaql_migrations WHERE version IN (?, ?)"
    };
    let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, [earlier.into(), later.into()])).await?;
    let (mut first, mut second) = (None, None);
    for row in rows {
        let at: i64 = row.try_get("", "applied_at")?;
        if row.try_get::<String>("", "version")? == earlier { first = Some(at) } else { second = Some(at) }
    }
    Ok(first.zip(second))
}

/// Where the database is, without credentials: `sqlite:berth.db`,
/// `postgres://host:5432/berth`.
pub fn describe_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("?", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let rest = rest.split('?').next().unwrap_or(rest);
    format!("{scheme}://{rest}")
}

/// Whether the database answers a trivial query.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.ping().await
}

/// Human name of the backend, for logs ("sqlite", "postgres").
pub fn backend_name(db: &DatabaseConnection) -> &'static str {
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => "sqlite",
        DatabaseBackend::Postgres => "postgres",
        _ => "other",
    }
}

/// Opens a transaction for a read-then-write decision. On SQLite it starts
/// `BEGIN IMMEDIATE`, taking the write lock up front: a deferred transaction
/// that reads and then writes fails with "database is locked" when another
/// writer got there first, and a busy timeout cannot save a lock upgrade.
/// On PostgreSQL it is a plain READ COMMITTED transaction; deciders lock the
/// row they decide on (`SELECT ... FOR UPDATE`).
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// The instant a decision is made at, read **after** the decision's locks.
/// On PostgreSQL it is the database's clock (`clock_timestamp()`, not the
/// transaction's start): instances whose own clocks differ by a little
/// still agree on whether a hold has run out, so the order of the locks is
/// the order of the clock across instances too. On SQLite (one process)
/// it is this process's clock. Microsecond precision, like the columns.
pub async fn decision_clock(conn: &impl ConnectionTrait) -> StoreResult<DateTime<Utc>> {
    if conn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(Utc::now().trunc_subsecs(6));
    }
    let query = Statement::from_string(DatabaseBackend::Postgres, "SELECT clock_timestamp() AS now");
    let row = conn
        .query_one_raw(query)
        .await?
        .ok_or_else(|| StoreError::Corrupt("clock_timestamp() returned no row".into()))?;
    Ok(row.try_get::<DateTime<Utc>>("", "now")?.trunc_subsecs(6))
}

/// What a database error means to the layers above.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique index refused the write.
    #[error("unique constraint violated")]
    Unique,
    /// A foreign key refused the write.
    #[error("foreign key constraint violated")]
    ForeignKey,
    /// A lost race the caller may retry: serialization failure, deadlock,
    /// SQLite busy/locked.
    #[error("transient database conflict: {0}")]
    Retryable(DbErr),
    /// The database cannot be reached (connection refused, pool timeout).
    #[error("database unavailable: {0}")]
    Unavailable(DbErr),
    /// A write would take a usage summary row below zero (its guard
    /// refused it): the summary was below the bookings, which only a hand
    /// edit does (docs/design.md §22).
    #[error("the usage summary would go below zero")]
    UsageBelowZero(DbErr),
    /// A row the domain cannot represent (a bug, or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Anything else: a bug or a broken database.
    #[error(transparent)]
    Other(DbErr),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => return StoreError::Unique,
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => return StoreError::ForeignKey,
            _ => {}
        }
        if is_retryable(&err) {
            return StoreError::Retryable(err);
        }
        if is_usage_below_zero(&err) {
            return StoreError::UsageBelowZero(err);
        }
        if is_unavailable(&err) {
            return StoreError::Unavailable(err);
        }
        StoreError::Other(err)
    }
}

fn sqlx_error(err: &DbErr) -> Option<&sea_orm::sqlx::Error> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => Some(e.as_ref()),
        _ => None,
    }
}

/// Serialization failure (40001), deadlock (40P01), lock timeout (55P03) on
/// PostgreSQL; SQLITE_BUSY (5, 517 = BUSY_SNAPSHOT) and SQLITE_LOCKED (6) on
/// SQLite. Classified by SQLSTATE / result code, never by message text.
fn is_retryable(err: &DbErr) -> bool {
    let Some(sea_orm::sqlx::Error::Database(db_err)) = sqlx_error(err) else {
        return false;
    };
    matches!(db_err.code().as_deref(), Some("40001" | "40P01" | "55P03" | "5" | "517" | "261" | "6" | "262"))
}

/// The usage summary's guard (migration `m20261206_000008`): PostgreSQL's
/// `check_violation` naming it, SQLite's `SQLITE_CONSTRAINT_TRIGGER`
/// (1811; berth's only `RAISE`).
fn is_usage_below_zero(err: &DbErr) -> bool {
    let Some(sea_orm::sqlx::Error::Database(db_err)) = sqlx_error(err) else {
        return false;
    };
    match db_err.code().as_deref() {
        Some("23514") => db_err.constraint() == Some("resource_usage_units_not_negative"),
        Some("1811") => true,
        _ => false,
    }
}

fn is_unavailable(err: &DbErr) -> bool {
    // Failing to connect at all is unavailability, whatever the reason.
    if matches!(err, DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) {
        return true;
    }
    match sqlx_error(err) {
        Some(sea_orm::sqlx::Error::Io(_))
        | Some(sea_orm::sqlx::Error::PoolTimedOut)
        | Some(sea_orm::sqlx::Error::PoolClosed)
        | Some(sea_orm::sqlx::Error::WorkerCrashed) => true,
        // PostgreSQL: admin shutdown, cannot connect now, too many connections.
        Some(sea_orm::sqlx::Error::Database(db_err)) => {
            matches!(db_err.code().as_deref(), Some("57P01" | "57P02" | "57P03" | "53300"))
        }
        _ => false,
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Connections of the pool: (in use, idle).
pub fn pool_stats(db: &DatabaseConnection) -> (u32, u32) {
    let (size, idle) = match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => (0, 0),
    };
    let idle = u32::try_from(idle).unwrap_or(u32::MAX);
    (size.saturating_sub(idle), idle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `.cargo/config.toml` builds SQLite with the query planner stability
    /// guarantee, so a bound `LIMIT ?` does not send its statement back to
    /// be prepared each time a value is bound (docs/design.md §45).
    #[tokio::test]
    async fn sqlite_is_built_with_a_stable_query_plan() {
        let db = connect("sqlite::memory:", 1, Duration::from_secs(5)).await.expect("in-memory SQLite");
        let rows = db
            .query_all_raw(Statement::from_string(DatabaseBackend::Sqlite, "PRAGMA compile_options"))
            .await
            .expect("compile options");
        let options: Vec<String> = rows.iter().filter_map(|row| row.try_get_by_index::<String>(0).ok()).collect();
        assert!(options.iter().any(|o| o == "ENABLE_QPSG"), "{options:?}");
    }
}
