//! A `metrics::Recorder` that keeps history: counters, gauges and histograms recorded through
//! the facade are sampled into the [`Store`], and everything is also handed to a downstream
//! recorder (for example `metrics-exporter-prometheus`'s) so `/metrics` keeps working beside
//! the store.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

use crate::chunk::Sample;
use crate::error::{ConfigError, QueryError};
use crate::persist::{ChunkLog, Corruption, PersistError, PersistOptions};
use crate::query::{RangeQuery, Selector, SeriesPoints};
use crate::sketch::Sketch;
use crate::store::{Retention, SeriesKey, Stats, Store};

/// `metrics::Key` hashes itself to one precomputed `u64`; hashing that again (SipHash, the
/// std default) would cost more than the lookup it serves.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `Key`, which writes one u64; FNV-1a keeps any other input correct.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A counter cell: the value the store samples, and the downstream recorder's counter.
struct CounterCell {
    value: AtomicU64,
    downstream: Counter,
}

impl CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.value.fetch_add(value, Ordering::Relaxed);
        self.downstream.increment(value);
    }

    fn absolute(&self, value: u64) {
        self.value.fetch_max(value, Ordering::Relaxed);
        self.downstream.absolute(value);
    }
}

/// A gauge cell: the `f64`'s bits, and the downstream recorder's gauge.
struct GaugeCell {
    bits: AtomicU64,
    downstream: Gauge,
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        GaugeFn::increment(&self.bits, value);
        self.downstream.increment(value);
    }

    fn decrement(&self, value: f64) {
        GaugeFn::decrement(&self.bits, value);
        self.downstream.decrement(value);
    }

    fn set(&self, value: f64) {
        GaugeFn::set(&self.bits, value);
        self.downstream.set(value);
    }
}

/// One thread's share of a histogram's sketch, on its own cache lines.
#[repr(align(128))]
#[derive(Default)]
struct Shard(Mutex<Sketch>);

/// Shards a histogram keeps: one per core, at most 8; each holds at most two signs of
/// 2,048 buckets, so a histogram stays bounded whether or not anything samples it.
fn shard_count() -> usize {
    static SHARDS: OnceLock<usize> = OnceLock::new();
    *SHARDS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(8)
    })
}

/// This thread's shard number: threads take turns as they first record.
fn shard_of_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    }
    SHARD
        .try_with(|shard| {
            let mut n = shard.get();
            if n == usize::MAX {
                n = NEXT.fetch_add(1, Ordering::Relaxed);
                shard.set(n);
            }
            n
        })
        // A thread being torn down: any shard will do.
        .unwrap_or(0)
}

/// A histogram cell: the sketches of the current sampling interval, one per shard of
/// threads, merged when sampled; and the downstream recorder's histogram.
struct HistogramCell {
    shards: Box<[Shard]>,
    downstream: Histogram,
}

impl HistogramCell {
    /// Takes what was recorded since the last call.
    fn take(&self) -> Sketch {
        let mut merged = Sketch::new();
        for shard in &self.shards {
            let taken =
                std::mem::take(&mut *shard.0.lock().unwrap_or_else(PoisonError::into_inner));
            merged.merge(&taken);
        }
        merged
    }
}

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        // Each thread locks its own shard: uncontended unless more threads record than there
        // are shards, and no cache line goes back and forth between cores.
        let shard = &self.shards[shard_of_thread() % self.shards.len()];
        shard
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(value);
        self.downstream.record(value);
    }
}

#[derive(Clone)]
enum Cell {
    Counter(Arc<CounterCell>),
    Gauge(Arc<GaugeCell>),
    Histogram(Arc<HistogramCell>),
}

impl Cell {
    /// Whether a handle to the cell lives outside the recorder.
    fn in_use(&self) -> bool {
        match self {
            Cell::Counter(c) => Arc::strong_count(c) > 1,
            Cell::Gauge(c) => Arc::strong_count(c) > 1,
            Cell::Histogram(c) => Arc::strong_count(c) > 1,
        }
    }
}

