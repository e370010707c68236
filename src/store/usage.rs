//! The usage summary (docs/design.md §21): per resource and UTC hour, the
//! units of every booking that takes or may take that hour (held,
//! confirmed or checked in; the hours of its occupied time, buffers
//! included). Written in the same transaction as every booking change
//! (`Changes`), read as the busiest hour of a window (`busiest`): an upper
//! bound of the window's peak that costs one row per hour, however many
//! bookings the window holds.
//!
//! It is an upper bound, not the peak: a hold that ran out counts until it
//! is marked expired, the booking being rescheduled counts against itself,
//! and an hour counts a booking that touches any part of it. The capacity
//! rule therefore only admits by it, and reads the intervals when it does
//! not leave room.

use std::collections::BTreeMap;

use entity::resource_usage::{Column, Entity};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait,
    sea_query::{Expr, InsertStatement, OnConflict, Query, SelectStatement},
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

    /// `booking`, as it was before this write, no longer counts.
    pub fn remove(&mut self, booking: &Booking) -> &mut Self {
        self.count(booking, -1)
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
    /// opposite orders; none when nothing changes. One per
    /// `ROWS_PER_STATEMENT` rows: a booking of a year touches 8,800 hours,
    /// and a statement may carry only so many values (SQLite: 32,766).
    pub fn statements(&self) -> Vec<InsertStatement> {
        let changed: Vec<_> = self.0.iter().filter(|(_, units)| **units != 0).collect();
        changed
            .chunks(ROWS_PER_STATEMENT)
            .map(|rows| {
                let mut insert = Query::insert()
                    .into_table(Entity)
                    .columns([Column::ResourceId, Column::Bucket, Column::Units])
                    .on_conflict(
                        OnConflict::columns([Column::ResourceId, Column::Bucket])
                            .value(Column::Units, Expr::cust(r#""resource_usage"."units" + "excluded"."units""#))
                            .to_owned(),
                    )
                    .to_owned();
                for ((resource, bucket), units) in rows {
                    insert.values_panic([(*resource).into(), (*bucket).into(), (*units).into()]);
                }
                insert
            })
            .collect()
    }

    /// Writes them on their own (without other inserts to send along).
    pub async fn write(&self, conn: &impl ConnectionTrait) -> StoreResult<()> {
        for statement in self.statements() {
            conn.execute(&statement).await?;
        }
        Ok(())
    }
}

/// The units of the busiest hour `occupied` touches on `resource`
/// (`busiest`, NULL when none is recorded).
pub fn busiest_query(resource: ResourceId, occupied: &TimeRange) -> SelectStatement {
    let hours = occupied.hours();
    Entity::find()
        .select_only()
        .column_as(Column::Units.max(), "busiest")
        .filter(Column::ResourceId.eq(resource.0))
        .filter(Column::Bucket.between(*hours.start(), *hours.end()))
        .into_query()
}

/// The units of the busiest hour `occupied` touches on `resource`: at
/// least the most units the bookings take at one instant of it.
pub async fn busiest(conn: &impl ConnectionTrait, resource: ResourceId, occupied: &TimeRange) -> StoreResult<i64> {
    let row = conn.query_one(&busiest_query(resource, occupied)).await?;
    Ok(match row {
        Some(row) => row.try_get::<Option<i64>>("", "busiest")?.unwrap_or(0),
        None => 0,
    })
}
