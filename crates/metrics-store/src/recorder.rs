//! A `metrics::Recorder` that keeps history: counters and gauges recorded through the facade
//! are sampled into the [`Store`], and everything is also handed to a downstream recorder (for
//! example `metrics-exporter-prometheus`'s) so `/metrics` keeps working beside the store.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder, SharedString,
    Unit,
};

use crate::chunk::Sample;
use crate::store::{Retention, SeriesKey, Store};

/// What the recorder samples: each registered counter and gauge, by its key.
#[derive(Debug, Clone)]
enum Handle {
    Counter(Arc<AtomicU64>),
    /// The gauge's `f64`, as bits.
    Gauge(Arc<AtomicU64>),
}

/// A counter that counts for the store and for the downstream recorder.
struct FanOutCounter {
    ours: Arc<AtomicU64>,
    downstream: Counter,
}

impl CounterFn for FanOutCounter {
    fn increment(&self, value: u64) {
        self.ours.fetch_add(value, Ordering::Relaxed);
        self.downstream.increment(value);
    }

    fn absolute(&self, value: u64) {
        self.ours.fetch_max(value, Ordering::Relaxed);
        self.downstream.absolute(value);
    }
}

/// A gauge that sets the store's value and the downstream recorder's.
struct FanOutGauge {
    ours: Arc<AtomicU64>,
    downstream: Gauge,
}

impl GaugeFn for FanOutGauge {
    fn increment(&self, value: f64) {
        GaugeFn::increment(&*self.ours, value);
        self.downstream.increment(value);
    }

    fn decrement(&self, value: f64) {
        GaugeFn::decrement(&*self.ours, value);
        self.downstream.decrement(value);
    }

    fn set(&self, value: f64) {
        GaugeFn::set(&*self.ours, value);
        self.downstream.set(value);
    }
}

/// Records through the `metrics` facade into a [`Store`], and fans out to a downstream
/// recorder.
///
/// Recording is one relaxed atomic operation on the series' own cell (plus whatever the
/// downstream recorder does); nothing is stored until [`sample`](Self::sample) reads every
/// cell into the store at a timestamp the caller chooses (the scheduled tick of a sampling
/// loop, so regular series compress to about a bit of timestamp a sample). Histograms go to
/// the downstream recorder only, for now.
///
/// ```
/// use hardening_metrics_store::{Retention, SeriesKey, StoreRecorder};
///
/// let recorder = StoreRecorder::new(Retention::default());
/// metrics::with_local_recorder(&recorder, || {
///     metrics::counter!("jobs_total", "queue" => "mail").increment(3);
///     metrics::gauge!("queue_depth").set(7.0);
/// });
/// recorder.sample(10_000);
/// let key = SeriesKey::new("jobs_total", [("queue", "mail")]);
/// assert_eq!(recorder.store().last(&key).unwrap().value, 3.0);
/// ```
pub struct StoreRecorder {
    handles: RwLock<HashMap<Key, Handle>>,
    store: Mutex<Store>,
    downstream: Option<Box<dyn Recorder + Send + Sync>>,
}

impl fmt::Debug for StoreRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreRecorder")
            .field("series", &self.handles.read().map_or(0, |h| h.len()))
            .field("downstream", &self.downstream.is_some())
            .finish_non_exhaustive()
    }
}

impl StoreRecorder {
    /// A recorder keeping what `retention` allows, with no downstream recorder.
    pub fn new(retention: Retention) -> Self {
        StoreRecorder {
            handles: RwLock::new(HashMap::new()),
            store: Mutex::new(Store::new(retention)),
            downstream: None,
        }
    }

    /// Hands every registration to `downstream` too (for example
    /// `PrometheusBuilder::new().build_recorder()`, whose handle renders `/metrics`).
    #[must_use]
    pub fn with_downstream(mut self, downstream: impl Recorder + Send + Sync + 'static) -> Self {
        self.downstream = Some(Box::new(downstream));
        self
    }

    /// Reads every counter and gauge into the store at `timestamp_ms`.
    pub fn sample(&self, timestamp_ms: i64) {
        let handles: Vec<(Key, Handle)> = self
            .handles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, h)| (k.clone(), h.clone()))
            .collect();
        let mut store = self.store();
        for (key, handle) in handles {
            let value = match handle {
                Handle::Counter(cell) => cell.load(Ordering::Relaxed) as f64,
                Handle::Gauge(cell) => f64::from_bits(cell.load(Ordering::Relaxed)),
            };
            let series = SeriesKey::new(key.name(), key.labels().map(|l| (l.key(), l.value())));
            store.insert(
                &series,
                Sample {
                    timestamp: timestamp_ms,
                    value,
                },
            );
        }
    }

    /// The current value of every counter and gauge, read live from the recording cells
    /// (not from the store, so no sampling is needed), sorted by series.
    pub fn snapshot(&self) -> Vec<(SeriesKey, f64)> {
        let mut values: Vec<(SeriesKey, f64)> = self
            .handles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(key, handle)| {
                let value = match handle {
                    Handle::Counter(cell) => cell.load(Ordering::Relaxed) as f64,
                    Handle::Gauge(cell) => f64::from_bits(cell.load(Ordering::Relaxed)),
                };
                (
                    SeriesKey::new(key.name(), key.labels().map(|l| (l.key(), l.value()))),
                    value,
                )
            })
            .collect();
        values.sort_by(|a, b| a.0.cmp(&b.0));
        values
    }

    /// The store, for queries. Hold the guard briefly: sampling waits for it (recording never
    /// does).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cell(&self, key: &Key, make: impl FnOnce() -> Handle) -> Handle {
        if let Some(handle) = self
            .handles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
        {
            return handle.clone();
        }
        self.handles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_insert_with(make)
            .clone()
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
        let ours = match self.cell(key, || Handle::Counter(Arc::new(AtomicU64::new(0)))) {
            Handle::Counter(cell) => cell,
            // The same key registered as a gauge first: keep counting for the downstream
            // recorder, but the store keeps the gauge.
            Handle::Gauge(_) => Arc::new(AtomicU64::new(0)),
        };
        let downstream = self
            .downstream
            .as_ref()
            .map_or_else(Counter::noop, |d| d.register_counter(key, metadata));
        Counter::from_arc(Arc::new(FanOutCounter { ours, downstream }))
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        let ours = match self.cell(key, || {
            Handle::Gauge(Arc::new(AtomicU64::new(0.0f64.to_bits())))
        }) {
            Handle::Gauge(cell) => cell,
            Handle::Counter(_) => Arc::new(AtomicU64::new(0.0f64.to_bits())),
        };
        let downstream = self
            .downstream
            .as_ref()
            .map_or_else(Gauge::noop, |d| d.register_gauge(key, metadata));
        Gauge::from_arc(Arc::new(FanOutGauge { ours, downstream }))
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.downstream
            .as_ref()
            .map_or_else(Histogram::noop, |d| d.register_histogram(key, metadata))
    }
}