/// A registered series: its key for the store, its cell, and what sampling last saw of it.
struct Entry {
    series: SeriesKey,
    cell: Cell,
    /// The value's bits at the last sample, to tell whether it changed.
    seen: AtomicU64,
    /// When it last changed (or was registered), in the sampler's milliseconds.
    changed_at: AtomicI64,
}

type Entries = HashMap<Key, Arc<Entry>, BuildHasherDefault<KeyHasher>>;

/// Records through the `metrics` facade into a [`Store`], and fans out to a downstream
/// recorder.
///
/// Recording is one relaxed atomic operation on the series' own cell for counters and gauges,
/// and an uncontended lock of the recording thread's own shard of a sketch for histograms,
/// plus whatever the downstream recorder does. Nothing is stored until
/// [`sample`](Self::sample) reads every cell into the store at a timestamp (the tick of
/// [`spawn_sampler`](Self::spawn_sampler), or the caller's), so regular series compress to
/// about a bit of timestamp a sample.
///
/// The recorder registers at most the retention's `max_series` series; a registration past
/// that goes to the downstream recorder only and is counted
/// ([`Dropped::registrations_over_series_cap`](crate::Dropped)), so its memory is bounded
/// whether or not the sampler runs.
///
/// **Idle series.** Without a downstream recorder, a series that nobody holds a handle to and
/// whose value has not changed for the retention's `idle_after_ms` is forgotten: it is no
/// longer sampled and the store evicts it, so memory stays bounded when label values come and
/// go (a user id, a request path), whether or not anything reads or scrapes. A later
/// `counter!` with the same key starts it afresh from zero (a query reads a counter reset).
/// With a downstream recorder, a series is kept as long as the downstream keeps it
/// registered, so [`snapshot`](Self::snapshot) and the store show what `/metrics` shows (a
/// gauge set once stays; a counter resumed after an hour goes on from its total):
/// `metrics-exporter-prometheus` keeps every series unless told otherwise, and so does this
/// recorder; if it is given an idle timeout, tell this recorder with
/// [`downstream_forgets_idle_after`](Self::downstream_forgets_idle_after).
///
/// Queries ([`query`](Self::query), [`query_raw`](Self::query_raw),
/// [`query_last`](Self::query_last)) hold the store's lock only to take the blocks they need
/// by reference (closed blocks are shared, open ones copied), and decode them after letting
/// go: recording never waits on a query, and sampling waits only for that hand-over.
///
/// ```
/// use hardening_metrics_store::{Retention, Selector, StoreRecorder};
///
/// let recorder = StoreRecorder::new(Retention::default())?;
/// metrics::with_local_recorder(&recorder, || {
///     metrics::counter!("jobs_total", "queue" => "mail").increment(3);
///     metrics::gauge!("queue_depth").set(7.0);
///     metrics::histogram!("job_seconds").record(0.25);
/// });
/// recorder.sample(10_000);
/// let last = recorder.query_last(&Selector::name("jobs_total").equal("queue", "mail"));
/// assert_eq!(last[0].1.value, 3.0);
/// # Ok::<(), hardening_metrics_store::ConfigError>(())
/// ```
pub struct StoreRecorder {
    entries: RwLock<Entries>,
    /// At most this many entries: the retention's `max_series`.
    max_entries: usize,
    /// Registrations refused for `max_entries`.
    refused: AtomicU64,
    store: Mutex<Store>,
    downstream: Option<Box<dyn Recorder + Send + Sync>>,
    /// How long the downstream recorder keeps a series nobody updates, in milliseconds;
    /// `None`: for ever.
    downstream_idle_ms: Option<i64>,
    persistence: Option<Persistence>,
}

