//! Rate limits through `governor`, including keyed limits whose memory stays bounded.

use std::fmt;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{DefaultDirectRateLimiter, Quota};

/// A call over the rate, with when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    /// How long until a call would be allowed.
    pub retry_after: Duration,
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rate limit reached; retry in {:?}", self.retry_after)
    }
}

impl std::error::Error for RateLimited {}

/// `per_second` calls a second on average, in bursts of at most `burst`. `None` when either is
/// zero.
pub fn quota(per_second: u32, burst: u32) -> Option<Quota> {
    Some(Quota::per_second(NonZeroU32::new(per_second)?).allow_burst(NonZeroU32::new(burst)?))
}

/// One shared rate limit (a GCRA, lock-free).
///
/// ```
/// use hardening_resources::{RateLimiter, quota};
///
/// let limiter = RateLimiter::new(quota(10, 2).unwrap());
/// assert!(limiter.check().is_ok());
/// assert!(limiter.check().is_ok());
/// assert!(limiter.check().is_err(), "the burst of two is spent");
/// ```
#[derive(Debug, Clone)]
pub struct RateLimiter {
    inner: Arc<DefaultDirectRateLimiter>,
}

impl RateLimiter {
    /// A limiter for `quota`.
    pub fn new(quota: Quota) -> Self {
        RateLimiter {
            inner: Arc::new(governor::RateLimiter::direct(quota)),
        }
    }

    /// Allows one call, or says when to try again.
    pub fn check(&self) -> Result<(), RateLimited> {
        self.inner.check().map_err(|not_until| RateLimited {
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
    }
}

/// governor's keyed limiter on `clock`, with its default (dashmap) state store.
type Keyed<K, C> =
    governor::RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A rate limit per key (per client, per tenant) whose memory stays bounded: keys not seen for
/// a full period are trimmed by [`trim`](Self::trim), which
/// [`spawn_trimming`](Self::spawn_trimming) runs on a schedule.
///
/// ```
/// use hardening_resources::{KeyedRateLimiter, quota};
///
/// let limiter = KeyedRateLimiter::new(quota(1, 1).unwrap());
/// assert!(limiter.check(&"alice").is_ok());
/// assert!(limiter.check(&"alice").is_err());
/// assert!(limiter.check(&"bob").is_ok(), "each key has its own budget");
/// assert_eq!(limiter.len(), 2);
/// ```
pub struct KeyedRateLimiter<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    inner: Arc<Keyed<K, C>>,
    clock: C,
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> Clone for KeyedRateLimiter<K, C> {
    fn clone(&self) -> Self {
        KeyedRateLimiter {
            inner: Arc::clone(&self.inner),
            clock: self.clock.clone(),
        }
    }
}

impl<K: Hash + Eq + Clone, C: Clock> fmt::Debug for KeyedRateLimiter<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("keys", &self.inner.len())
            .finish()
    }
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> KeyedRateLimiter<K> {
    /// A limiter giving every key `quota`.
    pub fn new(quota: Quota) -> Self {
        Self::with_clock(quota, DefaultClock::default())
    }
}

impl<K, C> KeyedRateLimiter<K, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    C: Clock + Clone + Send + Sync + 'static,
{
    /// A limiter giving every key `quota`, reading `clock` (governor's `FakeRelativeClock` in
    /// tests).
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        KeyedRateLimiter {
            inner: Arc::new(governor::RateLimiter::dashmap_with_clock(
                quota,
                clock.clone(),
            )),
            clock,
        }
    }

    /// Allows one call for `key`, or says when to try again.
    pub fn check(&self, key: &K) -> Result<(), RateLimited> {
        self.inner.check_key(key).map_err(|not_until| RateLimited {
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Forgets keys whose state is no different from a new key's (not used for about two
    /// emission intervals) and gives the memory back.
    pub fn trim(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
    }

    /// Runs [`trim`](Self::trim) every `every` on the current tokio runtime.
    pub fn spawn_trimming(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let limiter = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                limiter.trim();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn trimming_forgets_keys_that_went_quiet_and_keeps_busy_ones() {
        let clock = FakeRelativeClock::default();
        let limiter = KeyedRateLimiter::with_clock(quota(10, 1).unwrap(), clock.clone());
        for client in 0..1_000u32 {
            limiter.check(&client).unwrap();
        }
        assert_eq!(limiter.len(), 1_000);
        // Two emission intervals (2 × 100 ms) later an unused key's state is no different from
        // a new key's: nothing is worth remembering.
        clock.advance(Duration::from_millis(250));
        limiter.check(&7).unwrap();
        limiter.trim();
        assert_eq!(limiter.len(), 1, "only the key seen in this period is kept");
        let over = limiter.check(&7).unwrap_err();
        assert_eq!(over.retry_after, Duration::from_millis(100));
    }
}
