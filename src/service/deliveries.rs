//! Delivering events to webhook endpoints (docs/design.md §17), in three
//! kinds of transaction any number of instances may run at once:
//!
//! - **fan-out**: for each switched-on endpoint behind the feed (locked,
//!   `SKIP LOCKED`), one delivery row per wanted event after its feed
//!   position, and the position moved on, in one transaction;
//! - **claim**: the due deliveries that are the oldest pending one of their
//!   endpoint, locked `SKIP LOCKED`, their attempt counted and leased, so
//!   no other instance sends them until the lease ends;
//! - **settle**: the attempt's outcome, if the delivery is still at that
//!   attempt; a failure schedules the next one with backoff, and an
//!   endpoint failing for longer than the policy allows is switched off,
//!   its pending deliveries given up, and a `webhook.disabled` event
//!   written.
//!
//! The request itself is sent between claim and settle, outside any
//! transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::json;

use super::{
    Context, Db, ServiceError,
    events::{self, FeedEvent},
    retrying,
    sender::{Outcome, Request, Sender},
};
use crate::domain::{
    booking::Actor,
    event::EventType,
    ids::WebhookId,
    webhook::{DeliveryStatus, RetryPolicy, message_id, signature},
};
use crate::store::{
    self,
    outbox::{self, OutboxRow},
    webhooks::{self, NewDelivery, Settled},
};

/// How many endpoints one fan-out transaction serves.
const FAN_OUT_ENDPOINTS: u64 = 50;
/// How many events one fan-out transaction reads per endpoint.
const FAN_OUT_EVENTS: u64 = 500;
/// How many deliveries one worker pass claims.
const CLAIM_BATCH: u64 = 32;
/// How many finished deliveries one cleanup transaction deletes.
const FORGET_BATCH: u64 = 1000;

/// The body sent for an event: the feed's item, so a receiver parses a
/// webhook like a page of `GET /v1/events`.
fn body(row: &OutboxRow) -> String {
    let event = FeedEvent::from(row);
    json!({
        "position": event.position,
        "type": event.event_type,
        "subject_id": event.subject_id,
        "occurred_at": event.occurred_at,
        "data": event.data,
    })
    .to_string()
}

/// Makes the deliveries of every event numbered so far (the sequencer
/// numbers committed events every 200 ms) to every switched-on endpoint
/// that wants it; returns how many were made.
pub async fn fan_out(db: &Db) -> Result<u64, ServiceError> {
    let newest = outbox::latest_position(db.conn()).await?;
    if !webhooks::any_behind(db.conn(), newest).await? {
        return Ok(0);
    }
    let mut made = 0;
    // Bounded, so one pass cannot run forever behind a busy feed.
    for _ in 0..20 {
        let Some(count) = retrying(|| fan_out_batch(db, newest)).await? else { break };
        made += count;
    }
    Ok(made)
}

/// One fan-out transaction; `None` when no endpoint was left behind.
async fn fan_out_batch(db: &Db, newest: i64) -> Result<Option<u64>, ServiceError> {
    let txn = store::begin_write(db.conn()).await?;
    let endpoints = webhooks::lock_behind(&txn, newest, FAN_OUT_ENDPOINTS).await?;
    if endpoints.is_empty() {
        txn.rollback().await?;
        return Ok(None);
    }
    let now = db.decision_clock(&txn).await?;
    let mut made = 0;
    for endpoint in endpoints {
        let (rows, reached) =
            events::page_after(&txn, endpoint.feed_position, FAN_OUT_EVENTS, &endpoint.types, newest).await?;
        if rows.is_empty() {
            webhooks::set_feed_position(&txn, endpoint.id, reached).await?;
            continue;
        }
        made += rows.len() as u64;
        // Behind a delivery waiting for its retry, new ones wait as long.
        let due_at = webhooks::held_back_until(&txn, endpoint.id).await?.map_or(now, |until| until.max(now));
        let deliveries = rows
            .iter()
            .map(|row| NewDelivery {
                endpoint_id: endpoint.id,
                position: row.position,
                event_type: row.event_type.clone(),
                occurred_at: row.occurred_at,
                payload: body(row),
                made_at: now,
                due_at,
            })
            .collect();
        webhooks::insert_deliveries(&txn, deliveries).await?;
        webhooks::set_feed_position(&txn, endpoint.id, reached).await?;
    }
    txn.commit().await?;
    Ok(Some(made))
}