/// Where closed chunks go, and what went wrong writing them.
struct Persistence {
    /// Its own lock: writing a chunk never holds the store's.
    log: Mutex<ChunkLog>,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Persistence {
    /// Appends `chunks` (and syncs if asked); counts every failure, keeps the latest as text
    /// and returns the first.
    fn write(
        &self,
        chunks: Vec<(SeriesKey, Arc<crate::chunk::Chunk>)>,
        sync: bool,
    ) -> Result<(), PersistError> {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let mut results: Vec<Result<(), PersistError>> =
            chunks.iter().map(|(k, c)| log.append(k, c)).collect();
        if sync {
            results.push(log.flush());
        }
        drop(log);
        let mut first = None;
        for e in results.into_iter().filter_map(Result::err) {
            self.failures.fetch_add(1, Ordering::Relaxed);
            *self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
            first.get_or_insert(e);
        }
        first.map_or(Ok(()), Err)
    }
}

impl fmt::Debug for StoreRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreRecorder")
            .field("series", &self.entries.read().map_or(0, |h| h.len()))
            .field("downstream", &self.downstream.is_some())
            .field("persistence", &self.persistence.is_some())
            .finish_non_exhaustive()
    }
}

impl StoreRecorder {
    /// A recorder keeping what `retention` allows, with no downstream recorder, or the
    /// retention setting that cannot work.
    pub fn new(retention: Retention) -> Result<Self, ConfigError> {
        Ok(StoreRecorder {
            entries: RwLock::new(Entries::default()),
            max_entries: retention.max_series,
            refused: AtomicU64::new(0),
            store: Mutex::new(Store::new(retention)?),
            downstream: None,
            downstream_idle_ms: None,
            persistence: None,
        })
    }

    /// Keeps history on disk: reads back what an earlier run wrote to `options.dir()` into
    /// the store (damaged parts are skipped and returned, the rest kept), then appends every
    /// raw chunk that closes. Only counter and gauge samples are written; histogram sketches
    /// and tiers live in memory (tiers are rebuilt from what is read back).
    ///
    /// ```
    /// use hardening_metrics_store::{PersistOptions, Retention, Selector, StoreRecorder};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = std::env::temp_dir().join(format!("metrics-doc-{}", std::process::id()));
    /// let options = || PersistOptions::builder(&dir).build();
    /// {
    ///     let (recorder, damaged) =
    ///         StoreRecorder::new(Retention::default())?.with_persistence(options()?)?;
    ///     assert!(damaged.is_empty());
    ///     metrics::with_local_recorder(&recorder, || metrics::counter!("runs_total").increment(1));
    ///     recorder.sample(10_000);
    ///     recorder.flush()?; // what a graceful shutdown does
    /// }
    /// let (recorder, _) = StoreRecorder::new(Retention::default())?.with_persistence(options()?)?;
    /// let restored = recorder.query_raw(&Selector::name("runs_total"), 0, 10_000);
    /// assert_eq!(restored[0].points[0].value, 1.0);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// The directory cannot be made, read or written.
    pub fn with_persistence(
        mut self,
        options: PersistOptions,
    ) -> Result<(Self, Vec<Corruption>), PersistError> {
        let (log, recovered) = ChunkLog::open(options)?;
        {
            let store = self.store.get_mut().unwrap_or_else(PoisonError::into_inner);
            store.restore(recovered.chunks);
            store.keep_closed_chunks();
        }
        self.persistence = Some(Persistence {
            log: Mutex::new(log),
            failures: AtomicU64::new(0),
            last_error: Mutex::new(None),
        });
        Ok((self, recovered.problems))
    }

    /// Writes every series' open chunk to disk and syncs, so a restart loses nothing sampled
    /// so far. New samples start new chunks. Without persistence, does nothing.
    ///
    /// # Errors
    /// The first write or sync that failed.
    pub fn flush(&self) -> Result<(), PersistError> {
        let Some(persistence) = &self.persistence else {
            return Ok(());
        };
        let chunks = {
            let mut store = self.store();
            store.seal_open_chunks();
            store.take_closed()
        };
        persistence.write(chunks, true)
    }

    /// Chunks (and syncs) that failed to reach the disk since the recorder was made; the
    /// samples stay in memory. The latest error is in
    /// [`last_persistence_error`](Self::last_persistence_error).
    pub fn persistence_failures(&self) -> u64 {
        self.persistence
            .as_ref()
            .map_or(0, |p| p.failures.load(Ordering::Relaxed))
    }

