//! The errors a protected call can end with.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::State;

/// A call the breaker did not let through.
///
/// It names the breaker and, when known, how long until the breaker may admit a probe: use it
/// for a `Retry-After` header or a retry policy's delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPermitted {
    // Kept to three words (a thin pointer, nanoseconds, the state) so that a
    // `Result<T, CallError<E>>` stays small on every call, rejected or not.
    pub(crate) breaker: Arc<Box<str>>,
    /// Nanoseconds until a probe may be admitted, or [`NotPermitted::UNKNOWN`].
    pub(crate) retry_after_nanos: u64,
    pub(crate) state: State,
}

impl NotPermitted {
    pub(crate) const UNKNOWN: u64 = u64::MAX;

    /// The name of the breaker that rejected the call.
    pub fn breaker(&self) -> &str {
        &self.breaker
    }

    /// The state the breaker was in: open, forced open, or half-open with every probe slot
    /// taken.
    pub fn state(&self) -> State {
        self.state
    }

    /// How long until the breaker may admit a probe: the rest of the open duration. `None`
    /// when it depends on something else (forced open waits for an operator; half-open waits
    /// for its probes to finish).
    pub fn retry_after(&self) -> Option<Duration> {
        (self.retry_after_nanos != Self::UNKNOWN)
            .then(|| Duration::from_nanos(self.retry_after_nanos))
    }
}

impl fmt::Display for NotPermitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit breaker '{}' is {}", self.breaker, self.state)?;
        match (self.state, self.retry_after()) {
            (_, Some(after)) => write!(f, "; it may admit a probe in {after:?}"),
            (State::HalfOpen, None) => f.write_str("; all probe calls are taken"),
            (_, None) => f.write_str("; it stays open until moved by an operator"),
        }
    }
}

impl std::error::Error for NotPermitted {}

/// The result of a call made through a breaker: either the breaker said no, or the call ran and
/// failed with its own error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError<E> {
    /// The breaker rejected the call; it did not run.
    NotPermitted(NotPermitted),
    /// The call ran and returned this error.
    Inner(E),
}

impl<E> CallError<E> {
    /// The call's own error, if it ran.
    pub fn into_inner(self) -> Option<E> {
        match self {
            CallError::Inner(e) => Some(e),
            CallError::NotPermitted(_) => None,
        }
    }

    /// Whether the breaker rejected the call.
    pub fn is_not_permitted(&self) -> bool {
        matches!(self, CallError::NotPermitted(_))
    }

    /// The rejection, if the breaker rejected the call.
    pub fn not_permitted(&self) -> Option<&NotPermitted> {
        match self {
            CallError::NotPermitted(n) => Some(n),
            CallError::Inner(_) => None,
        }
    }
}

impl<E> From<NotPermitted> for CallError<E> {
    fn from(rejection: NotPermitted) -> Self {
        CallError::NotPermitted(rejection)
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::NotPermitted(n) => n.fmt(f),
            CallError::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::NotPermitted(n) => Some(n),
            CallError::Inner(e) => Some(e),
        }
    }
}
