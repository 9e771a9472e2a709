//! Request-rate limits, answered with 429 `TooManyRequestsException` (which every SDK retries
//! with backoff). A request is charged to what it proved it is, never to what it merely names:
//!
//! - signed with identity credentials: to that identity and its pool (from the credentials,
//!   not the path), after authentication and before the access check, so a caller that aims
//!   at another identity's paths spends its own allowance;
//! - signed with developer credentials: to the pool it names (the developer may act on any);
//! - unsigned Cognito Identity calls, and requests that fail authentication: to the address
//!   they come from ([`client_addr`](super::client_addr)), never to the pool or identity they
//!   name;
//! - failed authentications also count toward a lock-out of their address: a flood of bad
//!   signatures is answered 429 before any more of them are verified.
//!
//! Identity and pool limits are off unless configured; the address limits are on by default.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::{ApiError, ErrorCode};
use crate::auth::Principal;
use crate::lockout::Lockout;
use crate::rate::Rate;

/// Request-rate limits; `None` means unlimited (see the module's head for who is charged).
#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    /// Requests per second one identity may make with its credentials.
    pub per_identity: Option<Rate>,
    /// Requests per second all callers together may make against one identity pool.
    pub per_pool: Option<Rate>,
    /// Unsigned Cognito Identity calls and failed authentications per second from one address.
    pub per_address: Option<Rate>,
    /// Failed authentications one address may make before it is locked out for a while.
    pub auth_failures: Option<Rate>,
    /// Proxies whose `X-Forwarded-For` names the client's address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Default of `--address-rate-limit`: generous for many devices behind one NAT, a bound for
/// one flooding client.
pub const DEFAULT_ADDRESS_RATE: Rate = crate::rate::rate(100, 200);
/// Default of `--auth-failure-limit`.
pub const DEFAULT_AUTH_FAILURES: Rate = crate::rate::rate(5, 20);

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            per_identity: None,
            per_pool: None,
            per_address: Some(DEFAULT_ADDRESS_RATE),
            auth_failures: Some(DEFAULT_AUTH_FAILURES),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Every this many checks, keys whose bucket is full again are forgotten, so the key maps
/// stay as small as the set of recently active callers.
const PRUNE_EVERY: u64 = 4096;

struct Limiter<K: std::hash::Hash + Eq + Clone> {
    rate: Rate,
    buckets: DefaultKeyedRateLimiter<K>,
}

impl<K: std::hash::Hash + Eq + Clone + std::fmt::Display> Limiter<K> {
    fn new(rate: Rate) -> Self {
        let quota = Quota::per_second(rate.per_second).allow_burst(rate.burst);
        Limiter {
            rate,
            buckets: RateLimiter::keyed(quota),
        }
    }

