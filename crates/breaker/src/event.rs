//! What a breaker tells its listeners.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::State;

/// Something that happened to a breaker.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// The breaker moved from one state to another.
    StateTransition {
        /// The state it left.
        from: State,
        /// The state it entered.
        to: State,
    },
    /// The breaker was reset to closed with an empty window.
    Reset,
    /// A call succeeded. `elapsed` is set when calls are timed.
    Success {
        /// How long the call took, when timed.
        elapsed: Option<Duration>,
    },
    /// A call failed. `elapsed` is set when calls are timed.
    Failure {
        /// How long the call took, when timed.
        elapsed: Option<Duration>,
    },
    /// A call's outcome was ignored (classified so, or its permit was dropped unused).
    Ignored,
    /// A call was rejected.
    NotPermitted,
    /// The window's failure rate reached the threshold (in percent).
    FailureRateExceeded {
        /// The failure rate, in percent.
        rate: f64,
    },
    /// The window's slow-call rate reached the threshold (in percent).
    SlowCallRateExceeded {
        /// The slow-call rate, in percent.
        rate: f64,
    },
}

/// An event, with the breaker it came from and when it happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerEvent<'a> {
    /// The breaker's name.
    pub breaker: &'a str,
    /// When it happened, by the breaker's clock.
    pub at: Instant,
    /// What happened.
    pub kind: EventKind,
}

/// Receives a breaker's events.
///
/// Listeners are called synchronously on the thread that caused the event, outside the
/// breaker's lock; keep them short (push to a channel to do real work). A breaker with no
/// listener skips building events entirely. Any `Fn(&BreakerEvent<'_>)` is a listener.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use hardening_breaker::{Breaker, EventKind, State};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&seen);
/// let breaker = Breaker::builder("db")
///     .on_event(move |event: &hardening_breaker::BreakerEvent<'_>| {
///         if let EventKind::StateTransition { to, .. } = event.kind {
///             sink.lock().unwrap().push(to);
///         }
///     })
///     .build();
/// breaker.transition_to(State::ForcedOpen);
/// assert_eq!(*seen.lock().unwrap(), [State::ForcedOpen]);
/// ```
pub trait Listener: Send + Sync + 'static {
    /// Called once for each event.
    fn on_event(&self, event: &BreakerEvent<'_>);
}

impl<F> Listener for F
where
    F: Fn(&BreakerEvent<'_>) + Send + Sync + 'static,
{
    fn on_event(&self, event: &BreakerEvent<'_>) {
        self(event)
    }
}

impl<L: Listener + ?Sized> Listener for Arc<L> {
    fn on_event(&self, event: &BreakerEvent<'_>) {
        (**self).on_event(event)
    }
}
