//! Tokio's stable runtime metrics: nothing here needs `tokio_unstable`.

use std::time::Duration;

use serde::Serialize;
use tokio::runtime::Handle;

/// The runtime's figures over one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeFigures {
    /// Worker threads.
    pub workers: usize,
    /// Tasks alive now.
    pub alive_tasks: usize,
    /// Tasks waiting in the global queue now.
    pub global_queue_depth: usize,
    /// The share of the interval the workers spent busy, 0.0 to 1.0 (averaged over workers).
    pub busy_ratio: f64,
}

/// Reads [`RuntimeFigures`], keeping the busy time seen last so that each reading covers the
/// time since the previous one.
#[derive(Debug)]
pub struct RuntimeSampler {
    handle: Handle,
    last_busy: Duration,
    last_at: tokio::time::Instant,
}

impl RuntimeSampler {
    /// A sampler of the runtime behind `handle`.
    pub fn new(handle: Handle) -> Self {
        let last_busy = total_busy(&handle);
        RuntimeSampler {
            handle,
            last_busy,
            last_at: tokio::time::Instant::now(),
        }
    }

    /// The figures since the previous call (or since the sampler was made).
    pub fn sample(&mut self) -> RuntimeFigures {
        let metrics = self.handle.metrics();
        let workers = metrics.num_workers();
        let busy = total_busy(&self.handle);
        let now = tokio::time::Instant::now();
        let wall = now.saturating_duration_since(self.last_at).as_secs_f64() * workers as f64;
        let busy_ratio = if wall > 0.0 {
            (busy.saturating_sub(self.last_busy).as_secs_f64() / wall).clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.last_busy = busy;
        self.last_at = now;
        RuntimeFigures {
            workers,
            alive_tasks: metrics.num_alive_tasks(),
            global_queue_depth: metrics.global_queue_depth(),
            busy_ratio,
        }
    }
}

fn total_busy(handle: &Handle) -> Duration {
    let metrics = handle.metrics();
    (0..metrics.num_workers())
        .map(|w| metrics.worker_total_busy_duration(w))
        .sum()
}
