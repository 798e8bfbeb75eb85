//! Per-client limits on sign-up and login (`PDS_RATE_LIMIT_CREATE_*`), answered as the
//! reference PDS answers them: a 429 `RateLimitExceeded` with `RateLimit-*` headers. The
//! counting is `governor`'s GCRA: `limit` calls per window as a burst, refilled evenly over
//! the window, keyed by client IP (or identifier and IP).

use std::num::NonZeroU32;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::Quota;

use super::XrpcError;

type Keyed = governor::RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// Keys kept before the ones with full allowance again are dropped.
const MAX_KEYS: usize = 100_000;

pub struct RateLimiter {
    limit: u32,
    window: Duration,
    /// `None` when the limit is 0 (off).
    keyed: Option<Keyed>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> RateLimiter {
        let keyed = NonZeroU32::new(limit).and_then(|burst| {
            let quota = Quota::with_period((window / limit).max(Duration::from_nanos(1)))?.allow_burst(burst);
            Some(governor::RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>())
        });
        RateLimiter { limit, window, keyed }
    }

    /// Counts a call for `key` (none: not limited); past the limit, the 429 to answer with.
    pub fn check(&self, key: Option<String>) -> Result<(), Box<Response>> {
        let (Some(key), Some(keyed)) = (key, &self.keyed) else { return Ok(()) };
        if keyed.len() > MAX_KEYS {
            keyed.retain_recent();
        }
        let not_until = match keyed.check_key(&key) {
            Ok(_) => return Ok(()),
            Err(not_until) => not_until,
        };
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let reset = crate::auth::now_secs() + wait.as_secs().max(1);
        let mut resp = XrpcError::rate_limit_exceeded().into_response();
        let h = resp.headers_mut();
        h.insert("ratelimit-limit", self.limit.into());
        h.insert("ratelimit-remaining", 0u32.into());
        h.insert("ratelimit-reset", reset.into());
        h.insert("ratelimit-policy", format!("{};w={}", self.limit, self.window.as_secs()).parse().expect("ascii"));
        Err(Box::new(resp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_limit_then_429s_and_other_keys_are_apart() {
        let limiter = RateLimiter::new(3, Duration::from_secs(300));
        for _ in 0..3 {
            assert!(limiter.check(Some("a".into())).is_ok());
        }
        let refused = limiter.check(Some("a".into())).unwrap_err();
        assert_eq!(refused.status(), 429);
        let reset: u64 = refused.headers()["ratelimit-reset"].to_str().unwrap().parse().unwrap();
        // One call comes back after a third of the window.
        assert!((99..=101).contains(&(reset - crate::auth::now_secs())), "{reset}");
        assert!(limiter.check(Some("b".into())).is_ok());
        assert!(limiter.check(None).is_ok());
        let off = RateLimiter::new(0, Duration::from_secs(300));
        assert!((0..10).all(|_| off.check(Some("a".into())).is_ok()));
    }
}