    fn admit(&self, key: &K, what: &str) -> Result<(), ApiError> {
        self.buckets.check_key(key).map_err(|_| {
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
    identity: Option<Limiter<String>>,
    pool: Option<Limiter<String>>,
    address: Option<Limiter<IpAddr>>,
    failures: Option<Lockout<IpAddr>>,
    checks: AtomicU64,
}

fn too_many(message: String) -> ApiError {
    ApiError::new(ErrorCode::TooManyRequests, message)
}

impl Throttle {
    pub fn new(settings: &ThrottleSettings) -> Self {
        Throttle {
            identity: settings.per_identity.map(Limiter::new),
            pool: settings.per_pool.map(Limiter::new),
            address: settings.per_address.map(Limiter::new),
            failures: settings.auth_failures.map(Lockout::new),
            checks: AtomicU64::new(0),
        }
    }

    fn tick(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.identity
                .iter()
                .chain(self.pool.iter())
                .for_each(Limiter::prune);
            if let Some(a) = &self.address {
                a.prune();
            }
        }
    }

    /// Whether a pool limit is configured (callers skip finding the pool otherwise).
    pub fn limits_pools(&self) -> bool {
        self.pool.is_some()
    }

    /// Charges an authenticated request to what it proved: identity credentials to their
    /// identity and pool; developer credentials to `named_pool`, the pool the request names.
    pub fn admit(&self, principal: &Principal, named_pool: Option<&str>) -> Result<(), ApiError> {
        if self.identity.is_none() && self.pool.is_none() {
            return Ok(());
        }
        self.tick();
        let (identity, pool) = match principal {
            Principal::Identity {
                pool_id,
                identity_id,
                ..
            } => (Some(identity_id.as_str()), Some(pool_id.as_str())),
            Principal::Developer { .. } => (None, named_pool),
        };
        if let (Some(limit), Some(id)) = (&self.identity, identity.filter(|s| !s.is_empty())) {
            limit.admit(&id.to_owned(), "identity")?;
        }
        if let (Some(limit), Some(pool)) = (&self.pool, pool.filter(|s| !s.is_empty())) {
            limit.admit(&pool.to_owned(), "identity pool")?;
        }
        Ok(())
    }

    /// Charges an unsigned call to the address it comes from (none known: not limited).
    pub fn admit_unsigned(&self, from: Option<IpAddr>) -> Result<(), ApiError> {
        let (Some(limit), Some(ip)) = (&self.address, from) else {
            return Ok(());
        };
        self.tick();
        limit.admit(&ip, "address").inspect_err(|_| {
            if ip.is_loopback() || is_private(&ip) {
                tracing::debug!(%ip, "address rate limit reached by a private address; if it is a proxy, list it in --trusted-proxies");
            }
        })
    }

    /// Before verifying a signature: refused while the address is locked out for failing
    /// too often.
    pub fn before_verifying(&self, from: Option<IpAddr>) -> Result<(), ApiError> {
        let (Some(lockout), Some(ip)) = (&self.failures, from) else {
            return Ok(());
        };
        match lockout.locked(&ip) {
            None => Ok(()),
            Some(left) => Err(too_many(format!(
                "Too many failed authentications from {ip}; retry in {} s",
                left.as_secs().max(1)
            ))),
        }
    }

    /// A request from `from` failed authentication: charged to its address, and counted
    /// toward its lock-out. The refusal to give instead of the authentication error, if any.
    pub fn authentication_failed(&self, from: Option<IpAddr>) -> Option<ApiError> {
        let ip = from?;
        if let Some(lockout) = &self.failures {
            if lockout.failed(&ip) {
                tracing::warn!(%ip, "too many failed authentications; the address is locked out for a while");
                return self.before_verifying(from).err();
            }
        }
        self.admit_unsigned(from).err()
    }
}

fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
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

    fn identity(pool: &str, id: &str) -> Principal {
        Principal::Identity {
            access_key_id: "ASIA".into(),
            pool_id: pool.into(),
            identity_id: id.into(),
            upstream: None,
        }
    }

    #[test]
    fn off_by_default_for_identities_and_pools() {
        let t = Throttle::new(&ThrottleSettings {
            per_address: None,
            auth_failures: None,
            ..ThrottleSettings::default()
        });
        for _ in 0..10_000 {
            assert!(t.admit(&identity("p", "i"), Some("p")).is_ok());
            assert!(t.admit_unsigned("1.2.3.4".parse().ok()).is_ok());
        }
    }

    #[test]
    fn identities_have_separate_buckets_and_the_pool_one_shared() {
        let t = Throttle::new(&ThrottleSettings {
            per_identity: rate(1, 2),
            per_pool: rate(1, 3),
            ..ThrottleSettings::default()
        });
        assert!(t.admit(&identity("p", "a"), None).is_ok());
        assert!(t.admit(&identity("p", "a"), None).is_ok());
        let e = t.admit(&identity("p", "a"), None).unwrap_err();
        assert_eq!(e.code, ErrorCode::TooManyRequests);
        assert!(e.message.contains("identity a"), "{}", e.message);
        // Another identity has its own allowance, but the pool's third token is the last.
        assert!(t.admit(&identity("p", "b"), None).is_ok());
        let e = t.admit(&identity("p", "b"), None).unwrap_err();
        assert!(e.message.contains("identity pool p"), "{}", e.message);
        // Another pool is untouched.
        assert!(t.admit(&identity("q", "c"), None).is_ok());
    }

    #[test]
    fn identity_credentials_are_charged_to_their_own_pool_not_the_one_named() {
        let t = Throttle::new(&ThrottleSettings {
            per_pool: rate(1, 2),
            ..ThrottleSettings::default()
        });
        for _ in 0..10 {
            let _ = t.admit(&identity("x", "a"), Some("v"));
        }
        let developer = Principal::Developer {
            access_key_id: "AKIA".into(),
        };
        assert!(
            t.admit(&developer, Some("v")).is_ok(),
            "pool v was never charged"
        );
    }

    #[test]
    fn failed_authentications_lock_their_address_out_before_verifying() {
        let t = Throttle::new(&ThrottleSettings {
            auth_failures: rate(1, 3),
            ..ThrottleSettings::default()
        });
        let (a, b) = ("10.1.1.1".parse().ok(), "10.2.2.2".parse().ok());
        for _ in 0..3 {
            assert!(t.before_verifying(a).is_ok());
            assert!(t.authentication_failed(a).is_none());
        }
        assert!(t.authentication_failed(a).is_some());
        assert_eq!(
            t.before_verifying(a).unwrap_err().code,
            ErrorCode::TooManyRequests
        );
        assert!(t.before_verifying(b).is_ok());
    }
}
