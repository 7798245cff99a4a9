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
