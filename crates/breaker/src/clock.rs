//! Time, injectable: the breaker reads the time only through a [`Clock`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A source of monotonic time.
///
/// The breaker asks for the time only when it needs it: to time calls when a slow-call
/// threshold is set, to place outcomes in a time-based window, and to know when an open
/// breaker may admit a probe. A count-based breaker without slow-call timing never reads the
/// clock in the closed state.
///
/// Use [`SystemClock`] in production and [`ManualClock`] in tests.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Instant;

    /// Whether this clock keeps pace with the system's monotonic clock. Only such breakers are
    /// served by the background thread that makes automatic transitions on time; a breaker
    /// on a clock that does not (a [`ManualClock`]) makes them when its state is next read.
    fn follows_system_time(&self) -> bool {
        true
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }
    fn follows_system_time(&self) -> bool {
        (**self).follows_system_time()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }
    fn follows_system_time(&self) -> bool {
        (**self).follows_system_time()
    }
}

/// The operating system's monotonic clock, [`Instant::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to, for tests.
///
/// Clones share the same time, so a test can keep one handle and give another to a breaker.
///
/// ```
/// use std::time::Duration;
/// use hardening_breaker::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now() - start, Duration::from_secs(5));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    base: Instant,
    offset_nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at the current instant, which it will not leave until advanced.
    pub fn new() -> Self {
        ManualClock {
            base: Instant::now(),
            offset_nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.offset_nanos.fetch_add(nanos, Ordering::SeqCst);
    }

    /// How far the clock has been advanced since it was created.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.offset_nanos.load(Ordering::SeqCst))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.base + self.elapsed()
    }

    fn follows_system_time(&self) -> bool {
        false
    }
}
