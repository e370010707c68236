//! Idempotency-Key use cases: claim a key, replay what it stored, release
//! it, and store a response with (or, for refusals that changed nothing,
//! after) the request's effect.
//!
//! A claim is its own short transaction, committed before the request runs,
//! so that a second request with the key, on any instance, sees it in
//! flight. The final response is written by `Seal::store` inside the
//! transaction of the effect: a crash leaves either both or neither. A claim
//! whose request died (older than the lease) may be taken over.

use chrono::Duration;
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use uuid::Uuid;

use super::{ServiceError, now, retrying};
use crate::store::{
    self,
    idempotency::{self, Scope, StoredResponse},
};

/// How long keys live and when an in-flight claim counts as abandoned.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub ttl: Duration,
    pub lease: Duration,
}

/// What the key says about this request.
#[derive(Debug)]
pub enum Claimed {
    /// Ours: run the request, then store its response under this id.
    Fresh(Uuid),
    /// Done before: send this again.
    Replay(StoredResponse),
    /// The first request with this key is still running.
    InFlight,
    /// The key was used for a different request.
    Reused,
}

pub async fn claim(
    db: &DatabaseConnection,
    scope: &Scope,
    fingerprint: &str,
    policy: Policy,
) -> Result<Claimed, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db).await?;
        let now = now();
        let existing = match idempotency::insert_in_flight(&txn, scope, fingerprint, now, now + policy.ttl).await? {
            Some(id) => {
                txn.commit().await?;
                return Ok(Claimed::Fresh(id));
            }
            None => idempotency::find(&txn, scope).await?,
        };
        // Inserted by nobody and found by nobody: it was deleted in between.
        let Some(record) = existing else { return Err(ServiceError::lost_race()) };
        let claimed = if record.expires_at <= now {
            idempotency::delete(&txn, record.id).await?;
            match idempotency::insert_in_flight(&txn, scope, fingerprint, now, now + policy.ttl).await? {
                Some(id) => Claimed::Fresh(id),
                None => return Err(ServiceError::lost_race()),
            }
        } else if record.fingerprint != fingerprint {
            Claimed::Reused
        } else if let Some(response) = record.response {
            Claimed::Replay(response)
        } else if now - record.created_at > policy.lease
            && idempotency::take_over(&txn, record.id, record.created_at, now).await?
        {
            Claimed::Fresh(record.id)
        } else {
            Claimed::InFlight
        };
        txn.commit().await?;
        Ok(claimed)
    })
    .await
}

/// Stores the response of a request that changed nothing (a 409 refusal).
pub async fn complete(db: &DatabaseConnection, id: Uuid, response: &StoredResponse) -> Result<(), ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db).await?;
        idempotency::complete(&txn, id, response).await?;
        txn.commit().await?;
        Ok(())
    })
    .await
}

/// Forgets a claim whose request was refused before it ran, so the client
/// can fix the request and retry with the same key.
pub async fn release(db: &DatabaseConnection, id: Uuid) -> Result<(), ServiceError> {
    Ok(idempotency::release(db, id).await?)
}

/// Deletes expired records in batches; returns how many.
pub async fn delete_expired(db: &DatabaseConnection) -> Result<u64, ServiceError> {
    let mut total = 0;
    loop {
        let deleted = idempotency::delete_expired(db, now(), 500).await?;
        total += deleted;
        if deleted < 500 {
            return Ok(total);
        }
    }
}

/// Stores a write's response with its effect, when the request came with an
/// Idempotency-Key. `render` produces exactly the response the client gets.
pub struct Seal<'a, T> {
    claim: Option<Uuid>,
    render: &'a (dyn Fn(&T) -> StoredResponse + Send + Sync),
}

impl<'a, T> Seal<'a, T> {
    pub fn new(claim: Option<Uuid>, render: &'a (dyn Fn(&T) -> StoredResponse + Send + Sync)) -> Self {
        Self { claim, render }
    }

    /// Whether there is a key to store the response under.
    pub fn is_keyed(&self) -> bool {
        self.claim.is_some()
    }

    pub fn render(&self, value: &T) -> StoredResponse {
        (self.render)(value)
    }

    /// Writes the response into the claim, inside the effect's transaction.
    pub(crate) async fn store(&self, txn: &DatabaseTransaction, value: &T) -> Result<(), ServiceError> {
        if let Some(id) = self.claim
            && !idempotency::complete(txn, id, &self.render(value)).await?
        {
            // Our claim was taken over as abandoned: let the other run win.
            return Err(ServiceError::IdempotencyClaimLost);
        }
        Ok(())
    }
}
