//! Slot search: one bounded read of what is booked over the whole window,
//! one sweep into a usage timeline, then `domain::slots` judges every grid
//! candidate with the predicate the write path uses. Never a query per
//! candidate.

use chrono::Duration;

use super::{Db, ServiceError};
use crate::domain::{
    capacity,
    ids::{CustomerId, ResourceId},
    resource::Resource,
    rules::{self, OwnBookings},
    slots::{self, Reads, Slot},
    time_range::TimeRange,
};
use crate::store::{
    bookings::{self, Overlap, OwnActive},
    resources,
};

/// What a slot search asks for.
#[derive(Clone, Debug)]
pub struct SlotSearch {
    pub resource_id: ResourceId,
    /// Slots starting in this window.
    pub window: TimeRange,
    pub duration_seconds: i64,
    pub quantity: i64,
    /// Whose duplicate and booking-limit rules apply; nobody's when `None`.
    pub customer: Option<CustomerId>,
}

/// The bookable slots of `search`, in time order, for the resource found.
pub async fn search(db: &Db, search: &SlotSearch) -> Result<(Resource, Vec<Slot>), ServiceError> {
    let resource = resources::find(db.conn(), search.resource_id).await?.ok_or(ServiceError::NotFound)?;
    let duration = Duration::seconds(search.duration_seconds);
    if search.duration_seconds > resource.max_booking_duration_seconds {
        return Err(ServiceError::invalid(
            "duration_seconds",
            format!(
                "must not exceed the resource's max_booking_duration_seconds ({})",
                resource.max_booking_duration_seconds
            ),
        ));
    }
    if let Some(min) = resource.policy.min_duration_seconds.filter(|min| search.duration_seconds < *min) {
        return Err(ServiceError::invalid(
            "duration_seconds",
            format!("the resource's bookings last at least {min} s"),
        ));
    }
    if search.quantity > i64::from(resource.capacity) {
        return Err(ServiceError::invalid(
            "quantity",
            format!("must not exceed the resource's capacity ({})", resource.capacity),
        ));
    }
    let starts = slots::candidates(&resource, &search.window, duration).ok_or_else(|| {
        ServiceError::invalid("to", format!("the window holds more than {} slots; ask for less", slots::MAX_CANDIDATES))
    })?;
    let (Some(first), Some(last)) = (starts.first(), starts.last()) else { return Ok((resource, Vec::new())) };
    let Some(booked) = TimeRange::new(*first, *last + duration) else { return Ok((resource, Vec::new())) };
    let span = rules::occupied(&booked, resource.policy.buffers());
    let now = db.decision_clock(db.conn()).await?;
    let overlap = Overlap {
        resource: resource.id,
        range: &span,
        max_duration_seconds: resource.max_booking_duration_seconds,
        now,
        exclude: None,
    };
    let usages = bookings::blocking_usage(db.conn(), &overlap).await?;
    let timeline = capacity::timeline(&usages, &span);
    let own = match search.customer {
        Some(customer) => {
            let own = OwnActive {
                customer,
                resource: resource.id,
                max_duration_seconds: resource.max_booking_duration_seconds,
                now,
                exclude: None,
            };
            Some(own.for_rules(db.conn(), &booked, None, resource.policy.max_active_bookings_per_customer).await?)
        }
        None => None,
    };
    let reads = Reads {
        now,
        own_bookings: own.as_ref().map(|(active, nearby)| OwnBookings { active: *active, nearby }),
        timeline: &timeline,
    };
    let slots = slots::search(&resource, &starts, duration, search.quantity, &reads)
        .into_iter()
        .filter_map(|(_, verdict)| verdict.ok())
        .collect();
    Ok((resource, slots))
}
