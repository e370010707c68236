//! Search across resources (docs/design.md §27): "any clay court, indoors,
//! for four, on Saturday morning". The active resources whose attributes
//! equal every filter (and that hold `min_capacity`, and belong to the
//! group when one is named), each with the slots `/slots` would list for
//! it, ordered by earliest slot, then name, then id, paged after a place
//! in that order.
//!
//! What it reads, whatever the number of resources: the group's members
//! (with a group), the matching resources (one statement, filtered in SQL),
//! the clock, what the bookings of all of them take of the window (one
//! statement), the customer's own bookings on all of them (one, with a
//! customer); plus the waiting entries of each matching resource that has
//! a queue (`waitlist_active`, usually none). Then each resource's slots
//! are judged in memory by the predicate of `/slots` and `POST
//! /v1/bookings` (`slots::judged`). Ordering by earliest slot needs every
//! matching resource judged, not only a page's: a page costs what the
//! window holds of the matching resources, never a statement per resource.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::{Db, ServiceError, slots as resource_slots, waitlist::ahead};
use crate::domain::{
    attributes::AttributeFilter,
    capacity,
    ids::{CustomerId, GroupId, ResourceId},
    resource::Resource,
    rules::OwnBookings,
    slots::{Reads, Slot},
    time_range::TimeRange,
};
use crate::store::{
    bookings, groups,
    resources::{self, Wanted},
};

/// What a search across resources asks for.
#[derive(Clone, Debug)]
pub struct Search {
    /// Slots starting in this window.
    pub window: TimeRange,
    pub duration_seconds: i64,
    pub quantity: i64,
    pub min_capacity: Option<i32>,
    /// Only this group's members.
    pub group: Option<GroupId>,
    pub filters: Vec<AttributeFilter>,
    /// Whose duplicate and booking-limit rules apply; nobody's when `None`.
    pub customer: Option<CustomerId>,
    /// At most this many resources.
    pub limit: usize,
    /// Only those after this place in the order (the last of a page).
    pub after: Option<Place>,
}

/// A resource's place in the order: its earliest slot, its name, its id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub first_start: DateTime<Utc>,
    pub name: String,
    pub id: ResourceId,
}

/// A resource and its slots, in time order (at least one).
pub struct Match {
    pub resource: Resource,
    pub slots: Vec<Slot>,
}

impl Match {
    fn place(&self) -> Option<Place> {
        let first = self.slots.first()?;
        Some(Place { first_start: first.range.start(), name: self.resource.name.clone(), id: self.resource.id })
    }
}

/// One page of matches, and the place to continue after when there are more.
pub struct Page {
    pub matches: Vec<Match>,
    pub next: Option<Place>,
}

/// The page of `search`.
pub async fn slots(db: &Db, search: &Search) -> Result<Page, ServiceError> {
    let conn = db.conn();
    let members = match search.group {
        Some(id) => Some(
            groups::find(conn, id)
                .await?
                .ok_or_else(|| ServiceError::invalid("group_id", "no group with this id"))?
                .members,
        ),
        None => None,
    };
    let wanted = Wanted { filters: &search.filters, min_capacity: search.min_capacity, among: members.as_deref() };
    let duration = Duration::seconds(search.duration_seconds);
    // A resource that cannot take such bookings at all (too long for it,
    // more than its capacity) has no slots; a window with too many grid
    // times for one is the request's 422, as on `/slots`.
    let mut planned = Vec::new();
    for resource in resources::matching(conn, &wanted).await? {
        if resource_slots::unfit(&resource, search.duration_seconds, search.quantity).is_some() {
            continue;
        }
        if let Some(plan) = resource_slots::plan(&resource, &search.window, duration)? {
            planned.push((resource, plan));
        }
    }
    let (Some(start), Some(end)) = (
        planned.iter().map(|(_, plan)| plan.span.start()).min(),
        planned.iter().map(|(_, plan)| plan.span.end()).max(),
    ) else {
        return Ok(Page { matches: Vec::new(), next: None });
    };
    let Some(span) = TimeRange::new(start, end) else { return Ok(Page { matches: Vec::new(), next: None }) };
    let ids: Vec<ResourceId> = planned.iter().map(|(resource, _)| resource.id).collect();
    let longest = planned.iter().map(|(resource, _)| resource.max_booking_duration_seconds).max().unwrap_or(0);
    let now = db.decision_clock(conn).await?;
    // The queues before the bookings (`ahead`: an offer made in between
    // counts twice, never not at all).
    let mut queues = HashMap::new();
    for (resource, plan) in planned.iter().filter(|(resource, _)| resource.waitlist_active > 0) {
        queues.insert(resource.id, ahead::waiting(conn, resource, &plan.span).await?);
    }
    let mut taken = bookings::blocking_usage_of_each(conn, &ids, &span, longest, now).await?;
    let own = match search.customer {
        Some(customer) => Some(bookings::own_active_of_each(conn, customer, &ids, longest, now).await?),
        None => None,
    };
    let mut matches = Vec::new();
    for (resource, plan) in planned {
        // What its own span holds, as `/slots` reads it (the queue's first
        // fit must not see bookings beyond it).
        let mut usages = taken.remove(&resource.id).unwrap_or_default();
        usages.retain(|usage| usage.range.overlaps(&plan.span));
        let usages = ahead::with_queue(&resource, usages, queues.remove(&resource.id).unwrap_or_default());
        let timeline = capacity::timeline(&usages, &plan.span);
        // Every one of the customer's active bookings there: the count for
        // the booking limit, and the overlapping ones among them.
        let mine = own.as_ref().map(|each| each.get(&resource.id).map_or(&[][..], Vec::as_slice));
        let reads = Reads {
            now,
            own_bookings: mine.map(|nearby| OwnBookings { active: nearby.len() as i64, nearby }),
            timeline: &timeline,
        };
        let slots = resource_slots::judged(&resource, &plan, duration, search.quantity, &reads);
        if !slots.is_empty() {
            matches.push(Match { resource, slots });
        }
    }
    matches.sort_by_cached_key(Match::place);
    if let Some(after) = &search.after {
        matches.retain(|m| m.place().is_some_and(|place| place > *after));
    }
    let limit = search.limit.max(1);
    let next = (matches.len() > limit).then(|| matches[limit - 1].place()).flatten();
    matches.truncate(limit);
    Ok(Page { matches, next })
}
