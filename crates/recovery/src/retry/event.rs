//! What a retry policy tells its listeners.

use std::sync::Arc;
use std::time::Duration;

use crate::retry::StopReason;

/// Something that happened in a retried call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryEventKind {
    /// Attempt `attempt` failed and the next one starts after `delay` (Resilience4j's
    /// `onRetry`, Polly's `OnRetry`).
    Retrying {
        /// The attempt that failed (1-based).
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
    },
    /// The call succeeded on attempt `attempts` (Resilience4j's `onSuccess`).
    Succeeded {
        /// Attempts it took.
        attempts: u32,
    },
    /// The loop stopped without a success (Resilience4j's `onError` and `onIgnoredError`).
    Stopped {
        /// Attempts that ran.
        attempts: u32,
        /// Why it stopped.
        reason: StopReason,
    },
}

/// An event and the policy it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryEvent<'a> {
    /// The retry policy's name.
    pub retry: &'a str,
    /// What happened.
    pub kind: RetryEventKind,
}

/// Receives a retry policy's events.
///
/// Called synchronously in the retried call's task; keep it short. A policy with no listener
/// builds no events. Any `Fn(&RetryEvent<'_>)` is a listener.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use hardening_recovery::{Backoff, Retry, RetryEvent, RetryEventKind};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&seen);
/// let retry = Retry::builder("db")
///     .backoff(Backoff::none())
///     .on_event(move |e: &RetryEvent<'_>| sink.lock().unwrap().push(e.kind))
///     .build()?;
/// let mut failures = 1;
/// retry.run_blocking(|_| if failures > 0 { failures -= 1; Err("busy") } else { Ok(()) }).unwrap();
/// assert!(matches!(seen.lock().unwrap()[..], [
///     RetryEventKind::Retrying { attempt: 1, .. },
///     RetryEventKind::Succeeded { attempts: 2 },
/// ]));
/// # Ok::<(), hardening_recovery::ConfigError>(())
/// ```
pub trait RetryListener: Send + Sync + 'static {
    /// Called once for each event.
    fn on_event(&self, event: &RetryEvent<'_>);
}

impl<F> RetryListener for F
where
    F: Fn(&RetryEvent<'_>) + Send + Sync + 'static,
{
    fn on_event(&self, event: &RetryEvent<'_>) {
        self(event)
    }
}

impl<L: RetryListener + ?Sized> RetryListener for Arc<L> {
    fn on_event(&self, event: &RetryEvent<'_>) {
        (**self).on_event(event)
    }
}
