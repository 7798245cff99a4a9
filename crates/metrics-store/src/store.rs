//! Series of blocks, with downsampled tiers and retention by age, memory and series count.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::block::{AggChunk, Aggregate, Block, Blocks, Rollup, SketchBlock, SketchRollup};
use crate::chunk::{Chunk, Sample};
use crate::error::ConfigError;
use crate::sketch::Sketch;

/// A series' identity: its metric name and its labels, sorted by label name.
///
/// It serializes as `{"name": "...", "labels": {"a": "1"}}`.
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

    /// The value of label `name`, if the series has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
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

impl Serialize for SeriesKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Labels<'a>(&'a [(String, String)]);
        impl Serialize for Labels<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for (k, v) in self.0 {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("labels", &Labels(&self.labels))?;
        map.end()
    }
}

/// A downsampled tier: aggregates of every `resolution_ms`, kept for `max_age_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    /// The interval each aggregate covers, in milliseconds.
    pub resolution_ms: i64,
    /// How long aggregates are kept, relative to the newest sample of their series.
    pub max_age_ms: i64,
}

/// How much history a [`Store`] keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Raw samples older than this, relative to the newest sample of their series, are
    /// dropped (a whole closed chunk at a time). Milliseconds.
    pub max_age_ms: i64,
    /// When everything together takes more, the oldest closed raw chunks go first, across
    /// series; then, if need be, the oldest blocks of the finest tier, and so on.
    pub max_bytes: usize,
    /// At most this many series; a new series past the cap is refused and counted.
    pub max_series: usize,
    /// A series that has had no sample for this long is dropped whole. Milliseconds.
    pub idle_after_ms: i64,
    /// Samples (or histogram sketches) per block before it is closed.
    pub chunk_samples: usize,
    /// Downsampled tiers, finest first.
    pub tiers: Vec<Tier>,
}

impl Default for Retention {
    /// Raw samples for a day, a 1-minute tier for 2 days and a 1-hour tier for 30 days; 64 MiB;
    /// 10,000 series; idle after an hour; 120 samples a chunk.
    ///
    /// `docs/metrics-store.md` gives what a series takes under these defaults, as measured;
    /// past the memory budget the oldest raw chunks go first.
    fn default() -> Self {
        const MINUTE: i64 = 60_000;
        const HOUR: i64 = 60 * MINUTE;
        const DAY: i64 = 24 * HOUR;
        Retention {
            max_age_ms: DAY,
            max_bytes: 64 << 20,
            max_series: 10_000,
            idle_after_ms: HOUR,
            chunk_samples: 120,
            tiers: vec![
                Tier {
                    resolution_ms: MINUTE,
                    max_age_ms: 2 * DAY,
                },
                Tier {
                    resolution_ms: HOUR,
                    max_age_ms: 30 * DAY,
                },
            ],
        }
    }
}

impl Retention {
    /// Checks every setting; the first that cannot work is the error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |field: &'static str, v: i64| {
            if v > 0 {
                Ok(())
            } else {
                Err(ConfigError::new(
                    field,
                    v,
                    "a number of milliseconds above zero",
                ))
            }
        };
        positive("max_age_ms", self.max_age_ms)?;
        positive("idle_after_ms", self.idle_after_ms)?;
        if self.max_bytes == 0 {
            return Err(ConfigError::new(
                "max_bytes",
                0,
                "a number of bytes above zero",
            ));
        }
        if self.max_series == 0 {
            return Err(ConfigError::new("max_series", 0, "a count above zero"));
        }
        if !(1..=65_536).contains(&self.chunk_samples) {
            return Err(ConfigError::new(
                "chunk_samples",
                self.chunk_samples,
                "1 to 65536 samples",
            ));
        }
        let mut finer = None;
        for (i, tier) in self.tiers.iter().enumerate() {
            if tier.resolution_ms <= 0 {
                return Err(ConfigError::new(
                    format!("tiers[{i}].resolution_ms"),
                    tier.resolution_ms,
                    "a number of milliseconds above zero",
                ));
            }
            if tier.max_age_ms <= 0 {
                return Err(ConfigError::new(
                    format!("tiers[{i}].max_age_ms"),
                    tier.max_age_ms,
                    "a number of milliseconds above zero",
                ));
            }
            if let Some(f) = finer
                && tier.resolution_ms <= f
            {
                return Err(ConfigError::new(
                    format!("tiers[{i}].resolution_ms"),
                    tier.resolution_ms,
                    format!(
                        "a resolution coarser than the tier before it ({f} ms); list tiers finest first"
                    ),
                ));
            }
            finer = Some(tier.resolution_ms);
        }
        Ok(())
    }
}

