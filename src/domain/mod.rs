//! Pure domain types and rules: no axum, sea-orm or utoipa in here.

pub mod attributes;
pub mod audit;
pub mod booking;
pub mod capacity;
pub mod customer;
pub mod event;
pub mod field;
pub mod group;
pub mod ids;
pub mod policy;
pub mod recurrence;
pub mod resource;
pub mod rules;
pub mod schedule;
pub mod series;
pub mod slots;
pub mod time_range;
pub mod waitlist;
pub mod webhook;

/// Folds a name or e-mail address to the key under which it must be unique
/// (case-insensitive, Unicode-aware, surrounding whitespace ignored).
pub fn uniqueness_key(value: &str) -> String {
    value.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::uniqueness_key;

    #[test]
    fn uniqueness_key_folds_case_and_trims() {
        assert_eq!(uniqueness_key("  Court A "), "court a");
        assert_eq!(uniqueness_key("SALLE ÉTÉ"), "salle été");
        assert_ne!(uniqueness_key("Court A"), uniqueness_key("Court B"));
    }
}
