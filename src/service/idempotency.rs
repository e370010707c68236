//! Idempotency-Key use cases: look a key up before a request runs, and
//! record the response a keyed request got, with its effect, in one
//! transaction and one commit.
//!
//! No claim is written before the request runs. Two requests with one key
//! may both run; the first to commit its record wins, and the other finds
//! the key taken when it records, inside its own transaction: its effect
//! rolls back and it answers with what the key holds (docs/design.md §6).
//! A crash leaves the effect and its record both committed or both not.
//! Records `in_flight` are no longer written; one left by an earlier
//! version is honoured (409 while younger than the lease, taken over after).

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, sea_query::InsertStatement};

use super::{Db, ServiceError, retrying};
use crate::store::{
    self,
    idempotency::{self, KeyScope, Record, ResponseRow},
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

impl From<&StoredResponse> for ResponseRow {
    fn from(response: &StoredResponse) -> Self {
        Self { status: response.status, headers: response.headers.clone(), body: response.body.clone() }
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

/// How long keys live and when an in-flight record counts as abandoned.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub ttl: Duration,
    pub lease: Duration,
}

/// A keyed request: where its key lives, what the request was, the policy.
#[derive(Clone, Debug)]
pub struct Key {
    pub scope: Scope,
    pub fingerprint: String,
    pub policy: Policy,
    /// Whether the key was looked up before the request ran. A use case
    /// that may prove the look-up needless (the one-round-trip booking,
    /// docs/design.md §30) is given it not looked up, and looks it up
    /// itself before it decides any other way (`Seal::look_up`).
    pub looked_up: bool,
}

/// What a key says about a request.
#[derive(Debug)]
pub enum Found {
    /// Nothing that counts: run the request.
    Nothing,
    /// Done before: send this again.
    Replay(StoredResponse),
    /// A request with this key is still running (an in-flight record).
    InFlight,
    /// The key was used for a different request.
    Reused,
}

/// What `record` did.
#[derive(Debug)]
enum Recorded {
    Stored,
    /// The key holds something else: this request's effect must not stand.
    Taken(Found),
}

/// How a record found at `now` answers a request with `fingerprint`.
fn judge(record: &Record, key: &Key, now: DateTime<Utc>) -> Found {
    if record.expires_at <= now {
        Found::Nothing
    } else if record.fingerprint != key.fingerprint {
        Found::Reused
    } else if let Some(response) = &record.response {
        Found::Replay(response.clone().into())
    } else if now - record.created_at > key.policy.lease {
        Found::Nothing
    } else {
        Found::InFlight
    }
}

/// Looks the key up before the request runs, without a transaction: a
/// replay, a reuse or a request in flight is answered without running.
/// The clock here is the instance's: a wrong guess either way is caught
/// by `record`, which judges again by the decision clock, in the write.
pub async fn look_up(db: &Db, key: &Key) -> Result<Found, ServiceError> {
    let record = idempotency::find(db.conn(), key.scope.key()).await?;
    Ok(record.map_or(Found::Nothing, |record| judge(&record, key, db.approximate_now())))
}

/// Records `response` under the key, in `txn` (the request's effect is in
/// it too). `Taken` when the key holds another answer by now: a request
/// with the same key committed first, or a different request used it.
async fn record(
    txn: &impl ConnectionTrait,
    key: &Key,
    now: DateTime<Utc>,
    response: &StoredResponse,
) -> Result<Recorded, ServiceError> {
    let row = ResponseRow::from(response);
    if idempotency::insert_completed(txn, key.scope.key(), &key.fingerprint, now, now + key.policy.ttl, &row).await? {
        return Ok(Recorded::Stored);
    }
    resolve(txn, key, now, &row).await
}

/// After the insert of the key's record wrote nothing: the key is present
/// (or was deleted in between: then a retry finds the way free). Judged by
/// `now`; an expired or abandoned record is replaced by `row`.
async fn resolve(
    txn: &impl ConnectionTrait,
    key: &Key,
    now: DateTime<Utc>,
    row: &ResponseRow,
) -> Result<Recorded, ServiceError> {
    let expires_at = now + key.policy.ttl;
    let record = idempotency::find(txn, key.scope.key()).await?.ok_or_else(ServiceError::lost_race)?;
    match judge(&record, key, now) {
        Found::Nothing => {
            // Expired, or an in-flight record older than the lease: ours
            // replaces it, if it is still what we saw.
            if idempotency::replace(txn, record.id, record.created_at, &key.fingerprint, now, expires_at, row).await? {
                Ok(Recorded::Stored)
            } else {
                Err(ServiceError::lost_race())
            }
        }
        found => Ok(Recorded::Taken(found)),
    }
}

/// Records the response of a request that changed nothing (a 409 refusal)
/// in a transaction of its own. `Found` other than `Nothing` when the key
/// holds another answer by now, to be sent instead.
pub async fn record_refusal(db: &Db, key: &Key, response: &StoredResponse) -> Result<Found, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let now = db.decision_clock(&txn).await?;
        let recorded = record(&txn, key, now, response).await?;
        txn.commit().await?;
        Ok(match recorded {
            Recorded::Stored => Found::Nothing,
            Recorded::Taken(found) => found,
        })
    })
    .await
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
    key: Option<&'a Key>,
    render: &'a (dyn Fn(&T) -> StoredResponse + Send + Sync),
    rendered: Mutex<Option<StoredResponse>>,
    taken: Mutex<Option<Found>>,
}

