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

use std::{
    cell::RefCell,
    collections::VecDeque,
    sync::{Arc, LazyLock},
};

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
    /// True when the customer has a booking that would make this one a
    /// duplicate (`OwnActive::overlap_exists`).
    pub own: SqlCondition,
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
/// transaction; `store::gather` keeps it on generic plans), its text from
/// `statements` when parts of the same texts ran before.
pub async fn run(conn: &mut PgConnection, statements: &mut Statements, parts: &[&Part]) -> StoreResult<Ran> {
    let sql = statements.text(parts);
    let values = parts.iter().flat_map(|part| part.values.iter().cloned()).collect();
    let query = sqlx::query_with(sqlx::AssertSqlSafe(sql), SqlxValues(sea_query::Values(values)));
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

/// Placeholders as they are added. Counting only (`Values::counting`), it
/// collects the values and writes no text: for a part whose text is known.
#[derive(Default)]
struct Values {
    values: Vec<Value>,
    counting: bool,
}

impl Values {
    fn counting() -> Self {
        Self { values: Vec::new(), counting: true }
    }

    fn add(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        if self.counting { String::new() } else { format!("${}", self.values.len()) }
    }

    /// `sql` built on its own, its placeholders moved past those before.
    fn part(&mut self, sql: &str, values: Vec<Value>) -> String {
        let sql = if self.counting { String::new() } else { shift_placeholders(sql, self.values.len()) };
        self.values.extend(values);
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
    sql: Arc<str>,
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
        same_text(&self.sql, &other.sql)
    }
}

/// The texts of the statements run lately, each by its parts' texts. A
/// statement's text depends on nothing else (its values are its parts'
/// values, in order), and bookings of one shape have parts of one text:
/// a statement of parts seen together before is not assembled again (its
/// parts' placeholders shifted, their names placed), which was about a
/// tenth of the server's CPU per booking (BENCHMARKS.md "#32, thirteenth
/// part").
#[derive(Default)]
pub struct Statements {
    /// Oldest first; at most `Statements::KEPT`.
    recent: VecDeque<(Vec<Arc<str>>, Arc<str>)>,
}

impl Statements {
    /// Under a steady load a gatherer's statements are few (one per count
    /// of parts, when its bookings are of one shape); when more shapes
    /// mix, the oldest go and are assembled again when they come back.
    const KEPT: usize = 32;

    /// The text of the statement of `parts`.
    fn text(&mut self, parts: &[&Part]) -> Arc<str> {
        let same = |texts: &Vec<Arc<str>>| {
            texts.len() == parts.len() && texts.iter().zip(parts).all(|(text, part)| same_text(text, &part.sql))
        };
        if let Some((_, sql)) = self.recent.iter().find(|(texts, _)| same(texts)) {
            return sql.clone();
        }
        let sql: Arc<str> = statement(parts).into();
        if self.recent.len() == Self::KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back((parts.iter().map(|part| part.sql.clone()).collect(), sql.clone()));
        sql
    }
}

/// The statement of `parts`: each one's common table expressions, named
/// after its place (`t0_locked`, ...), then one row per booking, its
/// place and the clock (or `berth_fall_back`, naming the failed check and
/// the place). Its placeholders are the parts' values in order.
fn statement(parts: &[&Part]) -> String {
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
        sql.push_str(&v.part(&named, part.values.clone()));
        answers.push(answer(place));
    }
    sql.push(' ');
    sql.push_str(&answers.join(" UNION ALL "));
    sql
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

    /// The part's text and values: the text written once per shape on
    /// each thread (`PART_TEXTS`), the values collected every time by the
    /// same code that writes it, so in the same order.
    fn part_text(&self) -> (Arc<str>, Vec<Value>) {
        let built = Built {
            inserts: self.inserts.iter().map(|insert| insert.build(PostgresQueryBuilder)).collect(),
            key_record: self.key_record.as_ref().map(|insert| insert.build(PostgresQueryBuilder)),
            uncounted: self.uncounted.build(PostgresQueryBuilder),
        };
        let known = PART_TEXTS
            .with_borrow(|texts| texts.iter().find(|(shape, _)| shape.is_of(self, &built)).map(|(_, sql)| sql.clone()));
        if let Some(sql) = known {
            let mut v = Values::counting();
            self.write(built, &mut v);
            return (sql, v.values);
        }
        let shape = Shape::of(self, &built);
        let mut v = Values::default();
        let sql: Arc<str> = self.write(built, &mut v).into();
        PART_TEXTS.with_borrow_mut(|texts| {
            if texts.len() == PART_TEXTS_KEPT {
                texts.pop_front();
            }
            texts.push_back((shape, sql.clone()));
        });
        (sql, v.values)
    }

    /// Writes the part's text (nothing but its values when `v` counts).
    fn write(&self, built: Built, v: &mut Values) -> String {
        let (trip, t) = (self, PART);
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
        for (index, (insert, values)) in built.inserts.into_iter().enumerate() {
            let part = v.part(&insert, values.0);
            sql.push_str(&format!(", {t}i{index} AS ({part})"));
        }
        let keyed = match built.key_record {
            Some((insert, values)) => {
                let part = v.part(&insert, values.0);
                sql.push_str(&format!(", {t}recorded AS ({part} RETURNING 1)"));
                format!("(SELECT count(*) FROM {t}recorded) = 1")
            }
            None => "true".to_owned(),
        };
        let customer = v.add(trip.customer.0);
        let own = v.part(trip.own.sql, trip.own.values.clone());
        let uncounted = v.part(&built.uncounted.0, built.uncounted.1.0);
        let (now, latest) = (v.add(trip.now), v.add(trip.latest));
        sql.push_str(&format!(
            ", {t}checks AS MATERIALIZED (SELECT (SELECT count(*) FROM {t}locked) AS locked, \
(SELECT bool_and(got) FROM {t}tried) AS got, (SELECT count(*) FROM {t}upserted) = {count} AS all_hours, \
{keyed} AS keyed, EXISTS (SELECT 1 FROM customer WHERE id = {customer}) AS customer, ({own}) AS own, \
({uncounted}) IS NOT NULL AS uncounted, {now}::timestamptz AS decided_at, {latest}::timestamptz AS latest), \
{t}judged AS MATERIALIZED (SELECT {t}checks.*, clock_timestamp() AS clock FROM {t}checks)"
        ));
        sql
    }
}

