//! The breakers' clock: tokio's, so that the whole system runs on one time.

use std::time::Instant;

/// Reads `tokio::time::Instant::now()`: the system's monotonic clock in production, and the
/// virtual clock in a test under `tokio::time::pause()`, where the recovery manager and the
/// health checks already run. A breaker on it opens, waits and half-opens in the same time
/// as everything around it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TokioClock;

impl crate::breaker::Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    /// Not served by the breakers' timer thread, which sleeps in real time: under a paused
    /// clock it would wait for a deadline that virtual time passed long ago. A breaker due to
    /// move (an automatic half-open) moves when it is next read, and the system reads every
    /// breaker on each health check.
    fn follows_system_time(&self) -> bool {
        false
    }
}