/// Tier blocks hold this many times `chunk_samples`: a tier's aggregates are few and old, and
/// each block carries fixed costs (six column headers for values), so bigger blocks cost less
/// memory a point while still expiring in steps small beside a tier's age (8 hours of minutes).
const TIER_BLOCK_FACTOR: usize = 4;

/// What a series holds: counter and gauge samples, or histogram sketches.
#[derive(Debug)]
enum Data {
    Values {
        raw: Blocks<Chunk>,
        tiers: Vec<(Rollup, Blocks<AggChunk>)>,
        last: Option<Sample>,
    },
    Sketches {
        raw: Blocks<SketchBlock>,
        tiers: Vec<(SketchRollup, Blocks<SketchBlock>)>,
    },
}

#[derive(Debug)]
struct Series {
    data: Data,
    /// The latest timestamp seen: what age is measured from and idleness judged by.
    newest: Option<i64>,
}

impl Series {
    fn values(tiers: &[Tier]) -> Self {
        Series {
            data: Data::Values {
                raw: Blocks::default(),
                tiers: tiers
                    .iter()
                    .map(|t| (Rollup::new(t.resolution_ms), Blocks::default()))
                    .collect(),
                last: None,
            },
            newest: None,
        }
    }

    fn sketches(tiers: &[Tier]) -> Self {
        Series {
            data: Data::Sketches {
                raw: Blocks::default(),
                tiers: tiers
                    .iter()
                    .map(|t| (SketchRollup::new(t.resolution_ms), Blocks::default()))
                    .collect(),
            },
            newest: None,
        }
    }

    fn memory(&self) -> usize {
        std::mem::size_of::<Self>()
            + match &self.data {
                Data::Values { raw, tiers, .. } => {
                    raw.memory() + tiers.iter().map(|(_, b)| b.memory()).sum::<usize>()
                }
                Data::Sketches { raw, tiers } => {
                    raw.memory()
                        + tiers
                            .iter()
                            .map(|(r, b)| {
                                b.memory() + r.current().map_or(0, |(_, s)| s.memory_bytes())
                            })
                            .sum::<usize>()
                }
            }
    }

    /// Drops closed blocks past their age; returns how many.
    fn expire(&mut self, retention: &Retention) -> u64 {
        let Some(newest) = self.newest else { return 0 };
        let ages = retention.tiers.iter().map(|t| t.max_age_ms);
        match &mut self.data {
            Data::Values { raw, tiers, .. } => {
                raw.expire(newest, retention.max_age_ms)
                    + tiers
                        .iter_mut()
                        .zip(ages)
                        .map(|((_, b), age)| b.expire(newest, age))
                        .sum::<u64>()
            }
            Data::Sketches { raw, tiers } => {
                raw.expire(newest, retention.max_age_ms)
                    + tiers
                        .iter_mut()
                        .zip(ages)
                        .map(|((_, b), age)| b.expire(newest, age))
                        .sum::<u64>()
            }
        }
    }

