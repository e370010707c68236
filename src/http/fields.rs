//! Field helpers shared by the request bodies: serde helpers for PATCH
//! bodies (JSON merge-patch style: an absent field means "leave it", `null`
//! clears a nullable field and is a validation error for a required one),
//! and the validators for free text.

use serde::{Deserialize, Deserializer};
use validator::ValidationError;

/// Names: not only whitespace, and no NUL character.
pub fn not_blank(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::new("blank").with_message("must not be blank".into()));
    }
    no_nul(value)
}

/// Free text: anything but the NUL character, which PostgreSQL cannot store
/// in text (it was a 500 there and accepted on SQLite).
pub fn no_nul(value: &str) -> Result<(), ValidationError> {
    if value.contains('\0') {
        Err(ValidationError::new("nul").with_message("must not contain the NUL character (U+0000)".into()))
    } else {
        Ok(())
    }
}

/// A field that may be absent but never `null`: `null` fails to deserialise.
pub fn non_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A nullable field: absent is `None`, `null` is `Some(None)`.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// An e-mail address whose uniqueness key (lower-cased: `İ` becomes two
/// characters) still fits the 254 characters it is kept in; a longer one
/// was a 500 on PostgreSQL.
pub fn key_fits(email: &str) -> Result<(), ValidationError> {
    if crate::domain::uniqueness_key(email).chars().count() > 254 {
        Err(ValidationError::new("length").with_message("must be at most 254 characters once lower-cased".into()))
    } else {
        Ok(())
    }
}
