//! Client-side throttling from the Google SRE book ("Handling Overload"): when a backend
//! rejects much of what it is sent, the client rejects locally, with a probability that grows
//! with the gap between what it asked and what was accepted, so the backend is not buried in
//! requests it will only refuse.

use std::time::Duration;

use tokio::time::Instant;

/// Adaptive client-side throttling: reject with probability
/// `max(0, (requests - k * accepts) / (requests + 1))` over a sliding window.
///
/// ```
/// use hardening_resources::ClientThrottle;
///
/// let mut throttle = ClientThrottle::new(2.0, std::time::Duration::from_secs(120)).with_seed(7);
/// // A healthy backend: everything accepted, nothing throttled.
/// for _ in 0..100 {
///     assert!(throttle.allow());
///     throttle.record(true);
/// }
/// assert_eq!(throttle.rejection_probability(), 0.0);
/// ```
#[derive(Debug, Clone)]
pub struct ClientThrottle {
    k: f64,
    /// Per-second buckets of (requests, accepts) over the window.
    buckets: Vec<(u64, u64, u64)>,
    start: Instant,
    rng: fastrand::Rng,
}

impl ClientThrottle {
    /// Throttling with multiplier `k` (the book suggests 2: reject only once requests are over
    /// twice the accepts) over `window` (the book uses 2 minutes), in one-second buckets.
    pub fn new(k: f64, window: Duration) -> Self {
        let seconds = window.as_secs().max(1) as usize;
        ClientThrottle {
            k: if k.is_finite() && k >= 1.0 { k } else { 2.0 },
            buckets: vec![(u64::MAX, 0, 0); seconds],
            start: Instant::now(),
            rng: fastrand::Rng::new(),
        }
    }

    /// Uses a fixed seed for the random draws (tests, simulations).
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = fastrand::Rng::with_seed(seed);
        self
    }

    fn second(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.start)
            .as_secs()
    }

    fn totals(&self) -> (u64, u64) {
        let now = self.second();
        let span = self.buckets.len() as u64;
        self.buckets
            .iter()
            .filter(|(second, _, _)| *second != u64::MAX && second + span > now)
            .fold((0, 0), |(r, a), (_, br, ba)| (r + br, a + ba))
    }

    /// The probability that the next request is rejected locally.
    pub fn rejection_probability(&self) -> f64 {
        let (requests, accepts) = self.totals();
        ((requests as f64 - self.k * accepts as f64) / (requests as f64 + 1.0)).max(0.0)
    }

    /// Whether to send the next request (`false`: reject it locally). A locally rejected
    /// request still counts as a request, as in the book.
    pub fn allow(&mut self) -> bool {
        let p = self.rejection_probability();
        let allowed = p <= 0.0 || self.rng.f64() >= p;
        if !allowed {
            self.count(false);
        }
        allowed
    }

    /// Records a sent request's fate: accepted by the backend or not.
    pub fn record(&mut self, accepted: bool) {
        self.count(accepted);
    }

    fn count(&mut self, accepted: bool) {
        let now = self.second();
        let len = self.buckets.len();
        let bucket = &mut self.buckets[(now % len as u64) as usize];
        if bucket.0 != now {
            *bucket = (now, 0, 0);
        }
        bucket.1 += 1;
        if accepted {
            bucket.2 += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rejects_with_the_book_probability_and_forgets_old_seconds() {
        let mut t = ClientThrottle::new(2.0, Duration::from_secs(10)).with_seed(1);
        for i in 0..100 {
            t.record(i % 10 == 0); // 10 accepted of 100
        }
        let p = t.rejection_probability();
        assert!((p - 80.0 / 101.0).abs() < 1e-9, "{p}");
        // Local rejections count as requests too, so the probability only climbs from 0.79
        // while nothing is accepted.
        let rejected = (0..1000).filter(|_| !t.allow()).count();
        assert!((750..=1000).contains(&rejected), "{rejected}");
        assert!(t.rejection_probability() > p);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(t.rejection_probability(), 0.0);
    }
}
