//! Checking the promise on live data, and mending the usage summary
//! (docs/design.md §23).
//!
//! `audit` reads one resource at a time in a read-only snapshot
//! (`store::audit::begin_snapshot`: it neither blocks bookings nor waits
//! for them), judges it with `domain::audit`, and stops after a page of
//! resources or a budget of bookings, whichever comes first, saying where
//! to go on. The decision clock is read after the snapshot's reads: a hold
//! judged blocking then also blocked when the snapshot was taken, so the
//! audit never combines a hold that ran out with a booking made after it.
//!
//! `repair_usage` rebuilds one resource's summary at a time, in a write
//! transaction holding the resource (`FOR UPDATE`, which every booking
//! decision on it excludes) and its held, confirmed and checked-in
//! bookings (which cancels and the sweeper lock too): safe beside traffic.

use std::collections::BTreeMap;

use super::{Db, ServiceError, retrying};
use crate::domain::{
    audit::{self, MAX_PER_KIND, Violation},
    ids::ResourceId,
    resource::Resource,
};
use crate::store::{self, StoreError, audit as reads, resources, waitlist};
use crate::telemetry;

/// What one call looks at.
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    /// Only this resource (the feed is then not checked).
    pub resource: Option<ResourceId>,
    /// Go on after this resource (a previous call's `next`).
    pub after: Option<ResourceId>,
    /// The most resources one call checks.
    pub max_resources: u64,
    /// Stop after the resource that brings the bookings read to this many.
    pub max_bookings: u64,
}

/// How much was looked at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    pub resources: u64,
    /// Bookings of the resources checked, in any status.
    pub bookings: u64,
    /// Hours of the usage summary compared.
    pub usage_hours: u64,
    /// Events of the feed whose order was checked.
    pub events: u64,
}

/// What one call found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub checked: Checked,
    pub violations: Vec<Violation>,
    /// Where the next call goes on; `None` when this one got to the end.
    pub next: Option<ResourceId>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    fn absorb(&mut self, other: Report) {
        self.checked.resources += other.checked.resources;
        self.checked.bookings += other.checked.bookings;
        self.checked.usage_hours += other.checked.usage_hours;
        self.checked.events += other.checked.events;
        self.violations.extend(other.violations);
        self.next = other.next;
    }
}

/// One bounded pass of the audit (`Scope`). A missing `scope.resource` is
/// `NotFound`.
pub async fn audit(db: &Db, scope: &Scope) -> Result<Report, ServiceError> {
    let mut report = Report::default();
    let ids: Vec<ResourceId> = match scope.resource {
        Some(id) => {
            resources::find(db.conn(), id).await?.ok_or(ServiceError::NotFound)?;
            vec![id]
        }
        None => resources::list(db.conn(), scope.after, scope.max_resources.saturating_add(1), &[])
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect(),
    };
    if scope.resource.is_none() && scope.after.is_none() {
        let (events, disorder) = reads::feed_disorder(db.conn(), MAX_PER_KIND as u64).await?;
        report.checked.events = events;
        report
            .violations
            .extend(disorder.into_iter().map(|(subject, at, before)| audit::feed_order(subject, at, before)));
    }
    let page = usize::try_from(scope.max_resources).unwrap_or(usize::MAX);
    for (index, id) in ids.iter().enumerate() {
        if index == page || report.checked.bookings >= scope.max_bookings {
            // More to do than one call may: the caller goes on from here.
            report.next = index.checked_sub(1).map(|last| ids[last]);
            break;
        }
        audit_resource(db, *id, &mut report).await?;
    }
    Ok(report)
}

/// `audit` over the whole database (or one resource), call after call.
pub async fn audit_all(db: &Db, resource: Option<ResourceId>, max_bookings: u64) -> Result<Report, ServiceError> {
    let mut scope = Scope { resource, after: None, max_resources: 200, max_bookings };
    let mut report = Report::default();
    loop {
        let pass = audit(db, &scope).await?;
        let next = pass.next;
        report.absorb(pass);
        match next {
            Some(after) => scope.after = Some(after),
            None => return Ok(report),
        }
    }
}

