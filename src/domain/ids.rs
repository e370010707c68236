//! Typed identifiers, so a customer id can never be passed where a resource id
//! is expected. New ids are UUIDv7: time-ordered, so ordering by id is
//! creation order, which keyset pagination relies on.

use std::fmt;

use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

typed_id!(
    /// Identifies a bookable resource.
    ResourceId
);
typed_id!(
    /// Identifies a customer.
    CustomerId
);
typed_id!(
    /// Identifies a booking.
    BookingId
);
typed_id!(
    /// Identifies a group of resources (a pool).
    GroupId
);
typed_id!(
    /// Identifies a bundle: bookings made, moved and cancelled together.
    BundleId
);
typed_id!(
    /// Identifies a webhook endpoint.
    WebhookId
);
typed_id!(
    /// Identifies a waiting-list entry.
    WaitlistEntryId
);
typed_id!(
    /// Identifies a recurring series of bookings.
    SeriesId
);
