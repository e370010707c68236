//! Booking rows, the overlap queries the rules decide on, and the
//! sweeper's queries (holds and requests that ran out, check-in deadlines
//! missed).
//!
//! The capacity reads look at what bookings *occupy* (their interval
//! widened by their buffers) and are bounded on both sides on the
//! `(resource_id, occupied_start_at)` index: `occupied_start_at < end`
//! above, and `occupied_start_at > start - (max_booking_duration + two
//! maximal buffers)` below (nothing occupies longer than that, so nothing
//! starting earlier can reach the window). Booking cost therefore does not
//! grow with the resource's history.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::booking::{ActiveModel, Column, Entity, Model};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Statement,
    sea_query::{
        Alias, Expr, ExprTrait, Func, InsertStatement, LockBehavior, LockType, PostgresQueryBuilder, Query,
        SelectStatement, UnionType,
    },
};

use super::{StoreError, StoreResult, one_trip::SqlCondition, usage::ACTIVE};
use crate::domain::{
    booking::{Booking, BookingFilter, BookingStatus},
    capacity::Usage,
    ids::{BookingId, BundleId, CustomerId, GroupId, ResourceId, SeriesId, WaitlistEntryId},
    policy::{Buffers, limits::MAX_BUFFER_SECONDS},
    rules::OwnBooking,
    time_range::TimeRange,
};

