//! Deciding a request: on one resource (`Decision`: read what the rules
//! need in the caller's transaction, then ask `domain::rules`, the one
//! predicate) and on several (`lock_in_order` takes their locks in the one
//! global order, by id; `trial_order` and `pick` choose a group's member).
//! Used by single bookings (`bookings`) and bundles (`bundles`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;

use super::ServiceError;
use crate::domain::{
    capacity,
    group::{Assignment, Group, local_day},
    ids::{BookingId, CustomerId, GroupId, ResourceId},
    resource::Resource,
    rules::{self, Occupancy, OwnBookings, Refusal, Request, Situation},
    slots,
    time_range::TimeRange,
};
use crate::store::{
    bookings::{self, Overlap, OwnActive},
    groups, resources, usage,
};
use crate::telemetry;

/// What a decision about `request` on `resource` needs to know, read in
/// the caller's transaction.
pub(super) struct Decision<'a> {
    pub resource: &'a Resource,
    pub customer: CustomerId,
    pub request: Request,
    pub now: DateTime<Utc>,
    pub apply_policy: bool,
    /// A customer moving a booking: its current start (the cut-off).
    pub rescheduled_from: Option<DateTime<Utc>>,
    /// The booking being moved, which does not count against itself.
    pub exclude: Option<BookingId>,
}