/// One attempt to send, claimed by this worker.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub delivery_id: i64,
    pub attempt: i32,
    pub endpoint_id: WebhookId,
    pub url: String,
    pub message_id: String,
    /// Unix seconds at the claim, by the decision clock: `webhook-timestamp`.
    pub timestamp: i64,
    pub signature: String,
    pub body: String,
    pub occurred_at: DateTime<Utc>,
}

/// Claims up to `limit` due deliveries, leased for `lease`.
pub async fn claim(db: &Db, limit: u64, lease: chrono::Duration) -> Result<Vec<Attempt>, ServiceError> {
    // A guess by this instance's clock; the claim decides by the database's.
    if !webhooks::any_due(db.conn(), db.approximate_now()).await? {
        return Ok(Vec::new());
    }
    let (now, claimed) = retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        let now = db.decision_clock(&txn).await?;
        let claimed = webhooks::claim_due(&txn, now, now + lease, limit).await?;
        txn.commit().await?;
        Ok((now, claimed))
    })
    .await?;
    // Read after the commit, not under the write lock: an endpoint
    // deleted in between takes its deliveries with it.
    let ids: Vec<WebhookId> = claimed.iter().map(|c| c.endpoint_id).collect();
    let endpoints = webhooks::find_many(db.conn(), &ids).await?;
    Ok(claimed
        .into_iter()
        .filter_map(|c| {
            let endpoint = endpoints.iter().find(|e| e.id == c.endpoint_id)?;
            let message_id = message_id(c.position);
            let timestamp = now.timestamp();
            let signature = signature(&endpoint.secret, &message_id, timestamp, &c.payload)?;
            Some(Attempt {
                delivery_id: c.id,
                attempt: c.attempt,
                endpoint_id: c.endpoint_id,
                url: endpoint.url.clone(),
                message_id,
                timestamp,
                signature,
                body: c.payload,
                occurred_at: c.occurred_at,
            })
        })
        .collect())
}

/// Records how `attempt` ended.
pub async fn settle(db: &Db, attempt: &Attempt, outcome: &Outcome, retry: &RetryPolicy) -> Result<(), ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        // The endpoint first, then its delivery: the order of every
        // transaction that touches both.
        let Some(mut endpoint) = webhooks::lock(&txn, attempt.endpoint_id).await? else { return Ok(()) };
        let now = db.decision_clock(&txn).await?;
        let (http_status, error) = match outcome {
            Outcome::Answered(status) => (Some(*status), None),
            Outcome::NoAnswer(why) => (None, Some(why.clone())),
        };
        let accepted = outcome.accepted();
        let retry_at = now + retry.delay(u32::try_from(attempt.attempt).unwrap_or(1), rand::rng().random());
        let settled = Settled {
            status: if accepted { DeliveryStatus::Delivered } else { DeliveryStatus::Pending },
            next_attempt_at: if accepted { now } else { retry_at },
            http_status,
            error,
            delivered_at: accepted.then_some(now),
        };
        if !webhooks::settle(&txn, attempt.delivery_id, attempt.attempt, settled).await? {
            // Given up or taken over meanwhile: nothing to record.
            return Ok(());
        }
        if !accepted {
            // The endpoint's later deliveries cannot go before this one.
            webhooks::hold_back(&txn, endpoint.id, retry_at).await?;
        }
        let seen = endpoint.version;
        let switched_off = endpoint.record_attempt(accepted, now, retry);
        if endpoint.version != seen && !webhooks::update_if_version(&txn, &endpoint, seen).await? {
            return Err(ServiceError::lost_race());
        }
        if switched_off {
            let given_up = webhooks::give_up_pending(&txn, endpoint.id).await?;
            events::webhook_changed(&txn, db, EventType::WebhookDisabled, &endpoint, now, &engine()).await?;
            tracing::warn!(webhook = %endpoint.id, given_up, "webhook endpoint failing too long; switched off");
        }
        txn.commit().await?;
        let lag = accepted.then(|| (now - attempt.occurred_at).to_std().unwrap_or_default());
        crate::telemetry::webhook_attempt(outcome.label(), lag);
        Ok(())
    })
    .await
}

