//! Series of chunks, with retention by age, by memory and by series count.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use crate::chunk::{Chunk, Sample};

/// A series' identity: its metric name and its labels, sorted by label name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    name: String,
    labels: Vec<(String, String)>,
}

impl SeriesKey {
    /// The series `name` with `labels` (in any order; they are kept sorted).
    pub fn new<'a>(name: &str, labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut labels: Vec<(String, String)> = labels
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.sort();
        SeriesKey {
            name: name.to_string(),
            labels,
        }
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The labels, sorted by name.
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }
}

impl fmt::Display for SeriesKey {
    /// Prometheus style: `name{a="1",b="2"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.labels.is_empty() {
            f.write_str("{")?;
            for (i, (k, v)) in self.labels.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{k}={v:?}")?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

/// How much history a [`Store`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Samples older than this, relative to the newest sample of their series, are dropped
    /// (a whole closed chunk at a time). Milliseconds.
    pub max_age_ms: i64,
    /// When all chunks together take more, the oldest closed chunks go first, across series.
    pub max_bytes: usize,
    /// At most this many series; a new series past the cap is refused and counted.
    pub max_series: usize,
    /// A series that has had no sample for this long is dropped whole. Milliseconds.
    pub idle_after_ms: i64,
    /// Samples per chunk before it is closed.
    pub chunk_samples: usize,
}

impl Default for Retention {
    /// One day, 64 MiB, 10,000 series, idle after an hour, 120 samples a chunk.
    fn default() -> Self {
        Retention {
            max_age_ms: 24 * 3_600_000,
            max_bytes: 64 << 20,
            max_series: 10_000,
            idle_after_ms: 3_600_000,
            chunk_samples: 120,
        }
    }
}

#[derive(Debug, Default)]
struct Series {
    closed: VecDeque<Chunk>,
    /// What the closed chunks take; they never change once closed, so this is kept, not summed.
    closed_bytes: usize,
    open: Chunk,
    last: Option<Sample>,
}

impl Series {
    fn memory(&self) -> usize {
        self.closed_bytes + self.open.memory_bytes()
    }

    fn pop_oldest(&mut self) -> Option<usize> {
        let chunk = self.closed.pop_front()?;
        let bytes = chunk.memory_bytes();
        self.closed_bytes -= bytes;
        Some(bytes)
    }
}

/// What the store dropped to stay within its [`Retention`], since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Chunks dropped for age.
    pub chunks_by_age: u64,
    /// Chunks dropped for memory.
    pub chunks_by_memory: u64,
    /// Series dropped for being idle.
    pub idle_series: u64,
    /// Samples refused because their series would have passed the series cap.
    pub samples_over_series_cap: u64,
}

/// Time series in compressed chunks, bounded in age, memory and count.
///
/// ```
/// use hardening_metrics_store::{Retention, Sample, SeriesKey, Store};
///
/// let mut store = Store::new(Retention::default());
/// let key = SeriesKey::new("http_requests_total", [("route", "/")]);
/// for i in 0..500 {
///     store.insert(&key, Sample { timestamp: i * 10_000, value: i as f64 });
/// }
/// assert_eq!(store.last(&key).unwrap().value, 499.0);
/// let minute: Vec<Sample> = store.range(&key, 0, 59_999);
/// assert_eq!(minute.len(), 6);
/// ```
#[derive(Debug)]
pub struct Store {
    retention: Retention,
    series: BTreeMap<SeriesKey, Series>,
    memory: usize,
    dropped: Dropped,
}

impl Store {
    /// An empty store keeping what `retention` allows.
    pub fn new(retention: Retention) -> Self {
        Store {
            retention,
            series: BTreeMap::new(),
            memory: 0,
            dropped: Dropped::default(),
        }
    }