    /// The start of the oldest closed block at `level` (0 = raw, 1 = the first tier, …).
    fn oldest_closed(&self, level: usize) -> Option<i64> {
        match (&self.data, level) {
            (Data::Values { raw, .. }, 0) => raw.oldest_closed(),
            (Data::Values { tiers, .. }, n) => tiers.get(n - 1)?.1.oldest_closed(),
            (Data::Sketches { raw, .. }, 0) => raw.oldest_closed(),
            (Data::Sketches { tiers, .. }, n) => tiers.get(n - 1)?.1.oldest_closed(),
        }
    }

    fn pop_oldest(&mut self, level: usize) -> Option<usize> {
        match (&mut self.data, level) {
            (Data::Values { raw, .. }, 0) => raw.pop_oldest(),
            (Data::Values { tiers, .. }, n) => tiers.get_mut(n - 1)?.1.pop_oldest(),
            (Data::Sketches { raw, .. }, 0) => raw.pop_oldest(),
            (Data::Sketches { tiers, .. }, n) => tiers.get_mut(n - 1)?.1.pop_oldest(),
        }
    }
}

/// What the store dropped to stay within its [`Retention`], since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Dropped {
    /// Blocks (raw chunks, tier blocks) dropped for age.
    pub chunks_by_age: u64,
    /// Blocks dropped for memory.
    pub chunks_by_memory: u64,
    /// Series dropped for being idle.
    pub idle_series: u64,
    /// Samples refused because their series would have passed the series cap.
    pub samples_over_series_cap: u64,
    /// Samples refused because their series holds the other kind (a histogram's name
    /// recorded as a counter, or the reverse).
    pub samples_of_the_wrong_kind: u64,
}

/// Time series in compressed blocks, with downsampled tiers, bounded in age, memory and count.
///
/// ```
/// use hardening_metrics_store::{Retention, Sample, SeriesKey, Store};
///
/// let mut store = Store::new(Retention::default())?;
/// let key = SeriesKey::new("http_requests_total", [("route", "/")]);
/// for i in 0..500 {
///     store.insert(&key, Sample { timestamp: i * 10_000, value: i as f64 });
/// }
/// assert_eq!(store.last(&key).unwrap().value, 499.0);
/// let minute: Vec<Sample> = store.range(&key, 0, 59_999);
/// assert_eq!(minute.len(), 6);
/// // The 1-minute tier: six samples a minute, each minute summed up.
/// let minutes = store.aggregates(&key, 0, 0, 120_000);
/// // The minute (60 s, 120 s]: the samples at 70 s to 120 s.
/// assert_eq!((minutes[2].count, minutes[2].min, minutes[2].max), (6, 7.0, 12.0));
/// # Ok::<(), hardening_metrics_store::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct Store {
    retention: Retention,
    series: BTreeMap<SeriesKey, Series>,
    memory: usize,
    dropped: Dropped,
    /// Raw chunks closed since the last [`take_closed`](Self::take_closed), when persisting.
    closed: Option<Vec<(SeriesKey, Arc<Chunk>)>>,
}

/// The blocks of one series that a query needs, taken out of the store by reference.
#[derive(Debug, Clone)]
pub(crate) enum View {
    Samples(Vec<Arc<Chunk>>),
    Aggregates {
        blocks: Vec<Arc<AggChunk>>,
        current: Option<Aggregate>,
    },
    Sketches(Vec<Arc<SketchBlock>>),
}

/// Which level of a series a query reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Level {
    Raw,
    /// The finest tier whose resolution divides `step`, `window` and `from`.
    Aligned {
        step: i64,
        window: i64,
        from: i64,
    },
}

impl Store {
    /// An empty store keeping what `retention` allows, or the setting that cannot work.
    pub fn new(retention: Retention) -> Result<Self, ConfigError> {
        retention.validate()?;
        Ok(Store {
            retention,
            series: BTreeMap::new(),
            memory: 0,
            dropped: Dropped::default(),
            closed: None,
        })
    }

