//! The one-round-trip booking's statement (docs/design.md §30), PostgreSQL
//! only: new bookings, each on one resource, decided and written by one
//! autocommit statement, or nothing written at all. One statement may
//! carry several bookings whose locks are all different (§39, gathered by
//! `store::gather`): each is judged by its own part of the statement, as
//! if it ran alone.
//!
//! The statement writes first and judges last. For each booking it takes
//! what a booking's decision holds (the resource row `FOR KEY SHARE` at the
//! version the caller decided by and without a queue, then the advisory
//! locks of its hours, §20), neither waiting for them, adds the booking's
//! units to the usage summary's rows of its hours with a conditional upsert
//! (room left, and the row unchanged since the statement's snapshot: its
//! `xmin`; or else the bookings near it, read again after the locks by
//! `berth_room_after_locks`, unchanged since the snapshot and leaving
//! room, §35), inserts the booking, its event, its outbox row and its key's
//! record, and then checks, in one row per booking, that every step did
//! what it had to and that nothing the snapshot read stands in the way
//! (the customer, the customer's own overlapping bookings, bookings the
//! summary does not hold, the clock). The first check that fails calls
//! `berth_fall_back` (migration `m20261213_000015`) with the check's name
//! and the booking's place in the statement, which raises: the whole
//! statement rolls back and `Ran::FellBack` names both.

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    DbErr, RuntimeErr, Value,
    sea_query::{self, InsertStatement, PostgresQueryBuilder, SelectStatement},
    sqlx::{self, PgConnection, Row},
};
use sea_query_sqlx::SqlxValues;

use super::{
    StoreResult,
    batch::shift_placeholders,
    locks::{self, Taking},
    sqlx_error,
};
use crate::domain::{
    ids::{BookingId, CustomerId, ResourceId},
    time_range::TimeRange,
};

/// What one booking's part of the statement needs: the resource as
/// decided by, the request, the reads to check, the rows to write.
pub struct Trip {
    /// The new booking's id (left out of the bookings read after the locks).
    pub booking: BookingId,
    pub resource: ResourceId,
    pub version: i64,
    pub capacity: i64,
    pub customer: CustomerId,
    pub quantity: i64,
    /// The booking's occupied time (buffers included): its hours.
    pub occupied: TimeRange,
    /// The lower bound of the resource's capacity reads near it
    /// (`bookings::reach_from`).
    pub reach_from: DateTime<Utc>,
    /// The advisory locks of its time, ascending (`locks::bucket_keys`).
    pub bucket_keys: Vec<locks::BucketLock>,
    /// A row when the customer has a booking that would make this one a
    /// duplicate (`OwnActive::overlap_exists_statement`).
    pub own: SelectStatement,
    /// The first booking near it that the summary may not hold (`usage::uncounted_query`).
    pub uncounted: SelectStatement,
    /// The decision's `now`, and when the database's clock is to be
    /// checked, the latest it may read (it may not read earlier than `now`).
    pub now: DateTime<Utc>,
    pub latest: Option<DateTime<Utc>>,
    /// The booking, its history event and its outbox event.
    pub inserts: Vec<InsertStatement>,
    /// The Idempotency-Key's record (`ON CONFLICT DO NOTHING`).
    pub key_record: Option<InsertStatement>,
}

/// What became of one booking.
#[derive(Debug)]
pub enum Outcome {
    /// Everything written and committed; the database's clock as it judged.
    Written(DateTime<Utc>),
    /// Nothing written: the check that failed.
    FellBack(String),
}

/// What one statement did.
#[derive(Debug)]
pub enum Ran {
    /// Every booking written and committed; the database's clock as it
    /// judged each, in the order given.
    Written(Vec<DateTime<Utc>>),
    /// Nothing written: the booking (its place in the order given) whose
    /// check failed, and the check.
    FellBack { member: usize, check: String },
}

/// The statuses that take units (`usage::ACTIVE`) as an SQL array literal,
/// built once.
static ACTIVE_ARRAY: LazyLock<String> = LazyLock::new(|| {
    let quoted: Vec<String> = super::usage::ACTIVE.iter().map(|status| format!("'{status}'")).collect();
    format!("ARRAY[{}]::text[]", quoted.join(", "))
});

/// The SQLSTATE `berth_fall_back` raises.
const FELL_BACK: &str = "BF001";

/// Runs `parts` (at least one, no two sharing a lock key) as one
/// autocommit statement on `conn`, a connection of its own (not in a
/// transaction; `store::gather` keeps it on generic plans).
pub async fn run(conn: &mut PgConnection, parts: &[&Part]) -> StoreResult<Ran> {
    let (sql, values) = statement(parts);
    let query = sqlx::query_with(sqlx::AssertSqlSafe(sql.as_str()), SqlxValues(sea_query::Values(values)));
    let rows = match query.fetch_all(&mut *conn).await {
        Ok(rows) => rows,
        Err(err) => {
            let err = db_err(err);
            return match fell_back(&err) {
                Some((member, check)) if member < parts.len() => Ok(Ran::FellBack { member, check }),
                _ => Err(err.into()),
            };
        }
    };
    let mut clocks = vec![None; parts.len()];
    for row in rows {
        let place: i32 = row.try_get("place").map_err(db_err)?;
        let clock = row.try_get::<DateTime<Utc>, _>("clock").map_err(db_err)?.trunc_subsecs(6);
        if let Some(slot) = usize::try_from(place).ok().and_then(|place| clocks.get_mut(place)) {
            *slot = Some(clock);
        }
    }
    match clocks.iter().position(Option::is_none) {
        Some(member) => Ok(Ran::FellBack { member, check: "no answer".into() }),
        None => Ok(Ran::Written(clocks.into_iter().flatten().collect())),
    }
}