/// The engine, as the actor of what it does by itself.
fn engine() -> Context {
    Context { actor: Actor::engine(), request_id: None, reason: None }
}

/// How deliveries are sent and retried.
#[derive(Clone, Debug)]
pub struct Settings {
    pub targets: crate::domain::webhook::TargetPolicy,
    pub retry: RetryPolicy,
    /// For one attempt, connecting included.
    pub timeout: Duration,
    /// How often an idle worker looks for work.
    pub poll: Duration,
    /// Attempts in flight at once, per instance.
    pub concurrency: usize,
}

impl Settings {
    /// How long a claim keeps other instances off a delivery: longer than
    /// any attempt can take, so an attempt is never sent twice at once; an
    /// instance that dies mid-attempt delays the retry by this much.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.timeout * 2 + Duration::from_secs(10)).unwrap_or(chrono::Duration::hours(1))
    }
}

/// The delivery worker of one instance: every `poll`, fans out what the
/// feed has, claims what is due (as many as it has room for) and sends
/// each claimed attempt in a task of its own, which settles it. Runs until
/// dropped; dropping it drops the attempts in flight (their leases run
/// out and another instance retries them).
pub async fn work(db: Db, settings: Settings) {
    let sender = match Sender::new(settings.targets, settings.timeout) {
        Ok(sender) => sender,
        Err(err) => {
            tracing::error!(error = %err, "cannot build the webhook client; no webhooks will be sent");
            return;
        }
    };
    let mut in_flight = tokio::task::JoinSet::new();
    // A settled attempt may have freed its endpoint's next delivery: look
    // again at once rather than at the next tick.
    let settled = std::sync::Arc::new(tokio::sync::Notify::new());
    let mut ticks = tokio::time::interval(settings.poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = settled.notified() => {}
        }
        while in_flight.try_join_next().is_some() {}
        if db.schema_ahead() {
            // A newer release owns the database now (`schema`).
            continue;
        }
        if let Err(err) = fan_out(&db).await {
            tracing::warn!(error = %err, "webhook fan-out failed; will retry");
        }
        let room = settings.concurrency.saturating_sub(in_flight.len()) as u64;
        if room == 0 {
            continue;
        }
        let attempts = match claim(&db, room.min(CLAIM_BATCH), settings.lease()).await {
            Ok(attempts) => attempts,
            Err(err) => {
                tracing::warn!(error = %err, "claiming webhook deliveries failed; will retry");
                continue;
            }
        };
        for attempt in attempts {
            let (db, sender, retry, settled) = (db.clone(), sender.clone(), settings.retry, settled.clone());
            in_flight.spawn(async move {
                let outcome = sender
                    .send(Request {
                        url: &attempt.url,
                        message_id: &attempt.message_id,
                        timestamp: attempt.timestamp,
                        signature: &attempt.signature,
                        body: &attempt.body,
                    })
                    .await;
                if let Err(err) = settle(&db, &attempt, &outcome, &retry).await {
                    tracing::warn!(error = %err, delivery = attempt.delivery_id, "recording a webhook attempt failed; it will be retried after its lease");
                }
                settled.notify_one();
            });
        }
    }
}

/// Deletes finished deliveries older than `retention`, in batches;
/// returns how many.
pub async fn forget_old(db: &Db, retention: chrono::Duration) -> Result<u64, ServiceError> {
    super::forget_in_batches(db, retention, FORGET_BATCH, async |txn, before, batch| {
        webhooks::forget_deliveries(txn, before, batch).await
    })
    .await
}