    /// The retention the store keeps to.
    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    /// Finds or creates a series (if the cap allows) and checks its kind.
    fn series_for(&mut self, key: &SeriesKey, histogram: bool) -> Option<&mut Series> {
        if !self.series.contains_key(key) {
            if self.series.len() >= self.retention.max_series {
                self.dropped.samples_over_series_cap += 1;
                return None;
            }
            let series = if histogram {
                Series::sketches(&self.retention.tiers)
            } else {
                Series::values(&self.retention.tiers)
            };
            self.memory += series.memory();
            self.series.insert(key.clone(), series);
        }
        let series = self.series.get_mut(key)?;
        if matches!(series.data, Data::Sketches { .. }) != histogram {
            self.dropped.samples_of_the_wrong_kind += 1;
            return None;
        }
        Some(series)
    }

    /// Appends a counter or gauge sample to a series, creating the series if the cap allows.
    /// Returns whether the sample was kept.
    pub fn insert(&mut self, key: &SeriesKey, sample: Sample) -> bool {
        let per_block = self.retention.chunk_samples;
        let persisting = self.closed.is_some();
        let Some(series) = self.series_for(key, false) else {
            return false;
        };
        let before = series.memory();
        series.newest = Some(
            series
                .newest
                .map_or(sample.timestamp, |n| n.max(sample.timestamp)),
        );
        let mut closed = None;
        if let Data::Values { raw, tiers, last } = &mut series.data {
            closed = raw.push(sample, per_block);
            if last.is_none_or(|l| sample.timestamp >= l.timestamp) {
                *last = Some(sample);
            }
            for (rollup, blocks) in tiers {
                if let Some(done) = rollup.push(sample) {
                    blocks.push(done, per_block * TIER_BLOCK_FACTOR);
                }
            }
        }
        self.after_insert(key, before, closed.filter(|_| persisting));
        true
    }

    /// Appends the sketch of one sampling interval, stamped `timestamp`, to a histogram series.
    /// Returns whether it was kept.
    pub fn insert_sketch(&mut self, key: &SeriesKey, timestamp: i64, sketch: &Sketch) -> bool {
        let per_block = self.retention.chunk_samples;
        let Some(series) = self.series_for(key, true) else {
            return false;
        };
        let before = series.memory();
        series.newest = Some(series.newest.map_or(timestamp, |n| n.max(timestamp)));
        if let Data::Sketches { raw, tiers } = &mut series.data {
            raw.push((timestamp, sketch.encode().into_boxed_slice()), per_block);
            for (rollup, blocks) in tiers {
                if let Some(done) = rollup.push(timestamp, sketch) {
                    blocks.push(done, per_block * TIER_BLOCK_FACTOR);
                }
            }
        }
        self.after_insert(key, before, None);
        true
    }

    fn after_insert(&mut self, key: &SeriesKey, before: usize, closed: Option<Arc<Chunk>>) {
        if let Some(series) = self.series.get_mut(key) {
            self.dropped.chunks_by_age += series.expire(&self.retention);
            // `before` is part of `self.memory`, so this never underflows.
            self.memory = self.memory - before + series.memory();
        }
        if let (Some(chunk), Some(out)) = (closed, &mut self.closed) {
            out.push((key.clone(), chunk));
        }
        self.enforce_memory();
    }

    /// Drops the oldest closed blocks until the store fits its memory budget: raw chunks
    /// across all series first, then the finest tier's, and so on.
    fn enforce_memory(&mut self) {
        let levels = 1 + self.retention.tiers.len();
        let mut level = 0;
        while self.memory > self.retention.max_bytes && level < levels {
            let oldest = self
                .series
                .iter()
                .filter_map(|(k, s)| s.oldest_closed(level).map(|t| (t, k)))
                .min()
                .map(|(_, k)| k.clone());
            let Some(key) = oldest else {
                level += 1;
                continue;
            };
            if let Some(series) = self.series.get_mut(&key) {
                let before = series.memory();
                if series.pop_oldest(level).is_some() {
                    self.dropped.chunks_by_memory += 1;
                }
                self.memory = self.memory - before + series.memory();
            }
        }
    }

