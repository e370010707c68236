//! The usage summary (docs/design.md §21): per resource and UTC hour, the
//! units of every booking that takes or may take that hour (held,
//! confirmed or checked in; the hours of its occupied time, buffers
//! included). Written in the same transaction as every booking change
//! (`Changes`), read as the busiest hour of a window (`read`): an upper
//! bound of the window's peak that costs one row per hour, however many
//! bookings the window holds.
//!
//! It is an upper bound, not the peak: a hold that ran out counts until it
//! is marked expired, the booking being rescheduled counts against itself,
//! and an hour counts a booking that touches any part of it. The capacity
//! rule therefore only admits by it, and reads the intervals when it does
//! not leave room.
//!
//! It is an upper bound only of the bookings it holds (docs/design.md §22):
//! those whose `counted_version` is their version. A row berth did not
//! account (an older release's, one inserted by hand) is seen by the same
//! read (`Reading::uncounted`), and then the summary is not trusted near
//! it; a booking is only taken out of the summary if it was counted, so
//! the summary never loses units it did not get.

use std::collections::BTreeMap;

use entity::resource_usage::{Column, Entity};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, JoinType, Order, QueryFilter, QuerySelect, QueryTrait,
    sea_query::{Alias, Expr, ExprTrait, InsertStatement, OnConflict, Query, SelectStatement},
};

use super::StoreResult;
use crate::domain::{booking::Booking, ids::ResourceId, time_range::TimeRange};

/// The most rows one upsert carries (three values each).
const ROWS_PER_STATEMENT: usize = 2_000;

/// Changes to the summary, gathered over the bookings one transaction
/// writes and sent as one upsert.
#[derive(Debug, Default)]
pub struct Changes(BTreeMap<(uuid::Uuid, i64), i64>);

impl Changes {
    pub fn new() -> Self {
        Self::default()
    }

    /// `booking`, as it is now written, counts.
    pub fn add(&mut self, booking: &Booking) -> &mut Self {
        self.count(booking, 1)
    }

    /// `booking`, as it was before this write, no longer counts: taken
    /// out only if the summary held it (`Booking::counted`).
    pub fn remove(&mut self, booking: &Booking) -> &mut Self {
        if booking.counted { self.count(booking, -1) } else { self }
    }

    fn count(&mut self, booking: &Booking, sign: i64) -> &mut Self {
        if !booking.status.is_terminal() {
            self.take(booking.resource_id, &booking.occupied(), sign * i64::from(booking.quantity));
        }
        self
    }

    /// `units` more (or, negative, fewer) in every hour `occupied` touches
    /// on `resource`: for bookings written without a `Booking` at hand
    /// (the benchmark's seeding).
    pub fn take(&mut self, resource: ResourceId, occupied: &TimeRange, units: i64) -> &mut Self {
        for hour in occupied.hours() {
            *self.0.entry((resource.0, hour)).or_default() += units;
        }
        self
    }

    /// The upserts adding every change to its row, in ascending (resource,
    /// hour) order, so that two writers never take the rows' locks in
    /// opposite orders; none when no booking touched an hour. An hour a
    /// change touched is written even when its units stay the same (a
    /// confirmation, a move within the same hours): the one-round-trip
    /// booking (docs/design.md §30) learns from a row's new version that
    /// something changed in that hour since its snapshot. One per
    /// `ROWS_PER_STATEMENT` rows: a booking of a year touches 8,800 hours,
    /// and a statement may carry only so many values (SQLite: 32,766).
    /// Every row it writes gets a new `stamp` (`new_stamp`): cached
    /// timelines learn from it that the hour changed (§31).
    pub fn statements(&self) -> Vec<InsertStatement> {
        let changed: Vec<_> = self.0.iter().collect();
        changed
            .chunks(ROWS_PER_STATEMENT)
            .map(|rows| {
                let stamp = new_stamp();
                let mut insert = Query::insert()
                    .into_table(Entity)
                    .columns([Column::ResourceId, Column::Bucket, Column::Units, Column::Stamp])
                    .on_conflict(
                        OnConflict::columns([Column::ResourceId, Column::Bucket])
                            .value(Column::Units, Expr::cust(r#""resource_usage"."units" + "excluded"."units""#))
                            .update_column(Column::Stamp)
                            .to_owned(),
                    )
                    .to_owned();
                for ((resource, bucket), units) in rows {
                    insert.values_panic([(*resource).into(), (*bucket).into(), (*units).into(), stamp.into()]);
                }
                insert
            })
            .collect()
    }

    /// `units` more in hour number `hour` of `resource` (a rebuild).
    pub fn hour(&mut self, resource: ResourceId, hour: i64, units: i64) -> &mut Self {
        *self.0.entry((resource.0, hour)).or_default() += units;
        self
    }

    /// Writes them on their own (without other inserts to send along).
    pub async fn write(&self, conn: &impl ConnectionTrait) -> StoreResult<()> {
        for statement in self.statements() {
            conn.execute(&statement).await?;
        }
        Ok(())
    }
}

/// A value for `stamp` no earlier write of a row gave it (but by a chance
/// of one in 2^64): random, so that a row deleted and written again (a
/// rebuild, `audit::replace_usage`) cannot come back with the stamp a
/// reader saw before, as a counter starting over would.
pub fn new_stamp() -> i64 {
    rand::random()
}

/// The stamps of the summary rows of hours `hours` of `resource`, in hour
/// order (hours without a row left out), and whether a booking the
/// summary may not hold occupies part of `occupied` (§22): what a cached
/// timeline is checked against (docs/design.md §31). One statement.
pub async fn stamps(
    conn: &impl ConnectionTrait,
    resource: ResourceId,
    occupied: &TimeRange,
) -> StoreResult<(Vec<(i64, i64)>, bool)> {
    let hours = occupied.hours();
    // The probe as a one-row table joined to the hours' rows, so that it
    // comes back even when no hour has a row.
    let query = Query::select()
        .column((Alias::new("probe"), Alias::new("uncounted")))
        .column((Entity, Column::Bucket))
        .column((Entity, Column::Stamp))
        .from_subquery(
            Query::select().expr_as(uncounted_near(resource, occupied), Alias::new("uncounted")).to_owned(),
            Alias::new("probe"),
        )
        .join(
            JoinType::LeftJoin,
            Entity,
            Condition::all()
                .add(Expr::col((Entity, Column::ResourceId)).eq(resource.0))
                .add(Expr::col((Entity, Column::Bucket)).between(*hours.start(), *hours.end())),
        )
        .order_by((Entity, Column::Bucket), Order::Asc)
        .to_owned();
    let mut uncounted = false;
    let mut stamps = Vec::new();
    for row in conn.query_all(&query).await? {
        uncounted = row.try_get::<bool>("", "uncounted")?;
        if let (Some(bucket), Some(stamp)) =
            (row.try_get::<Option<i64>>("", "bucket")?, row.try_get::<Option<i64>>("", "stamp")?)
        {
            stamps.push((bucket, stamp));
        }
    }
    Ok((stamps, uncounted))
}

/// What the summary says about a window of one resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    /// The units of the busiest hour it touches (0 when none is recorded).
    pub busiest: i64,
    /// Whether a held, confirmed or checked-in booking occupying part of
    /// it is one the summary may not hold (not `counted`).
    pub uncounted: bool,
}

impl Reading {
    /// Whether `busiest` bounds what the bookings take there: every one of
    /// them is counted, and no hour is below zero.
    pub fn trusted(&self) -> bool {
        !self.uncounted && self.busiest >= 0
    }

