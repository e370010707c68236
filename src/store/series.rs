//! Series rows (docs/design.md §25): mapping to and from
//! `domain::series::Series`, the insert and conditional writes, and the
//! bookings of a series.

use entity::booking_series::{ActiveModel, Column, Entity, Model};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    sea_query::InsertStatement,
};

use super::{StoreError, StoreResult};
use crate::domain::{
    booking::{Booking, Target},
    ids::{CustomerId, GroupId, ResourceId, SeriesId},
    series::{Series, SeriesMode, SeriesStatus},
    time_range::TimeRange,
};

fn to_domain(m: Model) -> StoreResult<Series> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("series {} has {what}", m.id));
    let target = match (m.resource_id, m.group_id) {
        (_, Some(group)) => Target::Group(GroupId(group)),
        (Some(resource), None) => Target::Resource(ResourceId(resource)),
        (None, None) => return Err(corrupt("neither a resource nor a group")),
    };
    Ok(Series {
        id: SeriesId(m.id),
        target,
        customer_id: CustomerId(m.customer_id),
        first: TimeRange::new(m.start_at, m.end_at).ok_or_else(|| corrupt("an empty first occurrence"))?,
        rrule: m.rrule,
        quantity: m.quantity,
        mode: SeriesMode::parse(&m.mode).ok_or_else(|| corrupt("an unknown mode"))?,
        status: SeriesStatus::parse(&m.status).ok_or_else(|| corrupt("an unknown status"))?,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn to_active(s: &Series) -> ActiveModel {
    let (resource_id, group_id) = s.target.parts();
    ActiveModel {
        id: Set(s.id.0),
        resource_id: Set(resource_id.map(|r| r.0)),
        group_id: Set(group_id.map(|g| g.0)),
        customer_id: Set(s.customer_id.0),
        start_at: Set(s.first.start()),
        end_at: Set(s.first.end()),
        rrule: Set(s.rrule.clone()),
        quantity: Set(s.quantity),
        mode: Set(s.mode.as_str().to_owned()),
        status: Set(s.status.as_str().to_owned()),
        version: Set(s.version),
        created_at: Set(s.created_at),
        updated_at: Set(s.updated_at),
    }
}

/// The insert of a new series, to run with its bookings' inserts.
pub fn insert_statement(series: &Series) -> InsertStatement {
    Entity::insert(to_active(series)).into_query()
}

pub async fn find(conn: &impl ConnectionTrait, id: SeriesId) -> StoreResult<Option<Series>> {
    Entity::find_by_id(id.0).one(conn).await?.map(to_domain).transpose()
}

/// The series, locked for this transaction (PostgreSQL).
pub async fn lock(conn: &impl ConnectionTrait, id: SeriesId) -> StoreResult<Option<Series>> {
    Entity::find_by_id(id.0).lock_exclusive().one(conn).await?.map(to_domain).transpose()
}

/// Writes `series` over its row if the row is still at `expected`.
pub async fn update_if_version(conn: &impl ConnectionTrait, series: &Series, expected: i64) -> StoreResult<bool> {
    let mut row = to_active(series);
    row.id = NotSet;
    row.created_at = NotSet;
    let result = Entity::update_many()
        .set(row)
        .filter(Column::Id.eq(series.id.0))
        .filter(Column::Version.eq(expected))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The occurrences of `series`, in start order.
pub async fn bookings_of(conn: &impl ConnectionTrait, series: SeriesId) -> StoreResult<Vec<Booking>> {
    use entity::booking::{Column as B, Entity as Bookings};
    let rows = Bookings::find().filter(B::SeriesId.eq(series.0)).order_by_asc(B::StartAt).all(conn).await?;
    rows.into_iter().map(super::bookings::to_domain).collect()
}

/// The occurrences of `series` (their ids, in id order), locked for this
/// transaction: the order every writer of several bookings keeps.
pub async fn lock_bookings_of(conn: &impl ConnectionTrait, series: SeriesId) -> StoreResult<Vec<Booking>> {
    use entity::booking::{Column as B, Entity as Bookings};
    let rows = Bookings::find().filter(B::SeriesId.eq(series.0)).order_by_asc(B::Id).lock_exclusive().all(conn).await?;
    rows.into_iter().map(super::bookings::to_domain).collect()
}
