//! Series of blocks, with downsampled tiers and retention by age, memory and series count.

use std::collections::{BTreeMap, BTreeSet};
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
/// It serializes as `{"name": "...", "labels": {"a": "1"}}`. Cloning it is a reference-count
/// increment: the store, its indexes, the recorder and query results share one copy.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey(Arc<KeyInner>);

#[derive(PartialEq, Eq, PartialOrd, Ord, Hash)]
struct KeyInner {
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
        SeriesKey(Arc::new(KeyInner {
            name: name.to_string(),
            labels,
        }))
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The labels, sorted by name.
    pub fn labels(&self) -> &[(String, String)] {
        &self.0.labels
    }

    /// The value of label `name`, if the series has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.0
            .labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The heap memory of the key (shared by every clone), in bytes.
    fn heap_bytes(&self) -> usize {
        let inner = &*self.0;
        // The reference counts, the name and labels, and each label's two strings.
        2 * std::mem::size_of::<usize>()
            + std::mem::size_of::<KeyInner>()
            + inner.name.capacity()
            + inner.labels.capacity() * std::mem::size_of::<(String, String)>()
            + inner
                .labels
                .iter()
                .map(|(k, v)| k.capacity() + v.capacity())
                .sum::<usize>()
    }
}

impl fmt::Debug for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeriesKey")
            .field("name", &self.0.name)
            .field("labels", &self.0.labels)
            .finish()
    }
}

