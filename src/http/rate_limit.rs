//! Per-caller rate limiting of `/v1`, and the IETF RateLimit headers that
//! tell a client its budget (draft-ietf-httpapi-ratelimit-headers).
//!
//! One policy, `"caller"`: a bucket of `burst` requests per caller (the
//! token subject, else the client IP) that refills continuously at
//! `per_second` requests a second (GCRA, the `governor` crate). Every
//! response that went through the limiter says so:
//!
//! - `RateLimit-Policy: "caller";q=<burst>;w=<seconds to refill it all>`
//! - `RateLimit: "caller";r=<requests left now>;t=<seconds until all are back>`
//!
//! and a refusal is 429 `rate-limited` with `Retry-After` (seconds until the
//! next request passes) and `r=0`. A request refused earlier, by
//! authentication, was not counted and carries neither header.

use std::{net::SocketAddr, num::NonZeroU32, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{ConnectInfo, Request, State},
    http::{HeaderName, HeaderValue},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
};

use super::problem::{Problem, ProblemType};
use crate::auth::Principal;

pub const RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");
pub const RATE_LIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

type Buckets = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The limiter and what it tells clients about itself.
struct Limiter {
    buckets: Buckets,
    burst: u32,
    period: Duration,
    policy: HeaderValue,
}

impl Limiter {
    /// Seconds until a caller with `remaining` requests left has all of
    /// `burst` back.
    fn seconds_to_full(&self, remaining: u32) -> u64 {
        let missing = self.burst.saturating_sub(remaining);
        self.period.saturating_mul(missing).as_secs_f64().ceil() as u64
    }

    fn state(&self, remaining: u32) -> HeaderValue {
        let value = format!("\"caller\";r={remaining};t={}", self.seconds_to_full(remaining));
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("\"caller\";r=0"))
    }
}

/// Puts the rate limit around every route of `router`: `per_second`
/// requests replenished per second and `burst` at once, per caller. A
/// `per_second` of 0 turns it off.
pub fn with_rate_limit<S: Clone + Send + Sync + 'static>(router: Router<S>, per_second: u64, burst: u32) -> Router<S> {
    let Some(limiter) = limiter(per_second, burst) else {
        if per_second != 0 {
            tracing::warn!("invalid rate limit settings; rate limiting is off");
        }
        return router;
    };
    let limiter = Arc::new(limiter);
    let forgetful = limiter.clone();
    // Forget callers that have been quiet for a while, so the map stays small.
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            forgetful.buckets.retain_recent();
        }
    });
    router.route_layer(middleware::from_fn_with_state(limiter, limit))
}

fn limiter(per_second: u64, burst: u32) -> Option<Limiter> {
    let period = Duration::from_nanos(1_000_000_000u64.checked_div(per_second)?);
    let burst = NonZeroU32::new(burst.max(1))?;
    let quota = Quota::with_period(period)?.allow_burst(burst);
    let window = period.saturating_mul(burst.get()).as_secs_f64().ceil().max(1.0) as u64;
    let policy = HeaderValue::from_str(&format!("\"caller\";q={burst};w={window}")).ok()?;
    Some(Limiter {
        buckets: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
        burst: burst.get(),
        period,
        policy,
    })
}

async fn limit(State(limiter): State<Arc<Limiter>>, request: Request, next: Next) -> Response {
    let (mut response, state) = match limiter.buckets.check_key(&caller(&request)) {
        Ok(snapshot) => {
            let state = limiter.state(snapshot.remaining_burst_capacity());
            (next.run(request).await, state)
        }
        Err(not_until) => {
            let wait = not_until.wait_time_from(limiter.buckets.clock().now()).as_secs_f64().ceil() as u64;
            let problem = Problem::new(ProblemType::RateLimited, "Too many requests from this caller; slow down.")
                .with_retry_after(wait.max(1));
            (problem.into_response(), limiter.state(0))
        }
    };
    response.headers_mut().insert(RATE_LIMIT_POLICY, limiter.policy.clone());
    response.headers_mut().insert(RATE_LIMIT, state);
    response
}

/// Whose budget a request spends: the token subject, else the client IP.
fn caller(request: &Request) -> String {
    let principal = request.extensions().get::<Principal>().and_then(Principal::subject);
    principal.unwrap_or_else(|| {
        let ip = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        ip.map_or_else(|| "unknown".to_owned(), |ip| format!("ip:{ip}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_burst_and_the_time_to_refill_it() {
        let default = limiter(100, 200).unwrap();
        assert_eq!(default.policy, "\"caller\";q=200;w=2");
        assert_eq!(default.state(200), "\"caller\";r=200;t=0");
        assert_eq!(default.state(150), "\"caller\";r=150;t=1");
        assert_eq!(default.state(0), "\"caller\";r=0;t=2");
        let slow = limiter(1, 3).unwrap();
        assert_eq!(slow.policy, "\"caller\";q=3;w=3");
        assert_eq!(slow.state(1), "\"caller\";r=1;t=2");
        assert!(limiter(0, 10).is_none());
    }
}
