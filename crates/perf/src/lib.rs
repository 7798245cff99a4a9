//! Process, container, tokio runtime and operation performance monitoring.
//!
//! One [`PerformanceMonitor`] samples, at a set interval, everything a service owner asks
//! "is it healthy?" about: this process's CPU and memory, threads and open files; the machine's
//! memory and load; the container's limits (cgroup v1 and v2, which `sysinfo` does not read);
//! how late the tokio runtime wakes a task (the counterpart of an event loop's lag) and its
//! stable runtime metrics; and the count, errors and latency of every operation you time. Each
//! sample is published through a watch channel and the `metrics` facade, and thresholds that
//! hold for a while, and memory that keeps climbing, raise events.
//!
//! ```
//! use std::time::Duration;
//! use hardening_perf::{MonitorConfig, Operations, PerformanceMonitor};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), hardening_perf::ConfigError> {
//! let operations = Operations::new();
//! let config = MonitorConfig::builder()
//!     .interval(Duration::from_secs(1))
//!     .cpu_percent(90.0, Duration::from_secs(30))
//!     .build()?;
//! let monitor = PerformanceMonitor::start(config, operations.clone()).await;
//!
//! let answer: Result<u32, ()> = operations.time("compute", async { Ok(42) }).await;
//! assert_eq!(answer, Ok(42));
//!
//! let now = monitor.latest();
//! assert!(now.process.rss_bytes > 0);
//! println!("{}", serde_json::to_string_pretty(&*now).unwrap());
//! monitor.stop().await;
//! # Ok(()) }
//! ```
//!
//! # What it costs
//!
//! Sampling refreshes only this process in `sysinfo`, never the whole process table. Timing an
//! operation is two clock reads and four relaxed atomic operations. The latency probe wakes
//! every 20 ms by default. `cargo xtask bench` measures each of these beside a bare `sysinfo`
//! refresh.
//!
//! # Crate feature flags
//!
//! - `metrics` (default): publish every sample through the `metrics` facade (names in the
//!   `metrics` module).
//!
//! The counting allocator ([`alloc::CountingAllocator`]) needs no feature: it does nothing
//! until a binary installs it as its `#[global_allocator]`.
//!
//! Nothing requires `tokio_unstable`.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod alloc;
pub mod cgroup;
mod config;
mod drift;
mod histogram;
mod latency;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod monitor;
mod operations;
mod process;
mod runtime;
mod threshold;

pub use config::{ConfigError, Limit, MonitorConfig, MonitorConfigBuilder};
pub use drift::DriftDetector;
pub use histogram::{Histogram, HistogramSnapshot, LatencySummary};
pub use latency::LatencyProbe;
pub use monitor::{PerfEvent, PerformanceMetrics, PerformanceMonitor, Watched, Watchers};
pub use operations::{
    MAX_OPERATIONS, OVERFLOW, Operation, OperationGuard, OperationReport, Operations,
};
pub use process::{ProcessFigures, ProcessSampler};
pub use runtime::{RuntimeFigures, RuntimeSampler};
pub use threshold::{SustainedThreshold, ThresholdChange};

/// Durations in reports are written as fractional milliseconds, the unit dashboards expect.
pub(crate) mod serde_millis {
    use std::time::Duration;

    pub(crate) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }
}
