//! What every handler shares (`AppState`), and the admission gate in front
//! of `/v1` (`Admission`).

use std::sync::Arc;

use axum::http::HeaderValue;

use crate::auth::Authenticator;
use crate::service::Db;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// `BERTH_PUBLIC_URL` without a trailing slash, or "" (relative links).
    pub public_url: Arc<str>,
    /// Verifies tokens where a handler does it itself (`/metrics`).
    pub authenticator: Arc<Authenticator>,
    /// `BERTH_METRICS_TOKEN`, when set.
    pub metrics_token: Option<Arc<str>>,
    /// The gate in front of `/v1` (see `app`).
    pub admission: Admission,
    /// Where webhook endpoints may point (`BERTH_WEBHOOK_ALLOW_*`).
    pub webhook_targets: crate::domain::webhook::TargetPolicy,
}

/// Admission control: `size` slots for `/v1` requests; a request runs only
/// while it holds one.
#[derive(Clone)]
pub struct Admission {
    pub(super) slots: Arc<tokio::sync::Semaphore>,
    size: usize,
}

impl Admission {
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        Self { slots: Arc::new(tokio::sync::Semaphore::new(size)), size }
    }

    /// `/v1` requests running now; at `size`, newcomers wait.
    pub fn running(&self) -> usize {
        self.size.saturating_sub(self.slots.available_permits())
    }
}

impl AppState {
    /// A `Location` header value for `path` under the public URL.
    pub fn location(&self, path: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("{}{path}", self.public_url)).unwrap_or_else(|_| HeaderValue::from_static("/"))
    }
}
