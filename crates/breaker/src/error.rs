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
    // Two words (a thin pointer and a packed rejection), so that a `Result<T, CallError<E>>`
    // stays small on every call, rejected or not.
    pub(crate) breaker: Arc<Box<str>>,
    pub(crate) rejection: Rejection,
}

impl NotPermitted {
    /// The name of the breaker that rejected the call.
    pub fn breaker(&self) -> &str {
        &self.breaker
    }

    /// The state the breaker was in: open, forced open, or half-open with every probe slot
    /// taken.
    pub fn state(&self) -> State {
        self.rejection.state()
    }

    /// How long until the breaker may admit a probe: the rest of the open duration. `None`
    /// when it depends on something else (forced open waits for an operator; half-open waits
    /// for its probes to finish).
    pub fn retry_after(&self) -> Option<Duration> {
        self.rejection.retry_after()
    }
}

/// Why a call was refused, before the breaker's name is attached: the state in the top three
/// bits, the nanoseconds until a probe may pass in the rest. One word, so that the result of
/// the permit check travels in registers rather than through the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rejection(u64);

impl Rejection {
    const STATE_SHIFT: u32 = 61;
    const NANOS_MASK: u64 = (1 << Self::STATE_SHIFT) - 1;
    /// "Not known": the rest of the open time is at most 73 years, so this never collides.
    const UNKNOWN: u64 = Self::NANOS_MASK;

    pub(crate) fn new(state: State, retry_after: Option<Duration>) -> Self {
        let nanos = retry_after.map_or(Self::UNKNOWN, |d| {
            u64::try_from(d.as_nanos()).map_or(Self::UNKNOWN - 1, |n| n.min(Self::UNKNOWN - 1))
        });
        Rejection((state.to_bits() << Self::STATE_SHIFT) | nanos)
    }

    pub(crate) fn state(self) -> State {
        State::from_bits(self.0 >> Self::STATE_SHIFT)
    }

    pub(crate) fn retry_after(self) -> Option<Duration> {
        let nanos = self.0 & Self::NANOS_MASK;
        (nanos != Self::UNKNOWN).then(|| Duration::from_nanos(nanos))
    }
}

impl fmt::Display for NotPermitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit breaker '{}' is {}", self.breaker, self.state())?;
        match (self.state(), self.retry_after()) {
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
