//! How long an opened breaker stays open.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Decides how long the breaker stays open, from how many times it has opened in a row.
///
/// `consecutive_opens` is 1 the first time the breaker opens after being closed, 2 when the
/// half-open probes fail and it opens again, and so on; it starts over at 1 once the breaker
/// closes. Implement this trait for a schedule of your own; [`OpenDuration`] covers the
/// common ones.
pub trait OpenBackoff: Send + Sync + 'static {
    /// The time to stay open on the `consecutive_opens`-th opening in a row (1-based).
    fn open_duration(&self, consecutive_opens: u32) -> Duration;
}

impl<F> OpenBackoff for F
where
    F: Fn(u32) -> Duration + Send + Sync + 'static,
{
    fn open_duration(&self, consecutive_opens: u32) -> Duration {
        self(consecutive_opens)
    }
}

/// The built-in open-duration schedules, and a slot for your own.
///
/// ```
/// use std::time::Duration;
/// use hardening_breaker::OpenDuration;
///
/// let backoff = OpenDuration::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(30));
/// assert_eq!(backoff.for_opening(1), Duration::from_secs(1));
/// assert_eq!(backoff.for_opening(3), Duration::from_secs(4));
/// assert_eq!(backoff.for_opening(10), Duration::from_secs(30));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum OpenDuration {
    /// The same duration every time (Resilience4j's `waitDurationInOpenState`).
    Constant(Duration),
    /// `initial * multiplier^(n-1)` for the n-th opening in a row, never above `max`
    /// (Resilience4j's exponential `waitIntervalFunctionInOpenState`).
    Exponential {
        /// The duration of the first opening.
        initial: Duration,
        /// The growth factor between consecutive openings; at least 1.
        multiplier: f64,
        /// The cap.
        max: Duration,
    },
    /// A schedule of your own.
    Custom(Arc<dyn OpenBackoff>),
}

impl OpenDuration {
    /// The same duration every time.
    pub const fn constant(duration: Duration) -> Self {
        OpenDuration::Constant(duration)
    }

    /// Exponential growth from `initial` by `multiplier`, capped at `max`.
    pub const fn exponential(initial: Duration, multiplier: f64, max: Duration) -> Self {
        OpenDuration::Exponential {
            initial,
            multiplier,
            max,
        }
    }

    /// A schedule of your own.
    pub fn custom(backoff: impl OpenBackoff) -> Self {
        OpenDuration::Custom(Arc::new(backoff))
    }

    /// The time to stay open on the `consecutive_opens`-th opening in a row (1-based; 0 is
    /// treated as 1).
    pub fn for_opening(&self, consecutive_opens: u32) -> Duration {
        let n = consecutive_opens.max(1);
        match self {
            OpenDuration::Constant(duration) => *duration,
            OpenDuration::Exponential {
                initial,
                multiplier,
                max,
            } => {
                let exponent = i32::try_from(n - 1).unwrap_or(i32::MAX);
                let secs = initial.as_secs_f64() * multiplier.powi(exponent);
                if !secs.is_finite() || secs >= max.as_secs_f64() {
                    *max
                } else {
                    Duration::from_secs_f64(secs)
                }
            }
            OpenDuration::Custom(backoff) => backoff.open_duration(n),
        }
    }
}

impl Default for OpenDuration {
    /// Sixty seconds, constant: Resilience4j's default.
    fn default() -> Self {
        OpenDuration::Constant(Duration::from_secs(60))
    }
}

impl fmt::Debug for OpenDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenDuration::Constant(duration) => f.debug_tuple("Constant").field(duration).finish(),
            OpenDuration::Exponential {
                initial,
                multiplier,
                max,
            } => f
                .debug_struct("Exponential")
                .field("initial", initial)
                .field("multiplier", multiplier)
                .field("max", max)
                .finish(),
            OpenDuration::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl From<Duration> for OpenDuration {
    fn from(duration: Duration) -> Self {
        OpenDuration::Constant(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_grows_and_caps() {
        let backoff =
            OpenDuration::exponential(Duration::from_millis(100), 3.0, Duration::from_secs(2));
        assert_eq!(backoff.for_opening(0), Duration::from_millis(100));
        assert_eq!(backoff.for_opening(1), Duration::from_millis(100));
        assert_eq!(backoff.for_opening(2), Duration::from_millis(300));
        assert_eq!(backoff.for_opening(3), Duration::from_millis(900));
        assert_eq!(backoff.for_opening(4), Duration::from_secs(2));
        assert_eq!(backoff.for_opening(u32::MAX), Duration::from_secs(2));
    }

    #[test]
    fn custom_schedule_is_called_with_the_count() {
        let backoff = OpenDuration::custom(|n: u32| Duration::from_secs(u64::from(n) * 10));
        assert_eq!(backoff.for_opening(4), Duration::from_secs(40));
    }
}