/// Checks one resource in a snapshot of its own.
async fn audit_resource(db: &Db, id: ResourceId, report: &mut Report) -> Result<(), ServiceError> {
    let txn = reads::begin_snapshot(db.conn()).await?;
    // The resource inside the snapshot: its capacity as of the bookings.
    let Some(resource) = resources::find(&txn, id).await? else { return Ok(()) };
    let active = reads::active_bookings(&txn, id).await?;
    let recorded = reads::recorded_usage(&txn, id).await?;
    let histories = reads::history_mismatches(&txn, id, MAX_PER_KIND as u64 + 1).await?;
    let bookings = reads::count_bookings(&txn, id).await?;
    // After the reads (see the module header).
    let now = db.decision_clock(&txn).await?;
    let entries = waitlist::of_resource_ending_after(&txn, id, now).await?;
    txn.rollback().await?;
    let expected = audit::expected_usage(&active);
    report.checked.resources += 1;
    report.checked.bookings += bookings;
    report.checked.usage_hours +=
        expected.keys().chain(recorded.keys()).collect::<std::collections::BTreeSet<_>>().len() as u64;
    report.violations.extend(judge(&resource, &active, &expected, &recorded, now));
    report.violations.extend(audit::waitlist_order(id, &entries, &active));
    report.violations.extend(audit::booked_past_queue(id, &entries, &active));
    let mut history: Vec<Violation> = histories
        .iter()
        .filter_map(|(booking, status, last)| audit::history_mismatch(id, *booking, status, last.as_deref()))
        .collect();
    if history.len() > MAX_PER_KIND {
        history.truncate(MAX_PER_KIND);
        if let Some(last) = history.last_mut() {
            last.detail.push_str(" (more like it not listed)");
        }
    }
    report.violations.extend(history);
    Ok(())
}

fn judge(
    resource: &Resource,
    active: &[crate::domain::booking::Booking],
    expected: &BTreeMap<i64, i64>,
    recorded: &BTreeMap<i64, i64>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Violation> {
    let mut found = audit::over_capacity(resource.id, i64::from(resource.capacity), active, now);
    found.extend(audit::duplicates(resource.id, active, now));
    found.extend(audit::usage_mismatches(resource.id, expected, recorded, active));
    found
}

/// What a rebuild changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Repaired {
    pub resources: u64,
    /// Hours whose units were not what the bookings take.
    pub hours_changed: u64,
}

/// Rebuilds the usage summary of `resource` (of every resource without
/// one) from its bookings, one resource per transaction.
pub async fn repair_usage(db: &Db, resource: Option<ResourceId>) -> Result<Repaired, ServiceError> {
    let mut repaired = Repaired::default();
    let mut after = None;
    loop {
        let ids: Vec<ResourceId> = match resource {
            Some(id) => vec![id],
            None => resources::list(db.conn(), after, 100, &[]).await?.into_iter().map(|r| r.id).collect(),
        };
        for id in &ids {
            repaired.hours_changed += repair_one(db, *id).await?;
            repaired.resources += 1;
        }
        match (resource, ids.last()) {
            (None, Some(last)) if ids.len() == 100 => after = Some(*last),
            _ => return Ok(repaired),
        }
    }
}

/// Whether `err` is a usage summary row's guard refusing to go below zero:
/// the summary was below the bookings, which only a hand edit does
/// (docs/design.md §22). The caller mends it (`mend_summary`) and runs its
/// write once more.
pub(crate) fn summary_below_zero(err: &ServiceError) -> bool {
    matches!(err, ServiceError::Internal(StoreError::UsageBelowZero(_)))
}

/// Rebuilds the summaries of `resources`, logged and counted.
pub(crate) async fn mend_summary(db: &Db, mut resources: Vec<ResourceId>) -> Result<(), ServiceError> {
    resources.sort_unstable();
    resources.dedup();
    tracing::error!(?resources, "the usage summary was below the bookings; rebuilding it");
    telemetry::usage_summary_fallback("below_zero");
    for resource in resources {
        repair_one(db, resource).await?;
    }
    Ok(())
}

/// Rebuilds one resource's summary; returns how many hours changed.
async fn repair_one(db: &Db, id: ResourceId) -> Result<u64, ServiceError> {
    retrying(|| async {
        let txn = store::begin_write(db.conn()).await?;
        if resources::lock(&txn, id).await?.is_none() {
            return Ok(0);
        }
        let active = reads::lock_active_bookings(&txn, id).await?;
        let before = reads::recorded_usage(&txn, id).await?;
        let expected = audit::expected_usage(&active);
        reads::replace_usage(&txn, id, &expected).await?;
        txn.commit().await?;
        let hours: std::collections::BTreeSet<&i64> = before.keys().chain(expected.keys()).collect();
        Ok(hours.into_iter().filter(|hour| before.get(hour) != expected.get(hour)).count() as u64)
    })
    .await
}