impl Decision<'_> {
    /// The 422s: values wrong whatever is booked.
    pub(super) fn check_values(&self) -> Result<(), ServiceError> {
        Ok(rules::check_values(self.resource, &self.request, self.now, self.apply_policy)?)
    }

    /// `domain::rules::admit`, refused with the nearest alternatives.
    pub(super) async fn decide(&self, txn: &DatabaseTransaction) -> Result<(), ServiceError> {
        let judged = self.judge(txn).await?;
        match judged.verdict {
            Ok(_) => Ok(()),
            Err(refusal) => {
                let alternatives = self.alternatives(txn, &refusal, judged.active).await?;
                Err(ServiceError::Refused { refusal, alternatives: Some(alternatives) })
            }
        }
    }

    /// Whether the request fits by the usage summary's busiest hour of its
    /// occupied time (an upper bound of the peak, §21): one row per hour.
    /// `false` says nothing yet (a close call, full, or a summary that is
    /// not to be trusted there, §22).
    pub(super) async fn fits_by_summary(&self, txn: &DatabaseTransaction) -> Result<bool, ServiceError> {
        let window = rules::occupied(&self.request.range, self.resource.policy.buffers());
        let summary = usage::read(txn, self.resource.id, &window).await?;
        Ok(summary.trusted() && summary.busiest + self.request.quantity <= i64::from(self.resource.capacity))
    }

    /// `domain::rules::admit` over the customer's active bookings of the
    /// resource and what the others occupy.
    pub(super) async fn judge(&self, txn: &DatabaseTransaction) -> Result<Judged, ServiceError> {
        let resource = self.resource;
        let limit = resource.policy.max_active_bookings_per_customer.filter(|_| self.apply_policy);
        let window = rules::occupied(&self.request.range, resource.policy.buffers());
        // The usage summary's busiest hour bounds the peak from above
        // (§21): when even it leaves room, one row per hour decides, however
        // many bookings the window holds. Only a close call pays for
        // reading the intervals to sweep. It is read with the customer's own
        // bookings, in one statement.
        let (active, nearby, summary) =
            self.own_active().for_rules_with_summary(txn, &self.request.range, Some(1), limit, &window).await?;
        if !summary.trusted() {
            // A booking the summary may not hold is near (§22): the
            // intervals decide, and it is counted from now on.
            telemetry::usage_summary_fallback("uncounted");
            self.count_uncounted(txn, &window).await?;
        }
        let close_call = summary.busiest + self.request.quantity > i64::from(resource.capacity);
        let usages = if close_call || !summary.trusted() {
            let usages = bookings::blocking_usage(txn, &self.overlap(&window)).await?;
            let peak = capacity::peak_usage(&usages, &window);
            if summary.trusted() && peak > summary.busiest {
                // The summary says less than the bookings it holds: a row
                // changed behind berth's back. The intervals decide; the
                // audit names the hours and `berth repair-usage` mends them.
                telemetry::usage_summary_fallback("below_bookings");
                tracing::error!(
                    resource_id = %resource.id, busiest = summary.busiest, peak,
                    "the usage summary is below the bookings it holds; run `berth audit` and `berth repair-usage`"
                );
            }
            Some(usages)
        } else {
            None
        };
        let occupancy = match &usages {
            Some(usages) => Occupancy::Intervals(usages),
            None => Occupancy::AtMost(summary.busiest),
        };
        let situation = self.situation(OwnBookings { active, nearby: &nearby }, occupancy);
        Ok(Judged { verdict: rules::admit(resource, &self.request, &situation), active })
    }

    /// Adds the bookings near `window` that the usage summary may not hold
    /// (an older release's, or inserted by hand) to it, marking them
    /// counted, in the decision's transaction.
    async fn count_uncounted(&self, txn: &DatabaseTransaction, window: &TimeRange) -> Result<(), ServiceError> {
        let found = bookings::mark_counted(txn, self.resource.id, window, self.exclude).await?;
        let mut changes = usage::Changes::new();
        for booking in &found {
            changes.add(booking);
        }
        changes.write(txn).await?;
        if !found.is_empty() {
            tracing::warn!(
                resource_id = %self.resource.id, bookings = found.len(),
                "bookings the usage summary did not hold are counted now"
            );
        }
        Ok(())
    }

    /// `decide` for a request the usage summary found no room for (the
    /// §18 snapshot), where a refusal, and so its alternatives, is likely:
    /// the same rules and the same alternatives over two reads instead of
    /// four, the customer's bookings and what occupies the two weeks
    /// around the request, shared by both. What occupies them is judged as
    /// a timeline (`Occupancy::Timeline`), which agrees with the intervals
    /// on every window (the property test in `domain/slots.rs`).
    ///
    /// With `holds_at_read` (the decision clock is the database's), both
    /// reads judge holds by the database's clock as they read
    /// (`bookings::blocking_usage_at_read`, `OwnActive::holds_at_read`), not
    /// by `now`, which was read
    /// before it: otherwise a hold that ran out in between would be added
    /// to a booking committed after it ran out, a state that never was
    /// (docs/design.md §18).
    pub(super) async fn decide_likely_refusal(
        &self,
        txn: &DatabaseTransaction,
        holds_at_read: bool,
    ) -> Result<(), ServiceError> {
        let resource = self.resource;
        let limit = resource.policy.max_active_bookings_per_customer.filter(|_| self.apply_policy);
        let buffers = resource.policy.buffers();
        let window = rules::occupied(&self.request.range, buffers);
        let duration = self.request.range.end() - self.request.range.start();
        // The alternatives' starts, and what they would occupy: around the
        // request, so they take in its window too.
        let starts = slots::alternatives_window(&self.request)
            .and_then(|around| TimeRange::new(around.start(), around.end() + duration))
            .unwrap_or(self.request.range);
        let span = rules::occupied(&starts, buffers);
        let span = TimeRange::new(span.start().min(window.start()), span.end().max(window.end())).unwrap_or(window);
        // With a limit, the first `limit` of the customer's bookings (all of
        // them below it, so every one near too); without, those near: at
        // least every one overlapping the request, as the rules need.
        let own_active = OwnActive { holds_at_read, ..self.own_active() };
        let (active, own) = match limit {
            Some(limit) => own_active.for_rules(txn, &self.request.range, None, Some(limit)).await?,
            None => (0, own_active.overlapping(txn, Some(&starts), None).await?),
        };
        let usages = if holds_at_read {
            bookings::blocking_usage_at_read(txn, &self.overlap(&span)).await?
        } else {
            bookings::blocking_usage(txn, &self.overlap(&span)).await?
        };
        let timeline = capacity::timeline(&usages, &span);
        let situation = self.situation(OwnBookings { active, nearby: &own }, Occupancy::Timeline(&timeline));
        let Err(refusal) = rules::admit(resource, &self.request, &situation) else { return Ok(()) };
        let alternatives = if offers_alternatives(&refusal) {
            slots::alternatives(resource, &self.request, &situation)
        } else {
            Vec::new()
        };
        Err(ServiceError::Refused { refusal, alternatives: Some(alternatives) })
    }

    /// The nearest bookable intervals like the refused one, judged by the
    /// same predicate over one read of the two weeks around it, in the
    /// decision's transaction. `active` is the customer's count as decided.
    async fn alternatives(
        &self,
        txn: &DatabaseTransaction,
        refusal: &Refusal,
        active: i64,
    ) -> Result<Vec<TimeRange>, ServiceError> {
        if !offers_alternatives(refusal) {
            return Ok(Vec::new());
        }
        let resource = self.resource;
        let Some(window) = slots::alternatives_window(&self.request) else { return Ok(Vec::new()) };
        let duration = self.request.range.end() - self.request.range.start();
        let Some(starts) = TimeRange::new(window.start(), window.end() + duration) else { return Ok(Vec::new()) };
        let span = rules::occupied(&starts, resource.policy.buffers());
        let nearby = self.own_active().overlapping(txn, Some(&starts), None).await?;
        let usages = bookings::blocking_usage(txn, &self.overlap(&span)).await?;
        let timeline = capacity::timeline(&usages, &span);
        let situation = self.situation(OwnBookings { active, nearby: &nearby }, Occupancy::Timeline(&timeline));
        Ok(slots::alternatives(resource, &self.request, &situation))
    }

    /// What the rules read besides the resource and the request: this
    /// decision's clock and policy switch, `own` and `occupancy`.
    fn situation<'s>(&self, own: OwnBookings<'s>, occupancy: Occupancy<'s>) -> Situation<'s> {
        Situation {
            now: self.now,
            apply_policy: self.apply_policy,
            rescheduled_from: self.rescheduled_from,
            own_bookings: Some(own),
            occupancy,
        }
    }

    fn own_active(&self) -> OwnActive {
        OwnActive {
            customer: self.customer,
            resource: self.resource.id,
            max_duration_seconds: self.resource.max_booking_duration_seconds,
            now: self.now,
            exclude: self.exclude,
            holds_at_read: false,
        }
    }

    /// The other blocking bookings occupying part of `range`.
    fn overlap<'r>(&self, range: &'r TimeRange) -> Overlap<'r> {
        Overlap {
            resource: self.resource.id,
            range,
            max_duration_seconds: self.resource.max_booking_duration_seconds,
            now: self.now,
            exclude: self.exclude,
        }
    }
}

