//! Customer rows: mapping to and from `domain::Customer`, and conditional
//! writes (`WHERE id = ? AND version = ?`).

use entity::customer::{ActiveModel, Column, Entity, Model};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::StoreResult;
use crate::domain::{customer::Customer, ids::CustomerId, uniqueness_key};

fn to_domain(m: Model) -> Customer {
    Customer {
        id: CustomerId(m.id),
        email: m.email,
        name: m.name,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

fn to_active(c: &Customer) -> ActiveModel {
    ActiveModel {
        id: Set(c.id.0),
        email: Set(c.email.clone()),
        email_key: Set(uniqueness_key(&c.email)),
        name: Set(c.name.clone()),
        version: Set(c.version),
        created_at: Set(c.created_at),
        updated_at: Set(c.updated_at),
    }
}

/// Inserts a new customer. A taken e-mail is `StoreError::Unique`.
pub async fn insert(conn: &impl ConnectionTrait, customer: &Customer) -> StoreResult<()> {
    Entity::insert(to_active(customer)).exec_without_returning(conn).await?;
    Ok(())
}

pub async fn find(conn: &impl ConnectionTrait, id: CustomerId) -> StoreResult<Option<Customer>> {
    Ok(Entity::find_by_id(id.0).one(conn).await?.map(to_domain))
}

/// One page of customers in creation order, starting after `after`.
pub async fn list(conn: &impl ConnectionTrait, after: Option<CustomerId>, limit: u64) -> StoreResult<Vec<Customer>> {
    let mut query = Entity::find().order_by_asc(Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after.0));
    }
    Ok(query.all(conn).await?.into_iter().map(to_domain).collect())
}

/// Writes `customer` over the row if the row is still at `expected_version`.
pub async fn update_if_version(
    conn: &impl ConnectionTrait,
    customer: &Customer,
    expected_version: i64,
) -> StoreResult<bool> {
    let mut row = to_active(customer);
    row.id = NotSet;
    row.created_at = NotSet;
    let result = Entity::update_many()
        .set(row)
        .filter(Column::Id.eq(customer.id.0))
        .filter(Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Deletes the row if it is still at `expected_version`.
pub async fn delete_if_version(
    conn: &impl ConnectionTrait,
    id: CustomerId,
    expected_version: i64,
) -> StoreResult<bool> {
    let result = Entity::delete_many()
        .filter(Column::Id.eq(id.0))
        .filter(Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Reads the customer and, on PostgreSQL, locks its row until the
/// transaction ends: a booking being inserted for this customer holds a key
/// share lock on it, so a delete waits for it (and then sees it), or the
/// insert waits for the delete (and its foreign key then fails).
pub async fn lock(conn: &impl ConnectionTrait, id: CustomerId) -> StoreResult<Option<Customer>> {
    Ok(Entity::find_by_id(id.0).lock_exclusive().one(conn).await?.map(to_domain))
}
