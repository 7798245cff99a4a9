//! A lock-free log-linear histogram of durations, shared by the latency probe and the operation
//! timings.
//!
//! Values are nanoseconds. Each power of two is split into 32 equal buckets, so a reported
//! quantile is within 1/64 (about 1.6%) of the true value of the sample it stands for. Recording
//! is three relaxed atomic adds and a `fetch_max`; nothing locks, nothing allocates.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Sub-buckets per power of two: 2^5 = 32, a relative bucket width of 1/32.
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Values above 2^40 ns (about 18 minutes) are counted in the last bucket.
const MAX_EXP: u32 = 40;
const BUCKETS: usize = ((MAX_EXP - SUB_BITS + 1) as usize + 1) * SUB as usize;

/// The bucket a value falls in.
fn index(value: u64) -> usize {
    if value < SUB {
        return value as usize;
    }
    let exp = 63 - value.leading_zeros();
    if exp > MAX_EXP {
        return BUCKETS - 1;
    }
    let shift = exp - SUB_BITS;
    let sub = (value >> shift) - SUB;
    (((exp - SUB_BITS + 1) as u64) * SUB + sub) as usize
}

/// The smallest value that falls in `index`, and the bucket's width.
fn bounds(index: usize) -> (u64, u64) {
    let index = index as u64;
    if index < SUB {
        return (index, 1);
    }
    let block = index / SUB; // 1 for [32, 64), 2 for [64, 128), ...
    let sub = index % SUB;
    let shift = block - 1;
    ((SUB + sub) << shift, 1 << shift)
}

/// A histogram many threads can record into at once.
#[derive(Debug)]
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    /// Records one duration.
    #[inline]
    pub fn record(&self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.record_nanos(nanos);
    }

    /// Records one value in nanoseconds.
    #[inline]
    pub fn record_nanos(&self, nanos: u64) {
        self.buckets[index(nanos)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(nanos, Ordering::Relaxed);
        self.max.fetch_max(nanos, Ordering::Relaxed);
    }

    /// A copy of the current contents.
    pub fn snapshot(&self) -> HistogramSnapshot {
        self.collect(|a| a.load(Ordering::Relaxed))
    }

    /// A copy of the current contents, leaving the histogram empty (for per-interval figures).
    /// A value recorded while this runs lands in either this interval or the next, never in
    /// neither.
    pub fn take(&self) -> HistogramSnapshot {
        self.collect(|a| a.swap(0, Ordering::Relaxed))
    }

    fn collect(&self, read: impl Fn(&AtomicU64) -> u64) -> HistogramSnapshot {
        let buckets: Vec<u64> = self.buckets.iter().map(&read).collect();
        // The count is derived from the buckets, so quantiles always agree with it even when
        // values land while the buckets are being read.
        let _ = read(&self.count);
        HistogramSnapshot {
            count: buckets.iter().sum(),
            sum: read(&self.sum),
            max: read(&self.max),
            buckets,
        }
    }
}

/// A histogram's contents at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    buckets: Vec<u64>,
    count: u64,
    sum: u64,
    max: u64,
}

impl HistogramSnapshot {
    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest value recorded (exact, not bucketed).
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max)
    }

    /// The mean of the values recorded, or zero with none.
    pub fn mean(&self) -> Duration {
        Duration::from_nanos(self.sum.checked_div(self.count).unwrap_or(0))
    }

    /// The value at quantile `q` (0.0 to 1.0), as the middle of its bucket, never above the
    /// maximum; zero with no values.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let (low, width) = bounds(i);
                return Duration::from_nanos((low + width / 2).min(self.max));
            }
        }
        self.max()
    }

    /// How many values were at or above `threshold`, counted by bucket: values that share the
    /// threshold's bucket (within 1/32 below it) count too, so the figure errs toward
    /// reporting, never toward hiding a slow value.
    pub fn count_at_or_above(&self, threshold: Duration) -> u64 {
        let nanos = u64::try_from(threshold.as_nanos()).unwrap_or(u64::MAX);
        self.buckets.iter().skip(index(nanos)).sum()
    }

    /// The usual figures, for reports.
    pub fn summary(&self, threshold: Duration) -> LatencySummary {
        LatencySummary {
            count: self.count,
            p50: self.quantile(0.50),
            p90: self.quantile(0.90),
            p95: self.quantile(0.95),
            p99: self.quantile(0.99),
            max: self.max(),
            mean: self.mean(),
            count_over_threshold: self.count_at_or_above(threshold),
        }
    }
}

/// Quantiles of a set of durations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencySummary {
    /// How many values.
    pub count: u64,
    /// The median.
    #[serde(with = "crate::serde_millis")]
    pub p50: Duration,
    /// The 90th percentile.
    #[serde(with = "crate::serde_millis")]
    pub p90: Duration,
    /// The 95th percentile.
    #[serde(with = "crate::serde_millis")]
    pub p95: Duration,
    /// The 99th percentile.
    #[serde(with = "crate::serde_millis")]
    pub p99: Duration,
    /// The largest value.
    #[serde(with = "crate::serde_millis")]
    pub max: Duration,
    /// The mean.
    #[serde(with = "crate::serde_millis")]
    pub mean: Duration,
    /// How many values were at or above the configured threshold.
    pub count_over_threshold: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_a_bucket_that_contains_it() {
        let mut v = 0u64;
        while v < (1u64 << MAX_EXP) {
            let i = index(v);
            let (low, width) = bounds(i);
            assert!(
                low <= v && v < low + width,
                "{v} in bucket {i} = [{low}, +{width})"
            );
            assert!(width * 32 <= v.max(32), "bucket of {v} too wide: {width}");
            v = v * 5 / 4 + 1;
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_within_the_stated_error() {
        let h = Histogram::new();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 1000);
        for (q, truth) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0)] {
            let got = s.quantile(q).as_secs_f64() * 1000.0;
            assert!(
                (got - truth).abs() / truth < 1.0 / 32.0,
                "q{q}: {got} vs {truth}"
            );
        }
        assert_eq!(s.max(), Duration::from_millis(1000));
        // 101 values are at or above 900 ms; the ones just under it that share its bucket
        // count too.
        let over = s.count_at_or_above(Duration::from_millis(900));
        assert!((101..=118).contains(&over), "{over}");
        assert_eq!(s.count_at_or_above(Duration::from_secs(2)), 0);
    }

    #[test]
    fn take_empties_the_histogram() {
        let h = Histogram::new();
        h.record(Duration::from_micros(3));
        assert_eq!(h.take().count(), 1);
        assert_eq!(h.snapshot().count(), 0);
        assert_eq!(h.snapshot().quantile(0.99), Duration::ZERO);
    }
}
