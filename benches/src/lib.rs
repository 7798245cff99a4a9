//! What the benches in `benches/` share: one criterion configuration, so every scenario is
//! measured the same way, and a way to poll a future that is ready at once without a runtime,
//! so a bench of a wrapper measures the wrapper and not an executor.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::Criterion;

/// The configuration every bench group runs with: one second of warm-up and three of
/// measurement per implementation, enough for stable medians on a 2-core machine while
/// keeping `cargo xtask bench` to a few minutes.
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

/// Polls a future that must be ready at once, with a no-op waker.
///
/// # Panics
///
/// If the future is pending: the bench's setup is wrong and should stop loudly.
pub fn poll_ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benched future is always ready"),
    }
}

/// The shapes of series a service's metrics take, for compression benches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A busy counter: a few dozen more requests every interval.
    BusyCounter,
    /// A rare counter: errors, mostly unchanged.
    RareCounter,
    /// A small integer gauge that wanders: queue depth, connections.
    IntegerGauge,
    /// Memory in bytes, in whole pages, changing now and then.
    MemoryGauge,
    /// A ratio with two decimals: CPU share, hit rate.
    RatioGauge,
}

impl Shape {
    /// Every shape.
    pub const ALL: [Shape; 5] = [
        Shape::BusyCounter,
        Shape::RareCounter,
        Shape::IntegerGauge,
        Shape::MemoryGauge,
        Shape::RatioGauge,
    ];

    /// The shape's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Shape::BusyCounter => "busy_counter",
            Shape::RareCounter => "rare_counter",
            Shape::IntegerGauge => "integer_gauge",
            Shape::MemoryGauge => "memory_gauge",
            Shape::RatioGauge => "ratio_gauge",
        }
    }
}

/// `n` samples of `shape` every `interval_ms` milliseconds from a fixed `seed`: the same series
/// every run. With `jitter_ms`, each timestamp is up to that much late, as a sampler stamping
/// the time it woke would write; without, each is its scheduled tick, as the store's own
/// sampler writes.
pub fn series(
    shape: Shape,
    n: usize,
    interval_ms: i64,
    jitter_ms: i64,
    seed: u64,
) -> Vec<(i64, f64)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let start = 1_700_000_000_000i64;
    let mut value = match shape {
        Shape::MemoryGauge => 512.0 * 1024.0 * 1024.0,
        Shape::RatioGauge => 0.35,
        _ => 0.0,
    };
    (0..n)
        .map(|i| {
            let timestamp = start + i as i64 * interval_ms + rng.i64(0..=jitter_ms);
            value = match shape {
                Shape::BusyCounter => value + f64::from(rng.u32(30..70)),
                Shape::RareCounter => value + if rng.u8(..) < 8 { 1.0 } else { 0.0 },
                Shape::IntegerGauge => (value + f64::from(rng.i32(-1..=1))).max(0.0),
                Shape::MemoryGauge => {
                    if rng.u8(..) < 32 {
                        value + 4096.0 * f64::from(rng.i32(-16..=16))
                    } else {
                        value
                    }
                }
                Shape::RatioGauge => {
                    if rng.bool() {
                        ((value + f64::from(rng.i32(-3..=3)) / 100.0).clamp(0.0, 1.0) * 100.0)
                            .round()
                            / 100.0
                    } else {
                        value
                    }
                }
            };
            (timestamp, value)
        })
        .collect()
}
