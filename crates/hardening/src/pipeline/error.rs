//! How one attempt through the pipeline fails, and how a whole call does.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::breaker::NotPermitted;
use crate::recovery::{Failure, RetryError, RetryHint, StopReason};
#[cfg(feature = "resource-management")]
use crate::resources::{BulkheadError, RateLimited};

/// Why one attempt through the pipeline failed: a stage refused it or cut it off, or the call
/// itself failed.
///
/// The refusals ([`BreakerOpen`](Self::BreakerOpen), `RateLimited`, `BulkheadFull`) are "do not
/// call now" rejections: the call never ran, the breaker does not count them, and the retry
/// stage never retries them (their [`RetryHint::is_rejection`] is true).
///
/// ```
/// use std::time::Duration;
/// use hardening::pipeline::StageError;
///
/// let cut: StageError<std::io::Error> = StageError::TimedOut(Duration::from_millis(500));
/// assert!(!cut.is_rejection(), "a timeout is a failure of the dependency");
/// assert_eq!(cut.to_string(), "timed out after 500ms");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum StageError<E> {
    /// The breaker is open (or half-open with every probe slot taken) and refused the call.
    BreakerOpen(NotPermitted),
    /// The rate limiter refused the call.
    #[cfg(feature = "resource-management")]
    #[cfg_attr(docsrs, doc(cfg(feature = "resource-management")))]
    RateLimited(RateLimited),
    /// No bulkhead slot was free within the bulkhead's wait, or within the pipeline's timeout
    /// (then [`BulkheadError::Timeout`]). The dependency was never called.
    #[cfg(feature = "resource-management")]
    #[cfg_attr(docsrs, doc(cfg(feature = "resource-management")))]
    BulkheadFull(BulkheadError),
    /// The call ran longer than the pipeline's timeout (which the breaker counts as a
    /// failure), or the retry stage's deadline cut it off; the duration is how long it ran.
    TimedOut(Duration),
    /// The call returned this error.
    Failed(E),
}

impl<E> StageError<E> {
    /// Whether a stage refused the call without running it ("do not call now").
    pub fn is_rejection(&self) -> bool {
        match self {
            StageError::BreakerOpen(_) => true,
            #[cfg(feature = "resource-management")]
            StageError::RateLimited(_) | StageError::BulkheadFull(_) => true,
            StageError::TimedOut(_) | StageError::Failed(_) => false,
        }
    }

    /// The call's own error, if that is what failed.
    pub fn failed(&self) -> Option<&E> {
        match self {
            StageError::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// The call's own error, owned, if that is what failed.
    pub fn into_failed(self) -> Option<E> {
        match self {
            StageError::Failed(e) => Some(e),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for StageError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StageError::BreakerOpen(e) => e.fmt(f),
            #[cfg(feature = "resource-management")]
            StageError::RateLimited(e) => e.fmt(f),
            #[cfg(feature = "resource-management")]
            StageError::BulkheadFull(e) => write!(f, "bulkhead: {e}"),
            StageError::TimedOut(after) => write!(f, "timed out after {after:?}"),
            StageError::Failed(e) => e.fmt(f),
        }
    }
}

// `E: Display` rather than `E: Error`, so that tower's `BoxError` (which is not an `Error`)
// can be the call's error; the call's error is shown in the message instead of as a source.
impl<E: fmt::Debug + fmt::Display> std::error::Error for StageError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StageError::BreakerOpen(e) => Some(e),
            #[cfg(feature = "resource-management")]
            StageError::RateLimited(e) => Some(e),
            #[cfg(feature = "resource-management")]
            StageError::BulkheadFull(e) => Some(e),
            StageError::TimedOut(_) | StageError::Failed(_) => None,
        }
    }
}

impl<E> RetryHint for StageError<E> {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            StageError::BreakerOpen(e) => e.retry_after(),
            #[cfg(feature = "resource-management")]
            StageError::RateLimited(e) => Some(e.retry_after),
            _ => None,
        }
    }

    fn is_rejection(&self) -> bool {
        StageError::is_rejection(self)
    }
}

