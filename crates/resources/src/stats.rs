//! Per-pool figures.

use std::collections::VecDeque;
use std::time::Duration;

use crate::ByteSize;

/// How many recent waits the percentiles are computed over.
const WAITS_KEPT: usize = 1024;

/// The most recent wait times of a pool, for percentiles.
#[derive(Debug, Default)]
pub(crate) struct WaitTimes {
    recent: VecDeque<Duration>,
}

impl WaitTimes {
    pub(crate) fn record(&mut self, waited: Duration) {
        if self.recent.len() == WAITS_KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(waited);
    }

    pub(crate) fn summary(&self) -> WaitSummary {
        let mut sorted: Vec<Duration> = self.recent.iter().copied().collect();
        sorted.sort();
        let at = |q: f64| {
            if sorted.is_empty() {
                Duration::ZERO
            } else {
                let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
                sorted[rank - 1]
            }
        };
        WaitSummary {
            samples: sorted.len(),
            p50: at(0.5),
            p95: at(0.95),
            p99: at(0.99),
            max: sorted.last().copied().unwrap_or_default(),
        }
    }
}

/// Wait-time percentiles over a pool's most recent 1,024 granted requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitSummary {
    /// How many waits the figures cover.
    pub samples: usize,
    /// The median wait.
    pub p50: Duration,
    /// The 95th percentile.
    pub p95: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The longest.
    pub max: Duration,
}

/// One pool's figures: the seeds' `getResourceStats()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// The pool's type.
    pub kind: String,
    /// Resources free to lease.
    pub ready: usize,
    /// Resources on lease (the active allocations).
    pub busy: usize,
    /// Resources out of service, not yet removed.
    pub unavailable: usize,
    /// Requests waiting.
    pub waiters: usize,
    /// Resources the factory is making.
    pub creating: usize,
    /// Memory the pool's resources take.
    pub memory: ByteSize,
    /// How long granted requests waited.
    pub wait: WaitSummary,
}

#[cfg(feature = "metrics")]
pub(crate) fn publish(stats: &[PoolStats]) {
    use metrics::gauge;
    for s in stats {
        let kind = s.kind.clone();
        for (status, n) in [
            ("ready", s.ready),
            ("busy", s.busy),
            ("unavailable", s.unavailable),
        ] {
            gauge!("hardening_resources", "kind" => kind.clone(), "status" => status).set(n as f64);
        }
        gauge!("hardening_resource_waiters", "kind" => kind.clone()).set(s.waiters as f64);
        gauge!("hardening_resource_memory_bytes", "kind" => kind.clone())
            .set(s.memory.bytes() as f64);
        gauge!("hardening_resource_wait_seconds", "kind" => kind.clone(), "quantile" => "0.99")
            .set(s.wait.p99.as_secs_f64());
    }
}
