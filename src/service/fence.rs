//! The schema fence's state (`service::schema` looks, everyone else reads).

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use crate::telemetry;

/// Whether the database is ahead of this binary, as last looked.
#[derive(Clone, Debug, Default)]
pub struct Fence(Arc<AtomicBool>);

impl Fence {
    pub fn is_closed(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(super) fn set(&self, ahead: bool) {
        self.0.store(ahead, Ordering::Relaxed);
        telemetry::schema_ahead(ahead);
    }
}