    /// From a row of `reading_query` (or a query that selects its columns).
    pub fn from_row(row: &sea_orm::QueryResult) -> StoreResult<Self> {
        Ok(Self {
            busiest: row.try_get::<Option<i64>>("", "busiest")?.unwrap_or(0),
            uncounted: row.try_get::<Option<bool>>("", "uncounted")?.unwrap_or(false),
        })
    }
}

/// Every status whose bookings take or may take units, which the summary
/// counts: those not terminal.
pub(super) const ACTIVE: [&str; 4] = ["held", "pending", "confirmed", "checked_in"];

/// The condition naming the rows of `booking_uncounted` (the partial
/// index's own predicate, so both databases use the index).
pub const UNCOUNTED: &str = "counted_version IS DISTINCT FROM version";

/// `busiest`: the units of the busiest hour `occupied` touches on
/// `resource`; `uncounted`: whether a booking the summary may not hold
/// occupies part of it (one probe of the `booking_uncounted` index).
pub fn reading_query(resource: ResourceId, occupied: &TimeRange) -> SelectStatement {
    let hours = occupied.hours();
    Entity::find()
        .select_only()
        .column_as(Column::Units.max(), "busiest")
        .column_as(uncounted_near(resource, occupied), "uncounted")
        .filter(Column::ResourceId.eq(resource.0))
        .filter(Column::Bucket.between(*hours.start(), *hours.end()))
        .into_query()
}

/// Whether a held, confirmed or checked-in booking the summary may not
/// hold occupies part of `occupied` on `resource`: `uncounted_query`'s
/// row, or none.
pub fn uncounted_near(resource: ResourceId, occupied: &TimeRange) -> Expr {
    Expr::SubQuery(None, Box::new(uncounted_query(resource, occupied).into())).is_not_null()
}

/// The first (by start) held, confirmed or checked-in booking occupying
/// part of `occupied` on `resource` that the summary may not hold: a
/// probe of the `booking_uncounted` index, empty in normal operation.
///
/// Written so that every plan takes that index (docs/design.md §38). The
/// planner cannot know the index is empty: it guesses that almost every
/// row has `counted_version` apart from its version. As an `EXISTS`, a
/// generic plan (berth's statements are prepared) then read every
/// booking of the table (a sequential scan stopping at a first match it
/// expected at once) or every booking of the window (through
/// `booking_resource_occupancy`, whose further columns narrow its guess):
/// 2-8 ms of each page load of a busy week. So the probe asks in start
/// order for one row (a scan cannot start at once: it would sort first),
/// and hides the end and status conditions from index matching (`IS
/// TRUE`): both indexes then narrow by resource and start alone, and the
/// partial one is the smaller.
pub fn uncounted_query(resource: ResourceId, occupied: &TimeRange) -> SelectStatement {
    use entity::booking::{Column as B, Entity as Booking};
    Query::select()
        .expr(Expr::val(1))
        .from(Booking)
        .and_where(Expr::col((Booking, B::ResourceId)).eq(resource.0))
        .and_where(Expr::cust(UNCOUNTED))
        .and_where(Expr::col((Booking, B::OccupiedStartAt)).lt(occupied.end()))
        .and_where(Expr::cust_with_expr(
            "($1) IS TRUE",
            Expr::col((Booking, B::OccupiedEndAt))
                .gt(occupied.start())
                .and(Expr::col((Booking, B::Status)).is_in(ACTIVE)),
        ))
        .order_by((Booking, B::OccupiedStartAt), Order::Asc)
        .limit(1)
        .to_owned()
}

/// What the summary says about `occupied` on `resource` (`reading_query`).
pub async fn read(conn: &impl ConnectionTrait, resource: ResourceId, occupied: &TimeRange) -> StoreResult<Reading> {
    match conn.query_one(&reading_query(resource, occupied)).await? {
        Some(row) => Reading::from_row(&row),
        None => Ok(Reading::default()),
    }
}