    /// The latest failure to write a chunk, as text.
    pub fn last_persistence_error(&self) -> Option<String> {
        self.persistence.as_ref().and_then(|p| {
            p.last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        })
    }

    /// Hands every registration to `downstream` too (for example
    /// `PrometheusBuilder::new().build_recorder()`, whose handle renders `/metrics`). Series
    /// are then kept as long as the downstream keeps them: for ever, unless
    /// [`downstream_forgets_idle_after`](Self::downstream_forgets_idle_after) says otherwise.
    #[must_use]
    pub fn with_downstream(mut self, downstream: impl Recorder + Send + Sync + 'static) -> Self {
        self.downstream = Some(Box::new(downstream));
        self
    }

    /// Says that the downstream recorder forgets a series nobody updated for `after` (as
    /// `PrometheusBuilder::idle_timeout` makes it do). A series nobody holds a handle to is
    /// then forgotten here too once its value has not changed for `after` or the retention's
    /// `idle_after_ms`, whichever is longer.
    #[must_use]
    pub fn downstream_forgets_idle_after(mut self, after: std::time::Duration) -> Self {
        self.downstream_idle_ms = Some(i64::try_from(after.as_millis()).unwrap_or(i64::MAX));
        self
    }

    /// How long an unheld series must go unchanged to be forgotten; `None`: never.
    fn idle_horizon(&self, idle_after_ms: i64) -> Option<i64> {
        match (&self.downstream, self.downstream_idle_ms) {
            (None, _) => Some(idle_after_ms),
            (Some(_), Some(downstream)) => Some(idle_after_ms.max(downstream)),
            (Some(_), None) => None,
        }
    }

    fn entries(&self) -> Vec<Arc<Entry>> {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Reads every counter, gauge and histogram into the store at `timestamp_ms`, and drops
    /// what has gone idle. With persistence, the chunks that closed are then written, on the
    /// calling thread and with the store's lock let go.
    pub fn sample(&self, timestamp_ms: i64) {
        let closed = self.sample_into_store(timestamp_ms);
        self.write_closed(closed);
    }

    /// Writes closed chunks out, if persisting. A failure is counted and kept for
    /// `last_persistence_error`; the samples stay in memory, and sampling goes on.
    fn write_closed(&self, closed: Vec<(SeriesKey, Arc<crate::chunk::Chunk>)>) {
        if let Some(persistence) = &self.persistence
            && !closed.is_empty()
        {
            let _ = persistence.write(closed, false);
        }
    }

    /// [`sample`](Self::sample) up to the writing: returns the chunks to write.
    fn sample_into_store(&self, timestamp_ms: i64) -> Vec<(SeriesKey, Arc<crate::chunk::Chunk>)> {
        let idle_after = self.store().retention().idle_after_ms;
        let horizon = self.idle_horizon(idle_after);
        let is_idle = |e: &Entry| {
            horizon.is_some_and(|h| {
                !e.cell.in_use()
                    && timestamp_ms.saturating_sub(e.changed_at.load(Ordering::Relaxed)) > h
            })
        };
        let mut any_idle = false;
        // Read the cells before taking the store's lock, so the lock covers only inserts.
        enum Reading {
            Value(f64),
            Sketch(Sketch),
        }
        let mut readings = Vec::new();
        for entry in self.entries() {
            let (bits, reading) = match &entry.cell {
                Cell::Counter(c) => {
                    let v = c.value.load(Ordering::Relaxed) as f64;
                    (v.to_bits(), Reading::Value(v))
                }
                Cell::Gauge(g) => {
                    let bits = g.bits.load(Ordering::Relaxed);
                    (bits, Reading::Value(f64::from_bits(bits)))
                }
                Cell::Histogram(h) => {
                    let sketch = h.take();
                    // A histogram "changes" when anything was recorded this interval.
                    let bits = if sketch.is_empty() {
                        0
                    } else {
                        timestamp_ms as u64
                    };
                    (bits, Reading::Sketch(sketch))
                }
            };
            if entry.seen.swap(bits, Ordering::Relaxed) != bits {
                entry.changed_at.store(timestamp_ms, Ordering::Relaxed);
            } else if is_idle(&entry) {
                any_idle = true;
                continue;
            }
            readings.push((entry, reading));
        }
        let closed = {
            let mut store = self.store();
            for (entry, reading) in &readings {
                match reading {
                    Reading::Value(value) => {
                        store.insert(
                            &entry.series,
                            Sample {
                                timestamp: timestamp_ms,
                                value: *value,
                            },
                        );
                    }
                    Reading::Sketch(sketch) => {
                        store.insert_sketch(&entry.series, timestamp_ms, sketch);
                    }
                }
            }
            store.evict_idle(timestamp_ms);
            store.take_closed()
        };
        if any_idle {
            // A handle may have been taken since the check above: it keeps its entry.
            self.entries
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, e| !is_idle(e));
        }
        closed
    }

