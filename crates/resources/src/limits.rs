//! Adaptive concurrency limits: AIMD, Gradient2 and Vegas, after Netflix's `concurrency-limits`
//! (whose defaults these keep), feeding a [`Bulkhead`](crate::Bulkhead)'s limit.
//!
//! Each algorithm sees one sample per finished call (its round-trip time, how many calls were
//! in flight, and whether it was dropped: timed out, rejected downstream) and answers with a new
//! limit. Use them through [`AdaptiveBulkhead`](crate::AdaptiveBulkhead).

use std::time::Duration;

/// One finished call, as a limit algorithm sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// How long the call took.
    pub rtt: Duration,
    /// Calls in flight when it started (itself included).
    pub in_flight: usize,
    /// Whether it was dropped (timed out, overloaded downstream): a sign of overload.
    pub dropped: bool,
}

/// A concurrency limit algorithm.
pub trait LimitAlgorithm: Send + 'static {
    /// The current limit.
    fn limit(&self) -> usize;
    /// Learns from one sample and returns the new limit.
    fn update(&mut self, sample: Sample) -> usize;
}

/// Additive increase, multiplicative decrease: one more slot while calls use at least half the
/// limit and none is dropped; the limit times `backoff_ratio` on a drop or a call slower than
/// `timeout`. Netflix defaults: initial 20, min 20, max 200, backoff 0.9, timeout 5 s.
#[derive(Debug, Clone)]
pub struct Aimd {
    limit: f64,
    min: usize,
    max: usize,
    backoff_ratio: f64,
    timeout: Duration,
}

impl Default for Aimd {
    fn default() -> Self {
        Aimd::new(20, 20, 200, 0.9, Duration::from_secs(5))
    }
}

impl Aimd {
    /// An AIMD limit; `backoff_ratio` is clamped to `[0.5, 1.0)`.
    pub fn new(
        initial: usize,
        min: usize,
        max: usize,
        backoff_ratio: f64,
        timeout: Duration,
    ) -> Self {
        let min = min.max(1);
        let max = max.max(min);
        Aimd {
            limit: initial.clamp(min, max) as f64,
            min,
            max,
            backoff_ratio: if backoff_ratio.is_finite() {
                backoff_ratio.clamp(0.5, 0.999)
            } else {
                0.9
            },
            timeout,
        }
    }
}

impl LimitAlgorithm for Aimd {
    fn limit(&self) -> usize {
        self.limit as usize
    }

    fn update(&mut self, s: Sample) -> usize {
        if s.dropped || s.rtt > self.timeout {
            self.limit = (self.limit * self.backoff_ratio).max(self.min as f64);
        } else if s.in_flight * 2 >= self.limit as usize {
            self.limit = (self.limit + 1.0).min(self.max as f64);
        }
        self.limit()
    }
}

/// Gradient2: compares a short-term RTT with a long-term average and shrinks the limit as the
/// short-term one grows (queueing), plus a small queue allowance. Netflix defaults: initial 20,
/// min 20, max 200, smoothing 0.2, RTT tolerance 1.5, long window 600 samples, queue 4.
#[derive(Debug, Clone)]
pub struct Gradient2 {
    limit: f64,
    min: usize,
    max: usize,
    smoothing: f64,
    rtt_tolerance: f64,
    long_window: f64,
    queue_size: f64,
    long_rtt: Option<f64>,
    samples: u64,
}

impl Default for Gradient2 {
    fn default() -> Self {
        Gradient2 {
            limit: 20.0,
            min: 20,
            max: 200,
            smoothing: 0.2,
            rtt_tolerance: 1.5,
            long_window: 600.0,
            queue_size: 4.0,
            long_rtt: None,
            samples: 0,
        }
    }
}

impl Gradient2 {
    /// Gradient2 with Netflix's defaults, between `min` and `max`.
    pub fn new(initial: usize, min: usize, max: usize) -> Self {
        let min = min.max(1);
        let max = max.max(min);
        Gradient2 {
            limit: initial.clamp(min, max) as f64,
            min,
            max,
            ..Gradient2::default()
        }
    }
}

impl LimitAlgorithm for Gradient2 {
    fn limit(&self) -> usize {
        self.limit as usize
    }

