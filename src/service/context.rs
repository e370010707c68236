//! Who asks (`Context`: recorded in history and events) and what a write
//! expects of the row it changes (`Expected`: an `If-Match`).

use super::error::ServiceError;

/// Who asks, and the request it came with: recorded in a booking's
/// history and in every event.
#[derive(Clone, Debug)]
pub struct Context {
    pub actor: crate::domain::booking::Actor,
    pub request_id: Option<String>,
    pub reason: Option<String>,
}

/// A write's precondition on the row version (an `If-Match`), checked
/// under the row's lock: `Any` holds for whatever version is current
/// (RFC 9110 §13.1.1: `*`, or no `If-Match` where it is optional).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Expected {
    #[default]
    Any,
    /// One of these versions.
    OneOf(Vec<i64>),
}

impl Expected {
    /// `VersionMismatch` unless `version` satisfies the condition.
    pub fn check(&self, version: i64) -> Result<(), ServiceError> {
        match self {
            Expected::OneOf(versions) if !versions.contains(&version) => {
                Err(ServiceError::VersionMismatch { current_version: version })
            }
            _ => Ok(()),
        }
    }
}