impl<'a, T> Seal<'a, T> {
    pub fn new(key: Option<&'a Key>, render: &'a (dyn Fn(&T) -> StoredResponse + Send + Sync)) -> Self {
        Self { key, render, rendered: Mutex::new(None), taken: Mutex::new(None) }
    }

    /// Whether there is a key to store the response under.
    pub fn is_keyed(&self) -> bool {
        self.key.is_some()
    }

    /// The response for `value`: the one `store` wrote with the effect, or
    /// a fresh rendering when nothing was stored.
    pub fn into_response(self, value: &T) -> StoredResponse {
        let stored = self.rendered.into_inner().ok().flatten();
        stored.unwrap_or_else(|| (self.render)(value))
    }

    /// After `ServiceError::IdempotencyKeyTaken`: what the key holds, to
    /// answer with instead.
    pub fn taken(self) -> Option<Found> {
        self.taken.into_inner().ok().flatten()
    }

    /// Looks the key up, when that was left to the use case: anything but
    /// `Found::Nothing` ends the request with what the key holds
    /// (`IdempotencyKeyTaken`, `taken`), as the look-up before it would have.
    pub(crate) async fn look_up(&self, db: &Db) -> Result<(), ServiceError> {
        let Some(key) = self.key.filter(|key| !key.looked_up) else { return Ok(()) };
        match look_up(db, key).await? {
            Found::Nothing => Ok(()),
            found => {
                if let Ok(mut taken) = self.taken.lock() {
                    *taken = Some(found);
                }
                Err(ServiceError::IdempotencyKeyTaken)
            }
        }
    }

    /// The insert of the key's record with `value`'s response, to run as
    /// the last of the effect's own inserts (one round trip on
    /// PostgreSQL); then `settle` with whether it wrote its row. `None`
    /// without a key.
    pub(crate) fn record_insert(&self, now: DateTime<Utc>, value: &T) -> Option<InsertStatement> {
        let key = self.key?;
        let response = (self.render)(value);
        let row = ResponseRow::from(&response);
        let insert =
            idempotency::insert_completed_statement(key.scope.key(), &key.fingerprint, now, now + key.policy.ttl, &row);
        if let Ok(mut rendered) = self.rendered.lock() {
            *rendered = Some(response);
        }
        Some(insert)
    }

    /// After `record_insert`'s statement ran: when it wrote nothing (the
    /// key is present), what `store` does when its insert conflicts,
    /// without inserting again.
    pub(crate) async fn settle(
        &self,
        txn: &DatabaseTransaction,
        now: DateTime<Utc>,
        wrote: bool,
    ) -> Result<(), ServiceError> {
        let (Some(key), false) = (self.key, wrote) else { return Ok(()) };
        let Some(response) = self.rendered.lock().ok().and_then(|rendered| rendered.clone()) else {
            return Err(ServiceError::lost_race());
        };
        self.keep(resolve(txn, key, now, &ResponseRow::from(&response)).await?, response)
    }

    /// Writes the response under the key, inside the effect's transaction,
    /// at `now`. Called last before the commit, so what it keeps is what
    /// committed. When the key holds another answer by now, the effect
    /// must roll back: `IdempotencyKeyTaken`, and `taken` says what it holds.
    pub(crate) async fn store(
        &self,
        txn: &DatabaseTransaction,
        now: DateTime<Utc>,
        value: &T,
    ) -> Result<(), ServiceError> {
        let Some(key) = self.key else { return Ok(()) };
        let response = (self.render)(value);
        self.keep(record(txn, key, now, &response).await?, response)
    }

    /// Keeps what was stored, or what the key holds instead.
    fn keep(&self, recorded: Recorded, response: StoredResponse) -> Result<(), ServiceError> {
        match recorded {
            Recorded::Stored => {
                if let Ok(mut rendered) = self.rendered.lock() {
                    *rendered = Some(response);
                }
                Ok(())
            }
            Recorded::Taken(found) => {
                if let Ok(mut taken) = self.taken.lock() {
                    *taken = Some(found);
                }
                Err(ServiceError::IdempotencyKeyTaken)
            }
        }
    }
}
