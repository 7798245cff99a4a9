//! What an error tells the retry loop, and how callers decide what to retry.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// What an error says about retrying it.
///
/// The retry loop asks every error two things: whether it is a "do not call now" rejection
/// (an open circuit breaker, a shed request, a rate limit: these are **never** retried, because
/// retrying is exactly the load they exist to keep away), and whether it carries a hint of
/// when to try again (a server's `Retry-After`, a breaker's remaining open time), which the
/// loop honours by waiting at least that long.
///
/// Both methods default to "no", so an error type that carries neither needs only an empty
/// impl. Implementations are provided for the standard error types and strings.
///
/// ```
/// use std::time::Duration;
/// use hardening_recovery::RetryHint;
///
/// #[derive(Debug)]
/// enum ApiError {
///     /// HTTP 503 with a `Retry-After` header.
///     Unavailable { retry_after: Option<Duration> },
///     /// Our own breaker refused the call.
///     CircuitOpen,
///     Io(std::io::Error),
/// }
///
/// impl RetryHint for ApiError {
///     fn retry_after(&self) -> Option<Duration> {
///         match self {
///             ApiError::Unavailable { retry_after } => *retry_after,
///             _ => None,
///         }
///     }
///     fn is_rejection(&self) -> bool {
///         matches!(self, ApiError::CircuitOpen)
///     }
/// }
/// ```
///
/// The orphan rule keeps a crate from implementing this trait for another crate's type; an
/// application (or the `hardening` umbrella) implements it for its own error type, which wraps
/// the others.
pub trait RetryHint {
    /// How long to wait before the next attempt, when the error says so. The loop waits the
    /// longer of this and its backoff delay; if that would pass the deadline, it stops.
    fn retry_after(&self) -> Option<Duration> {
        None
    }

    /// Whether this is a "do not call now" rejection, which is never retried.
    fn is_rejection(&self) -> bool {
        false
    }
}

impl<E: RetryHint + ?Sized> RetryHint for &E {
    fn retry_after(&self) -> Option<Duration> {
        (**self).retry_after()
    }
    fn is_rejection(&self) -> bool {
        (**self).is_rejection()
    }
}

impl<E: RetryHint + ?Sized> RetryHint for Box<E> {
    fn retry_after(&self) -> Option<Duration> {
        (**self).retry_after()
    }
    fn is_rejection(&self) -> bool {
        (**self).is_rejection()
    }
}

impl<E: RetryHint + ?Sized> RetryHint for Arc<E> {
    fn retry_after(&self) -> Option<Duration> {
        (**self).retry_after()
    }
    fn is_rejection(&self) -> bool {
        (**self).is_rejection()
    }
}

macro_rules! no_hint {
    ($($ty:ty),* $(,)?) => {
        $(
            /// Carries no hint: every such error is retried after the backoff delay.
            impl RetryHint for $ty {}
        )*
    };
}

no_hint!(
    std::io::Error,
    std::fmt::Error,
    String,
    str,
    (),
    Infallible,
    dyn std::error::Error,
    dyn std::error::Error + Send,
    dyn std::error::Error + Send + Sync,
);

/// What to do with the outcome of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Keep it: return it to the caller (an `Ok` value, or an error not worth retrying).
    Accept,
    /// Try again after the backoff delay, or after `after` if that is longer.
    Retry {
        /// A hint of when to try again, if any.
        after: Option<Duration>,
    },
    /// A "do not call now" rejection: stop at once, never retry.
    Reject,
}

/// Decides, for each attempt's outcome, whether to keep it or retry.
///
/// [`Retry::run`](crate::Retry::run) uses [`RetryOn::errors_with_hints`]: every error is retried
/// unless [`RetryHint`] calls it a rejection, and every `Ok` is kept. [`RetryOn`] adds
/// predicates on errors and on `Ok` values; any `Fn(&Result<T, E>) -> Verdict` is a classifier
/// too, for full control (and for error types that do not implement [`RetryHint`]).
///
/// An attempt cut off by the per-attempt timeout is always retryable; it never reaches the
/// classifier.
pub trait Classify<T, E> {
    /// The verdict on one attempt's outcome.
    fn classify(&self, outcome: &Result<T, E>) -> Verdict;
}

impl<T, E, F> Classify<T, E> for F
where
    F: Fn(&Result<T, E>) -> Verdict,
{
    fn classify(&self, outcome: &Result<T, E>) -> Verdict {
        self(outcome)
    }
}