/// Whether a refusal comes with alternatives: not those that do not
/// depend on the time, which nothing near would pass either.
fn offers_alternatives(refusal: &Refusal) -> bool {
    !matches!(
        refusal,
        Refusal::ResourceInactive { .. } | Refusal::CutoffPassed { .. } | Refusal::BookingLimitReached { .. }
    )
}

/// The rules' verdict on one resource (the units that would fit), and the
/// customer's count of active bookings it was decided with.
pub(super) struct Judged {
    pub verdict: Result<i64, Refusal>,
    pub active: i64,
}

/// Finds group `id` and locks its members in the one global order
/// (`lock_in_order`); no such group is a wrong `group_id`.
pub(super) async fn lock_group(
    txn: &DatabaseTransaction,
    id: GroupId,
) -> Result<(Group, HashMap<ResourceId, Resource>), ServiceError> {
    let group =
        groups::find(txn, id).await?.ok_or_else(|| ServiceError::invalid("group_id", "no group with this id"))?;
    let locked = lock_in_order(txn, &group.members).await?;
    Ok((group, locked))
}

/// Locks `ids` in the one global order (by id), so that deciders locking
/// several resources never deadlock; a resource deleted meanwhile is left
/// out.
pub(super) async fn lock_in_order(
    txn: &DatabaseTransaction,
    ids: &[ResourceId],
) -> Result<HashMap<ResourceId, Resource>, ServiceError> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut locked = HashMap::new();
    for id in sorted {
        if let Some(resource) = resources::lock(txn, id).await? {
            locked.insert(id, resource);
        }
    }
    Ok(locked)
}

/// The group's members that are `locked`, in its trial order (for
/// `least_used`: by the units booked over the day of `range` in each
/// member's time zone).
pub(super) async fn trial_order<'r>(
    txn: &DatabaseTransaction,
    group: &Group,
    locked: &'r HashMap<ResourceId, Resource>,
    range: &TimeRange,
    now: DateTime<Utc>,
) -> Result<Vec<&'r Resource>, ServiceError> {
    let mut units = HashMap::new();
    if group.assignment == Assignment::LeastUsed {
        for resource in locked.values() {
            let Some(day) = local_day(resource.time_zone, range.start()) else { continue };
            let overlap = Overlap {
                resource: resource.id,
                range: &day,
                max_duration_seconds: resource.max_booking_duration_seconds,
                now,
                exclude: None,
            };
            units.insert(resource.id, bookings::blocking_total(txn, &overlap).await?);
        }
    }
    let order = group.trial_order(|member| units.get(&member).copied().unwrap_or(0));
    Ok(order.iter().filter_map(|member| locked.get(member)).collect())
}

/// The first of `candidates` whose decision the rules admit. When none
/// does: the first candidate's 422 if every one had wrong values, else
/// `no-resource-available`, with the nearest alternatives over all of them
/// when `offer_alternatives`.
pub(super) async fn pick<'r>(
    txn: &DatabaseTransaction,
    group_id: GroupId,
    candidates: Vec<Decision<'r>>,
    offer_alternatives: bool,
) -> Result<&'r Resource, ServiceError> {
    let mut wrong_values = None;
    let mut refused = Vec::new();
    for decision in candidates {
        if let Err(err) = decision.check_values() {
            wrong_values.get_or_insert(err);
            continue;
        }
        let judged = decision.judge(txn).await?;
        match judged.verdict {
            Ok(_) => return Ok(decision.resource),
            Err(refusal) => refused.push((decision, refusal, judged.active)),
        }
    }
    let Some((first, _, _)) = refused.first().filter(|_| offer_alternatives) else {
        let alternatives = offer_alternatives.then(Vec::new);
        let none_fits = ServiceError::NoResourceAvailable { group_id, alternatives, waitlist_length: None };
        return Err(if refused.is_empty() { wrong_values.unwrap_or(none_fits) } else { none_fits });
    };
    let requested = first.request.range.start();
    let mut alternatives = Vec::new();
    for (decision, refusal, active) in &refused {
        alternatives.extend(decision.alternatives(txn, refusal, *active).await?);
    }
    alternatives.sort_by_key(|r| ((r.start() - requested).num_seconds().abs(), r.start()));
    alternatives.dedup();
    alternatives.truncate(slots::ALTERNATIVES);
    Err(ServiceError::NoResourceAvailable { group_id, alternatives: Some(alternatives), waitlist_length: None })
}
