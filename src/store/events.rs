//! The booking history (`booking_event`), append-only.

use entity::booking_event::{ActiveModel, Column, Entity, Model};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QueryTrait,
    sea_query::InsertStatement,
};

use super::{StoreError, StoreResult};
use crate::domain::{
    booking::{Actor, BookingEvent, BookingStatus},
    ids::BookingId,
};

/// The insert of a history event, to run with the change's other inserts
/// (`batch::Inserts`).
pub fn append_statement(event: &BookingEvent) -> InsertStatement {
    let row = ActiveModel {
        id: Set(event.id),
        booking_id: Set(event.booking_id.0),
        from_status: Set(event.from.map(|s| s.as_str().to_owned())),
        to_status: Set(event.to.as_str().to_owned()),
        action: Set(event.action.clone()),
        actor_sub: Set(event.actor.sub.clone()),
        actor_role: Set(event.actor.role.clone()),
        reason: Set(event.reason.clone()),
        request_id: Set(event.request_id.clone()),
        policy_overridden: Set(event.policy_overridden),
        at: Set(event.at),
    };
    Entity::insert(row).into_query()
}

fn to_domain(m: Model) -> StoreResult<BookingEvent> {
    let status = |s: &str| BookingStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("event {} status", m.id)));
    Ok(BookingEvent {
        id: m.id,
        booking_id: BookingId(m.booking_id),
        from: m.from_status.as_deref().map(status).transpose()?,
        to: status(&m.to_status)?,
        action: m.action.clone(),
        actor: Actor { sub: m.actor_sub.clone(), role: m.actor_role.clone() },
        reason: m.reason.clone(),
        request_id: m.request_id.clone(),
        policy_overridden: m.policy_overridden,
        at: m.at,
    })
}

/// The history of a booking, oldest first: in the order of the decisions
/// (`at` is read under the booking's locks), ties by id. The order matches
/// the `(booking_id, at)` index, so no plan has to walk other bookings'
/// events.
pub async fn list(conn: &impl ConnectionTrait, booking: BookingId) -> StoreResult<Vec<BookingEvent>> {
    let rows = Entity::find()
        .filter(Column::BookingId.eq(booking.0))
        .order_by_asc(Column::At)
        .order_by_asc(Column::Id)
        .all(conn)
        .await?;
    rows.into_iter().map(to_domain).collect()
}