/// A call through the pipeline that did not succeed: how many attempts ran, why the retry
/// stage stopped (when there is one), and how the last attempt failed.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use hardening::pipeline::{Pipeline, StageError};
/// use hardening::recovery::{Backoff, Retry, StopReason};
///
/// let pipeline = Pipeline::builder("inventory")
///     .retry(Retry::builder("inventory").max_attempts(3).backoff(Backoff::none()).build()?)
///     .build()?;
/// let err = pipeline.call(async || Err::<(), _>("connection reset")).await.unwrap_err();
/// assert_eq!(err.attempts(), 3);
/// assert_eq!(err.stopped(), Some(StopReason::AttemptsExhausted));
/// assert!(matches!(err.last(), StageError::Failed("connection reset")));
/// assert_eq!(
///     err.to_string(),
///     "pipeline 'inventory' gave up after 3 attempts (attempts exhausted): connection reset"
/// );
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PipelineError<E> {
    pipeline: Arc<str>,
    attempts: u32,
    stopped: Option<StopReason>,
    last: StageError<E>,
}

impl<E> PipelineError<E> {
    /// The end of a call through a pipeline without a retry stage: one attempt.
    pub(super) fn single(pipeline: &Arc<str>, last: StageError<E>) -> Self {
        PipelineError {
            pipeline: Arc::clone(pipeline),
            attempts: 1,
            stopped: None,
            last,
        }
    }

    /// The end of a call that the retry stage gave up on.
    pub(super) fn retried(pipeline: &Arc<str>, e: RetryError<StageError<E>>) -> Self {
        let attempts = e.attempts();
        let stopped = Some(e.reason());
        let last = match e.last() {
            // The retry's own deadline cut the attempt off.
            Failure::TimedOut(t) => StageError::TimedOut(t.after()),
            Failure::Error(_) => match e.into_last_error() {
                Some(last) => last,
                // Unreachable: the last failure is an error. Said as a timeout of no length
                // rather than a panic.
                None => StageError::TimedOut(Duration::ZERO),
            },
        };
        PipelineError {
            pipeline: Arc::clone(pipeline),
            attempts,
            stopped,
            last,
        }
    }

    /// The name of the pipeline.
    pub fn pipeline(&self) -> &str {
        &self.pipeline
    }

    /// How many attempts ran: 1 without a retry stage, and 1 when the first attempt was
    /// refused.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Why the retry stage stopped, when there is one: [`StopReason::Rejected`] for a refusal
    /// by an inner stage, [`StopReason::AttemptsExhausted`] when every attempt failed, and so
    /// on.
    pub fn stopped(&self) -> Option<StopReason> {
        self.stopped
    }

    /// How the last attempt failed.
    pub fn last(&self) -> &StageError<E> {
        &self.last
    }

    /// How the last attempt failed, owned.
    pub fn into_last(self) -> StageError<E> {
        self.last
    }

    /// Whether the last attempt was refused by a stage ("do not call now").
    pub fn is_rejection(&self) -> bool {
        self.last.is_rejection()
    }
}

impl<E: fmt::Display> fmt::Display for PipelineError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pipeline '{}' ", self.pipeline)?;
        match self.stopped {
            Some(reason) => {
                let plural = if self.attempts == 1 { "" } else { "s" };
                write!(
                    f,
                    "gave up after {} attempt{plural} ({reason}): ",
                    self.attempts
                )?;
            }
            None => f.write_str("failed: ")?,
        }
        self.last.fmt(f)
    }
}

impl<E: fmt::Debug + fmt::Display + 'static> std::error::Error for PipelineError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.last)
    }
}

/// A pipeline nested in an outer retry passes on its last attempt's hints, so the outer loop
/// does not retry a refusal either.
impl<E> RetryHint for PipelineError<E> {
    fn retry_after(&self) -> Option<Duration> {
        self.last.retry_after()
    }

    fn is_rejection(&self) -> bool {
        self.last.is_rejection()
    }
}
