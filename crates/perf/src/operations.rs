//! Operation timings: how often each named operation runs, how often it fails and how long it
//! takes.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::histogram::{Histogram, LatencySummary};

/// At most this many distinct operation names are tracked; later names share one entry called
/// [`OVERFLOW`], so a name built from unbounded input cannot grow memory without bound.
pub const MAX_OPERATIONS: usize = 1_000;
/// The name shared by operations past [`MAX_OPERATIONS`].
pub const OVERFLOW: &str = "_overflow";

#[derive(Debug, Default)]
struct Stats {
    errors: AtomicU64,
    latency: Histogram,
}

/// A registry of named operations. Cheap to clone: clones share the registry.
///
/// ```
/// use hardening_perf::Operations;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let ops = Operations::new();
/// let rows: Result<u32, &str> = ops.time("db.query", async { Ok(3) }).await;
/// assert_eq!(rows, Ok(3));
/// let parsed: Result<u32, std::num::ParseIntError> = ops.time_sync("parse", || "7".parse());
/// assert!(parsed.is_ok());
/// let render = ops.operation("render");
/// {
///     let guard = render.start();
///     // ... work that is not a closure ...
///     guard.error(); // or just drop it for a success
/// }
/// let report = ops.snapshot();
/// assert_eq!(report.len(), 3);
/// assert_eq!(report[2].name, "render");
/// assert_eq!(report[2].errors, 1);
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Operations {
    inner: Arc<RwLock<HashMap<Arc<str>, Arc<Stats>>>>,
    slow_threshold: Option<Duration>,
}

impl fmt::Debug for Operations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operations")
            .field("operations", &self.read().len())
            .finish_non_exhaustive()
    }
}

impl Operations {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts, in each operation's report, the calls that took at least `threshold`.
    #[must_use]
    pub fn with_slow_threshold(mut self, threshold: Duration) -> Self {
        self.slow_threshold = Some(threshold);
        self
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Arc<str>, Arc<Stats>>> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The handle of the operation called `name`, created on first use. Keep the handle to
    /// time the same operation again without looking the name up.
    pub fn operation(&self, name: &str) -> Operation {
        if let Some((name, stats)) = self.read().get_key_value(name) {
            return Operation {
                name: Arc::clone(name),
                stats: Arc::clone(stats),
            };
        }
        let mut map = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key: Arc<str> = if map.len() >= MAX_OPERATIONS && !map.contains_key(name) {
            Arc::from(OVERFLOW)
        } else {
            Arc::from(name)
        };
        let (name, stats) = match map.get_key_value(&key) {
            Some((name, stats)) => (Arc::clone(name), Arc::clone(stats)),
            None => {
                let stats = Arc::new(Stats::default());
                map.insert(Arc::clone(&key), Arc::clone(&stats));
                (key, stats)
            }
        };
        Operation { name, stats }
    }

    /// Times `future` under `name`; an `Err` counts as an error.
    pub async fn time<T, E>(
        &self,
        name: &str,
        future: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.operation(name).time(future).await
    }

    /// Times `f` under `name`; an `Err` counts as an error.
    pub fn time_sync<T, E>(&self, name: &str, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        self.operation(name).time_sync(f)
    }

    /// Every operation's figures, sorted by name.
    pub fn snapshot(&self) -> Vec<OperationReport> {
        let threshold = self.slow_threshold.unwrap_or(Duration::MAX);
        let mut reports: Vec<OperationReport> = self
            .read()
            .iter()
            .map(|(name, stats)| {
                let latency = stats.latency.snapshot().summary(threshold);
                let errors = stats.errors.load(Ordering::Relaxed);
                OperationReport {
                    name: name.to_string(),
                    count: latency.count,
                    errors,
                    error_rate: if latency.count == 0 {
                        0.0
                    } else {
                        errors as f64 / latency.count as f64
                    },
                    latency,
                }
            })
            .collect();
        reports.sort_by(|a, b| a.name.cmp(&b.name));
        reports
    }
}

/// One operation's handle: time calls with it, directly or through a guard.
#[derive(Debug, Clone)]
pub struct Operation {
    name: Arc<str>,
    stats: Arc<Stats>,
}

impl Operation {
    /// The operation's name ([`OVERFLOW`] past [`MAX_OPERATIONS`] names).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Records one call that took `elapsed`.
    #[inline]
    pub fn record(&self, elapsed: Duration, ok: bool) {
        self.stats.latency.record(elapsed);
        if !ok {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Starts timing; the call is recorded when the guard is dropped (as a success) or told
    /// how it ended.
    pub fn start(&self) -> OperationGuard<'_> {
        OperationGuard {
            operation: self,
            started: Instant::now(),
            ok: true,
        }
    }

    /// Times `future`; an `Err` counts as an error. A future dropped before it finishes is
    /// recorded as an error (it did not complete).
    pub async fn time<T, E>(&self, future: impl Future<Output = Result<T, E>>) -> Result<T, E> {
        let mut guard = self.start();
        guard.ok = false;
        let result = future.await;
        guard.ok = result.is_ok();
        result
    }

    /// Times `f`; an `Err` counts as an error.
    #[inline]
    pub fn time_sync<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let started = Instant::now();
        let result = f();
        self.record(started.elapsed(), result.is_ok());
        result
    }
}

/// Times one call of an [`Operation`] until dropped.
#[derive(Debug)]
#[must_use = "the call is timed until the guard is dropped"]
pub struct OperationGuard<'a> {
    operation: &'a Operation,
    started: Instant,
    ok: bool,
}