/// A driver's error as the store's other errors come (`StoreError` sorts them).
fn db_err(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))
}

/// The place in the statement and the check `berth_fall_back` named, when
/// `err` is its.
fn fell_back(err: &DbErr) -> Option<(usize, String)> {
    let Some(sea_orm::sqlx::Error::Database(db_err)) = sqlx_error(err) else { return None };
    if db_err.code().as_deref() != Some(FELL_BACK) {
        return None;
    }
    let message = db_err.message();
    let reason = message.rsplit(": ").next().unwrap_or(message);
    let (check, place) = reason.rsplit_once(' ')?;
    Some((place.parse().ok()?, check.to_owned()))
}

/// Placeholders as they are added.
#[derive(Default)]
struct Values(Vec<Value>);

impl Values {
    fn add(&mut self, value: impl Into<Value>) -> String {
        self.0.push(value.into());
        format!("${}", self.0.len())
    }

    /// `sql` built on its own, its placeholders moved past those before.
    fn part(&mut self, (sql, values): (String, sea_orm::sea_query::Values)) -> String {
        let sql = shift_placeholders(&sql, self.0.len());
        self.0.extend(values.0);
        sql
    }
}

/// The prefix of one booking's expressions' names while its part is
/// built on its own (`t0_`, `t1_`, ... once placed).
const PART: &str = "berth_part_";

/// One booking's part of a statement, built on its own by `Trip::part`
/// (its placeholders from `$1`, its expressions' names prefixed with
/// `PART`), and the keys of the locks it takes.
pub struct Part {
    sql: String,
    values: Vec<Value>,
    keys: Vec<i64>,
    /// Its resource and first hour: the order a statement's parts go in.
    lock_order: (uuid::Uuid, i64),
}

impl Part {
    /// Where it goes in a statement: by resource, then by hour. Each part
    /// locks its summary rows in hour order, and parts of one statement
    /// share no row, so every statement locks rows in one global order and
    /// two statements never wait for each other in a cycle (a deadlock,
    /// which PostgreSQL would find only after `deadlock_timeout`).
    pub fn lock_order(&self) -> (uuid::Uuid, i64) {
        self.lock_order
    }

    /// Whether `self` and `other` take a lock of the same key.
    pub fn clashes(&self, other: &Part) -> bool {
        self.keys.iter().any(|key| other.keys.contains(key))
    }

    /// Whether `self` and `other` are the same statement but for their
    /// values: statements of parts of one shape are parsed and planned once
    /// per connection.
    pub fn same_shape(&self, other: &Part) -> bool {
        self.sql == other.sql
    }
}

/// The statement of `parts`: each one's common table expressions, named
/// after its place (`t0_locked`, ...), then one row per booking, its
/// place and the clock (or `berth_fall_back`, naming the failed check and
/// the place).
fn statement(parts: &[&Part]) -> (String, Vec<Value>) {
    let mut v = Values::default();
    // Each part's text, its placeholders a digit longer, its answer row.
    let length: usize = parts.iter().map(|part| part.sql.len() + 700).sum();
    let (mut sql, mut answers) = (String::with_capacity(length), Vec::with_capacity(parts.len()));
    sql.push_str("WITH ");
    for (place, part) in parts.iter().enumerate() {
        if place > 0 {
            sql.push_str(", ");
        }
        let named = part.sql.replace(PART, &format!("t{place}_"));
        sql.push_str(&v.part((named, sea_query::Values(part.values.clone()))));
        answers.push(answer(place));
    }
    sql.push(' ');
    sql.push_str(&answers.join(" UNION ALL "));
    (sql, v.0)
}

/// The row of the booking at `place`: the place and the clock, or the
/// first check that failed.
fn answer(place: usize) -> String {
    format!(
        "SELECT {place}::int4 AS place, CASE WHEN locked = 0 THEN berth_fall_back('resource {place}') \
WHEN got IS NOT TRUE THEN berth_fall_back('busy {place}') \
WHEN NOT all_hours THEN berth_fall_back('summary {place}') \
WHEN NOT customer THEN berth_fall_back('customer {place}') \
WHEN own THEN berth_fall_back('own {place}') \
WHEN uncounted THEN berth_fall_back('uncounted {place}') \
WHEN NOT keyed THEN berth_fall_back('key {place}') \
WHEN latest IS NOT NULL AND clock NOT BETWEEN decided_at AND latest THEN berth_fall_back('clock {place}') \
ELSE clock END AS clock FROM t{place}_judged"
    )
}

