//! The one-round-trip booking's statement (docs/design.md §30), PostgreSQL
//! only: a new booking on one resource decided and written by one
//! autocommit statement, or nothing written at all.
//!
//! The statement writes first and judges last. It takes what a booking's
//! decision holds (the resource row `FOR KEY SHARE` at the version the
//! caller decided by and without a queue, then the advisory locks of its
//! hours, §20), neither waiting for them, adds the booking's units to the
//! usage summary's rows of its hours with a conditional upsert (room
//! left, and the row unchanged since the statement's snapshot: its
//! `xmin`; or else the bookings near it, read again after the locks by
//! `berth_room_after_locks`, unchanged since the snapshot and leaving
//! room, §35), inserts the booking, its event, its outbox row and its key's
//! record, and then checks, in one row, that every step did what it had
//! to and that nothing the snapshot read stands in the way (the
//! customer, the customer's own overlapping bookings, bookings the
//! summary does not hold, the clock). The first check that fails calls
//! `berth_fall_back` (migration `m20261213_000015`), which raises: the
//! whole statement rolls back and `Outcome::FellBack` names the check.

use std::sync::LazyLock;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DbErr, Statement, Value,
    sea_query::{InsertStatement, PostgresQueryBuilder, SelectStatement},
};

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

/// What the statement needs: the resource as decided by, the request, the
/// reads to check, the rows to write.
pub struct Trip<'a> {
    /// The new booking's id (left out of the bookings read after the locks).
    pub booking: BookingId,
    pub resource: ResourceId,
    pub version: i64,
    pub capacity: i64,
    pub customer: CustomerId,
    pub quantity: i64,
    /// The booking's occupied time (buffers included): its hours.
    pub occupied: &'a TimeRange,
    /// The lower bound of the resource's capacity reads near it
    /// (`bookings::reach_from`).
    pub reach_from: DateTime<Utc>,
    /// The advisory locks of its time, ascending (`locks::bucket_keys`).
    pub bucket_keys: &'a [locks::BucketLock],
    /// The customer's bookings that would make this one a duplicate.
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

/// What the statement did.
#[derive(Debug)]
pub enum Outcome {
    /// Everything written and committed; the database's clock as it judged.
    Written(DateTime<Utc>),
    /// Nothing written: the check that failed.
    FellBack(String),
}

/// The statuses that take units (`usage::ACTIVE`) as an SQL array literal,
/// built once.
static ACTIVE_ARRAY: LazyLock<String> = LazyLock::new(|| {
    let quoted: Vec<String> = super::usage::ACTIVE.iter().map(|status| format!("'{status}'")).collect();
    format!("ARRAY[{}]::text[]", quoted.join(", "))
});

/// The SQLSTATE `berth_fall_back` raises.
const FELL_BACK: &str = "BF001";

/// Runs `trip` as one autocommit statement on `conn` (not in a transaction).
pub async fn run(conn: &impl ConnectionTrait, trip: Trip<'_>) -> StoreResult<Outcome> {
    let (sql, values) = statement(trip);
    match conn.query_one_raw(Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values)).await {
        Ok(Some(row)) => Ok(Outcome::Written(row.try_get::<DateTime<Utc>>("", "clock")?.trunc_subsecs(6))),
        Ok(None) => Ok(Outcome::FellBack("no answer".into())),
        Err(err) => match fell_back(&err) {
            Some(check) => Ok(Outcome::FellBack(check)),
            None => Err(err.into()),
        },
    }
}