/// A condition written in SQL elsewhere, to embed: its text (placeholders
/// from `$1`) and their values.
pub struct SqlCondition {
    pub sql: &'static str,
    pub values: Vec<Value>,
}

/// A trip's statements as sea-query builds them: text and values.
struct Built {
    inserts: Vec<(String, sea_query::Values)>,
    key_record: Option<(String, sea_query::Values)>,
    uncounted: (String, sea_query::Values),
}

/// What a part's text depends on; everything else in it is fixed text.
/// Its values' count follows too: each built text has as many
/// placeholders as values.
#[derive(PartialEq)]
struct Shape {
    hours: i64,
    /// Whether each lock is shared, in order.
    shared: Vec<bool>,
    inserts: Vec<String>,
    key_record: Option<String>,
    own: &'static str,
    uncounted: String,
}

impl Shape {
    fn of(trip: &Trip, built: &Built) -> Self {
        Self {
            hours: Self::hours_of(trip),
            shared: trip.bucket_keys.iter().map(|lock| lock.shared).collect(),
            inserts: built.inserts.iter().map(|(sql, _)| sql.clone()).collect(),
            key_record: built.key_record.as_ref().map(|(sql, _)| sql.clone()),
            own: trip.own.sql,
            uncounted: built.uncounted.0.clone(),
        }
    }

    fn hours_of(trip: &Trip) -> i64 {
        let hours = trip.occupied.hours();
        hours.end() - hours.start() + 1
    }