impl Trip {
    /// The booking's part of a statement.
    pub fn part(&self) -> Part {
        let (sql, values) = self.part_text();
        let keys = self.bucket_keys.iter().map(|lock| lock.key).collect();
        Part { sql, values, keys, lock_order: (self.resource.0, *self.occupied.hours().start()) }
    }

    fn part_text(&self) -> (String, Vec<Value>) {
        let (trip, mut v, t) = (self, Values::default(), PART);
        let hours = trip.occupied.hours();
        let (resource, version) = (v.add(trip.resource.0), v.add(trip.version));
        let (first, last, count) = (v.add(*hours.start()), v.add(*hours.end()), v.add(hours.end() - hours.start() + 1));
        // One placeholder per hour (at most `locks::MAX_BUCKETS`), not
        // `generate_series`: its row count is then known when the statement is
        // planned once for every execution (a generic plan), where
        // `generate_series` over placeholders is guessed at 1,000 rows and
        // PostgreSQL plans the whole statement again on every execution.
        let every_hour: Vec<String> = hours.clone().map(|hour| format!("({}::bigint)", v.add(hour))).collect();
        let every_hour = every_hour.join(", ");
        let (quantity, capacity, stamp) =
            (v.add(trip.quantity), v.add(trip.capacity), v.add(super::usage::new_stamp()));
        // `berth_near`'s arguments (migration `m20261216_000018`): the bookings
        // near it but itself, those of them that take units.
        let near = format!(
            "{resource}, {booking}, {reach}, {from}, {to}, {active}",
            booking = v.add(trip.booking.0),
            reach = v.add(trip.reach_from),
            from = v.add(trip.occupied.start()),
            to = v.add(trip.occupied.end()),
            active = *ACTIVE_ARRAY
        );
        let room = v.add(trip.capacity - trip.quantity);
        // Tried in order; the first taken stops the rest (as §20's statement).
        let tried = locks::in_order(&trip.bucket_keys, Taking::Try, |key| v.add(key));
        let mut sql = format!(
            "{t}locked AS MATERIALIZED (SELECT id FROM resource WHERE id = {resource} AND version = {version} \
AND waitlist_active = 0 FOR KEY SHARE SKIP LOCKED), \
{t}tried AS MATERIALIZED (SELECT {tried} AS got FROM {t}locked), \
{t}seen AS MATERIALIZED (SELECT bucket, xmin AS seen FROM resource_usage WHERE resource_id = {resource} \
AND bucket BETWEEN {first} AND {last}), \
{t}near AS MATERIALIZED (SELECT seen FROM berth_near({near})), \
{t}upserted AS (INSERT INTO resource_usage (resource_id, bucket, units, stamp) \
SELECT {resource}, hours.hour, {quantity}, {stamp} FROM {t}tried CROSS JOIN (VALUES {every_hour}) AS hours (hour) \
WHERE {t}tried.got ORDER BY hours.hour \
ON CONFLICT (resource_id, bucket) DO UPDATE SET units = resource_usage.units + excluded.units, stamp = excluded.stamp \
WHERE (resource_usage.units + excluded.units <= {capacity} \
AND resource_usage.xmin = (SELECT {t}seen.seen FROM {t}seen WHERE {t}seen.bucket = resource_usage.bucket)) \
OR berth_room_after_locks(resource_usage.units + excluded.units <= {capacity}, {room}, \
(SELECT {t}near.seen FROM {t}near), {near}) \
RETURNING bucket)"
        );
        for (index, insert) in trip.inserts.iter().enumerate() {
            let part = v.part(insert.build(PostgresQueryBuilder));
            sql.push_str(&format!(", {t}i{index} AS ({part})"));
        }
        let keyed = match &trip.key_record {
            Some(insert) => {
                let part = v.part(insert.build(PostgresQueryBuilder));
                sql.push_str(&format!(", {t}recorded AS ({part} RETURNING 1)"));
                format!("(SELECT count(*) FROM {t}recorded) = 1")
            }
            None => "true".to_owned(),
        };
        let customer = v.add(trip.customer.0);
        let own = v.part(trip.own.build(PostgresQueryBuilder));
        let uncounted = v.part(trip.uncounted.build(PostgresQueryBuilder));
        let (now, latest) = (v.add(trip.now), v.add(trip.latest));
        sql.push_str(&format!(
            ", {t}checks AS MATERIALIZED (SELECT (SELECT count(*) FROM {t}locked) AS locked, \
(SELECT bool_and(got) FROM {t}tried) AS got, (SELECT count(*) FROM {t}upserted) = {count} AS all_hours, \
{keyed} AS keyed, EXISTS (SELECT 1 FROM customer WHERE id = {customer}) AS customer, EXISTS ({own}) AS own, \
({uncounted}) IS NOT NULL AS uncounted, {now}::timestamptz AS decided_at, {latest}::timestamptz AS latest), \
{t}judged AS MATERIALIZED (SELECT {t}checks.*, clock_timestamp() AS clock FROM {t}checks)"
        ));
        (sql, v.0)
    }
}