/// Retries errors that are not rejections and, optionally, only those a predicate picks, and
/// `Ok` values that a predicate picks (Resilience4j's `retryOnException` and `retryOnResult`,
/// Polly's `ShouldHandle`).
///
/// ```
/// use hardening_recovery::{Classify, RetryOn, Verdict};
///
/// let on = RetryOn::errors_with_hints()
///     .errors(|e: &std::io::Error| e.kind() != std::io::ErrorKind::NotFound)
///     .results(|status: &u16| *status == 503);
/// assert_eq!(on.classify(&Ok(503)), Verdict::Retry { after: None });
/// assert_eq!(on.classify(&Ok(200)), Verdict::Accept);
/// let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
/// assert_eq!(on.classify(&Err(missing)), Verdict::Accept);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RetryOn<FE, FR> {
    errors: FE,
    results: FR,
}

/// The predicate of [`RetryOn::errors_with_hints`] for errors: all of them.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyError;

/// The predicate of [`RetryOn::errors_with_hints`] for `Ok` values: none of them.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoResult;

/// A predicate over an error or a value.
pub trait Predicate<V: ?Sized> {
    /// Whether `value` should be retried.
    fn test(&self, value: &V) -> bool;
}

impl<V: ?Sized> Predicate<V> for AnyError {
    #[inline]
    fn test(&self, _: &V) -> bool {
        true
    }
}

impl<V: ?Sized> Predicate<V> for NoResult {
    #[inline]
    fn test(&self, _: &V) -> bool {
        false
    }
}

impl<V: ?Sized, F: Fn(&V) -> bool> Predicate<V> for F {
    #[inline]
    fn test(&self, value: &V) -> bool {
        self(value)
    }
}

impl RetryOn<AnyError, NoResult> {
    /// Retry every error that is not a rejection, honouring its Retry-After hint; keep every
    /// `Ok`.
    pub const fn errors_with_hints() -> Self {
        RetryOn {
            errors: AnyError,
            results: NoResult,
        }
    }
}

impl<FE, FR> RetryOn<FE, FR> {
    /// Retry only the errors for which `predicate` is true (rejections never).
    pub fn errors<P>(self, predicate: P) -> RetryOn<P, FR> {
        RetryOn {
            errors: predicate,
            results: self.results,
        }
    }

    /// Retry the `Ok` values for which `predicate` is true. When the retries run out, the
    /// last such value is returned as `Ok`, as in Resilience4j and Polly.
    pub fn results<P>(self, predicate: P) -> RetryOn<FE, P> {
        RetryOn {
            errors: self.errors,
            results: predicate,
        }
    }
}

impl<T, E, FE, FR> Classify<T, E> for RetryOn<FE, FR>
where
    E: RetryHint,
    FE: Predicate<E>,
    FR: Predicate<T>,
{
    #[inline]
    fn classify(&self, outcome: &Result<T, E>) -> Verdict {
        match outcome {
            Ok(value) if self.results.test(value) => Verdict::Retry { after: None },
            Ok(_) => Verdict::Accept,
            Err(e) if e.is_rejection() => Verdict::Reject,
            Err(e) if self.errors.test(e) => Verdict::Retry {
                after: e.retry_after(),
            },
            Err(_) => Verdict::Accept,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint_of<E: RetryHint + ?Sized>(e: &E) -> (Option<Duration>, bool) {
        (e.retry_after(), e.is_rejection())
    }

    #[test]
    fn standard_errors_carry_no_hint() {
        let boxed: Box<dyn std::error::Error + Send + Sync> = "x".into();
        assert_eq!(hint_of(&boxed), (None, false));
        assert_eq!(hint_of(&std::io::Error::other("x")), (None, false));
        assert_eq!(hint_of(&"x"), (None, false));
        assert_eq!(hint_of(&Arc::new(String::from("x"))), (None, false));
    }

    #[test]
    fn retry_on_keeps_rejections_out_whatever_the_predicate() {
        struct Open;
        impl RetryHint for Open {
            fn is_rejection(&self) -> bool {
                true
            }
        }
        let on = RetryOn::errors_with_hints().errors(|_: &Open| true);
        assert_eq!(on.classify(&Err::<(), _>(Open)), Verdict::Reject);
    }
}