impl OperationGuard<'_> {
    /// Ends the call as failed.
    pub fn error(mut self) {
        self.ok = false;
    }

    /// Ends the call, failed or not.
    pub fn finish(mut self, ok: bool) {
        self.ok = ok;
    }
}

impl Drop for OperationGuard<'_> {
    fn drop(&mut self) {
        self.operation.record(self.started.elapsed(), self.ok);
    }
}

/// One operation's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationReport {
    /// The operation's name.
    pub name: String,
    /// Calls recorded.
    pub count: u64,
    /// Calls that failed.
    pub errors: u64,
    /// `errors / count`, 0 with no calls.
    pub error_rate: f64,
    /// How long the calls took.
    pub latency: LatencySummary,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn times_futures_in_virtual_time_and_counts_errors() {
        let ops = Operations::new().with_slow_threshold(Duration::from_millis(100));
        for i in 0..10u64 {
            let _ = ops
                .time("fetch", async move {
                    tokio::time::sleep(Duration::from_millis(10 * (i + 1))).await;
                    if i == 9 { Err("timeout") } else { Ok(i) }
                })
                .await;
        }
        let r = &ops.snapshot()[0];
        assert_eq!((r.count, r.errors), (10, 1));
        assert!((r.error_rate - 0.1).abs() < 1e-9);
        assert_eq!(r.latency.max, Duration::from_millis(100));
        let p50 = r.latency.p50.as_millis();
        assert!((48..=52).contains(&p50), "{p50}");
        assert_eq!(r.latency.count_over_threshold, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_future_counts_as_an_error() {
        let ops = Operations::new();
        let op = ops.operation("slow");
        let timed = op.time(async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, ()>(())
        });
        assert!(
            tokio::time::timeout(Duration::from_secs(1), timed)
                .await
                .is_err()
        );
        let r = &ops.snapshot()[0];
        assert_eq!((r.count, r.errors), (1, 1));
        assert_eq!(r.latency.max, Duration::from_secs(1));
    }

    #[test]
    fn names_are_bounded() {
        let ops = Operations::new();
        for i in 0..MAX_OPERATIONS + 5 {
            ops.operation(&format!("op-{i}"))
                .record(Duration::from_micros(1), true);
        }
        let report = ops.snapshot();
        assert_eq!(report.len(), MAX_OPERATIONS + 1);
        let overflow = report.iter().find(|r| r.name == OVERFLOW).unwrap();
        assert_eq!(overflow.count, 5);
    }
}
