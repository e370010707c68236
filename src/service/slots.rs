//! Slot search: one bounded read of what is booked over the whole window,
//! one sweep into a usage timeline, then `domain::slots` judges every grid
//! candidate with the predicate the write path uses. Never a query per
//! candidate.
//!
//! A group's slots are its members' merged: a time is listed when some
//! member could take `quantity` then (so a booking through the group
//! would succeed), with `available` summed over the members that could.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::{Db, ServiceError, bookings::Target, timelines, waitlist::ahead};
use crate::domain::{
    capacity,
    ids::CustomerId,
    resource::{DEFAULT_TIME_ZONE, Resource},
    rules::{self, OwnBookings},
    slots::{self, Reads, Slot},
    time_range::TimeRange,
};
use crate::store::{bookings::OwnActive, groups, resources};

/// What a slot search asks for.
#[derive(Clone, Debug)]
pub struct SlotSearch {
    /// A resource, or a group's members.
    pub target: Target,
    /// Slots starting in this window.
    pub window: TimeRange,
    pub duration_seconds: i64,
    pub quantity: i64,
    /// Whose duplicate and booking-limit rules apply; nobody's when `None`.
    pub customer: Option<CustomerId>,
}

/// The slots found, and the time zone to show them in: the resource's,
/// or a group's first member's.
pub struct Found {
    pub time_zone: Tz,
    pub slots: Vec<Slot>,
}

/// The bookable slots of `search`, in time order.
pub async fn search(db: &Db, search: &SlotSearch) -> Result<Found, ServiceError> {
    match search.target {
        Target::Resource(id) => {
            let resource = resources::find(db.conn(), id).await?.ok_or(ServiceError::NotFound)?;
            Ok(Found { time_zone: resource.time_zone, slots: search_resource(db, &resource, search).await? })
        }
        Target::Group(id) => {
            let group = groups::find(db.conn(), id).await?.ok_or(ServiceError::NotFound)?;
            let mut members = Vec::new();
            for member in &group.members {
                members.extend(resources::find(db.conn(), *member).await?);
            }
            let time_zone = members.first().map_or(DEFAULT_TIME_ZONE, |m| m.time_zone);
            // A member whose limits the search breaks (too long for it, more
            // than its capacity) offers nothing; if every member does, the
            // first one's 422 says why.
            let mut merged: BTreeMap<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>), i64> =
                BTreeMap::new();
            let mut refused = None;
            let mut searched = false;
            for member in &members {
                match search_resource(db, member, search).await {
                    Ok(slots) => {
                        searched = true;
                        for slot in slots {
                            *merged.entry((slot.range.start(), slot.range.end())).or_default() += slot.available;
                        }
                    }
                    Err(err @ ServiceError::Invalid { .. }) => {
                        refused.get_or_insert(err);
                    }
                    Err(err) => return Err(err),
                }
            }
            if let (false, Some(err)) = (searched, refused) {
                return Err(err);
            }
            if merged.len() > slots::MAX_CANDIDATES {
                return Err(too_many_slots());
            }
            let slots = merged
                .into_iter()
                .filter_map(|((start, end), available)| Some(Slot { range: TimeRange::new(start, end)?, available }))
                .collect();
            Ok(Found { time_zone, slots })
        }
    }
}

fn too_many_slots() -> ServiceError {
    ServiceError::invalid("to", format!("the window holds more than {} slots; ask for less", slots::MAX_CANDIDATES))
}

/// What a search asks of one resource: its grid starts in the window, the
/// time they book, and what that occupies (buffers included).
pub(super) struct Plan {
    pub starts: Vec<DateTime<Utc>>,
    pub booked: TimeRange,
    pub span: TimeRange,
}

/// Why `resource` cannot take bookings of `duration_seconds` and
/// `quantity` at all (too long for it, shorter than its minimum, more than
/// its capacity), as the 422 its own slot search answers.
pub(super) fn unfit(resource: &Resource, duration_seconds: i64, quantity: i64) -> Option<ServiceError> {
    if duration_seconds > resource.max_booking_duration_seconds {
        return Some(ServiceError::invalid(
            "duration_seconds",
            format!(
                "must not exceed the resource's max_booking_duration_seconds ({})",
                resource.max_booking_duration_seconds
            ),
        ));
    }
    if let Some(min) = resource.policy.min_duration_seconds.filter(|min| duration_seconds < *min) {
        return Some(ServiceError::invalid(
            "duration_seconds",
            format!("the resource's bookings last at least {min} s"),
        ));
    }
    (quantity > i64::from(resource.capacity)).then(|| {
        ServiceError::invalid("quantity", format!("must not exceed the resource's capacity ({})", resource.capacity))
    })
}

/// The plan of a search of `window` on `resource`: `None` when no grid
/// start lies in it; a 422 when the window holds too many.
pub(super) fn plan(resource: &Resource, window: &TimeRange, duration: Duration) -> Result<Option<Plan>, ServiceError> {
    let starts = slots::candidates(resource, window, duration).ok_or_else(too_many_slots)?;
    let (Some(first), Some(last)) = (starts.first(), starts.last()) else { return Ok(None) };
    let Some(booked) = TimeRange::new(*first, *last + duration) else { return Ok(None) };
    let span = rules::occupied(&booked, resource.policy.buffers());
    Ok(Some(Plan { starts, booked, span }))
}

/// The bookable slots of `plan` on `resource`, judged by the predicate of
/// the write path over what `reads` hold.
pub(super) fn judged(resource: &Resource, plan: &Plan, duration: Duration, quantity: i64, reads: &Reads) -> Vec<Slot> {
    slots::search(resource, &plan.starts, duration, quantity, reads)
        .into_iter()
        .filter_map(|(_, verdict)| verdict.ok())
        .collect()
}

/// The bookable slots of `search` on one resource.
async fn search_resource(db: &Db, resource: &Resource, search: &SlotSearch) -> Result<Vec<Slot>, ServiceError> {
    let duration = Duration::seconds(search.duration_seconds);
    if let Some(err) = unfit(resource, search.duration_seconds, search.quantity) {
        return Err(err);
    }
    let Some(plan) = plan(resource, &search.window, duration)? else { return Ok(Vec::new()) };
    let now = db.decision_clock(db.conn()).await?;
    // A new customer gets only what the queue would not (docs/design.md §24).
    let queue = ahead::waiting(db.conn(), resource, &plan.span).await?;
    let usages = ahead::with_queue(
        resource,
        timelines::blocking_timeline(db.conn(), db.timelines(), resource, &plan.span, now).await?,
        queue,
    );
    let timeline = capacity::timeline(&usages, &plan.span);
    let own = match search.customer {
        Some(customer) => {
            let own = OwnActive {
                customer,
                resource: resource.id,
                max_duration_seconds: resource.max_booking_duration_seconds,
                now,
                exclude: None,
                holds_at_read: false,
            };
            Some(own.for_rules(db.conn(), &plan.booked, None, resource.policy.max_active_bookings_per_customer).await?)
        }
        None => None,
    };
    let reads = Reads {
        now,
        own_bookings: own.as_ref().map(|(active, nearby)| OwnBookings { active: *active, nearby }),
        timeline: &timeline,
    };
    Ok(judged(resource, &plan, duration, search.quantity, &reads))
}
