//! Lock-outs after repeated failures (wrong signatures on the device port, wrong secrets at the
//! console's sign-in): failures are counted per key in a token bucket; once a key's bucket is
//! empty the key is locked out until the bucket would take one more failure. Callers ask
//! [`Lockout::locked`] *before* checking credentials, so during a lock-out even the right ones
//! are refused and a guesser learns nothing from the answers; and each attempt during a
//! lock-out keeps it for at least another [`MIN_LOCK`], so one who keeps trying stays out.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::rate::Rate;

/// The shortest lock-out, and how long an attempt during one extends it at least.
pub const MIN_LOCK: Duration = Duration::from_secs(1);
/// Every this many failures, keys whose locks ended and whose buckets refilled are forgotten.
const PRUNE_EVERY: u64 = 1024;

pub struct Lockout<K: Hash + Eq + Clone> {
    failures: DefaultKeyedRateLimiter<K>,
    locked: Mutex<HashMap<K, Instant>>,
    counted: std::sync::atomic::AtomicU64,
}

impl<K: Hash + Eq + Clone> Lockout<K> {
    /// Allows `rate.burst` failures at once and `rate.per_second` a second after that.
    pub fn new(rate: Rate) -> Self {
        Self::with_quota(Quota::per_second(rate.per_second).allow_burst(rate.burst))
    }

    pub fn with_quota(quota: Quota) -> Self {
        Lockout {
            failures: RateLimiter::keyed(quota),
            locked: Mutex::new(HashMap::new()),
            counted: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn locks(&self) -> std::sync::MutexGuard<'_, HashMap<K, Instant>> {
        // A panic elsewhere while holding the map leaves it usable: it holds only instants.
        self.locked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How much longer `key` is locked out, if it is; an attempt while it is keeps the lock
    /// for at least [`MIN_LOCK`] more.
    pub fn locked(&self, key: &K) -> Option<Duration> {
        let now = Instant::now();
        let mut locks = self.locks();
        match locks.get_mut(key) {
            Some(until) if *until > now => {
                *until = (*until).max(now + MIN_LOCK);
                Some(*until - now)
            }
            Some(_) => {
                locks.remove(key);
                None
            }
            None => None,
        }
    }

    /// Counts a failure of `key`; true when it has now failed too often and is locked out.
    pub fn failed(&self, key: &K) -> bool {
        use std::sync::atomic::Ordering;
        if self.counted.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.failures.retain_recent();
            let now = Instant::now();
            self.locks().retain(|_, until| *until > now);
        }
        match self.failures.check_key(key) {
            Ok(()) => false,
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                self.locks()
                    .insert(key.clone(), Instant::now() + wait.max(MIN_LOCK));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn rate(per_second: u32, burst: u32) -> Rate {
        Rate {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    #[test]
    fn a_key_is_locked_after_its_burst_of_failures_and_others_are_not() {
        let l = Lockout::new(rate(1, 3));
        for _ in 0..3 {
            assert!(l.locked(&"a").is_none());
            assert!(!l.failed(&"a"));
        }
        assert!(l.failed(&"a"), "the fourth failure in a row locks");
        let left = l.locked(&"a").expect("locked");
        assert!(left >= Duration::from_millis(900) && left <= Duration::from_secs(1));
        assert!(l.locked(&"b").is_none());
        assert!(!l.failed(&"b"));
    }
}