pub(super) fn to_domain(m: Model) -> StoreResult<Booking> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("booking {} has {what}", m.id));
    Ok(Booking {
        id: BookingId(m.id),
        resource_id: ResourceId(m.resource_id),
        group_id: m.group_id.map(GroupId),
        bundle: m.bundle_id.map(BundleId).zip(m.bundle_item),
        customer_id: CustomerId(m.customer_id),
        range: TimeRange::new(m.start_at, m.end_at).ok_or_else(|| corrupt("an empty interval"))?,
        quantity: m.quantity,
        status: BookingStatus::parse(&m.status).ok_or_else(|| corrupt("an unknown status"))?,
        hold_expires_at: m.hold_expires_at,
        notes: m.notes,
        buffers: Buffers {
            before_seconds: i64::from(m.buffer_before_seconds),
            after_seconds: i64::from(m.buffer_after_seconds),
        },
        counted: m.counted_version == Some(m.version),
        waitlist_entry: m.waitlist_entry_id.map(WaitlistEntryId),
        series: m.series_id.map(SeriesId),
        check_in_deadline_at: m.check_in_deadline_at,
        fields: m.fields,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn to_domain_all(rows: Vec<Model>) -> StoreResult<Vec<Booking>> {
    rows.into_iter().map(to_domain).collect()
}

fn to_active(b: &Booking) -> ActiveModel {
    let occupied = b.occupied();
    // Buffers are at most a day (policy limits), so they fit an i32.
    let seconds = |s: i64| i32::try_from(s).unwrap_or(i32::MAX);
    ActiveModel {
        id: Set(b.id.0),
        resource_id: Set(b.resource_id.0),
        group_id: Set(b.group_id.map(|g| g.0)),
        bundle_id: Set(b.bundle.map(|(bundle, _)| bundle.0)),
        bundle_item: Set(b.bundle.map(|(_, item)| item)),
        customer_id: Set(b.customer_id.0),
        start_at: Set(b.range.start()),
        end_at: Set(b.range.end()),
        quantity: Set(b.quantity),
        status: Set(b.status.as_str().to_owned()),
        hold_expires_at: Set(b.hold_expires_at),
        notes: Set(b.notes.clone()),
        buffer_before_seconds: Set(seconds(b.buffers.before_seconds)),
        buffer_after_seconds: Set(seconds(b.buffers.after_seconds)),
        occupied_start_at: Set(occupied.start()),
        occupied_end_at: Set(occupied.end()),
        version: Set(b.version),
        counted_version: Set(b.counted.then_some(b.version)),
        waitlist_entry_id: Set(b.waitlist_entry.map(|e| e.0)),
        series_id: Set(b.series.map(|s| s.0)),
        check_in_deadline_at: Set(b.check_in_deadline_at),
        fields: Set(b.fields.clone()),
        created_at: Set(b.created_at),
        updated_at: Set(b.updated_at),
    }
}

/// The instant a read judges holds, requests and check-in deadlines by:
/// the decision's clock, or PostgreSQL's as the statement runs
/// (`clock_timestamp()`, read after the statement took its snapshot).
#[derive(Clone, Copy)]
enum JudgedAt {
    Now(DateTime<Utc>),
    Read,
}

impl JudgedAt {
    fn expr(self) -> Expr {
        match self {
            Self::Now(now) => Expr::val(now),
            Self::Read => Expr::cust("clock_timestamp()"),
        }
    }
}

const HELD_OR_PENDING: [&str; 2] = ["held", "pending"];
const CONFIRMED_OR_CHECKED_IN: [&str; 2] = ["confirmed", "checked_in"];

/// The SQL form of `Booking::blocks_at`.
fn blocking(at: JudgedAt) -> Condition {
    Condition::any().add(Column::Status.is_in(CONFIRMED_OR_CHECKED_IN)).add(
        Condition::all().add(Column::Status.is_in(HELD_OR_PENDING)).add(Expr::col(Column::HoldExpiresAt).gt(at.expr())),
    )
}

/// Leaves out a confirmed booking whose check-in deadline passed by `at`
/// (and, given `from`, lies at or before it): what it still takes
/// (`Booking::blocked_at`) ends at the deadline.
fn not_released_before(at: JudgedAt, from: Option<DateTime<Utc>>) -> Condition {
    let condition = Condition::any()
        .add(Column::CheckInDeadlineAt.is_null())
        .add(Column::Status.ne(BookingStatus::Confirmed.as_str()))
        .add(Expr::col(Column::CheckInDeadlineAt).gt(at.expr()));
    match from {
        Some(from) => condition.add(Column::CheckInDeadlineAt.gt(from)),
        None => condition,
    }
}

/// The end of what a blocking booking takes as judged at `at`
/// (`Booking::blocked_at`): its occupied end, or the check-in deadline a
/// confirmed booking missed, when that is earlier.
fn blocked_end(at: JudgedAt) -> Expr {
    Expr::case(
        Condition::all()
            .add(Column::Status.eq(BookingStatus::Confirmed.as_str()))
            .add(Expr::col(Column::CheckInDeadlineAt).lte(at.expr()))
            .add(Expr::col(Column::CheckInDeadlineAt).lt(Expr::col(Column::OccupiedEndAt))),
        Expr::col(Column::CheckInDeadlineAt),
    )
    .finally(Expr::col(Column::OccupiedEndAt))
    .into()
}

/// Bookings of `resource` whose occupied interval overlaps `range`,
/// index-bounded on both sides: nothing occupies longer than the longest
/// booking plus a maximal buffer on each side.
fn occupying(resource: ResourceId, range: &TimeRange, max_duration_seconds: i64) -> Condition {
    Condition::all()
        .add(Column::ResourceId.eq(resource.0))
        .add(Column::OccupiedStartAt.lt(range.end()))
        .add(Column::OccupiedStartAt.gt(reach_from(range.start(), max_duration_seconds)))
        .add(Column::OccupiedEndAt.gt(range.start()))
}

/// The lower bound of every capacity read's index range: a booking of a
/// resource whose bookings last at most `max_duration_seconds` that
/// occupies time after `from` started after this (its longest booking and
/// a maximal buffer on each side before).
pub fn reach_from(from: DateTime<Utc>, max_duration_seconds: i64) -> DateTime<Utc> {
    let reach = Duration::seconds(max_duration_seconds + 2 * MAX_BUFFER_SECONDS);
    from.checked_sub_signed(reach).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The earliest a booking of a resource whose bookings last at most
/// `max_duration_seconds` that still runs after `at` can have started: the
/// lower bound of every read of a customer's own bookings.
fn started_after(at: DateTime<Utc>, max_duration_seconds: i64) -> DateTime<Utc> {
    at.checked_sub_signed(Duration::seconds(max_duration_seconds)).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The insert of a new booking, to run with its history and outbox
/// events (`batch::Inserts`).
pub fn insert_statement(booking: &Booking) -> InsertStatement {
    Entity::insert(to_active(booking)).into_query()
}

pub async fn find(conn: &impl ConnectionTrait, id: BookingId) -> StoreResult<Option<Booking>> {
    Entity::find_by_id(id.0).one(conn).await?.map(to_domain).transpose()
}

/// Reads the booking and, on PostgreSQL, locks its row until the transaction
/// ends (`FOR UPDATE`); SQLite's `BEGIN IMMEDIATE` already holds the lock.
pub async fn lock(conn: &impl ConnectionTrait, id: BookingId) -> StoreResult<Option<Booking>> {
    Entity::find_by_id(id.0).lock_exclusive().one(conn).await?.map(to_domain).transpose()
}

/// The bookings of `bundle`, in item order.
pub async fn in_bundle(conn: &impl ConnectionTrait, bundle: BundleId) -> StoreResult<Vec<Booking>> {
    to_domain_all(
        Entity::find().filter(Column::BundleId.eq(bundle.0)).order_by_asc(Column::BundleItem).all(conn).await?,
    )
}

/// Writes `booking` over the row if the row is still at `expected_version`.
pub async fn update_if_version(
    conn: &impl ConnectionTrait,
    booking: &Booking,
    expected_version: i64,
) -> StoreResult<bool> {
    let mut row = to_active(booking);
    row.id = NotSet;
    row.created_at = NotSet;
    // `resource_id` is written: a reschedule through a group may move the
    // booking to another member.
    row.customer_id = NotSet;
    let result = Entity::update_many()
        .set(row)
        .filter(Column::Id.eq(booking.id.0))
        .filter(Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// What a decision looks at: the bookings of `resource` that block at `now`
/// and occupy part of `range`, except `exclude` (a booking being
/// rescheduled does not count against itself).
pub struct Overlap<'a> {
    pub resource: ResourceId,
    pub range: &'a TimeRange,
    pub max_duration_seconds: i64,
    pub now: DateTime<Utc>,
    pub exclude: Option<BookingId>,
}

impl Overlap<'_> {
    fn condition(&self, at: JudgedAt) -> Condition {
        let mut condition = Condition::all()
            .add(occupying(self.resource, self.range, self.max_duration_seconds))
            .add(blocking(at))
            .add(not_released_before(at, Some(self.range.start())));
        if let Some(exclude) = self.exclude {
            condition = condition.add(Column::Id.ne(exclude.0));
        }
        condition
    }
}

/// The total quantity of the overlapping blocking bookings (how a group's
/// `least_used` order weighs its members), read as one aggregate from the
/// covering index.
pub async fn blocking_total(conn: &impl ConnectionTrait, overlap: &Overlap<'_>) -> StoreResult<i64> {
    let total: Option<Option<i64>> = Entity::find()
        .select_only()
        .column_as(Column::Quantity.sum(), "total")
        .filter(overlap.condition(JudgedAt::Now(overlap.now)))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(total.flatten().unwrap_or(0))
}

/// The units the overlapping blocking bookings take, over what they occupy
/// (up to a check-in deadline they missed, `Booking::blocked_at`). Only the
/// columns the capacity rule needs are read, from the covering index: on a
/// busy window this is most of a booking's cost.
pub async fn blocking_usage(conn: &impl ConnectionTrait, overlap: &Overlap<'_>) -> StoreResult<Vec<Usage>> {
    usage_of(conn, overlap, JudgedAt::Now(overlap.now)).await
}

/// `blocking_usage`, but with holds, requests and check-in deadlines judged
/// by the database's clock as the statement runs (PostgreSQL's
/// `clock_timestamp()`, which is read after the statement took its
/// snapshot) instead of `overlap.now`: each booking it counts took what it
/// counts when the snapshot was taken, so what it returns was taken all at
/// one instant, however long ago `now` was read. For refusals from a
/// snapshot (docs/design.md §18). SQLite decides nothing from a snapshot:
/// there it is `blocking_usage`.
pub async fn blocking_usage_at_read(conn: &impl ConnectionTrait, overlap: &Overlap<'_>) -> StoreResult<Vec<Usage>> {
    if conn.get_database_backend() != DatabaseBackend::Postgres {
        return blocking_usage(conn, overlap).await;
    }
    usage_of(conn, overlap, JudgedAt::Read).await
}

async fn usage_of(conn: &impl ConnectionTrait, overlap: &Overlap<'_>, at: JudgedAt) -> StoreResult<Vec<Usage>> {
    let rows: Vec<(DateTime<Utc>, DateTime<Utc>, i32)> = Entity::find()
        .select_only()
        .column(Column::OccupiedStartAt)
        .expr_as(blocked_end(at), "blocked_end_at")
        .column(Column::Quantity)
        .filter(overlap.condition(at))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(start, end, quantity)| {
            TimeRange::new(start, end).map(|range| Usage { range, quantity: i64::from(quantity) })
        })
        .collect())
}

/// What the overlapping blocking bookings take (as `blocking_usage`
/// judges them at `overlap.now`), for reads that need only the timeline
/// (slot search, availability). On SQLite as a profile: the database sums
/// the bookings' starts and ends by instant, and each stretch of constant
/// use is one `Usage`, the same timeline from one row per distinct instant
/// (a slot grid's few hundred) instead of one per booking: a week of
/// 10,000 bookings is read in a third of the time (BENCHMARKS "#32").
/// PostgreSQL reads its index entries twice that way and is no faster, so
/// there it is `blocking_usage`.
pub async fn blocking_timeline(conn: &impl ConnectionTrait, overlap: &Overlap<'_>) -> StoreResult<Vec<Usage>> {
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        return blocking_usage(conn, overlap).await;
    }
    let at = JudgedAt::Now(overlap.now);
    let change = |instant: Expr, sign: i32| {
        Entity::find()
            .select_only()
            .expr_as(instant, "at")
            .expr_as(Expr::col(Column::Quantity).mul(sign), "delta")
            .filter(overlap.condition(at))
            // What `blocking_usage` drops: a time its clip left empty.
            .filter(blocked_end(at).gt(Expr::col(Column::OccupiedStartAt)))
            .into_query()
    };
    let mut changes = change(Expr::col(Column::OccupiedStartAt), 1);
    changes.union(UnionType::All, change(blocked_end(at), -1));
    let query = Query::select()
        .column(Alias::new("at"))
        .expr(Expr::col(Alias::new("delta")).sum())
        .from_subquery(changes, Alias::new("changes"))
        .group_by_col(Alias::new("at"))
        .order_by(Alias::new("at"), Order::Asc)
        .to_owned();
    let rows = conn.query_all_raw(conn.get_database_backend().build(&query)).await?;
    let mut timeline = Vec::new();
    let mut used = 0_i64;
    let mut from: Option<DateTime<Utc>> = None;
    for row in rows {
        let instant: DateTime<Utc> = row.try_get_by_index(0)?;
        let delta: i64 = row.try_get_by_index(1)?;
        if let Some(range) = from.and_then(|from| TimeRange::new(from, instant)).filter(|_| used > 0) {
            timeline.push(Usage { range, quantity: used });
        }
        used += delta;
        from = Some(instant);
    }
    Ok(timeline)
}

/// The first instant after `overlap.now` at which what the overlapping
/// blocking bookings take changes by the clock alone (no write): a hold or
/// request running out, a confirmed booking's check-in deadline passing.
/// Until then `blocking_timeline` judged at `overlap.now` stays what it is
/// (a cached timeline's expiry, docs/design.md §31). One aggregate.
pub async fn next_lapse(conn: &impl ConnectionTrait, overlap: &Overlap<'_>) -> StoreResult<Option<DateTime<Utc>>> {
    let at = JudgedAt::Now(overlap.now);
    let lapse = Expr::case(Column::Status.is_in(HELD_OR_PENDING), Expr::col(Column::HoldExpiresAt))
        .case(
            Condition::all()
                .add(Column::Status.eq(BookingStatus::Confirmed.as_str()))
                .add(Expr::col(Column::CheckInDeadlineAt).gt(at.expr())),
            Expr::col(Column::CheckInDeadlineAt),
        )
        .finally(Expr::val(Option::<DateTime<Utc>>::None));
    let first: Option<Option<DateTime<Utc>>> = Entity::find()
        .select_only()
        .expr_as(Expr::expr(lapse).min(), "first")
        .filter(overlap.condition(at))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(first.flatten())
}

/// How many ids one `IN (...)` list carries (both databases bound the
/// parameters of a statement: PostgreSQL 65,535, SQLite 32,766).
const IDS_PER_STATEMENT: usize = 1_000;

/// What the blocking bookings of each of `resources` take of `span` as
/// judged at `now` (like `blocking_usage`), in one statement per 1,000 of
/// them (a search across resources, docs/design.md §27); bounded below by
/// the longest booking any of them allows.
pub async fn blocking_usage_of_each(
    conn: &impl ConnectionTrait,
    resources: &[ResourceId],
    span: &TimeRange,
    max_duration_seconds: i64,
    now: DateTime<Utc>,
) -> StoreResult<HashMap<ResourceId, Vec<Usage>>> {
    let at = JudgedAt::Now(now);
    let mut each: HashMap<ResourceId, Vec<Usage>> = HashMap::new();
    for some in resources.chunks(IDS_PER_STATEMENT) {
        let rows: Vec<(uuid::Uuid, DateTime<Utc>, DateTime<Utc>, i32)> = Entity::find()
            .select_only()
            .columns([Column::ResourceId, Column::OccupiedStartAt])
            .expr_as(blocked_end(at), "blocked_end_at")
            .column(Column::Quantity)
            .filter(Column::ResourceId.is_in(some.iter().map(|r| r.0)))
            .filter(Column::OccupiedStartAt.lt(span.end()))
            .filter(Column::OccupiedStartAt.gt(reach_from(span.start(), max_duration_seconds)))
            .filter(Column::OccupiedEndAt.gt(span.start()))
            .filter(blocking(at))
            .filter(not_released_before(at, Some(span.start())))
            .into_tuple()
            .all(conn)
            .await?;
        for (resource, start, end, quantity) in rows {
            if let Some(range) = TimeRange::new(start, end) {
                each.entry(ResourceId(resource)).or_default().push(Usage { range, quantity: i64::from(quantity) });
            }
        }
    }
    Ok(each)
}

/// The bookings of `customer` on each of `resources` that block at `now`
/// and end after it, by start, in one statement per 1,000 resources (a
/// search across resources applies the customer's own rules to each,
/// docs/design.md §27).
pub async fn own_active_of_each(
    conn: &impl ConnectionTrait,
    customer: CustomerId,
    resources: &[ResourceId],
    max_duration_seconds: i64,
    now: DateTime<Utc>,
) -> StoreResult<HashMap<ResourceId, Vec<OwnBooking>>> {
    let at = JudgedAt::Now(now);
    let earliest = started_after(now, max_duration_seconds);
    let mut each: HashMap<ResourceId, Vec<OwnBooking>> = HashMap::new();
    for some in resources.chunks(IDS_PER_STATEMENT) {
        let rows: Vec<(uuid::Uuid, uuid::Uuid, DateTime<Utc>, DateTime<Utc>)> = Entity::find()
            .select_only()
            .columns([Column::ResourceId, Column::Id, Column::StartAt, Column::EndAt])
            .filter(Column::CustomerId.eq(customer.0))
            .filter(Column::ResourceId.is_in(some.iter().map(|r| r.0)))
            .filter(Column::StartAt.gt(earliest))
            .filter(Column::EndAt.gt(now))
            .filter(blocking(at))
            .filter(not_released_before(at, None))
            .order_by_asc(Column::StartAt)
            .into_tuple()
            .all(conn)
            .await?;
        for (resource, id, start, end) in rows {
            if let Some(range) = TimeRange::new(start, end) {
                each.entry(ResourceId(resource)).or_default().push(OwnBooking { id: BookingId(id), range });
            }
        }
    }
    Ok(each)
}

/// Whether one of a customer's bookings of a resource blocks at `now` and
/// overlaps `[from, to)`, in two probes. `$1` customer, `$2` resource, `$3`
/// the booking left out, `$4` now, `$5` and `$6` the earliest start that
/// may still end after `now` and after `from`, `$7` from, `$8` to. The
/// lapsing ones (holds, requests, deadlines) whole from their partial
/// index (its predicate written as literals, so that a generic plan may
/// take it). Of the steady ones, the last starting before `to`, if it ends
/// after `from`: steady bookings of a customer on a resource never overlap
/// each other (each was admitted by the duplicate rule and has blocked
/// since), so their ends rise with their starts, and if any overlaps, the
/// last one starting before `to` starts no earlier and so ends no earlier
/// (docs/design.md §42; `berth_own_first` probes the steady ones twice
/// because it names the *first*). Ordered, as the B-tree holds them, in a subquery of
/// its own (PostgreSQL drops the order and limit of an `EXISTS` subquery
/// itself): unordered, a plan made while the table was small took the
/// resource's capacity index as readily, and then read every booking of
/// the resource (the peer's one-resource phase: 3.4 times the machine's
/// CPU per booking). It encodes which statuses block and until when, as
/// `blocking` and `berth_own_first` do: a change of those changes all
/// three.
const OWN_OVERLAPS: &str = "EXISTS (SELECT 1 FROM booking b \
WHERE b.customer_id = $1 AND b.resource_id = $2 AND b.id IS DISTINCT FROM $3 \
AND (b.status IN ('held', 'pending') OR (b.status = 'confirmed' AND b.check_in_deadline_at IS NOT NULL)) \
AND ((b.status IN ('held', 'pending') AND b.hold_expires_at > $4) \
OR (b.status = 'confirmed' AND b.check_in_deadline_at > $4)) \
AND b.start_at > $5 AND b.start_at > $6 AND b.start_at < $8 AND b.end_at > $4 AND b.end_at > $7) \
OR EXISTS (SELECT 1 FROM (SELECT b.end_at FROM booking b \
WHERE b.customer_id = $1 AND b.resource_id = $2 AND b.id IS DISTINCT FROM $3 \
AND (b.status = 'checked_in' OR (b.status = 'confirmed' AND b.check_in_deadline_at IS NULL)) \
AND b.start_at > $5 AND b.start_at > $6 AND b.start_at < $8 AND b.end_at > $4 \
ORDER BY b.start_at DESC LIMIT 1) AS last WHERE last.end_at > $7)";

/// What the duplicate and booking-limit rules read about one customer's
/// bookings of one resource: those blocking at `now` and ending after it,
/// except `exclude`. Every query is bounded on the `(customer_id,
/// resource_id, start_at)` index (a booking ending after `now` started less
/// than the longest booking before it); the first overlapping a time, on
/// PostgreSQL, takes a few probes of it instead (`first_overlapping`).
pub struct OwnActive {
    pub customer: CustomerId,
    pub resource: ResourceId,
    pub max_duration_seconds: i64,
    pub now: DateTime<Utc>,
    pub exclude: Option<BookingId>,
    /// On PostgreSQL, judge holds, requests and deadlines by the database's
    /// clock as the statement runs, as `blocking_usage_at_read` does
    /// (refusals from a snapshot).
    pub holds_at_read: bool,
}

impl OwnActive {
    /// Bounded on the B-tree by start: a booking ending after `now` started
    /// less than the longest booking before it.
    fn query(&self, backend: DatabaseBackend) -> sea_orm::Select<Entity> {
        let earliest = started_after(self.now, self.max_duration_seconds);
        let query = Entity::find()
            .filter(Column::CustomerId.eq(self.customer.0))
            .filter(Column::ResourceId.eq(self.resource.0))
            .filter(Column::EndAt.gt(self.now))
            .filter(Column::StartAt.gt(earliest));
        let at = if self.holds_at_read && backend == DatabaseBackend::Postgres {
            JudgedAt::Read
        } else {
            JudgedAt::Now(self.now)
        };
        // A booking that missed its check-in deadline takes nothing from
        // then on (and what it took lies before `now`).
        let mut query = query.filter(blocking(at)).filter(not_released_before(at, None));
        if let Some(exclude) = self.exclude {
            query = query.filter(Column::Id.ne(exclude.0));
        }
        query
    }

    /// Those whose booked interval overlaps `range` (all of them without
    /// one), by start; the first `at_most` when given.
    pub async fn overlapping(
        &self,
        conn: &impl ConnectionTrait,
        range: Option<&TimeRange>,
        at_most: Option<u64>,
    ) -> StoreResult<Vec<OwnBooking>> {
        let query = self.overlapping_query(conn.get_database_backend(), range, at_most);
        let mut own = Vec::new();
        for row in conn.query_all(&query).await? {
            let (id, start, end) = (row.try_get("", "id")?, row.try_get("", "start_at")?, row.try_get("", "end_at")?);
            if let Some(range) = TimeRange::new(start, end) {
                own.push(OwnBooking { id: BookingId(id), range });
            }
        }
        Ok(own)
    }

    /// The first of those whose booked interval overlaps `range`, as a
    /// statement: what `overlapping` runs for it on PostgreSQL (through
    /// `berth_own_first`), for the tests that measure its plan.
    pub fn overlapping_statement(&self, range: &TimeRange) -> SelectStatement {
        self.overlapping_query(DatabaseBackend::Postgres, Some(range), Some(1))
    }

    /// True when one of those overlaps `range`, as a condition to embed,
    /// on PostgreSQL (the one-round-trip booking's duplicate check, which
    /// falls back to the full decision to name the booking): two `EXISTS`
    /// probes written into the statement (docs/design.md §41, §42), where
    /// `berth_own_first` asks three to name the first. The one-trip
    /// statement is planned once per connection (§39), so it needs no
    /// function to keep their plan, and an answer of yes or no needs no
    /// sort, merge or function call. `OWN_OVERLAPS` says which placeholder
    /// is which; its text is fixed, so the statement need not build it.
    pub fn overlap_exists(&self, range: &TimeRange) -> SqlCondition {
        let values = vec![
            self.customer.0.into(),
            self.resource.0.into(),
            self.exclude.map(|booking| booking.0).into(),
            self.now.into(),
            started_after(self.now, self.max_duration_seconds).into(),
            started_after(range.start(), self.max_duration_seconds).into(),
            range.start().into(),
            range.end().into(),
        ];
        SqlCondition { sql: OWN_OVERLAPS, values }
    }

    /// `overlap_exists` as a statement of its own (a row when true), for
    /// the tests that measure its plan.
    pub fn overlap_exists_statement(&self, range: &TimeRange) -> SelectStatement {
        let SqlCondition { sql, values } = self.overlap_exists(range);
        Query::select().expr(Expr::val(1)).and_where(Expr::cust_with_values(sql, values)).to_owned()
    }

    /// Selects `id`, `start_at` and `end_at`.
    fn overlapping_query(
        &self,
        backend: DatabaseBackend,
        range: Option<&TimeRange>,
        at_most: Option<u64>,
    ) -> SelectStatement {
        // The first of those overlapping a time, on PostgreSQL: by probes
        // of the B-tree, however many bookings the customer has there (as
        // judged at `now`; the database's clock, `holds_at_read`, scans).
        if let (Some(range), Some(1), DatabaseBackend::Postgres, false) = (range, at_most, backend, self.holds_at_read)
        {
            return self.first_overlapping(range);
        }
        let mut query = self.query(backend).select_only().columns([Column::Id, Column::StartAt, Column::EndAt]);
        // One overlapping `range` started less than the longest booking
        // before it: the index scan stops there, not at `now`'s bound (on a
        // busy calendar that is every future booking of the customer there).
        if let Some(range) = range {
            let reach = started_after(range.start(), self.max_duration_seconds);
            query = query
                .filter(Column::StartAt.lt(range.end()))
                .filter(Column::StartAt.gt(reach))
                .filter(Column::EndAt.gt(range.start()));
        }
        query.order_by_asc(Column::StartAt).limit(at_most).into_query()
    }

    /// The first by start of those overlapping `range`, on PostgreSQL, in a
    /// few index probes however many bookings the customer has there:
    /// `berth_own_first` (migration `m20261217_000019_own_bookings_probe`,
    /// docs/design.md §36). A customer's bookings of a resource that block
    /// whatever the clock says (confirmed with no check-in deadline,
    /// checked in) never overlap each other: each was admitted by the
    /// duplicate rule and has blocked ever since. So, in start order, their
    /// ends rise too, and the first of them overlapping `range` is either
    /// the last one starting at or before its start or the first one
    /// starting inside it: one step of the `(customer_id, resource_id,
    /// start_at)` B-tree each way. Those a clock ends (holds, requests,
    /// check-in deadlines) are read whole from their partial index. The
    /// function is PL/pgSQL so that its query is planned once per
    /// connection, not with every statement that asks it.
    fn first_overlapping(&self, range: &TimeRange) -> SelectStatement {
        let earliest = started_after(self.now, self.max_duration_seconds);
        let reach = started_after(range.start(), self.max_duration_seconds);
        let own = Alias::new("own");
        let first = Func::cust(Alias::new("berth_own_first")).args([
            Expr::val(self.customer.0),
            Expr::val(self.resource.0),
            Expr::val(self.exclude.map(|booking| booking.0)),
            Expr::val(self.now),
            Expr::val(earliest),
            Expr::val(reach),
            Expr::val(range.start()),
            Expr::val(range.end()),
        ]);
        Query::select()
            .columns([Column::Id, Column::StartAt, Column::EndAt].map(|column| (own.clone(), column)))
            .from_function(first, own)
            .to_owned()
    }

    /// `for_rules` and what the usage summary says about `occupied`
    /// (`usage::read`) together: on PostgreSQL in one statement (the
    /// summary's row joined with the customer's bookings), one round trip
    /// under the lock (docs/design.md §19, §21, §22). Returns (active, own
    /// bookings, the summary's reading).
    pub async fn for_rules_with_summary(
        &self,
        conn: &impl ConnectionTrait,
        range: &TimeRange,
        nearby_at_most: Option<u64>,
        limit: Option<i64>,
        occupied: &TimeRange,
    ) -> StoreResult<(i64, Vec<OwnBooking>, super::usage::Reading)> {
        if conn.get_database_backend() != DatabaseBackend::Postgres {
            let (active, own) = self.for_rules(conn, range, nearby_at_most, limit).await?;
            return Ok((active, own, super::usage::read(conn, self.resource, occupied).await?));
        }
        let own = match limit {
            Some(limit) => {
                self.overlapping_query(DatabaseBackend::Postgres, None, Some(u64::try_from(limit).unwrap_or(0)))
            }
            None => self.overlapping_query(DatabaseBackend::Postgres, Some(range), nearby_at_most),
        };
        let (summary_sql, mut values) =
            super::usage::reading_query(self.resource, occupied).build(PostgresQueryBuilder);
        let (own_sql, own_values) = own.build(PostgresQueryBuilder);
        let own_sql = super::batch::shift_placeholders(&own_sql, values.0.len());
        values.0.extend(own_values.0);
        let sql = format!(
            "SELECT o.id, o.start_at, o.end_at, s.busiest, s.uncounted FROM ({summary_sql}) AS s \
LEFT JOIN ({own_sql}) AS o ON true ORDER BY o.start_at"
        );
        let rows = conn.query_all_raw(Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values.0)).await?;
        let mut summary = super::usage::Reading::default();
        let mut bookings = Vec::new();
        for row in rows {
            summary = super::usage::Reading::from_row(&row)?;
            let id = row.try_get::<Option<uuid::Uuid>>("", "id")?;
            let start = row.try_get::<Option<DateTime<Utc>>>("", "start_at")?;
            let end = row.try_get::<Option<DateTime<Utc>>>("", "end_at")?;
            if let (Some(id), Some(start), Some(end)) = (id, start, end)
                && let Some(range) = TimeRange::new(start, end)
            {
                bookings.push(OwnBooking { id: BookingId(id), range });
            }
        }
        let active = if limit.is_some() { bookings.len() as i64 } else { 0 };
        Ok((active, bookings, summary))
    }

    /// What the rules need, in one read: with a booking `limit`, the first
    /// `limit` of them (so the count stops at the limit; below it, every
    /// one, overlapping or not, is there for the duplicate rule); without
    /// one, those overlapping `range` (the first `nearby_at_most`), and a
    /// count of 0 nobody reads.
    pub async fn for_rules(
        &self,
        conn: &impl ConnectionTrait,
        range: &TimeRange,
        nearby_at_most: Option<u64>,
        limit: Option<i64>,
    ) -> StoreResult<(i64, Vec<OwnBooking>)> {
        match limit {
            Some(limit) => {
                let active = self.overlapping(conn, None, Some(u64::try_from(limit).unwrap_or(0))).await?;
                Ok((active.len() as i64, active))
            }
            None => Ok((0, self.overlapping(conn, Some(range), nearby_at_most).await?)),
        }
    }
}