    /// Samples every `interval` on the current tokio runtime, until the returned handle is
    /// aborted. The runtime needs its time driver (`enable_time` or `enable_all`).
    ///
    /// Each sample is stamped with the wall clock read once, when the sampler starts, plus
    /// the monotonic time from then to the tick's *scheduled* instant (tokio's clock, so
    /// paused time in tests moves it too). A sampler that wakes late still stamps the tick it
    /// was due at, and a step of the wall clock after the start (a manual change, an NTP
    /// step) does not reach the stamps: ticks stay exactly `interval` apart, which is what
    /// makes regular series compress to about a bit of timestamp a sample. A tick missed
    /// altogether (the runtime blocked for longer than `interval`) is skipped, not caught up.
    ///
    /// With persistence, the chunks each tick closes are written on tokio's blocking pool
    /// (`spawn_blocking`), never on a runtime thread; the sampler waits for that write before
    /// its next tick, so at most one tick's chunks are in flight.
    ///
    /// # Errors
    /// A zero `interval`, named as `interval`; a call from outside a tokio runtime, named as
    /// `runtime` (`tokio::spawn` would panic there).
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn spawn_sampler(
        self: &Arc<Self>,
        interval: std::time::Duration,
    ) -> Result<tokio::task::JoinHandle<()>, ConfigError> {
        if interval.is_zero() {
            return Err(ConfigError::new(
                "interval",
                "0s",
                "a duration above zero, e.g. 10s",
            ));
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(ConfigError::new(
                "runtime",
                "none (called outside a tokio runtime)",
                "a call from within a tokio runtime, e.g. in an async fn run by #[tokio::main], \
                 or inside Runtime::enter()",
            ));
        };
        let recorder = Arc::clone(self);
        let origin_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let start = tokio::time::Instant::now();
        Ok(runtime.spawn(async move {
            let mut ticks = tokio::time::interval_at(start, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                let due = ticks.tick().await;
                let elapsed = i64::try_from(due.saturating_duration_since(start).as_millis())
                    .unwrap_or(i64::MAX);
                let closed = recorder.sample_into_store(origin_ms.saturating_add(elapsed));
                if !closed.is_empty() && recorder.persistence.is_some() {
                    let writer = Arc::clone(&recorder);
                    // A failed write is counted by `write_closed`; a panic in it ends only
                    // that blocking task.
                    let _ = tokio::task::spawn_blocking(move || writer.write_closed(closed)).await;
                }
            }
        }))
    }

    /// The current value of every counter and gauge, read live from the recording cells
    /// (not from the store, so no sampling is needed), sorted by series.
    pub fn snapshot(&self) -> Vec<(SeriesKey, f64)> {
        let mut values: Vec<(SeriesKey, f64)> = self
            .entries()
            .into_iter()
            .filter_map(|e| {
                let value = match &e.cell {
                    Cell::Counter(c) => c.value.load(Ordering::Relaxed) as f64,
                    Cell::Gauge(g) => f64::from_bits(g.bits.load(Ordering::Relaxed)),
                    Cell::Histogram(_) => return None,
                };
                Some((e.series.clone(), value))
            })
            .collect();
        values.sort_by(|a, b| a.0.cmp(&b.0));
        values
    }

