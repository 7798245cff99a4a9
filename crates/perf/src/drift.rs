//! Memory drift and leak detection: the trend of a series over a sliding window.
//!
//! A leak shows as memory that keeps climbing while the load is steady. One high sample says
//! nothing (a burst, a cache warming up); the slope of a least-squares line through every sample
//! of the last window says how fast memory grows, and is robust to the noise around it.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// The slope of a series over a sliding time window, as a percent of its mean per hour.
///
/// ```
/// use std::time::Duration;
/// use hardening_perf::DriftDetector;
/// use tokio::time::Instant;
///
/// let mut drift = DriftDetector::new(Duration::from_secs(600), 10);
/// let start = Instant::now();
/// // 100 MB growing by 1 MB a minute: 60 MB an hour on a mean of 104.5 MB, about 57% an hour.
/// for minute in 0..10u64 {
///     let rss = 100_000_000 + minute * 1_000_000;
///     drift.push(start + Duration::from_secs(minute * 60), rss as f64);
/// }
/// let per_hour = drift.percent_per_hour().unwrap();
/// assert!((per_hour - 57.4).abs() < 1.0, "{per_hour}");
/// ```
#[derive(Debug, Clone)]
pub struct DriftDetector {
    window: Duration,
    min_samples: usize,
    samples: VecDeque<(Instant, f64)>,
}

impl DriftDetector {
    /// Judges the samples of the last `window`, once there are at least `min_samples` of them
    /// (at least 2).
    pub fn new(window: Duration, min_samples: usize) -> Self {
        DriftDetector {
            window,
            min_samples: min_samples.max(2),
            samples: VecDeque::new(),
        }
    }

    /// Adds a sample taken at `at`; samples older than the window are dropped.
    pub fn push(&mut self, at: Instant, value: f64) {
        if !value.is_finite() {
            return;
        }
        self.samples.push_back((at, value));
        while let Some(&(first, _)) = self.samples.front() {
            if at.saturating_duration_since(first) > self.window {
                self.samples.pop_front();
            } else {
                break;
            }
        }
    }

    /// How many samples the window holds.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the window holds no sample.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The least-squares slope in units per second, once there are enough samples spread over
    /// time.
    pub fn slope_per_second(&self) -> Option<f64> {
        if self.samples.len() < self.min_samples {
            return None;
        }
        let (t0, _) = *self.samples.front()?;
        let n = self.samples.len() as f64;
        let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
        for &(at, y) in &self.samples {
            let x = at.saturating_duration_since(t0).as_secs_f64();
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
        }
        let denominator = n * sxx - sx * sx;
        (denominator > f64::EPSILON).then(|| (n * sxy - sx * sy) / denominator)
    }

    /// The slope as a percent of the window's mean per hour: 10.0 means "growing by a tenth an
    /// hour". `None` until there are enough samples, or when the mean is zero.
    pub fn percent_per_hour(&self) -> Option<f64> {
        let slope = self.slope_per_second()?;
        let mean = self.samples.iter().map(|&(_, y)| y).sum::<f64>() / self.samples.len() as f64;
        (mean.abs() > f64::EPSILON).then(|| slope * 3600.0 / mean * 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_noisy_series_has_no_drift_and_a_ramp_does() {
        let start = Instant::now();
        let mut flat = DriftDetector::new(Duration::from_secs(3600), 5);
        let mut ramp = DriftDetector::new(Duration::from_secs(3600), 5);
        for i in 0..60u64 {
            let at = start + Duration::from_secs(i * 60);
            let noise = if i % 2 == 0 { 1e6 } else { -1e6 };
            flat.push(at, 500e6 + noise);
            ramp.push(at, 500e6 + i as f64 * 5e6 + noise);
        }
        assert!(flat.percent_per_hour().unwrap().abs() < 1.0);
        // 5 MB a minute on ~650 MB: about 46% an hour.
        let r = ramp.percent_per_hour().unwrap();
        assert!((40.0..55.0).contains(&r), "{r}");
    }

    #[test]
    fn old_samples_leave_the_window_and_few_samples_say_nothing() {
        let start = Instant::now();
        let mut d = DriftDetector::new(Duration::from_secs(60), 3);
        d.push(start, 1.0);
        d.push(start + Duration::from_secs(1), 2.0);
        assert_eq!(d.slope_per_second(), None);
        d.push(start + Duration::from_secs(2), 3.0);
        assert!((d.slope_per_second().unwrap() - 1.0).abs() < 1e-9);
        d.push(start + Duration::from_secs(120), 3.0);
        assert_eq!(d.len(), 1);
        d.push(start + Duration::from_secs(121), f64::NAN);
        assert_eq!(d.len(), 1, "non-finite samples are skipped");
    }
}
