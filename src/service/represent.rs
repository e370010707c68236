//! How events show the objects they are about (`Represent`): the HTTP
//! layer installs the API's representations on `Db`; without it, ids only.

use serde_json::{Value, json};

use crate::domain::{
    booking::Booking, group::Group, resource::Resource, series::Series, waitlist::Entry, webhook::Endpoint,
};

/// How an event shows the object it is about: the API's representation.
pub trait Represent: Send + Sync {
    fn booking(&self, booking: &Booking) -> Value;
    fn resource(&self, resource: &Resource) -> Value;
    fn group(&self, group: &Group) -> Value;
    /// Never with its secret.
    fn webhook(&self, endpoint: &Endpoint) -> Value;
    /// Without its position, which every other change to its queue moves.
    fn waitlist_entry(&self, entry: &Entry) -> Value;
    /// Without its occurrences, which have their own events.
    fn series(&self, series: &Series) -> Value;
}

/// Ids only: for a `Db` used without the HTTP layer (benchmarks).
pub struct IdsOnly;

impl Represent for IdsOnly {
    fn booking(&self, booking: &Booking) -> Value {
        json!({"id": booking.id.0})
    }
    fn resource(&self, resource: &Resource) -> Value {
        json!({"id": resource.id.0})
    }
    fn group(&self, group: &Group) -> Value {
        json!({"id": group.id.0})
    }
    fn webhook(&self, endpoint: &Endpoint) -> Value {
        json!({"id": endpoint.id.0})
    }
    fn waitlist_entry(&self, entry: &Entry) -> Value {
        json!({"id": entry.id.0})
    }
    fn series(&self, series: &Series) -> Value {
        json!({"id": series.id.0})
    }
}
