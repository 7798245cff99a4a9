//! Test helpers shared by the crates' tests, so that none is copied into each test file.
//!
//! Only dev-dependencies use this crate; it is never published and no crate's library
//! depends on it, so the rule that sibling crates never depend on each other still holds.

// tokio compiles its networking out under `--cfg loom`, which the loom models build with.
#[cfg(not(loom))]
pub mod http;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// What a `metrics` recorder holds at one moment, searchable by name and labels.
///
/// ```
/// use hardening_testkit::MetricsSnapshot;
/// use metrics_util::debugging::DebuggingRecorder;
///
/// let recorder = DebuggingRecorder::new();
/// metrics::with_local_recorder(&recorder, || {
///     metrics::counter!("calls_total", "outcome" => "ok").increment(3);
/// });
/// let m = MetricsSnapshot::of(&recorder);
/// assert_eq!(m.counter("calls_total", &[("outcome", "ok")]), Some(3));
/// assert_eq!(m.counter("calls_total", &[("outcome", "error")]), None);
/// ```
#[derive(Debug)]
pub struct MetricsSnapshot {
    entries: Vec<Series>,
}

/// One series: its name, its labels and its value.
type Series = (String, Vec<(String, String)>, DebugValue);

impl MetricsSnapshot {
    /// Runs `body` to completion on a current-thread tokio runtime whose time is paused,
    /// with a fresh [`DebuggingRecorder`] as this thread's recorder, and returns what it
    /// recorded.
    ///
    /// ```
    /// use hardening_testkit::MetricsSnapshot;
    ///
    /// let m = MetricsSnapshot::record_paused(async {
    ///     tokio::time::sleep(std::time::Duration::from_secs(60)).await; // no real wait
    ///     metrics::gauge!("queue_depth").set(4.0);
    /// });
    /// assert_eq!(m.gauge("queue_depth", &[]), Some(4.0));
    /// ```
    pub fn record_paused(body: impl Future<Output = ()>) -> Self {
        let recorder = DebuggingRecorder::new();
        #[allow(
            clippy::expect_used,
            reason = "a test helper that cannot start fails loudly"
        )]
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a current-thread tokio runtime");
        metrics::with_local_recorder(&recorder, || runtime.block_on(body));
        MetricsSnapshot::of(&recorder)
    }

    /// Everything `recorder` holds now.
    pub fn of(recorder: &DebuggingRecorder) -> Self {
        let entries = recorder
            .snapshotter()
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key();
                let labels = key
                    .labels()
                    .map(|l| (l.key().to_string(), l.value().to_string()))
                    .collect();
                (key.name().to_string(), labels, value)
            })
            .collect();
        MetricsSnapshot { entries }
    }

    /// The value of the series called `name` that carries every label in `labels` (and maybe
    /// others).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        self.entries
            .iter()
            .find(|(n, have, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v))
            })
            .map(|(_, _, value)| value)
    }

    /// A counter's value.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        match self.value(name, labels)? {
            DebugValue::Counter(n) => Some(*n),
            _ => None,
        }
    }

    /// A gauge's value.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.value(name, labels)? {
            DebugValue::Gauge(v) => Some(v.into_inner()),
            _ => None,
        }
    }

    /// A histogram's samples.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Option<Vec<f64>> {
        match self.value(name, labels)? {
            DebugValue::Histogram(samples) => {
                Some(samples.iter().map(|s| s.into_inner()).collect())
            }
            _ => None,
        }
    }
}
