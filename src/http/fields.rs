//! serde helpers for PATCH bodies (JSON merge-patch style): an absent field
//! means "leave it", `null` clears a nullable field and is a validation error
//! for a required one.

use serde::{Deserialize, Deserializer};

/// A field that may be absent but never `null`: `null` fails to deserialise.
pub fn non_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A nullable field: absent is `None`, `null` is `Some(None)`.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