impl fmt::Display for SeriesKey {
    /// Prometheus style: `name{a="1",b="2"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        if !self.labels().is_empty() {
            f.write_str("{")?;
            for (i, (k, v)) in self.labels().iter().enumerate() {
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
        map.serialize_entry("name", self.name())?;
        map.serialize_entry("labels", &Labels(self.labels()))?;
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
    /// series; then, if need be, the oldest blocks of the finest tier, and so on. At least
    /// [`min_bytes`](Self::min_bytes) (room for every series' bookkeeping and open chunk).
    pub max_bytes: usize,
    /// At most this many series; a new series past the cap is refused and counted.
    pub max_series: usize,
    /// A series that has had no sample for this long is dropped whole (a series read back from
    /// disk counts from the restart). Milliseconds.
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

/// Most downsampled tiers a [`Retention`] may list.
pub const MAX_TIERS: usize = 8;

/// Bytes a series is assumed to take for each sample of its open raw chunk, in
/// [`Retention::min_bytes`]: regular series take about 1.5 (see `docs/metrics-store.md`).
const OPEN_CHUNK_BYTES_PER_SAMPLE: usize = 2;

/// Bytes a series key's text is assumed to take in [`Retention::min_bytes`] (a name and a
/// label or two).
const KEY_ALLOWANCE: usize = 64;

/// What a series' key costs the store: the key's own memory (shared by every clone), its slot
/// in the map, and its slots in the index of oldest blocks (one a level).
fn key_bytes(key: &SeriesKey, tiers: usize) -> usize {
    key.heap_bytes()
        + std::mem::size_of::<SeriesKey>()
        + (1 + tiers) * std::mem::size_of::<(i64, SeriesKey)>()
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
        if self.tiers.len() > MAX_TIERS {
            return Err(ConfigError::new(
                "tiers",
                format!("{} tiers", self.tiers.len()),
                format!("at most {MAX_TIERS} tiers"),
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
        let min = self.min_bytes();
        if self.max_bytes < min {
            return Err(ConfigError::new(
                "max_bytes",
                self.max_bytes,
                format!(
                    "at least {min} bytes: {} for each of max_series ({}) series, its bookkeeping \
                     and an open chunk of {} samples; raise max_bytes or lower max_series",
                    self.min_bytes_per_series(),
                    self.max_series,
                    self.chunk_samples
                ),
            ));
        }
        Ok(())
    }

    /// The smallest `max_bytes` accepted: `max_series` times what a series takes before any of
    /// its blocks can be dropped (its bookkeeping, a short key, its tiers' open blocks as they
    /// start, and an open raw chunk at 2 bytes a sample; 2,448 bytes with the defaults, so
    /// 24.5 MB for 10,000 series). Below this the budget could not be met even by dropping
    /// every closed block. Above it, it can still be passed while open blocks fill (an open
    /// tier block holds up to 4 × `chunk_samples` aggregates), and
    /// [`Stats::over_budget`] says so.
    pub fn min_bytes(&self) -> usize {
        self.max_series.saturating_mul(self.min_bytes_per_series())
    }

    fn min_bytes_per_series(&self) -> usize {
        Series::values(
            &self.tiers,
            key_bytes(&SeriesKey::new("", []), self.tiers.len()),
        )
        .memory()
        .saturating_add(KEY_ALLOWANCE)
        .saturating_add(
            self.chunk_samples
                .saturating_mul(OPEN_CHUNK_BYTES_PER_SAMPLE),
        )
        // Each tier's open block starts its six columns with a buffer of four words.
        .saturating_add(self.tiers.len() * 6 * 32)
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

/// The start of each level's oldest closed block (raw, then each tier).
type Oldest = [Option<i64>; MAX_TIERS + 1];

#[derive(Debug)]
struct Series {
    data: Data,
    /// The latest timestamp seen: what age is measured from and idleness judged by.
    newest: Option<i64>,
    /// Read back from disk and not yet seen by [`Store::evict_idle`], which then starts its
    /// idle clock: a restart after a long stop does not make restored history idle at once.
    restored: bool,
    /// When the idle clock started for a restored series (the first `evict_idle` after it).
    awake_since: Option<i64>,
    /// The key's memory, its slot in the map and its slots in the index of oldest blocks.
    key_bytes: usize,
}

impl Series {
    fn values(tiers: &[Tier], key_bytes: usize) -> Self {
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
            restored: false,
            awake_since: None,
            key_bytes,
        }
    }

    fn sketches(tiers: &[Tier], key_bytes: usize) -> Self {
        Series {
            data: Data::Sketches {
                raw: Blocks::default(),
                tiers: tiers
                    .iter()
                    .map(|t| (SketchRollup::new(t.resolution_ms), Blocks::default()))
                    .collect(),
            },
            newest: None,
            restored: false,
            awake_since: None,
            key_bytes,
        }
    }

    /// What the series takes: its own struct (which holds the open raw block), the tiers'
    /// vector (which holds their rollups and open blocks), every block's contents, and the
    /// key. A block's `memory_bytes` counts its own struct, so an open block held inline is
    /// counted there and not again with its holder.
    fn memory(&self) -> usize {
        fn holder<T, B>() -> usize {
            std::mem::size_of::<T>().saturating_sub(std::mem::size_of::<B>())
        }
        let data = match &self.data {
            Data::Values { raw, tiers, .. } => {
                holder::<Self, Chunk>()
                    + tiers.capacity() * holder::<(Rollup, Blocks<AggChunk>), AggChunk>()
                    + raw.memory()
                    + tiers.iter().map(|(_, b)| b.memory()).sum::<usize>()
            }
            Data::Sketches { raw, tiers } => {
                holder::<Self, SketchBlock>()
                    + tiers.capacity()
                        * holder::<(SketchRollup, Blocks<SketchBlock>), SketchBlock>()
                    + raw.memory()
                    + tiers
                        .iter()
                        .map(|(r, b)| b.memory() + r.current().map_or(0, |(_, s)| s.memory_bytes()))
                        .sum::<usize>()
            }
        };
        data + self.key_bytes
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

    fn oldest(&self, levels: usize) -> Oldest {
        let mut out = [None; MAX_TIERS + 1];
        for (level, slot) in out.iter_mut().enumerate().take(levels) {
            *slot = self.oldest_closed(level);
        }
        out
    }

    fn pop_oldest(&mut self, level: usize) -> Option<usize> {
        match (&mut self.data, level) {
            (Data::Values { raw, .. }, 0) => raw.pop_oldest(),
            (Data::Values { tiers, .. }, n) => tiers.get_mut(n - 1)?.1.pop_oldest(),
            (Data::Sketches { raw, .. }, 0) => raw.pop_oldest(),
            (Data::Sketches { tiers, .. }, n) => tiers.get_mut(n - 1)?.1.pop_oldest(),
        }
    }

    /// Appends a counter or gauge sample to the raw chunks, `last` and every tier; returns the
    /// raw chunk it closed. A late sample (stamped before the newest) goes into each tier's
    /// open interval in timestamp order, its neighbours read back from the raw chunks.
    fn push_value(&mut self, sample: Sample, per_block: usize) -> Option<Arc<Chunk>> {
        let late = self.newest.is_some_and(|n| sample.timestamp < n);
        self.newest = Some(
            self.newest
                .map_or(sample.timestamp, |n| n.max(sample.timestamp)),
        );
        let Data::Values { raw, tiers, last } = &mut self.data else {
            return None;
        };
        let neighbours = if late && !tiers.is_empty() {
            match raw.neighbours(sample.timestamp) {
                (before, Some(after)) => Some((before, after)),
                (_, None) => None,
            }
        } else {
            None
        };
        let closed = raw.push(sample, per_block);
        if last.is_none_or(|l| sample.timestamp >= l.timestamp) {
            *last = Some(sample);
        }
        for (rollup, blocks) in tiers {
            match neighbours {
                Some((before, after)) => rollup.push_late(sample, before, after),
                None => {
                    if let Some(done) = rollup.push(sample) {
                        blocks.push(done, per_block * TIER_BLOCK_FACTOR);
                    }
                }
            }
        }
        closed
    }

    fn push_sketch(&mut self, timestamp: i64, sketch: &Sketch, per_block: usize) {
        self.newest = Some(self.newest.map_or(timestamp, |n| n.max(timestamp)));
        if let Data::Sketches { raw, tiers } = &mut self.data {
            raw.push((timestamp, sketch.encode().into_boxed_slice()), per_block);
            for (rollup, blocks) in tiers {
                if let Some(done) = rollup.push(timestamp, sketch) {
                    blocks.push(done, per_block * TIER_BLOCK_FACTOR);
                }
            }
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
    /// Registrations a [`StoreRecorder`](crate::StoreRecorder) refused because it already
    /// held `max_series` series: they went to the downstream recorder only. Always 0 from a
    /// bare [`Store`].
    pub registrations_over_series_cap: u64,
}

/// The state of a [`Store`] against its [`Retention`], for a status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Series held.
    pub series: usize,
    /// Memory they take, in bytes: blocks, bookkeeping and keys.
    pub memory_bytes: usize,
    /// The budget, `Retention::max_bytes`.
    pub max_bytes: usize,
    /// Whether the store is over its budget with no closed block left to drop: open blocks
    /// and bookkeeping alone take more. Raise `max_bytes`, lower `max_series` or
    /// `chunk_samples`.
    pub over_budget: bool,
    /// What retention dropped so far.
    pub dropped: Dropped,
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
    /// For each level (raw, then each tier), the start of every series' oldest closed block
    /// with its key: the memory budget drops from the front, and finds at once that nothing
    /// is left to drop.
    oldest: Vec<BTreeSet<(i64, SeriesKey)>>,
    memory: usize,
    over_budget: bool,
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
    /// Raw samples in `from..=to`, nothing more.
    Raw,
    /// A range query's: the coarsest tier whose resolution divides `step`, `window` and
    /// `from` (`quantile` over counters and gauges excepted), else raw samples with the
    /// predecessor of the first window's first sample.
    Range {
        step: i64,
        window: i64,
        from: i64,
        quantile: bool,
    },
}

impl Store {
    /// An empty store keeping what `retention` allows, or the setting that cannot work.
    pub fn new(retention: Retention) -> Result<Self, ConfigError> {
        retention.validate()?;
        Ok(Store {
            oldest: vec![BTreeSet::new(); 1 + retention.tiers.len()],
            retention,
            series: BTreeMap::new(),
            memory: 0,
            over_budget: false,
            dropped: Dropped::default(),
            closed: None,
        })
    }

    /// The retention the store keeps to.
    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    /// Raw, then each tier.
    fn levels(&self) -> usize {
        1 + self.retention.tiers.len()
    }

    /// Whether `key` may take a sample of its kind: it exists with that kind, or is created
    /// if the cap allows. Counts what it refuses.
    fn admit(&mut self, key: &SeriesKey, histogram: bool) -> bool {
        match self.series.get(key) {
            Some(series) => {
                if matches!(series.data, Data::Sketches { .. }) != histogram {
                    self.dropped.samples_of_the_wrong_kind += 1;
                    return false;
                }
                true
            }
            None => {
                if self.series.len() >= self.retention.max_series {
                    self.dropped.samples_over_series_cap += 1;
                    return false;
                }
                let key_bytes = key_bytes(key, self.retention.tiers.len());
                let series = if histogram {
                    Series::sketches(&self.retention.tiers, key_bytes)
                } else {
                    Series::values(&self.retention.tiers, key_bytes)
                };
                self.memory += series.memory();
                self.series.insert(key.clone(), series);
                true
            }
        }
    }

    /// Runs `change` on the series under `key`, then brings the memory total and the index of
    /// oldest closed blocks up to date. `None` if there is no such series.
    fn update<R>(
        &mut self,
        key: &SeriesKey,
        change: impl FnOnce(&mut Series, &Retention) -> R,
    ) -> Option<R> {
        let levels = self.levels();
        let series = self.series.get_mut(key)?;
        let memory = series.memory();
        let before = series.oldest(levels);
        let result = change(series, &self.retention);
        let after = series.oldest(levels);
        // `memory` is part of `self.memory`, so this never underflows.
        self.memory = self.memory - memory + series.memory();
        if before != after {
            let stored = self
                .series
                .get_key_value(key)
                .map_or_else(|| key.clone(), |(k, _)| k.clone());
            for (level, index) in self.oldest.iter_mut().enumerate() {
                if before[level] != after[level] {
                    if let Some(t) = before[level] {
                        index.remove(&(t, stored.clone()));
                    }
                    if let Some(t) = after[level] {
                        index.insert((t, stored.clone()));
                    }
                }
            }
        }
        Some(result)
    }

    /// Appends a counter or gauge sample to a series, creating the series if the cap allows.
    /// Returns whether the sample was kept.
    ///
    /// A sample stamped before the series' newest is kept too. Raw queries read samples in
    /// timestamp order; each tier folds it into the interval it is filling in timestamp order
    /// as well, so both answer alike. Only a sample older than the interval a tier is filling
    /// is left out of that tier.
    pub fn insert(&mut self, key: &SeriesKey, sample: Sample) -> bool {
        if !self.admit(key, false) {
            return false;
        }
        let per_block = self.retention.chunk_samples;
        let Some((closed, expired)) = self.update(key, |series, retention| {
            let closed = series.push_value(sample, per_block);
            (closed, series.expire(retention))
        }) else {
            return false;
        };
        self.dropped.chunks_by_age += expired;
        if let (Some(chunk), Some(out)) = (closed, &mut self.closed) {
            let stored = self
                .series
                .get_key_value(key)
                .map_or_else(|| key.clone(), |(k, _)| k.clone());
            out.push((stored, chunk));
        }
        self.enforce_memory();
        true
    }

    /// Appends the sketch of one sampling interval, stamped `timestamp`, to a histogram series.
    /// Returns whether it was kept.
    pub fn insert_sketch(&mut self, key: &SeriesKey, timestamp: i64, sketch: &Sketch) -> bool {
        if !self.admit(key, true) {
            return false;
        }
        let per_block = self.retention.chunk_samples;
        let Some(expired) = self.update(key, |series, retention| {
            series.push_sketch(timestamp, sketch, per_block);
            series.expire(retention)
        }) else {
            return false;
        };
        self.dropped.chunks_by_age += expired;
        self.enforce_memory();
        true
    }

    /// Drops the oldest closed blocks until the store fits its memory budget: raw chunks
    /// across all series first, then the finest tier's, and so on. Each drop finds its block
    /// in an ordered index, and a level with none left costs one look, so an unreachable
    /// budget costs little; it is reported by [`stats`](Self::stats).
    fn enforce_memory(&mut self) {
        let levels = self.levels();
        let mut level = 0;
        while self.memory > self.retention.max_bytes && level < levels {
            let Some((_, key)) = self.oldest[level].first().cloned() else {
                level += 1;
                continue;
            };
            match self.update(&key, |s, _| s.pop_oldest(level)).flatten() {
                Some(_) => self.dropped.chunks_by_memory += 1,
                // Not reached: the index lists only blocks that exist. Drop the stale entry
                // rather than look at it again.
                None => {
                    self.oldest[level].pop_first();
                }
            }
        }
        self.over_budget = self.memory > self.retention.max_bytes;
    }

    /// Drops every series with no sample within `idle_after_ms` of `now_ms`. A series read
    /// back from disk counts as active at the first call after it was restored, so history
    /// survives a restart however long the stop was, and goes only if nothing records to it
    /// within `idle_after_ms` after.
    pub fn evict_idle(&mut self, now_ms: i64) {
        let idle = self.retention.idle_after_ms;
        let levels = self.levels();
        let Store {
            series,
            oldest,
            memory,
            dropped,
            ..
        } = self;
        series.retain(|key, s| {
            if s.restored {
                s.restored = false;
                s.awake_since = Some(now_ms);
            }
            let active = s.newest.max(s.awake_since);
            let keep = active.is_some_and(|t| now_ms.saturating_sub(t) <= idle);
            if !keep {
                *memory -= s.memory();
                dropped.idle_series += 1;
                for (level, index) in oldest.iter_mut().enumerate().take(levels) {
                    if let Some(t) = s.oldest_closed(level) {
                        index.remove(&(t, key.clone()));
                    }
                }
            }
            keep
        });
        self.over_budget = self.memory > self.retention.max_bytes;
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

    /// The series named `name`, in key order: a range of the map, since keys sort by name
    /// first.
    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a SeriesKey, &'a Series)> {
        self.series
            .range(SeriesKey::new(name, [])..)
            .take_while(move |(k, _)| k.name() == name)
    }

    /// The newest value of every counter and gauge series named `name` that `keep` accepts.
    pub(crate) fn last_values(
        &self,
        name: &str,
        keep: impl Fn(&SeriesKey) -> bool,
    ) -> Vec<(SeriesKey, Sample)> {
        self.named(name)
            .filter(|(k, _)| keep(k))
            .filter_map(|(k, s)| match &s.data {
                Data::Values { last: Some(l), .. } => Some((k.clone(), *l)),
                _ => None,
            })
            .collect()
    }

    /// The blocks of every series named `name` that `keep` accepts, that a query over
    /// `from..=to` at `level` needs, by reference: no sample is decoded here, so a caller
    /// holding a lock around this holds it briefly.
    pub(crate) fn select(
        &self,
        name: &str,
        keep: impl Fn(&SeriesKey) -> bool,
        from: i64,
        to: i64,
        level: Level,
    ) -> Vec<(SeriesKey, View)> {
        let (chosen, quantile) = match level {
            Level::Raw => (None, false),
            Level::Range {
                step,
                window,
                from,
                quantile,
            } => (
                self.retention.tiers.iter().rposition(|t| {
                    let r = t.resolution_ms;
                    step % r == 0 && window % r == 0 && from.rem_euclid(r) == 0
                }),
                quantile,
            ),
        };
        let ranged = matches!(level, Level::Range { .. });
        self.named(name)
            .filter(|(k, _)| keep(k))
            .map(|(k, s)| {
                let view = match &s.data {
                    // A quantile over samples needs every value: raw samples only.
                    Data::Values { raw, tiers, .. } => {
                        match chosen.filter(|_| !quantile).and_then(|i| tiers.get(i)) {
                            Some((rollup, blocks)) => View::Aggregates {
                                blocks: blocks.view(from, to),
                                current: rollup.current(),
                            },
                            None if ranged => View::Samples(raw.view_with_predecessor(from, to)),
                            None => View::Samples(raw.view(from, to)),
                        }
                    }
                    Data::Sketches { raw, tiers } => match chosen.and_then(|i| tiers.get(i)) {
                        Some((rollup, blocks)) => {
                            let mut blocks = blocks.view(from, to);
                            if let Some((t, s)) = rollup.current() {
                                let mut open = SketchBlock::default();
                                open.push((t, s.encode().into_boxed_slice()));
                                blocks.push(Arc::new(open));
                            }
                            View::Sketches(blocks)
                        }
                        None => View::Sketches(raw.view(from, to)),
                    },
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
        let keys: Vec<SeriesKey> = self.series.keys().cloned().collect();
        let mut sealed = Vec::new();
        for key in keys {
            let chunk = self
                .update(&key, |series, _| match &mut series.data {
                    Data::Values { raw, .. } => raw.seal_open(),
                    Data::Sketches { .. } => None,
                })
                .flatten();
            if let Some(chunk) = chunk {
                sealed.push((key, chunk));
            }
        }
        if let Some(out) = &mut self.closed {
            out.extend(sealed);
        }
        self.enforce_memory();
    }

    /// Loads chunks read back from disk (oldest first), as if their samples had been inserted
    /// then: tiers are rebuilt and retention applies. They are not handed out again by
    /// [`take_closed`](Self::take_closed), and each series' restored samples end in a closed
    /// chunk, so that new samples never share a chunk with them and nothing is written twice.
    ///
    /// Restored series are not idle until `idle_after_ms` after the next
    /// [`evict_idle`](Self::evict_idle) (the first sampling after a restart), however old
    /// their samples are.
    pub fn restore(&mut self, chunks: impl IntoIterator<Item = (SeriesKey, Chunk)>) {
        let keep = self.closed.take();
        for (key, chunk) in chunks {
            for sample in chunk.iter() {
                self.insert(&key, sample);
            }
            if let Some(series) = self.series.get_mut(&key) {
                series.restored = true;
            }
        }
        self.seal_open_chunks();
        self.closed = keep;
    }

    /// How many series the store holds.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Memory the series take, in bytes: their blocks, their bookkeeping and their keys.
    pub fn memory_bytes(&self) -> usize {
        self.memory
    }

    /// What retention dropped so far.
    pub fn dropped(&self) -> Dropped {
        self.dropped
    }

    /// Series, memory against the budget, and what was dropped.
    pub fn stats(&self) -> Stats {
        Stats {
            series: self.series.len(),
            memory_bytes: self.memory,
            max_bytes: self.retention.max_bytes,
            over_budget: self.over_budget,
            dropped: self.dropped,
        }
    }

    /// Every entry of the index of oldest closed blocks matches its series (for tests).
    #[cfg(test)]
    pub(crate) fn index_matches(&self) -> bool {
        let levels = self.levels();
        let mut expected = vec![BTreeSet::new(); levels];
        for (k, s) in &self.series {
            for (level, set) in expected.iter_mut().enumerate() {
                if let Some(t) = s.oldest_closed(level) {
                    set.insert((t, k.clone()));
                }
            }
        }
        expected == self.oldest
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
            max_series: 8,
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
            assert!(store.index_matches(), "after step {i}");
        }
        assert!(
            store.dropped().chunks_by_memory > 0,
            "the budget was exercised"
        );
        store.restore([(SeriesKey::new("r", []), Chunk::new())]);
        assert_eq!(store.memory_bytes(), recount(&store));
        assert!(store.index_matches());
    }
}
