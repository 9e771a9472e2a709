//! Request-rate limits per identity and per identity pool, answered with 429
//! `TooManyRequestsException` (which every SDK retries with backoff). Off unless configured.
//! Checked only after a request is authenticated, so nobody can spend another identity's
//! allowance with unsigned requests.

use std::sync::atomic::{AtomicU64, Ordering};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::{ApiError, ErrorCode};
use crate::config::{Rate, ThrottleSettings};

/// Every this many checks, keys whose bucket is full again are forgotten, so the key maps
/// stay as small as the set of recently active callers.
const PRUNE_EVERY: u64 = 4096;

struct Limiter {
    rate: Rate,
    buckets: DefaultKeyedRateLimiter<String>,
}

impl Limiter {
    fn new(rate: Rate) -> Self {
        let quota = Quota::per_second(rate.per_second).allow_burst(rate.burst);
        Limiter {
            rate,
            buckets: RateLimiter::keyed(quota),
        }
    }

    fn admit(&self, key: &str, what: &str) -> Result<(), ApiError> {
        self.buckets.check_key(&key.to_owned()).map_err(|_| {
            ApiError::new(
                ErrorCode::TooManyRequests,
                format!(
                    "Rate exceeded: {what} {key} is limited to {} requests per second",
                    self.rate.per_second
                ),
            )
        })
    }

    fn prune(&self) {
        self.buckets.retain_recent();
        self.buckets.shrink_to_fit();
    }
}

/// The configured limits and their buckets.
pub struct Throttle {
    identity: Option<Limiter>,
    pool: Option<Limiter>,
    checks: AtomicU64,
}

impl Throttle {
    pub fn new(settings: &ThrottleSettings) -> Self {
        Throttle {
            identity: settings.per_identity.map(Limiter::new),
            pool: settings.per_pool.map(Limiter::new),
            checks: AtomicU64::new(0),
        }
    }

    /// Whether any limit is configured (callers skip extracting keys otherwise).
    pub fn is_enabled(&self) -> bool {
        self.identity.is_some() || self.pool.is_some()
    }

    /// Counts one request against the identity's and the pool's buckets; refuses with
    /// TooManyRequestsException when either is empty. Empty keys are not limited.
    pub fn admit(&self, pool_id: Option<&str>, identity_id: Option<&str>) -> Result<(), ApiError> {
        if !self.is_enabled() {
            return Ok(());
        }
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.identity
                .iter()
                .chain(self.pool.iter())
                .for_each(Limiter::prune);
        }
        if let (Some(limit), Some(id)) = (&self.identity, identity_id.filter(|s| !s.is_empty())) {
            limit.admit(id, "identity")?;
        }
        if let (Some(limit), Some(pool)) = (&self.pool, pool_id.filter(|s| !s.is_empty())) {
            limit.admit(pool, "identity pool")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn rate(per_second: u32, burst: u32) -> Option<Rate> {
        Some(Rate {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        })
    }

    #[test]
    fn off_by_default_admits_everything() {
        let t = Throttle::new(&ThrottleSettings::default());
        assert!(!t.is_enabled());
        for _ in 0..10_000 {
            assert!(t.admit(Some("p"), Some("i")).is_ok());
        }
    }

    #[test]
    fn identities_have_separate_buckets_and_the_pool_one_shared() {
        let t = Throttle::new(&ThrottleSettings {
            per_identity: rate(1, 2),
            per_pool: rate(1, 3),
        });
        assert!(t.admit(Some("p"), Some("a")).is_ok());
        assert!(t.admit(Some("p"), Some("a")).is_ok());
        let e = t.admit(Some("p"), Some("a")).unwrap_err();
        assert_eq!(e.code, ErrorCode::TooManyRequests);
        assert!(e.message.contains("identity a"), "{}", e.message);
        // Another identity has its own allowance, but the pool's third token is the last.
        assert!(t.admit(Some("p"), Some("b")).is_ok());
        let e = t.admit(Some("p"), Some("b")).unwrap_err();
        assert!(e.message.contains("identity pool p"), "{}", e.message);
        // Another pool is untouched.
        assert!(t.admit(Some("q"), Some("c")).is_ok());
    }
}
