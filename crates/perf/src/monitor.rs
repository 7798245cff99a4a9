//! The sampling loop: every figure, every interval, published through a watch channel and the
//! `metrics` facade, with thresholds and drift watched along the way.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::alloc::{HeapStats, heap_stats};
use crate::config::MonitorConfig;
use crate::drift::DriftDetector;
use crate::histogram::LatencySummary;
use crate::latency::LatencyProbe;
use crate::operations::{OperationReport, Operations};
use crate::process::{ProcessFigures, ProcessSampler};
use crate::runtime::{RuntimeFigures, RuntimeSampler};
use crate::threshold::{SustainedThreshold, ThresholdChange};

/// Everything the monitor knows at one moment: the seeds' `getPerformanceMetrics()`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceMetrics {
    /// When the sample was taken, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Process, system and container figures.
    pub process: ProcessFigures,
    /// Tokio's runtime figures.
    pub runtime: RuntimeFigures,
    /// How late the runtime woke the probe over the last interval.
    pub latency: LatencySummary,
    /// The timer floor the latency probe subtracts.
    #[serde(with = "crate::serde_millis")]
    pub latency_timer_floor: Duration,
    /// Every timed operation.
    pub operations: Vec<OperationReport>,
    /// Heap figures, when the counting allocator is installed.
    pub heap: Option<HeapStats>,
    /// Allocations per second over the last interval, when the counting allocator is installed.
    pub allocations_per_second: Option<f64>,
    /// Resident memory's trend, in percent per hour, once the window holds enough samples.
    pub rss_drift_percent_per_hour: Option<f64>,
    /// Heap bytes' trend, in percent per hour, with the counting allocator.
    pub heap_drift_percent_per_hour: Option<f64>,
}

/// A figure the monitor watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Watched {
    /// Process CPU, in percent of one core.
    Cpu,
    /// Resident memory, in bytes.
    Rss,
    /// Runtime latency p99, in seconds.
    LatencyP99,
    /// The worst operation p95, in seconds.
    OperationP95,
    /// The worst operation error rate.
    ErrorRate,
    /// Resident memory drift, in percent per hour.
    RssDrift,
    /// Heap drift, in percent per hour.
    HeapDrift,
}

/// Something the monitor noticed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PerfEvent {
    /// A figure stayed past its limit for the hold duration (or, for drift, the trend passed
    /// its limit).
    ThresholdExceeded {
        /// Which figure.
        watched: Watched,
        /// Its value now.
        value: f64,
        /// The limit.
        limit: f64,
    },
    /// A figure that had exceeded its limit stayed back under it for the hold duration.
    ThresholdRecovered {
        /// Which figure.
        watched: Watched,
        /// Its value now.
        value: f64,
        /// The limit.
        limit: f64,
    },
}

/// Turns a series of samples into events: the thresholds with their hold durations, and the
/// drift detectors. The monitor feeds it; tests can feed it synthetic samples.
#[derive(Debug)]
pub struct Watchers {
    thresholds: Vec<(Watched, SustainedThreshold)>,
    rss_drift: DriftDetector,
    heap_drift: DriftDetector,
    drift_limit: f64,
    rss_drift_reported: bool,
    heap_drift_reported: bool,
}

impl Watchers {
    /// Watchers for the limits in `config`.
    pub fn new(config: &MonitorConfig) -> Self {
        let mut thresholds = Vec::new();
        let mut add = |watched, limit: Option<(f64, Duration)>| {
            if let Some((value, hold)) = limit {
                thresholds.push((watched, SustainedThreshold::new(value, hold)));
            }
        };
        add(Watched::Cpu, config.cpu_percent.map(|l| (l.value, l.hold)));
        add(
            Watched::Rss,
            config.rss_bytes.map(|l| (l.value as f64, l.hold)),
        );
        add(
            Watched::LatencyP99,
            config.latency_p99.map(|l| (l.value.as_secs_f64(), l.hold)),
        );
        add(
            Watched::OperationP95,
            config
                .operation_p95
                .map(|l| (l.value.as_secs_f64(), l.hold)),
        );
        add(
            Watched::ErrorRate,
            config.error_rate.map(|l| (l.value, l.hold)),
        );
        // At least a quarter of the window must be sampled before a trend is believed.
        let min_samples = ((config.drift_window.as_secs_f64() / config.interval.as_secs_f64())
            / 4.0)
            .max(3.0) as usize;
        Watchers {
            thresholds,
            rss_drift: DriftDetector::new(config.drift_window, min_samples),
            heap_drift: DriftDetector::new(config.drift_window, min_samples),
            drift_limit: config.drift_limit_percent_per_hour,
            rss_drift_reported: false,
            heap_drift_reported: false,
        }
    }