/// The check `berth_fall_back` named, when `err` is its.
fn fell_back(err: &DbErr) -> Option<String> {
    let Some(sea_orm::sqlx::Error::Database(db_err)) = sqlx_error(err) else { return None };
    if db_err.code().as_deref() != Some(FELL_BACK) {
        return None;
    }
    let message = db_err.message();
    Some(message.rsplit(": ").next().unwrap_or(message).to_owned())
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

fn statement(trip: Trip<'_>) -> (String, Vec<Value>) {
    let mut v = Values::default();
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
    let (quantity, capacity, stamp) = (v.add(trip.quantity), v.add(trip.capacity), v.add(super::usage::new_stamp()));
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
    let tried = locks::in_order(trip.bucket_keys, Taking::Try, |key| v.add(key));
    let mut sql = format!(
        "WITH locked AS MATERIALIZED (SELECT id FROM resource WHERE id = {resource} AND version = {version} \
AND waitlist_active = 0 FOR KEY SHARE SKIP LOCKED), \
tried AS MATERIALIZED (SELECT {tried} AS got FROM locked), \
seen AS MATERIALIZED (SELECT bucket, xmin AS seen FROM resource_usage WHERE resource_id = {resource} \
AND bucket BETWEEN {first} AND {last}), \
near AS MATERIALIZED (SELECT seen FROM berth_near({near})), \
upserted AS (INSERT INTO resource_usage (resource_id, bucket, units, stamp) \
SELECT {resource}, hours.hour, {quantity}, {stamp} FROM tried CROSS JOIN (VALUES {every_hour}) AS hours (hour) \
WHERE tried.got ORDER BY hours.hour \
ON CONFLICT (resource_id, bucket) DO UPDATE SET units = resource_usage.units + excluded.units, stamp = excluded.stamp \
WHERE (resource_usage.units + excluded.units <= {capacity} \
AND resource_usage.xmin = (SELECT seen.seen FROM seen WHERE seen.bucket = resource_usage.bucket)) \
OR berth_room_after_locks(resource_usage.units + excluded.units <= {capacity}, {room}, (SELECT near.seen FROM near), \
{near}) \
RETURNING bucket)"
    );
    for (index, insert) in trip.inserts.iter().enumerate() {
        let part = v.part(insert.build(PostgresQueryBuilder));
        sql.push_str(&format!(", i{index} AS ({part})"));
    }
    let keyed = match &trip.key_record {
        Some(insert) => {
            let part = v.part(insert.build(PostgresQueryBuilder));
            sql.push_str(&format!(", recorded AS ({part} RETURNING 1)"));
            "(SELECT count(*) FROM recorded) = 1"
        }
        None => "true",
    };
    let customer = v.add(trip.customer.0);
    let own = v.part(trip.own.build(PostgresQueryBuilder));
    let uncounted = v.part(trip.uncounted.build(PostgresQueryBuilder));
    let now = v.add(trip.now);
    let clock_ok = match trip.latest {
        Some(latest) => format!("clock BETWEEN {now} AND {}", v.add(latest)),
        None => "true".to_owned(),
    };
    sql.push_str(&format!(
        ", checks AS MATERIALIZED (SELECT (SELECT count(*) FROM locked) AS locked, \
(SELECT bool_and(got) FROM tried) AS got, (SELECT count(*) FROM upserted) AS hours, {keyed} AS keyed, \
EXISTS (SELECT 1 FROM customer WHERE id = {customer}) AS customer, EXISTS ({own}) AS own, \
({uncounted}) IS NOT NULL AS uncounted), \
judged AS MATERIALIZED (SELECT checks.*, clock_timestamp() AS clock FROM checks) \
SELECT CASE WHEN locked = 0 THEN berth_fall_back('resource') \
WHEN got IS NOT TRUE THEN berth_fall_back('busy') \
WHEN hours <> {count} THEN berth_fall_back('summary') \
WHEN NOT customer THEN berth_fall_back('customer') \
WHEN own THEN berth_fall_back('own') \
WHEN uncounted THEN berth_fall_back('uncounted') \
WHEN NOT keyed THEN berth_fall_back('key') \
WHEN NOT ({clock_ok}) THEN berth_fall_back('clock') \
ELSE clock END AS clock FROM judged"
    ));
    (sql, v.0)
}