    /// Drops every series with no sample within `idle_after_ms` of `now_ms`.
    pub fn evict_idle(&mut self, now_ms: i64) {
        let idle = self.retention.idle_after_ms;
        let mut freed = 0;
        let mut evicted = 0;
        self.series.retain(|_, s| {
            let keep = s.newest.is_some_and(|t| now_ms.saturating_sub(t) <= idle);
            if !keep {
                freed += s.memory();
                evicted += 1;
            }
            keep
        });
        self.memory -= freed;
        self.dropped.idle_series += evicted;
    }

    /// The sample of a counter or gauge series with the latest timestamp (a late,
    /// out-of-order sample does not replace it).
    pub fn last(&self, key: &SeriesKey) -> Option<Sample> {
        match &self.series.get(key)?.data {
            Data::Values { last, .. } => *last,
            Data::Sketches { .. } => None,
        }
    }

    /// The raw samples of a counter or gauge series with `from <= timestamp <= to`, in the
    /// order they were appended. Chunks wholly outside the range are skipped without decoding.
    pub fn range(&self, key: &SeriesKey, from: i64, to: i64) -> Vec<Sample> {
        match self.series.get(key).map(|s| &s.data) {
            Some(Data::Values { raw, .. }) => raw
                .view(from, to)
                .iter()
                .flat_map(|c| c.iter())
                .filter(|s| s.timestamp >= from && s.timestamp <= to)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The aggregates of tier `tier` (0 = the finest) of a counter or gauge series whose
    /// interval ends in `from..=to`, the interval still being filled included.
    pub fn aggregates(&self, key: &SeriesKey, tier: usize, from: i64, to: i64) -> Vec<Aggregate> {
        let Some(Data::Values { tiers, .. }) = self.series.get(key).map(|s| &s.data) else {
            return Vec::new();
        };
        let Some((rollup, blocks)) = tiers.get(tier) else {
            return Vec::new();
        };
        blocks
            .view(from, to)
            .iter()
            .flat_map(|b| b.iter())
            .chain(rollup.current())
            .filter(|a| a.end >= from && a.end <= to)
            .collect()
    }

    /// The newest value of every counter and gauge series, sorted by key.
    pub fn snapshot(&self) -> Vec<(SeriesKey, Sample)> {
        self.series
            .iter()
            .filter_map(|(k, s)| match &s.data {
                Data::Values { last: Some(l), .. } => Some((k.clone(), *l)),
                _ => None,
            })
            .collect()
    }

    /// The blocks of every series `keep` accepts that a query over `from..to` at `level`
    /// needs, by reference: no sample is decoded here, so a caller holding a lock around this
    /// holds it briefly.
    pub(crate) fn select(
        &self,
        keep: impl Fn(&SeriesKey) -> bool,
        from: i64,
        to: i64,
        level: Level,
    ) -> Vec<(SeriesKey, View)> {
        let tier = |tiers: &[Tier]| match level {
            Level::Raw => None,
            Level::Aligned { step, window, from } => tiers.iter().rposition(|t| {
                let r = t.resolution_ms;
                step % r == 0 && window % r == 0 && from.rem_euclid(r) == 0
            }),
        };
        let chosen = tier(&self.retention.tiers);
        self.series
            .iter()
            .filter(|(k, _)| keep(k))
            .map(|(k, s)| {
                let view = match (&s.data, chosen) {
                    (Data::Values { raw, .. }, None) => View::Samples(raw.view(from, to)),
                    (Data::Values { tiers, .. }, Some(i)) => {
                        let (rollup, blocks) = &tiers[i];
                        View::Aggregates {
                            blocks: blocks.view(from, to),
                            current: rollup.current(),
                        }
                    }
                    (Data::Sketches { raw, .. }, None) => View::Sketches(raw.view(from, to)),
                    (Data::Sketches { tiers, .. }, Some(i)) => {
                        let (rollup, blocks) = &tiers[i];
                        let mut blocks = blocks.view(from, to);
                        if let Some((t, s)) = rollup.current() {
                            let mut open = SketchBlock::default();
                            open.push((t, s.encode().into_boxed_slice()));
                            blocks.push(Arc::new(open));
                        }
                        View::Sketches(blocks)
                    }
                };
                (k.clone(), view)
            })
            .collect()
    }

    /// The earliest raw timestamp any series still holds.
    pub fn earliest_raw(&self) -> Option<i64> {
        self.series
            .values()
            .filter_map(|s| match &s.data {
                Data::Values { raw, .. } => raw.earliest(),
                Data::Sketches { raw, .. } => raw.earliest(),
            })
            .min()
    }

    /// Starts keeping every raw chunk that closes, for [`take_closed`](Self::take_closed)
    /// (what persistence writes out).
    pub fn keep_closed_chunks(&mut self) {
        self.closed.get_or_insert_with(Vec::new);
    }

    /// The raw chunks closed since the last call, with their series.
    pub fn take_closed(&mut self) -> Vec<(SeriesKey, Arc<Chunk>)> {
        self.closed.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Closes every series' open raw chunk early (for [`take_closed`](Self::take_closed) when
    /// keeping closed chunks): what a graceful shutdown persists so that no sample is lost.
    pub fn seal_open_chunks(&mut self) {
        let mut sealed = Vec::new();
        for (key, series) in &mut self.series {
            let before = series.memory();
            if let Data::Values { raw, .. } = &mut series.data
                && let Some(chunk) = raw.seal_open()
            {
                sealed.push((key.clone(), chunk));
            }
            // `before` is part of `self.memory`, so this never underflows.
            self.memory = self.memory - before + series.memory();
        }
        if let Some(out) = &mut self.closed {
            out.extend(sealed);
        }
    }

    /// Loads chunks read back from disk (oldest first), as if their samples had been inserted
    /// then: tiers are rebuilt and retention applies. They are not handed out again by
    /// [`take_closed`](Self::take_closed), and each series' restored samples end in a closed
    /// chunk, so that new samples never share a chunk with them and nothing is written twice.
    pub fn restore(&mut self, chunks: impl IntoIterator<Item = (SeriesKey, Chunk)>) {
        let keep = self.closed.take();
        for (key, chunk) in chunks {
            for sample in chunk.iter() {
                self.insert(&key, sample);
            }
        }
        self.seal_open_chunks();
        self.closed = keep;
    }

    /// How many series the store holds.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Memory the series take, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.memory
    }

    /// What retention dropped so far.
    pub fn dropped(&self) -> Dropped {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recount(store: &Store) -> usize {
        store.series.values().map(Series::memory).sum()
    }

    #[test]
    fn the_memory_kept_matches_a_recount_after_every_kind_of_change() {
        let mut store = Store::new(Retention {
            max_bytes: 40_000,
            chunk_samples: 16,
            max_age_ms: 600_000,
            idle_after_ms: 300_000,
            ..Retention::default()
        })
        .unwrap();
        store.keep_closed_chunks();
        let mut sketch = Sketch::new();
        for i in 0..3_000i64 {
            let key = SeriesKey::new("m", [("i", ["a", "b", "c", "d"][(i % 4) as usize])]);
            if i % 4 == 3 {
                sketch.add(i as f64);
                store.insert_sketch(&key, i * 1_000, &sketch);
            } else {
                store.insert(
                    &key,
                    Sample {
                        timestamp: i * 1_000,
                        value: (i % 91) as f64,
                    },
                );
            }
            if i % 500 == 0 {
                store.seal_open_chunks();
                let _ = store.take_closed();
            }
            if i % 777 == 0 {
                store.evict_idle(i * 1_000 + 400_000);
            }
            assert_eq!(store.memory_bytes(), recount(&store), "after step {i}");
        }
        assert!(
            store.dropped().chunks_by_memory > 0,
            "the budget was exercised"
        );
        store.restore([(SeriesKey::new("r", []), Chunk::new())]);
        assert_eq!(store.memory_bytes(), recount(&store));
    }
}