    fn update(&mut self, s: Sample) -> usize {
        let short = s.rtt.as_secs_f64().max(1e-9);
        self.samples += 1;
        // The long-term RTT is an average over the long window (a plain mean while warming up).
        let weight = 1.0 / (self.samples as f64).min(self.long_window);
        let mut long = match self.long_rtt {
            None => short,
            Some(long) => long * (1.0 - weight) + short * weight,
        };
        // After a sustained improvement, let the long-term RTT come down faster.
        if long / short > 2.0 {
            long *= 0.95;
        }
        self.long_rtt = Some(long);
        // Calls are not using the limit: no evidence either way.
        if (s.in_flight as f64) < self.limit / 2.0 && !s.dropped {
            return self.limit();
        }
        let gradient = (self.rtt_tolerance * long / short).clamp(0.5, 1.0);
        let target = self.limit * gradient + self.queue_size;
        self.limit = (self.limit * (1.0 - self.smoothing) + target * self.smoothing)
            .clamp(self.min as f64, self.max as f64);
        self.limit()
    }
}

/// Vegas: estimates the queue from the ratio of the no-load RTT to the current RTT and keeps it
/// between `alpha` and `beta` (3 and 6 times log10 of the limit). Netflix defaults: initial 20,
/// max 1,000, smoothing 1.0.
#[derive(Debug, Clone)]
pub struct Vegas {
    limit: f64,
    max: usize,
    smoothing: f64,
    rtt_no_load: Option<f64>,
}

impl Default for Vegas {
    fn default() -> Self {
        Vegas::new(20, 1_000)
    }
}

impl Vegas {
    /// Vegas from `initial`, never above `max`.
    pub fn new(initial: usize, max: usize) -> Self {
        let max = max.max(1);
        Vegas {
            limit: initial.clamp(1, max) as f64,
            max,
            smoothing: 1.0,
            rtt_no_load: None,
        }
    }
}

impl LimitAlgorithm for Vegas {
    fn limit(&self) -> usize {
        self.limit as usize
    }

    fn update(&mut self, s: Sample) -> usize {
        let rtt = s.rtt.as_secs_f64().max(1e-9);
        let no_load = self.rtt_no_load.map_or(rtt, |r| r.min(rtt));
        self.rtt_no_load = Some(no_load);
        let log = self.limit.max(1.0).log10().max(1.0);
        let new_limit = if s.dropped {
            self.limit - log
        } else if (s.in_flight as f64) * 2.0 < self.limit {
            return self.limit();
        } else {
            let queue = (self.limit * (1.0 - no_load / rtt)).ceil();
            let (alpha, beta, threshold) = (3.0 * log, 6.0 * log, log);
            if queue <= threshold {
                self.limit + beta
            } else if queue < alpha {
                self.limit + log
            } else if queue > beta {
                self.limit - log
            } else {
                return self.limit();
            }
        };
        let new_limit = new_limit.clamp(1.0, self.max as f64);
        self.limit = (1.0 - self.smoothing) * self.limit + self.smoothing * new_limit;
        self.limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64, in_flight: usize, dropped: bool) -> Sample {
        Sample {
            rtt: Duration::from_millis(ms),
            in_flight,
            dropped,
        }
    }

    #[test]
    fn aimd_grows_by_one_and_backs_off_by_the_ratio() {
        let mut a = Aimd::default();
        assert_eq!(a.update(sample(10, 15, false)), 21);
        assert_eq!(a.update(sample(10, 2, false)), 21, "app-limited: no growth");
        assert_eq!(
            a.update(sample(10, 15, true)),
            20,
            "21 * 0.9 floored at min 20"
        );
        let mut b = Aimd::new(100, 1, 200, 0.5, Duration::from_secs(1));
        assert_eq!(
            b.update(sample(2_000, 100, false)),
            50,
            "too slow counts as a drop"
        );
    }

    #[test]
    fn gradient2_shrinks_when_latency_rises_and_recovers() {
        let mut g = Gradient2::new(100, 10, 200);
        for _ in 0..50 {
            g.update(sample(10, 100, false));
        }
        let steady = g.limit();
        for _ in 0..20 {
            g.update(sample(50, steady, false));
        }
        assert!(
            g.limit() < steady,
            "{} should fall below {steady}",
            g.limit()
        );
        let low = g.limit();
        for _ in 0..200 {
            g.update(sample(10, g.limit(), false));
        }
        assert!(g.limit() > low);
    }

    #[test]
    fn vegas_grows_without_queueing_and_shrinks_with_it() {
        let mut v = Vegas::new(20, 1000);
        v.update(sample(10, 20, false));
        let grown = v.update(sample(10, 20, false));
        assert!(grown > 20, "{grown}");
        let mut v = Vegas::new(100, 1000);
        let before = v.update(sample(10, 100, false));
        let shrunk = v.update(sample(100, before, false));
        assert!(shrunk < before, "{shrunk} < {before}");
        assert!(Vegas::new(50, 1000).update(sample(10, 50, true)) < 50);
    }
}
