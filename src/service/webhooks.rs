//! Webhook endpoints as admins manage them (docs/design.md §17): register
//! (the target checked by the SSRF guard, a fresh signing secret, events
//! from now on), read, list, change (`If-Match`), delete, and the delivery
//! log. Sending is `service::deliveries`.

use rand::Rng;

use super::{Db, Expected, ServiceError, events, idempotency::Seal, now, retrying};
use crate::domain::{
    ids::WebhookId,
    webhook::{Delivery, DeliveryStatus, Endpoint, EndpointChanges, NewEndpoint, TargetPolicy, secret_from},
};
use crate::store::{self, webhooks};

/// The URL as parsed (what is stored and sent to), or 422 at `url` unless
/// `policy` lets berth send there.
fn check_target(policy: &TargetPolicy, url: &str) -> Result<String, ServiceError> {
    match policy.check(url) {
        Ok(parsed) if parsed.as_str().len() <= 2048 => Ok(parsed.into()),
        Ok(_) => Err(ServiceError::invalid("url", "is longer than 2048 characters once percent-encoded")),
        Err(refused) => Err(ServiceError::invalid("url", refused.to_string())),
    }
}

/// Registers an endpoint. It receives the events that happen after it
/// was registered.
pub async fn create(
    db: &Db,
    policy: &TargetPolicy,
    new: NewEndpoint,
    seal: &Seal<'_, Endpoint>,
) -> Result<Endpoint, ServiceError> {
    let new = NewEndpoint { url: check_target(policy, &new.url)?, ..new };
    let id = WebhookId::generate();
    let secret = secret_from(rand::rng().random());
    // Every event committed before now is at or below this position.
    let newest = events::latest_position(db).await?;
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let endpoint = new.clone().into_endpoint(id, secret.clone(), now(), newest);
        webhooks::insert(&txn, &endpoint).await?;
        seal.store(&txn, endpoint.created_at, &endpoint).await?;
        txn.commit().await?;
        Ok(endpoint)
    })
    .await
}

pub async fn get(db: &Db, id: WebhookId) -> Result<Endpoint, ServiceError> {
    webhooks::find(db.conn(), id).await?.ok_or(ServiceError::NotFound)
}

/// `limit` endpoints after `after`, in creation order.
pub async fn list(db: &Db, after: Option<WebhookId>, limit: u64) -> Result<Vec<Endpoint>, ServiceError> {
    Ok(webhooks::list(db.conn(), after, limit).await?)
}

/// Applies `changes` if the endpoint's version, under its lock, is one
/// `expected` allows. Switched off, its pending deliveries are given up;
/// switched on, it receives the events from now on.
pub async fn update(
    db: &Db,
    policy: &TargetPolicy,
    id: WebhookId,
    expected: &Expected,
    mut changes: EndpointChanges,
) -> Result<Endpoint, ServiceError> {
    if let Some(url) = &changes.url {
        changes.url = Some(check_target(policy, url)?);
    }
    let newest = events::latest_position(db).await?;
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let mut endpoint = webhooks::lock(&txn, id).await?.ok_or(ServiceError::NotFound)?;
        expected.check(endpoint.version)?;
        let locked_version = endpoint.version;
        let was_enabled = endpoint.enabled;
        endpoint.apply(changes.clone(), db.decision_clock(&txn).await?, newest);
        if !webhooks::update_if_version(&txn, &endpoint, locked_version).await? {
            return Err(ServiceError::VersionMismatch { current_version: locked_version });
        }
        if was_enabled && !endpoint.enabled {
            webhooks::give_up_pending(&txn, id).await?;
        }
        txn.commit().await?;
        Ok(endpoint)
    })
    .await
}

/// Deletes the endpoint and its delivery log if its version, under its
/// lock, is one `expected` allows.
pub async fn delete(db: &Db, id: WebhookId, expected: &Expected) -> Result<(), ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let endpoint = webhooks::lock(&txn, id).await?.ok_or(ServiceError::NotFound)?;
        expected.check(endpoint.version)?;
        if !webhooks::delete_if_version(&txn, id, endpoint.version).await? {
            return Err(ServiceError::VersionMismatch { current_version: endpoint.version });
        }
        txn.commit().await?;
        Ok(())
    })
    .await
}

/// A page of the endpoint's delivery log, newest first.
pub async fn deliveries(
    db: &Db,
    id: WebhookId,
    before: Option<i64>,
    status: Option<DeliveryStatus>,
    limit: u64,
) -> Result<Vec<Delivery>, ServiceError> {
    if webhooks::find(db.conn(), id).await?.is_none() {
        return Err(ServiceError::NotFound);
    }
    Ok(webhooks::deliveries(db.conn(), id, before, status, limit).await?)
}