/// Marks the held, confirmed and checked-in bookings of `resource`
/// occupying part of `range` that the usage summary may not hold as
/// counted, and returns them as they are, for the caller to add to the
/// summary in the same transaction (docs/design.md §22). The conditional
/// write makes two deciders that found the same row add it once.
pub async fn mark_counted(
    conn: &impl ConnectionTrait,
    resource: ResourceId,
    range: &TimeRange,
    exclude: Option<BookingId>,
) -> StoreResult<Vec<Booking>> {
    let mut update = Entity::update_many();
    if let Some(exclude) = exclude {
        // The booking being moved is written, and counted, by its change.
        update = update.filter(Column::Id.ne(exclude.0));
    }
    let rows = update
        .col_expr(Column::CountedVersion, sea_orm::sea_query::Expr::col(Column::Version))
        .filter(Column::ResourceId.eq(resource.0))
        .filter(sea_orm::sea_query::Expr::cust(super::usage::UNCOUNTED))
        .filter(Column::Status.is_in(ACTIVE))
        .filter(Column::OccupiedStartAt.lt(range.end()))
        .filter(Column::OccupiedEndAt.gt(range.start()))
        .exec_with_returning(conn)
        .await?;
    to_domain_all(rows)
}

/// The blocking bookings of `resource` that still occupy time after `now`.
pub async fn future_blocking(
    conn: &impl ConnectionTrait,
    resource: ResourceId,
    max_duration_seconds: i64,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Booking>> {
    let rows = Entity::find()
        .filter(Column::ResourceId.eq(resource.0))
        .filter(Column::OccupiedStartAt.gt(reach_from(now, max_duration_seconds)))
        .filter(Column::OccupiedEndAt.gt(now))
        .filter(blocking(JudgedAt::Now(now)))
        .filter(not_released_before(JudgedAt::Now(now), Some(now)))
        .all(conn)
        .await?;
    to_domain_all(rows)
}

/// Share-locks the bookings of `resource` that are or may be blocking
/// (held, confirmed, checked in) occupying part of `range`, until the
/// transaction ends (PostgreSQL): a change to one of them that is under
/// way (a cancel, which does not lock the resource) commits first, and
/// what is read after this sees it. No clock in the condition: it runs
/// before the decision reads its clock.
pub async fn lock_blocking(
    conn: &impl ConnectionTrait,
    resource: ResourceId,
    range: &TimeRange,
    max_duration_seconds: i64,
) -> StoreResult<()> {
    if conn.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    let _locked: Vec<uuid::Uuid> = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(occupying(resource, range, max_duration_seconds))
        .filter(Column::Status.is_in(ACTIVE))
        .lock(LockType::Share)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(())
}

/// The customer's bookings that are or may become blocking (held,
/// confirmed, checked in), locked for this transaction on PostgreSQL. No
/// time condition on purpose: at READ COMMITTED a row whose old version
/// fails the filter would not be locked, and a concurrent reschedule could
/// move it into the future unseen.
pub async fn lock_active_of_customer(conn: &impl ConnectionTrait, customer: CustomerId) -> StoreResult<Vec<Booking>> {
    let rows = Entity::find()
        .filter(Column::CustomerId.eq(customer.0))
        .filter(Column::Status.is_in(ACTIVE))
        .lock_exclusive()
        .all(conn)
        .await?;
    to_domain_all(rows)
}

/// One page of bookings in creation order, starting after `after`.
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: &BookingFilter,
    after: Option<BookingId>,
    limit: u64,
) -> StoreResult<Vec<Booking>> {
    let mut query = Entity::find().order_by_asc(Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after.0));
    }
    if let Some(resource) = filter.resource_id {
        query = query.filter(Column::ResourceId.eq(resource.0));
    }
    if let Some(customer) = filter.customer_id {
        query = query.filter(Column::CustomerId.eq(customer.0));
    }
    if let Some(status) = filter.status {
        query = query.filter(Column::Status.eq(status.as_str()));
    }
    if let Some(series) = filter.series_id {
        query = query.filter(Column::SeriesId.eq(series.0));
    }
    if let Some(from) = filter.from {
        query = query.filter(Column::EndAt.gt(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(Column::StartAt.lt(to));
    }
    to_domain_all(query.all(conn).await?)
}

/// Up to `limit` holds and requests that ran out by `now`, locked for this
/// transaction. `SKIP LOCKED` lets several instances sweep at once without
/// waiting on or double-processing each other's rows (PostgreSQL; SQLite
/// has one writer).
pub async fn lock_due_holds(conn: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> StoreResult<Vec<Booking>> {
    let rows = Entity::find()
        .filter(Column::Status.is_in(HELD_OR_PENDING))
        .filter(Column::HoldExpiresAt.lte(now))
        .order_by_asc(Column::HoldExpiresAt)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(conn)
        .await?;
    to_domain_all(rows)
}

/// Up to `limit` confirmed bookings whose check-in deadline passed by
/// `now`, as (booking, resource), earliest deadline first (the partial
/// index `booking_check_in_due`); not locked.
pub async fn missed_check_ins(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> StoreResult<Vec<(BookingId, ResourceId)>> {
    let rows: Vec<(uuid::Uuid, uuid::Uuid)> = Entity::find()
        .select_only()
        .columns([Column::Id, Column::ResourceId])
        .filter(Column::Status.eq(BookingStatus::Confirmed.as_str()))
        .filter(Column::CheckInDeadlineAt.is_not_null())
        .filter(Column::CheckInDeadlineAt.lte(now))
        .order_by_asc(Column::CheckInDeadlineAt)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|(id, resource)| (BookingId(id), ResourceId(resource))).collect())
}

/// Those of `ids` that still missed their check-in deadline at `now`,
/// locked for this transaction, skipping any another transaction holds.
pub async fn lock_missed_check_ins(
    conn: &impl ConnectionTrait,
    ids: &[BookingId],
    now: DateTime<Utc>,
) -> StoreResult<Vec<Booking>> {
    let rows = Entity::find()
        .filter(Column::Id.is_in(ids.iter().map(|id| id.0)))
        .filter(Column::Status.eq(BookingStatus::Confirmed.as_str()))
        .filter(Column::CheckInDeadlineAt.lte(now))
        .order_by_asc(Column::Id)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(conn)
        .await?;
    to_domain_all(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statuses_read_as_active_are_those_not_terminal() {
        let not_terminal: Vec<&str> =
            BookingStatus::ALL.into_iter().filter(|s| !s.is_terminal()).map(BookingStatus::as_str).collect();
        assert_eq!(ACTIVE.to_vec(), not_terminal);
        let lapsing: Vec<&str> =
            BookingStatus::ALL.into_iter().filter(|s| s.lapses()).map(BookingStatus::as_str).collect();
        assert_eq!(HELD_OR_PENDING.to_vec(), lapsing);
    }
}