    /// Whether `trip`'s part, `built` so, is of this shape.
    fn is_of(&self, trip: &Trip, built: &Built) -> bool {
        self.hours == Self::hours_of(trip)
            && self.shared.len() == trip.bucket_keys.len()
            && self.shared.iter().zip(&trip.bucket_keys).all(|(shared, lock)| *shared == lock.shared)
            && self.inserts.len() == built.inserts.len()
            && self.inserts.iter().zip(&built.inserts).all(|(text, (sql, _))| text == sql)
            && self.key_record.as_deref() == built.key_record.as_ref().map(|(sql, _)| sql.as_str())
            && self.own == trip.own.sql
            && self.uncounted == built.uncounted.0
    }
}

/// How many part texts each thread keeps: every shape of the common
/// bookings (1 to 3 hours, keyed or not, shared or exclusive locks).
const PART_TEXTS_KEPT: usize = 32;

thread_local! {
    /// The part texts written lately on this thread, oldest first, by
    /// shape. Writing a part's text (its pieces' placeholders shifted into
    /// place, its expressions formatted) was about a tenth of the server's
    /// CPU per booking (BENCHMARKS.md "#32, thirteenth part").
    static PART_TEXTS: RefCell<VecDeque<(Shape, Arc<str>)>> = const { RefCell::new(VecDeque::new()) };
}