    /// Appends a sample to a series, creating the series if the cap allows. Returns whether the
    /// sample was kept.
    pub fn insert(&mut self, key: &SeriesKey, sample: Sample) -> bool {
        if !self.series.contains_key(key) {
            if self.series.len() >= self.retention.max_series {
                self.dropped.samples_over_series_cap += 1;
                return false;
            }
            let series = Series::default();
            self.memory += series.memory();
            self.series.insert(key.clone(), series);
        }
        let chunk_samples = self.retention.chunk_samples.max(1);
        let max_age = self.retention.max_age_ms;
        let Some(series) = self.series.get_mut(key) else {
            return false;
        };
        let before = series.memory();
        series.open.push(sample);
        if series.last.is_none_or(|l| sample.timestamp >= l.timestamp) {
            series.last = Some(sample);
        }
        let newest = series.last.map_or(sample.timestamp, |l| l.timestamp);
        if series.open.len() >= chunk_samples {
            let mut full = std::mem::take(&mut series.open);
            full.shrink_to_fit();
            series.closed_bytes += full.memory_bytes();
            series.closed.push_back(full);
        }
        // Age: a closed chunk goes once all of it is older than the window.
        while let Some((_, hi)) = series.closed.front().and_then(Chunk::time_range) {
            if newest.saturating_sub(hi) <= max_age {
                break;
            }
            series.pop_oldest();
            self.dropped.chunks_by_age += 1;
        }
        // `before` is part of `self.memory`, so this never underflows.
        self.memory = self.memory - before + series.memory();
        self.enforce_memory();
        true
    }

    /// Drops the oldest closed chunks, across all series, until the store fits its memory
    /// budget.
    fn enforce_memory(&mut self) {
        while self.memory > self.retention.max_bytes {
            let oldest = self
                .series
                .iter()
                .filter_map(|(k, s)| {
                    s.closed
                        .front()
                        .and_then(Chunk::time_range)
                        .map(|(lo, _)| (lo, k.clone()))
                })
                .min();
            let Some((_, key)) = oldest else { break };
            if let Some(bytes) = self.series.get_mut(&key).and_then(Series::pop_oldest) {
                self.memory -= bytes;
                self.dropped.chunks_by_memory += 1;
            }
        }
    }

    /// Drops every series with no sample within `idle_after_ms` of `now_ms`.
    pub fn evict_idle(&mut self, now_ms: i64) {
        let idle = self.retention.idle_after_ms;
        let mut freed = 0;
        let mut evicted = 0;
        self.series.retain(|_, s| {
            let keep = s
                .last
                .is_some_and(|l| now_ms.saturating_sub(l.timestamp) <= idle);
            if !keep {
                freed += s.memory();
                evicted += 1;
            }
            keep
        });
        self.memory -= freed;
        self.dropped.idle_series += evicted;
    }

    /// The sample of a series with the latest timestamp (a late, out-of-order sample does not
    /// replace it).
    pub fn last(&self, key: &SeriesKey) -> Option<Sample> {
        self.series.get(key).and_then(|s| s.last)
    }

    /// The samples of a series with `from <= timestamp <= to`, in the order they were appended.
    /// Chunks wholly outside the range are skipped without decoding.
    pub fn range(&self, key: &SeriesKey, from: i64, to: i64) -> Vec<Sample> {
        let Some(series) = self.series.get(key) else {
            return Vec::new();
        };
        series
            .closed
            .iter()
            .chain(std::iter::once(&series.open))
            .filter(|c| {
                c.time_range()
                    .is_some_and(|(lo, hi)| hi >= from && lo <= to)
            })
            .flat_map(Chunk::iter)
            .filter(|s| s.timestamp >= from && s.timestamp <= to)
            .collect()
    }

    /// The newest value of every series, sorted by key.
    pub fn snapshot(&self) -> Vec<(SeriesKey, Sample)> {
        self.series
            .iter()
            .filter_map(|(k, s)| s.last.map(|l| (k.clone(), l)))
            .collect()
    }

    /// How many series the store holds.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Memory the chunks take, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.memory
    }

    /// What retention dropped so far.
    pub fn dropped(&self) -> Dropped {
        self.dropped
    }
}