    /// Runs a range query (see [`RangeQuery`]).
    pub fn query(&self, query: &RangeQuery) -> Result<Vec<SeriesPoints>, QueryError> {
        let selection = self.store().select_range(query)?;
        selection.evaluate(query)
    }

    /// The raw samples of every selected counter and gauge series in `from..=to`.
    pub fn query_raw(&self, selector: &Selector, from: i64, to: i64) -> Vec<SeriesPoints> {
        let selection = self.store().select_raw(selector, from, to);
        selection.raw(from, to)
    }

    /// The latest stored sample of every selected counter and gauge series. Under the
    /// store's lock it reads only the series of the selector's name, and copies their keys
    /// by reference count.
    pub fn query_last(&self, selector: &Selector) -> Vec<(SeriesKey, Sample)> {
        self.store().query_last(selector)
    }

    /// The store's [`Stats`], with the registrations this recorder refused for its series
    /// cap.
    pub fn stats(&self) -> Stats {
        let mut stats = self.store().stats();
        stats.dropped.registrations_over_series_cap = self.refused.load(Ordering::Relaxed);
        stats
    }

    /// How many series are registered (at most the retention's `max_series`).
    pub fn registered(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The store itself. Hold the guard briefly: sampling waits for it (recording never
    /// does).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cell registered under `key`, or a new one from `make`; `None` (and counted) when
    /// `key` is new and `max_entries` are registered already.
    fn cell(&self, key: &Key, make: impl FnOnce() -> Cell) -> Option<Cell> {
        {
            let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = entries.get(key) {
                return Some(entry.cell.clone());
            }
            if entries.len() >= self.max_entries {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get(key) {
            return Some(entry.cell.clone());
        }
        if entries.len() >= self.max_entries {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let entry = Arc::new(Entry {
            series: SeriesKey::new(key.name(), key.labels().map(|l| (l.key(), l.value()))),
            cell: make(),
            seen: AtomicU64::new(u64::MAX),
            changed_at: AtomicI64::new(i64::MIN),
        });
        let cell = entry.cell.clone();
        entries.insert(key.clone(), entry);
        Some(cell)
    }
}

impl Recorder for StoreRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(d) = &self.downstream {
            d.describe_counter(key, unit, description);
        }
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(d) = &self.downstream {
            d.describe_gauge(key, unit, description);
        }
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(d) = &self.downstream {
            d.describe_histogram(key, unit, description);
        }
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        let downstream = || {
            self.downstream
                .as_ref()
                .map_or_else(Counter::noop, |d| d.register_counter(key, metadata))
        };
        match self.cell(key, || {
            Cell::Counter(Arc::new(CounterCell {
                value: AtomicU64::new(0),
                downstream: downstream(),
            }))
        }) {
            Some(Cell::Counter(cell)) => Counter::from_arc(cell),
            // The key is already another kind, or past the series cap: the downstream
            // recorder still gets the counts, the store keeps what it has.
            _ => downstream(),
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        let downstream = || {
            self.downstream
                .as_ref()
                .map_or_else(Gauge::noop, |d| d.register_gauge(key, metadata))
        };
        match self.cell(key, || {
            Cell::Gauge(Arc::new(GaugeCell {
                bits: AtomicU64::new(0.0f64.to_bits()),
                downstream: downstream(),
            }))
        }) {
            Some(Cell::Gauge(cell)) => Gauge::from_arc(cell),
            _ => downstream(),
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        let downstream = || {
            self.downstream
                .as_ref()
                .map_or_else(Histogram::noop, |d| d.register_histogram(key, metadata))
        };
        match self.cell(key, || {
            Cell::Histogram(Arc::new(HistogramCell {
                shards: (0..shard_count()).map(|_| Shard::default()).collect(),
                downstream: downstream(),
            }))
        }) {
            Some(Cell::Histogram(cell)) => Histogram::from_arc(cell),
            _ => downstream(),
        }
    }
}
