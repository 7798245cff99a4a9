//! Tokio latency: how late the runtime wakes a task that asked to be woken, the Rust
//! counterpart of an event loop's lag.
//!
//! A probe task sleeps for a short period again and again and records, each time, how much later
//! than asked it was woken. A runtime whose workers are busy or blocked (a blocking call on an
//! async thread, a long poll) wakes it late by as much. The timer itself is never exact (tokio's
//! wheel has millisecond ticks), so the probe first measures that floor on a quiet runtime and
//! subtracts it from every sample.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::histogram::{Histogram, HistogramSnapshot};

/// Samples taken to calibrate the timer floor.
const CALIBRATION_SAMPLES: usize = 10;
/// A measured floor above this says the runtime was busy while calibrating, not that the timer
/// is coarse; the floor is capped here so that a busy start does not hide real latency later.
const MAX_FLOOR: Duration = Duration::from_millis(2);

/// A running latency probe; dropping it stops the probe task.
#[derive(Debug)]
pub struct LatencyProbe {
    histogram: Arc<Histogram>,
    floor: Duration,
    period: Duration,
    task: JoinHandle<()>,
}

impl LatencyProbe {
    /// Calibrates the timer floor, then starts probing every `period` on the current runtime.
    /// Calibration takes about ten periods.
    pub async fn start(period: Duration) -> LatencyProbe {
        let mut lateness = Vec::with_capacity(CALIBRATION_SAMPLES);
        for _ in 0..CALIBRATION_SAMPLES {
            lateness.push(sleep_lateness(period).await);
        }
        lateness.sort();
        let floor = lateness[CALIBRATION_SAMPLES / 2].min(MAX_FLOOR);
        let histogram = Arc::new(Histogram::new());
        let task = tokio::spawn(probe(Arc::clone(&histogram), period, floor));
        LatencyProbe {
            histogram,
            floor,
            period,
            task,
        }
    }

    /// The timer floor measured at start and subtracted from every sample.
    pub fn timer_floor(&self) -> Duration {
        self.floor
    }

    /// How often the probe wakes.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The samples since the previous call, leaving the histogram empty for the next interval.
    pub fn take(&self) -> HistogramSnapshot {
        self.histogram.take()
    }
}

impl Drop for LatencyProbe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn sleep_lateness(period: Duration) -> Duration {
    let deadline = Instant::now() + period;
    tokio::time::sleep_until(deadline).await;
    Instant::now().saturating_duration_since(deadline)
}

async fn probe(histogram: Arc<Histogram>, period: Duration, floor: Duration) {
    loop {
        let late = sleep_lateness(period).await;
        histogram.record(late.saturating_sub(floor));
    }
}