/// Whether two texts are the same: most often the same text, shared.
fn same_text(a: &Arc<str>, b: &Arc<str>) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(sql: &str, values: &[i64]) -> Part {
        let values = values.iter().map(|value| Value::from(*value)).collect();
        Part { sql: sql.replace("P_", PART).into(), values, keys: Vec::new(), lock_order: (uuid::Uuid::nil(), 0) }
    }

    const SHAPE: &str = "P_judged AS (SELECT $1::int8 + $2::int8 AS clock)";

    #[test]
    fn a_statement_of_parts_seen_together_before_is_the_one_assembled_then() {
        let (first, second) = (part(SHAPE, &[1, 2]), part(SHAPE, &[3, 4]));
        let mut statements = Statements::default();
        let assembled = statements.text(&[&first, &second]);
        assert_eq!(&*assembled, statement(&[&first, &second]).as_str());
        assert!(assembled.contains("t1_judged AS (SELECT $3::int8 + $4::int8"), "{assembled}");
        // Other values, the same texts: the same statement, not assembled again.
        let (third, fourth) = (part(SHAPE, &[5, 6]), part(SHAPE, &[7, 8]));
        assert!(Arc::ptr_eq(&assembled, &statements.text(&[&third, &fourth])));
        // One part fewer, or another text: another statement.
        let alone = statements.text(&[&third]);
        assert_eq!(&*alone, statement(&[&third]).as_str());
        let other = part("P_judged AS (SELECT $1::int8 AS clock)", &[9]);
        let mixed = statements.text(&[&third, &other]);
        assert_eq!(&*mixed, statement(&[&third, &other]).as_str());
        assert!(!Arc::ptr_eq(&assembled, &mixed));
    }

    #[test]
    fn the_texts_kept_are_bounded_and_the_oldest_go_first() {
        let mut statements = Statements::default();
        let shapes: Vec<Part> = (1..=Statements::KEPT + 1)
            .map(|n| part(&format!("P_judged AS (SELECT $1::int8 + {n} AS clock)"), &[0]))
            .collect();
        let first = statements.text(&[&shapes[0]]);
        for shape in &shapes[1..] {
            statements.text(&[shape]);
        }
        assert_eq!(statements.recent.len(), Statements::KEPT);
        let again = statements.text(&[&shapes[0]]);
        assert!(!Arc::ptr_eq(&first, &again), "the oldest was dropped and assembled again");
        assert_eq!(first, again);
    }

    /// A trip on `hours` hours from 10:00, keyed or not, its locks shared
    /// or not, its values drawn from `seed`.
    fn trip(seed: i64, hours: i64, keyed: bool, shared: bool) -> Trip {
        use chrono::TimeZone;
        let start = Utc.with_ymd_and_hms(2027, 1, 4, 10, 0, 0).unwrap() + chrono::Duration::days(seed);
        let occupied = TimeRange::new(start, start + chrono::Duration::hours(hours)).unwrap();
        let insert = |table: &str| {
            sea_query::Query::insert()
                .into_table(sea_query::Alias::new(table))
                .columns([sea_query::Alias::new("a"), sea_query::Alias::new("b")])
                .values_panic([seed.into(), format!("v{seed}").into()])
                .to_owned()
        };
        let id = || uuid::Uuid::from_u64_pair(seed as u64, seed as u64);
        Trip {
            booking: BookingId(id()),
            resource: ResourceId(id()),
            version: seed,
            capacity: 10 + seed,
            customer: CustomerId(id()),
            quantity: 1 + seed % 3,
            occupied,
            reach_from: start - chrono::Duration::hours(seed),
            bucket_keys: occupied.hours().map(|hour| locks::BucketLock { key: hour * seed, shared }).collect(),
            own: SqlCondition {
                sql: "$1 = $2 OR $3 IS NULL",
                values: vec![seed.into(), (seed + 1).into(), None::<i64>.into()],
            },
            uncounted: super::super::usage::uncounted_query(ResourceId(id()), &occupied),
            now: start - chrono::Duration::days(1),
            latest: (seed % 2 == 0).then_some(start),
            inserts: vec![insert("booking"), insert("booking_event")],
            key_record: keyed.then(|| insert("idempotency_record")),
        }
    }

    /// `values` of a part on `hours` hours but the summary's stamp, which
    /// is new in every part (`usage::new_stamp`): after the resource,
    /// version, first and last hour, count, the hours, quantity and capacity.
    fn but_stamp(mut values: Vec<Value>, hours: i64) -> Vec<Value> {
        values.remove(7 + hours as usize);
        values
    }

    /// The text and values `trip` writes with nothing known.
    fn written(trip: &Trip) -> (String, Vec<Value>) {
        let built = Built {
            inserts: trip.inserts.iter().map(|insert| insert.build(PostgresQueryBuilder)).collect(),
            key_record: trip.key_record.as_ref().map(|insert| insert.build(PostgresQueryBuilder)),
            uncounted: trip.uncounted.build(PostgresQueryBuilder),
        };
        let mut v = Values::default();
        let sql = trip.write(built, &mut v);
        (sql, v.values)
    }

    #[test]
    fn a_part_of_a_shape_written_before_has_its_text_and_its_own_values_in_order() {
        let shapes = [(1, false, false), (1, true, false), (2, false, false), (2, false, true), (3, true, true)];
        let mut texts = Vec::new();
        for (hours, keyed, shared) in shapes {
            let (text, values) = trip(1, hours, keyed, shared).part_text();
            let (expected_text, expected_values) = written(&trip(1, hours, keyed, shared));
            assert_eq!(&*text, expected_text.as_str());
            assert_eq!(but_stamp(values, hours), but_stamp(expected_values, hours));
            texts.push(text);
        }
        for (i, (hours, keyed, shared)) in shapes.into_iter().enumerate() {
            for seed in 2..5 {
                let other = trip(seed, hours, keyed, shared);
                let (text, values) = other.part_text();
                assert!(Arc::ptr_eq(&text, &texts[i]), "shape {i} was written again");
                let (expected_text, expected_values) = written(&other);
                assert_eq!(&*text, expected_text.as_str());
                let values = but_stamp(values, hours);
                assert_eq!(values, but_stamp(expected_values, hours), "shape {i}, seed {seed}");
                assert_ne!(values, but_stamp(written(&trip(1, hours, keyed, shared)).1, hours));
            }
        }
        // Each shape has a text of its own.
        for (i, a) in texts.iter().enumerate() {
            for b in &texts[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