    /// Takes one sample: fills in its drift figures and returns the events it causes.
    pub fn observe(&mut self, at: Instant, metrics: &mut PerformanceMetrics) -> Vec<PerfEvent> {
        let mut events = Vec::new();
        let worst =
            |f: fn(&OperationReport) -> f64| metrics.operations.iter().map(f).fold(0.0, f64::max);
        let operation_p95 = worst(|o| o.latency.p95.as_secs_f64());
        let error_rate = worst(|o| o.error_rate);
        for (watched, threshold) in &mut self.thresholds {
            let value = match watched {
                Watched::Cpu => metrics.process.cpu_percent_of_core,
                Watched::Rss => metrics.process.rss_bytes as f64,
                Watched::LatencyP99 => metrics.latency.p99.as_secs_f64(),
                Watched::OperationP95 => operation_p95,
                Watched::ErrorRate => error_rate,
                Watched::RssDrift | Watched::HeapDrift => continue,
            };
            let limit = threshold.limit();
            match threshold.observe(at, value) {
                Some(ThresholdChange::Exceeded) => events.push(PerfEvent::ThresholdExceeded {
                    watched: *watched,
                    value,
                    limit,
                }),
                Some(ThresholdChange::Recovered) => events.push(PerfEvent::ThresholdRecovered {
                    watched: *watched,
                    value,
                    limit,
                }),
                None => {}
            }
        }
        self.rss_drift.push(at, metrics.process.rss_bytes as f64);
        metrics.rss_drift_percent_per_hour = self.rss_drift.percent_per_hour();
        drift_event(
            Watched::RssDrift,
            metrics.rss_drift_percent_per_hour,
            self.drift_limit,
            &mut self.rss_drift_reported,
            &mut events,
        );
        if let Some(heap) = metrics.heap {
            self.heap_drift.push(at, heap.bytes_in_use as f64);
            metrics.heap_drift_percent_per_hour = self.heap_drift.percent_per_hour();
            drift_event(
                Watched::HeapDrift,
                metrics.heap_drift_percent_per_hour,
                self.drift_limit,
                &mut self.heap_drift_reported,
                &mut events,
            );
        }
        events
    }
}

/// Announces a drift once when it passes the limit, and once when it falls back under.
fn drift_event(
    watched: Watched,
    trend: Option<f64>,
    limit: f64,
    reported: &mut bool,
    events: &mut Vec<PerfEvent>,
) {
    let Some(value) = trend else { return };
    let over = value > limit;
    if over != *reported {
        *reported = over;
        events.push(if over {
            PerfEvent::ThresholdExceeded {
                watched,
                value,
                limit,
            }
        } else {
            PerfEvent::ThresholdRecovered {
                watched,
                value,
                limit,
            }
        });
    }
}

/// A running monitor. Dropping it stops the sampling loop and the latency probe.
#[derive(Debug)]
pub struct PerformanceMonitor {
    metrics: watch::Receiver<Arc<PerformanceMetrics>>,
    events: broadcast::Sender<PerfEvent>,
    operations: Operations,
    task: JoinHandle<()>,
}

impl PerformanceMonitor {
    /// Starts sampling on the current tokio runtime, timing operations recorded in
    /// `operations`. The first sample is published at once; the next one after `interval`.
    pub async fn start(config: MonitorConfig, operations: Operations) -> PerformanceMonitor {
        let probe = LatencyProbe::start(config.latency_probe_period).await;
        let (events, _) = broadcast::channel(64);
        let mut sampler = Sampler {
            process: ProcessSampler::new(),
            runtime: RuntimeSampler::new(tokio::runtime::Handle::current()),
            watchers: Watchers::new(&config),
            operations: operations.clone(),
            probe,
            config: config.clone(),
            last_allocations: heap_stats().map(|h| (Instant::now(), h.allocations)),
        };
        let first = sampler.sample(Instant::now());
        let (tx, metrics) = watch::channel(Arc::new(first.0));
        let events_tx = events.clone();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(config.interval);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                let at = ticks.tick().await;
                let (metrics, found) = sampler.sample(at);
                for event in found {
                    // No subscriber is fine: events are for whoever listens.
                    let _ = events_tx.send(event);
                }
                if tx.send(Arc::new(metrics)).is_err() {
                    break;
                }
            }
        });
        PerformanceMonitor {
            metrics,
            events,
            operations,
            task,
        }
    }

    /// The latest sample; never waits.
    pub fn latest(&self) -> Arc<PerformanceMetrics> {
        Arc::clone(&self.metrics.borrow())
    }

    /// A receiver that sees every new sample.
    pub fn watch(&self) -> watch::Receiver<Arc<PerformanceMetrics>> {
        self.metrics.clone()
    }

    /// Threshold and drift events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<PerfEvent> {
        self.events.subscribe()
    }

    /// The operation registry the monitor reports on.
    pub fn operations(&self) -> &Operations {
        &self.operations
    }

    /// Stops sampling and waits for the loop to end.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for PerformanceMonitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Sampler {
    process: ProcessSampler,
    runtime: RuntimeSampler,
    watchers: Watchers,
    operations: Operations,
    probe: LatencyProbe,
    config: MonitorConfig,
    last_allocations: Option<(Instant, u64)>,
}

impl Sampler {
    fn sample(&mut self, at: Instant) -> (PerformanceMetrics, Vec<PerfEvent>) {
        let heap = heap_stats();
        let allocations_per_second = match (heap, self.last_allocations) {
            (Some(h), Some((then, before))) => {
                let secs = at.saturating_duration_since(then).as_secs_f64();
                (secs > 0.0).then(|| h.allocations.saturating_sub(before) as f64 / secs)
            }
            _ => None,
        };
        self.last_allocations = heap.map(|h| (at, h.allocations));
        let mut metrics = PerformanceMetrics {
            timestamp_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            process: self.process.sample(),
            runtime: self.runtime.sample(),
            latency: self.probe.take().summary(self.config.latency_threshold),
            latency_timer_floor: self.probe.timer_floor(),
            operations: self.operations.snapshot(),
            heap,
            allocations_per_second,
            rss_drift_percent_per_hour: None,
            heap_drift_percent_per_hour: None,
        };
        let events = self.watchers.observe(at, &mut metrics);
        #[cfg(feature = "metrics")]
        crate::metrics::publish(&metrics);
        (metrics, events)
    }
}
