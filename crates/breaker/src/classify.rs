//! Deciding what a call's result means to the breaker.

/// What a finished call means to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Counts toward closing.
    Success,
    /// Counts toward opening.
    Failure,
    /// Not counted at all (a client error, a cancellation). A half-open probe slot is given
    /// back.
    Ignored,
}

/// Decides which results count as failures, which as successes, and which are ignored.
///
/// Any `Fn(&Result<T, E>) -> Outcome` is a classifier:
///
/// ```
/// use hardening_breaker::{Breaker, Outcome};
///
/// #[derive(Debug)]
/// enum HttpError { NotFound, Unavailable }
///
/// let breaker = Breaker::builder("users-api").build();
/// // A 404 is the caller's problem, not the service's; a 503 is the service's.
/// let classify = |result: &Result<u16, HttpError>| match result {
///     Ok(status) if *status >= 500 => Outcome::Failure,
///     Ok(_) => Outcome::Success,
///     Err(HttpError::NotFound) => Outcome::Ignored,
///     Err(HttpError::Unavailable) => Outcome::Failure,
/// };
/// let result = breaker.call_with(&classify, || Err::<u16, _>(HttpError::NotFound));
/// assert!(result.is_err());
/// assert_eq!(breaker.metrics().failed_calls, 0);
/// ```
pub trait Classifier<T, E> {
    /// Classifies one result.
    fn classify(&self, result: &Result<T, E>) -> Outcome;
}

impl<T, E, F> Classifier<T, E> for F
where
    F: Fn(&Result<T, E>) -> Outcome,
{
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        self(result)
    }
}

/// The default classifier: `Ok` is a success, `Err` a failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrIsFailure;

impl<T, E> Classifier<T, E> for ErrIsFailure {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}
