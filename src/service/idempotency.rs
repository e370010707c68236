//! Idempotency-Key use cases: claim a key, replay what it stored, release
//! it, and store a response with (or, for refusals that changed nothing,
//! after) the request's effect.
//!
//! A claim is its own short transaction, committed before the request runs,
//! so that a second request with the key, on any instance, sees it in
//! flight. The final response is written by `Seal::store` inside the
//! transaction of the effect: a crash leaves either both or neither. A claim
//! whose request died (older than the lease) may be taken over.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::{Db, ServiceError, retrying};
use crate::store::{
    self,
    idempotency::{self, KeyScope, ResponseRow},
};

/// The response a keyed request got, stored to be replayed byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// (name, value) pairs, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl From<ResponseRow> for StoredResponse {
    fn from(row: ResponseRow) -> Self {
        Self { status: row.status, headers: row.headers, body: row.body }
    }
}

impl StoredResponse {
    /// Writes this response into `claim` if it is still ours and in flight.
    async fn save(&self, txn: &DatabaseTransaction, claim: Claim) -> Result<bool, ServiceError> {
        Ok(idempotency::complete(txn, claim.id, claim.fence, self.status, &self.headers, &self.body).await?)
    }
}

/// Where a key lives: keys are per caller (token subject), method and path.
#[derive(Clone, Debug)]
pub struct Scope {
    pub principal: String,
    pub key: String,
    pub method: String,
    pub route: String,
}

impl Scope {
    fn key(&self) -> KeyScope<'_> {
        KeyScope { principal: &self.principal, key: &self.key, method: &self.method, route: &self.route }
    }
}

/// How long keys live and when an in-flight claim counts as abandoned.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub ttl: Duration,
    pub lease: Duration,
}

/// A claim on a key: the record, and the fence it was claimed with (its
/// `created_at`). A takeover sets a new fence, so the completion of an
/// earlier holder no longer matches and its whole effect rolls back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    pub id: Uuid,
    pub fence: DateTime<Utc>,
}

/// What the key says about this request.
#[derive(Debug)]
pub enum Claimed {
    /// Ours: run the request, then store its response under this claim.
    Fresh(Claim),
    /// Done before: send this again.
    Replay(StoredResponse),
    /// The first request with this key is still running.
    InFlight,
    /// The key was used for a different request.
    Reused,
}

/// Claims the key for this request, by the database's clock: instances
/// whose own clocks run ahead still agree on when a claim was abandoned.
pub async fn claim(db: &Db, scope: &Scope, fingerprint: &str, policy: Policy) -> Result<Claimed, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let now = db.decision_clock(&txn).await?;
        let fresh = |id| Claimed::Fresh(Claim { id, fence: now });
        let existing =
            match idempotency::insert_in_flight(&txn, scope.key(), fingerprint, now, now + policy.ttl).await? {
                Some(id) => {
                    txn.commit().await?;
                    return Ok(fresh(id));
                }
                None => idempotency::find(&txn, scope.key()).await?,
            };
        // Inserted by nobody and found by nobody: it was deleted in between.
        let Some(record) = existing else { return Err(ServiceError::lost_race()) };
        let claimed = if record.expires_at <= now {
            idempotency::delete(&txn, record.id).await?;
            match idempotency::insert_in_flight(&txn, scope.key(), fingerprint, now, now + policy.ttl).await? {
                Some(id) => fresh(id),
                None => return Err(ServiceError::lost_race()),
            }
        } else if record.fingerprint != fingerprint {
            Claimed::Reused
        } else if let Some(response) = record.response {
            Claimed::Replay(response.into())
        } else if now - record.created_at > policy.lease
            && idempotency::take_over(&txn, record.id, record.created_at, now).await?
        {
            fresh(record.id)
        } else {
            Claimed::InFlight
        };
        txn.commit().await?;
        Ok(claimed)
    })
    .await
}

/// Stores the response of a request that changed nothing (a 409 refusal).
/// When the claim was taken over meanwhile, nothing of ours is stored and
/// the answer the key now holds, if any, is returned to be sent instead.
pub async fn complete(
    db: &Db,
    claim: Claim,
    response: &StoredResponse,
) -> Result<Option<StoredResponse>, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let stored = if response.save(&txn, claim).await? {
            None
        } else {
            idempotency::find_by_id(&txn, claim.id).await?.and_then(|record| record.response).map(Into::into)
        };
        txn.commit().await?;
        Ok(stored)
    })
    .await
}

/// Forgets a claim whose request was refused before it ran, so the client
/// can fix the request and retry with the same key.
pub async fn release(db: &Db, claim: Claim) -> Result<(), ServiceError> {
    Ok(idempotency::release(db.conn(), claim.id, claim.fence).await?)
}

/// Deletes expired records in batches; returns how many.
pub async fn delete_expired(db: &Db) -> Result<u64, ServiceError> {
    let mut total = 0;
    loop {
        let now = db.decision_clock(db.conn()).await?;
        let deleted = idempotency::delete_expired(db.conn(), now, 500).await?;
        total += deleted;
        if deleted < 500 {
            return Ok(total);
        }
    }
}

/// Stores a write's response with its effect, when the request came with an
/// Idempotency-Key. `render` produces exactly the response the client gets;
/// what `store` rendered is kept, so the response is serialised once.
pub struct Seal<'a, T> {
    claim: Option<Claim>,
    render: &'a (dyn Fn(&T) -> StoredResponse + Send + Sync),
    rendered: Mutex<Option<StoredResponse>>,
}

impl<'a, T> Seal<'a, T> {
    pub fn new(claim: Option<Claim>, render: &'a (dyn Fn(&T) -> StoredResponse + Send + Sync)) -> Self {
        Self { claim, render, rendered: Mutex::new(None) }
    }

    /// Whether there is a key to store the response under.
    pub fn is_keyed(&self) -> bool {
        self.claim.is_some()
    }

    /// The response for `value`: the one `store` wrote with the effect, or
    /// a fresh rendering when nothing was stored.
    pub fn into_response(self, value: &T) -> StoredResponse {
        let stored = self.rendered.into_inner().ok().flatten();
        stored.unwrap_or_else(|| (self.render)(value))
    }

    /// Writes the response into the claim, inside the effect's transaction.
    /// Called last before the commit, so what it keeps is what committed.
    pub(crate) async fn store(&self, txn: &DatabaseTransaction, value: &T) -> Result<(), ServiceError> {
        let Some(claim) = self.claim else { return Ok(()) };
        let response = (self.render)(value);
        if !response.save(txn, claim).await? {
            // Our claim was taken over as abandoned: let the other run win.
            return Err(ServiceError::IdempotencyClaimLost);
        }
        if let Ok(mut rendered) = self.rendered.lock() {
            *rendered = Some(response);
        }
        Ok(())
    }
}
