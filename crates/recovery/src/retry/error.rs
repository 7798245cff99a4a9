//! How a retried call ends when it does not succeed.

use std::fmt;
use std::time::Duration;

use crate::hint::RetryHint;

/// Why the retry loop stopped without a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopReason {
    /// Every allowed attempt ran and failed.
    AttemptsExhausted,
    /// The overall deadline passed, or the next attempt could not start before it.
    Deadline,
    /// The retry budget is spent: retrying would add more load than the budget allows.
    BudgetExhausted,
    /// The error is not one to retry (the classifier accepted it).
    NotRetryable,
    /// The error is a "do not call now" rejection (an open breaker, a shed request), which is
    /// never retried.
    Rejected,
}

impl StopReason {
    /// A short lowercase name, as used in metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            StopReason::AttemptsExhausted => "attempts",
            StopReason::Deadline => "deadline",
            StopReason::BudgetExhausted => "budget",
            StopReason::NotRetryable => "not_retryable",
            StopReason::Rejected => "rejected",
        }
    }

    #[cfg(feature = "metrics")]
    pub(crate) const ALL: [StopReason; 5] = [
        StopReason::AttemptsExhausted,
        StopReason::Deadline,
        StopReason::BudgetExhausted,
        StopReason::NotRetryable,
        StopReason::Rejected,
    ];
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::AttemptsExhausted => "attempts exhausted",
            StopReason::Deadline => "deadline reached",
            StopReason::BudgetExhausted => "retry budget spent",
            StopReason::NotRetryable => "error not retryable",
            StopReason::Rejected => "rejected: do not call now",
        })
    }
}

/// An attempt cut off by the per-attempt timeout or by the overall deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptTimedOut {
    pub(crate) after: Duration,
}

impl AttemptTimedOut {
    /// How long the attempt had run when it was cut off.
    pub fn after(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for AttemptTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt timed out after {:?}", self.after)
    }
}

impl std::error::Error for AttemptTimedOut {}

/// How the last attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure<E> {
    /// It returned this error.
    Error(E),
    /// It was cut off by a timeout; it returned nothing.
    TimedOut(AttemptTimedOut),
}

/// A retried call that did not succeed: how many attempts ran, why the loop stopped, and how
/// the last attempt failed (its error is the [`source`](std::error::Error::source)).
///
/// ```
/// use hardening_recovery::{Backoff, Retry, StopReason};
///
/// let retry = Retry::builder("flaky").max_attempts(3).backoff(Backoff::none()).build()?;
/// let err = retry
///     .run_blocking(|_attempt| Err::<(), _>(std::io::Error::other("refused")))
///     .unwrap_err();
/// assert_eq!(err.attempts(), 3);
/// assert_eq!(err.reason(), StopReason::AttemptsExhausted);
/// assert_eq!(err.last_error().map(|e| e.to_string()).as_deref(), Some("refused"));
/// assert_eq!(err.to_string(), "retry 'flaky' gave up after 3 attempts (attempts exhausted): refused");
/// # Ok::<(), hardening_recovery::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RetryError<E>(Box<Stopped<E>>);

/// The body of a [`RetryError`], boxed so that the error is one pointer: every call returns
/// a `Result<T, RetryError<E>>`, and a small error keeps the successful path's result in
/// registers instead of copying the failure's fields through memory on each call.
#[derive(Clone, PartialEq, Eq)]
struct Stopped<E> {
    retry: std::sync::Arc<str>,
    attempts: u32,
    reason: StopReason,
    last: Failure<E>,
}

impl<E> RetryError<E> {
    pub(crate) fn new(
        retry: std::sync::Arc<str>,
        attempts: u32,
        reason: StopReason,
        last: Failure<E>,
    ) -> Self {
        RetryError(Box::new(Stopped {
            retry,
            attempts,
            reason,
            last,
        }))
    }

    /// The name of the retry policy.
    pub fn retry(&self) -> &str {
        &self.0.retry
    }

    /// How many attempts ran (at least 1).
    pub fn attempts(&self) -> u32 {
        self.0.attempts
    }

    /// Why the loop stopped.
    pub fn reason(&self) -> StopReason {
        self.0.reason
    }

    /// How the last attempt failed.
    pub fn last(&self) -> &Failure<E> {
        &self.0.last
    }

    /// The last attempt's error, unless it timed out.
    pub fn last_error(&self) -> Option<&E> {
        match &self.0.last {
            Failure::Error(e) => Some(e),
            Failure::TimedOut(_) => None,
        }
    }

    /// The last attempt's error, unless it timed out.
    pub fn into_last_error(self) -> Option<E> {
        match self.0.last {
            Failure::Error(e) => Some(e),
            Failure::TimedOut(_) => None,
        }
    }

    /// Whether the loop stopped because the retry budget was spent.
    pub fn is_budget_exhausted(&self) -> bool {
        self.0.reason == StopReason::BudgetExhausted
    }
}

/// The fields, as a struct's: the box is a layout detail, not part of what the error says.
impl<E: fmt::Debug> fmt::Debug for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryError")
            .field("retry", &self.0.retry)
            .field("attempts", &self.0.attempts)
            .field("reason", &self.0.reason)
            .field("last", &self.0.last)
            .finish()
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.0.attempts == 1 { "" } else { "s" };
        write!(
            f,
            "retry '{}' gave up after {} attempt{plural} ({}): ",
            self.0.retry, self.0.attempts, self.0.reason
        )?;
        match &self.0.last {
            Failure::Error(e) => e.fmt(f),
            Failure::TimedOut(t) => t.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.last {
            Failure::Error(e) => Some(e),
            Failure::TimedOut(t) => Some(t),
        }
    }
}

/// A retry nested inside another passes its last error's hints outward, and a stop on a
/// rejection stays a rejection, so the outer loop does not retry it either.
impl<E: RetryHint> RetryHint for RetryError<E> {
    fn retry_after(&self) -> Option<Duration> {
        self.last_error().and_then(RetryHint::retry_after)
    }
    fn is_rejection(&self) -> bool {
        self.0.reason == StopReason::Rejected
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn debug_shows_the_fields_not_the_box() {
        let err = RetryError::new(
            Arc::from("db"),
            3,
            StopReason::AttemptsExhausted,
            Failure::Error("refused"),
        );
        assert_eq!(
            format!("{err:?}"),
            r#"RetryError { retry: "db", attempts: 3, reason: AttemptsExhausted, last: Error("refused") }"#
        );
    }
}
