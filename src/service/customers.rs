//! Customer use cases: create, read, list, update and delete, with
//! optimistic concurrency on the row version.

use super::{Db, Expected, ServiceError, idempotency::Seal, now, retrying};
use crate::domain::{
    customer::{Customer, CustomerChanges, NewCustomer},
    ids::CustomerId,
};
use crate::store::{self, StoreError, customers, usage};

fn email_taken(err: StoreError) -> ServiceError {
    match err {
        StoreError::Unique => ServiceError::AlreadyExists { field: "email" },
        other => other.into(),
    }
}

pub async fn create(db: &Db, new: NewCustomer, seal: &Seal<'_, Customer>) -> Result<Customer, ServiceError> {
    let customer = new.into_customer(CustomerId::generate(), now());
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        customers::insert(&txn, &customer).await.map_err(email_taken)?;
        seal.store(&txn, customer.created_at, &customer).await?;
        txn.commit().await?;
        Ok(customer.clone())
    })
    .await
}

pub async fn get(db: &Db, id: CustomerId) -> Result<Customer, ServiceError> {
    customers::find(db.conn(), id).await?.ok_or(ServiceError::NotFound)
}

/// `limit` rows after `after`, in creation order.
pub async fn list(db: &Db, after: Option<CustomerId>, limit: u64) -> Result<Vec<Customer>, ServiceError> {
    Ok(customers::list(db.conn(), after, limit).await?)
}

/// Applies `changes` if the customer's version, under its lock, is one
/// `expected` allows.
pub async fn update(
    db: &Db,
    id: CustomerId,
    expected: &Expected,
    changes: CustomerChanges,
) -> Result<Customer, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let mut customer = customers::lock(&txn, id).await?.ok_or(ServiceError::NotFound)?;
        expected.check(customer.version)?;
        let locked_version = customer.version;
        customer.apply(changes.clone(), now());
        if !customers::update_if_version(&txn, &customer, locked_version).await.map_err(email_taken)? {
            // Another writer got in between our read and our write.
            let current = customers::find(&txn, id).await?.ok_or(ServiceError::NotFound)?;
            return Err(ServiceError::VersionMismatch { current_version: current.version });
        }
        txn.commit().await?;
        Ok(customer)
    })
    .await
}

/// Deletes the customer if its version, under its lock, is one `expected`
/// allows.
pub async fn delete(db: &Db, id: CustomerId, expected: &Expected) -> Result<(), ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let customer = customers::lock(&txn, id).await?.ok_or(ServiceError::NotFound)?;
        expected.check(customer.version)?;
        // A customer with bookings still to come keeps them: cancel them
        // first. Past bookings go with the customer. Lock order: customer,
        // then its bookings; the clock is read after both locks, like every
        // other decider, so a booking confirmed or moved just before counts.
        let active = store::bookings::lock_active_of_customer(&txn, id).await?;
        let now = db.decision_clock(&txn).await?;
        let blocking_bookings =
            active.iter().filter(|b| b.blocks_at(now) && !b.missed_check_in(now) && b.range.end() > now).count() as u64;
        if blocking_bookings > 0 {
            return Err(ServiceError::HasBookings { blocking_bookings });
        }
        if !customers::delete_if_version(&txn, id, customer.version).await? {
            return Err(ServiceError::VersionMismatch { current_version: customer.version });
        }
        // Its bookings went with it (the foreign key cascades): what they
        // still counted in the usage summary goes too.
        let mut gone = usage::Changes::new();
        for booking in &active {
            gone.remove(booking);
        }
        gone.write(&txn).await?;
        txn.commit().await?;
        Ok(())
    })
    .await
}
