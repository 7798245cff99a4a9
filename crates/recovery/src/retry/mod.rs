//! Retrying a call: the policy, the loop and how it ends.

mod error;
mod event;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use error::{AttemptTimedOut, Failure, RetryError, StopReason};
pub use event::{RetryEvent, RetryEventKind, RetryListener};

use crate::backoff::{Backoff, Delays, Fields};
use crate::budget::RetryBudget;
use crate::clock::{Clock, SystemClock};
use crate::config::ConfigError;
use crate::hint::{Classify, RetryHint, RetryOn, Verdict};
use crate::rng::SeedSource;

/// Records a metric when the `metrics` feature is on; compiles to nothing otherwise.
macro_rules! metric {
    ($inner:expr, $($call:tt)*) => {{
        #[cfg(feature = "metrics")]
        $inner.metrics.$($call)*;
    }};
}

/// One attempt of a retried call, handed to the attempt factory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    number: u32,
    deadline: Option<Instant>,
}

impl Attempt {
    /// The attempt's number: 1 for the first call, 2 for the first retry, and so on.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// Whether this is a retry rather than the first attempt.
    pub fn is_retry(&self) -> bool {
        self.number > 1
    }

    /// When the overall deadline passes, if there is one: pass it on to the server (as a gRPC
    /// deadline, say) so it does not work on an answer nobody will wait for.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

/// A retry policy, ready to run calls: cheap to clone, shared by every call through it.
///
/// Build one with [`Retry::builder`]; run async calls with [`run`](Self::run) or
/// [`run_if`](Self::run_if) (or, for owned attempt futures in generic `Send` code,
/// [`run_fn`](Self::run_fn) and [`run_fn_if`](Self::run_fn_if)), and blocking ones with
/// [`run_blocking`](Self::run_blocking) or [`run_blocking_if`](Self::run_blocking_if).
///
/// The attempt factory is called once per attempt with the [`Attempt`], so the request is
/// built afresh each time (it need not be `Clone`) and the factory may hold `&mut` state: it
/// is an `AsyncFnMut`, so an `async` closure can borrow mutably across its `.await`s.
///
/// ```
/// use std::time::Duration;
/// use hardening_recovery::{Backoff, Retry};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let retry = Retry::builder("inventory")
///     .max_attempts(4)
///     .backoff(Backoff::constant(Duration::from_millis(10)))
///     .deadline(Duration::from_secs(2))
///     .attempt_timeout(Duration::from_millis(500))
///     .build()?;
///
/// let mut log = Vec::new(); // `&mut` state, borrowed by the factory
/// let stock = retry
///     .run(async |attempt| {
///         log.push(attempt.number());
///         if attempt.number() < 3 {
///             Err(std::io::Error::other("connection reset"))
///         } else {
///             Ok(42)
///         }
///     })
///     .await?;
/// assert_eq!(stock, 42);
/// assert_eq!(log, [1, 2, 3]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Retry {
    inner: Arc<Inner>,
}

struct Inner {
    name: Arc<str>,
    max_attempts: u32,
    deadline: Option<Duration>,
    attempt_timeout: Option<Duration>,
    backoff: Backoff,
    seeds: SeedSource,
    budget: Option<Arc<RetryBudget>>,
    clock: Arc<dyn Clock>,
    listener: Option<Arc<dyn RetryListener>>,
    #[cfg(feature = "metrics")]
    metrics: crate::metrics::RetryHandles,
}

impl fmt::Debug for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Retry")
            .field("name", &i.name)
            .field("max_attempts", &i.max_attempts)
            .field("deadline", &i.deadline)
            .field("attempt_timeout", &i.attempt_timeout)
            .field("backoff", &i.backoff)
            .field("budget", &i.budget)
            .field("listener", &i.listener.is_some())
            .finish()
    }
}

/// What the loop keeps of the latest attempt while it decides.
enum Last<T, E> {
    /// An `Ok` value the classifier wanted retried.
    Value(T),
    Failure(Failure<E>),
}

impl Retry {
    /// A builder for a policy named `name` (the name labels its metrics and events).
    ///
    /// The defaults: 3 attempts, [`Backoff::default`] (exponential from 100 ms with full
    /// jitter, capped at 10 s), no deadline, no per-attempt timeout, and a default
    /// [`RetryBudget`] of its own.
    pub fn builder(name: impl Into<String>) -> RetryBuilder {
        RetryBuilder {
            name: name.into(),
            max_attempts: 3,
            deadline: None,
            attempt_timeout: None,
            backoff: Backoff::default(),
            seed: None,
            budget: BudgetChoice::Default,
            clock: None,
            listener: None,
        }
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The most attempts a call makes, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.inner.max_attempts
    }

    /// The longest a call may take, all attempts and waits included, if limited.
    pub fn deadline(&self) -> Option<Duration> {
        self.inner.deadline
    }

    /// The longest one attempt may take, if limited.
    pub fn attempt_timeout(&self) -> Option<Duration> {
        self.inner.attempt_timeout
    }

    /// The budget retries draw on, if any.
    pub fn budget(&self) -> Option<&Arc<RetryBudget>> {
        self.inner.budget.as_ref()
    }

    /// Runs `factory` until an attempt succeeds or the policy stops it, retrying every error
    /// except a [`RetryHint::is_rejection`] and waiting at least its
    /// [`RetryHint::retry_after`].
    // Not an `async fn`: handing out `run_if`'s future saves a layer of state machine on
    // every call.
    pub fn run<T, E, F>(&self, factory: F) -> impl Future<Output = Result<T, RetryError<E>>>
    where
        E: RetryHint,
        F: AsyncFnMut(Attempt) -> Result<T, E>,
    {
        self.run_if(RetryOn::errors_with_hints(), factory)
    }

    /// Like [`run`](Self::run), with `classify` deciding which outcomes to retry (see
    /// [`RetryOn`] for predicates on errors and on `Ok` values).
    pub fn run_if<T, E, C, F>(
        &self,
        classify: C,
        factory: F,
    ) -> impl Future<Output = Result<T, RetryError<E>>>
    where
        C: Classify<T, E>,
        F: AsyncFnMut(Attempt) -> Result<T, E>,
    {
        self.run_with(classify, Borrowing(factory))
    }

    /// Like [`run`](Self::run), for a factory that returns an owned future for each attempt
    /// (a closure returning an `async move` block, or a `tower` service's response future).
    ///
    /// Prefer [`run`](Self::run) when the attempts borrow state. Use this one when the call
    /// must be provably `Send` in generic code, such as a `tower` middleware that boxes its
    /// future as `dyn Future + Send`: the futures an `AsyncFnMut` hands out borrow the closure
    /// with a lifetime that generic code cannot name, and the compiler then fails to prove
    /// the whole call `Send` ("implementation of `Send` is not general enough"). An owned
    /// future has no such lifetime.
    ///
    /// ```
    /// use hardening_recovery::{Backoff, Retry};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let retry = Retry::builder("echo").backoff(Backoff::none()).build()?;
    ///
    /// // Generic over any `Send` call: the retried future is `Send` too.
    /// fn spawn_retried<F, Fut>(retry: Retry, make: F) -> tokio::task::JoinHandle<Result<u32, String>>
    /// where
    ///     F: FnMut() -> Fut + Send + 'static,
    ///     Fut: Future<Output = Result<u32, std::io::Error>> + Send + 'static,
    /// {
    ///     let mut make = make;
    ///     tokio::spawn(async move {
    ///         retry.run_fn(|_attempt| make()).await.map_err(|e| e.to_string())
    ///     })
    /// }
    ///
    /// let mut calls = 0;
    /// let answer = spawn_retried(retry, move || {
    ///     calls += 1;
    ///     let n = calls;
    ///     async move {
    ///         if n < 2 { Err(std::io::Error::other("reset")) } else { Ok(n) }
    ///     }
    /// })
    /// .await??;
    /// assert_eq!(answer, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn run_fn<T, E, F, Fut>(&self, factory: F) -> impl Future<Output = Result<T, RetryError<E>>>
    where
        E: RetryHint,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_fn_if(RetryOn::errors_with_hints(), factory)
    }

    /// Like [`run_fn`](Self::run_fn), with `classify` deciding which outcomes to retry.
    pub fn run_fn_if<T, E, C, F, Fut>(
        &self,
        classify: C,
        factory: F,
    ) -> impl Future<Output = Result<T, RetryError<E>>>
    where
        C: Classify<T, E>,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_with(classify, Owned(factory))
    }

    /// The loop behind every async `run*`, over either shape of factory.
    async fn run_with<T, E, C, F>(&self, classify: C, mut factory: F) -> Result<T, RetryError<E>>
    where
        C: Classify<T, E>,
        F: Factory<T, E>,
    {
        let inner = &*self.inner;
        if inner.deadline.is_some() || inner.attempt_timeout.is_some() {
            // Timed calls take the general loop, boxed so that its timers do not weigh on
            // the future of every untimed call.
            return Box::pin(self.drive(&classify, &mut factory, None)).await;
        }
        // The hot path: one untimed attempt that succeeds reads no clock, allocates nothing
        // and keeps the future small. Retries continue in the general loop, boxed: they are
        // about to sleep anyway.
        metric!(inner, attempt());
        let result = factory
            .attempt(Attempt {
                number: 1,
                deadline: None,
            })
            .await;
        match judge(&classify, result) {
            Judged::Done(result) => inner.finish(1, result),
            Judged::Stop(reason, e) => Err(inner.stopped(1, reason, Failure::Error(e))),
            Judged::Retry(hint, last) => {
                Box::pin(self.drive(&classify, &mut factory, Some((hint, last)))).await
            }
        }
    }

    /// The general loop. With `failed`, attempt 1 has run already and failed so.
    async fn drive<T, E, C, F>(
        &self,
        classify: &C,
        factory: &mut F,
        mut failed: Option<(Option<Duration>, Last<T, E>)>,
    ) -> Result<T, RetryError<E>>
    where
        C: Classify<T, E>,
        F: Factory<T, E>,
    {
        let inner = &*self.inner;
        let deadline = inner
            .deadline
            .and_then(|d| tokio::time::Instant::now().checked_add(d));
        let mut delays = None;
        let mut number = 1;
        loop {
            if let Some((hint, last)) = failed.take() {
                let remaining =
                    deadline.map(|d| d.saturating_duration_since(tokio::time::Instant::now()));
                let delay = match inner.next_delay(number, hint, &mut delays, remaining) {
                    Ok(delay) => delay,
                    Err(reason) => return inner.give_up(number, reason, last),
                };
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                number += 1;
            }
            let attempt = Attempt {
                number,
                deadline: deadline.map(tokio::time::Instant::into_std),
            };
            metric!(inner, attempt());
            let started = tokio::time::Instant::now();
            let limit = earliest(
                deadline,
                inner.attempt_timeout.and_then(|t| started.checked_add(t)),
            );
            let outcome = match limit {
                None => Some(factory.attempt(attempt).await),
                Some(at) => tokio::time::timeout_at(at, factory.attempt(attempt))
                    .await
                    .ok(),
            };
            failed = Some(match outcome {
                Some(result) => match judge(classify, result) {
                    Judged::Done(result) => return inner.finish(number, result),
                    Judged::Stop(reason, e) => {
                        return Err(inner.stopped(number, reason, Failure::Error(e)));
                    }
                    Judged::Retry(hint, last) => (hint, last),
                },
                None => {
                    let after = started.elapsed();
                    let timed_out = Last::Failure(Failure::TimedOut(AttemptTimedOut { after }));
                    if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                        return inner.give_up(number, StopReason::Deadline, timed_out);
                    }
                    (None, timed_out)
                }
            });
        }
    }

    /// Runs a blocking `factory` until an attempt succeeds or the policy stops it, retrying
    /// as [`run`](Self::run) does. Waits block the thread through the policy's [`Clock`].
    ///
    /// A blocking attempt cannot be interrupted, so the per-attempt timeout does not apply;
    /// the deadline is checked between attempts (an attempt that ends past it ends the loop).
    pub fn run_blocking<T, E, F>(&self, factory: F) -> Result<T, RetryError<E>>
    where
        E: RetryHint,
        F: FnMut(Attempt) -> Result<T, E>,
    {
        self.run_blocking_if(RetryOn::errors_with_hints(), factory)
    }

    /// Like [`run_blocking`](Self::run_blocking), with `classify` deciding which outcomes
    /// to retry.
    pub fn run_blocking_if<T, E, C, F>(
        &self,
        classify: C,
        mut factory: F,
    ) -> Result<T, RetryError<E>>
    where
        C: Classify<T, E>,
        F: FnMut(Attempt) -> Result<T, E>,
    {
        let inner = &*self.inner;
        let deadline = inner
            .deadline
            .and_then(|d| inner.clock.now().checked_add(d));
        let mut delays = None;
        let mut number = 1;
        loop {
            metric!(inner, attempt());
            let result = factory(Attempt { number, deadline });
            let (hint, last) = match judge(&classify, result) {
                Judged::Done(result) => return inner.finish(number, result),
                Judged::Stop(reason, e) => {
                    return Err(inner.stopped(number, reason, Failure::Error(e)));
                }
                Judged::Retry(hint, last) => (hint, last),
            };
            let now = inner.clock.now();
            if deadline.is_some_and(|d| now >= d) {
                return inner.give_up(number, StopReason::Deadline, last);
            }
            let remaining = deadline.map(|d| d.saturating_duration_since(now));
            let delay = match inner.next_delay(number, hint, &mut delays, remaining) {
                Ok(delay) => delay,
                Err(reason) => return inner.give_up(number, reason, last),
            };
            if !delay.is_zero() {
                inner.clock.sleep(delay);
            }
            number += 1;
        }
    }
}

/// Makes each attempt's future: one loop serves both shapes of async factory.
trait Factory<T, E> {
    fn attempt(&mut self, attempt: Attempt) -> impl Future<Output = Result<T, E>>;
}

/// An `AsyncFnMut` factory, whose futures may borrow it.
struct Borrowing<F>(F);

impl<T, E, F: AsyncFnMut(Attempt) -> Result<T, E>> Factory<T, E> for Borrowing<F> {
    #[inline(always)]
    fn attempt(&mut self, attempt: Attempt) -> impl Future<Output = Result<T, E>> {
        (self.0)(attempt)
    }
}

/// An `FnMut` factory returning owned futures.
struct Owned<F>(F);

impl<T, E, F, Fut> Factory<T, E> for Owned<F>
where
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    #[inline(always)]
    fn attempt(&mut self, attempt: Attempt) -> impl Future<Output = Result<T, E>> {
        (self.0)(attempt)
    }
}

fn earliest(
    a: Option<tokio::time::Instant>,
    b: Option<tokio::time::Instant>,
) -> Option<tokio::time::Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

enum Judged<T, E> {
    /// Return this to the caller as it is.
    Done(Result<T, E>),
    /// Stop with this error.
    Stop(StopReason, E),
    /// Retry, honouring the hint if there is one.
    Retry(Option<Duration>, Last<T, E>),
}

#[inline]
fn judge<T, E, C: Classify<T, E>>(classify: &C, result: Result<T, E>) -> Judged<T, E> {
    match (classify.classify(&result), result) {
        (Verdict::Accept, Ok(value)) => Judged::Done(Ok(value)),
        (Verdict::Accept, Err(e)) => Judged::Stop(StopReason::NotRetryable, e),
        (Verdict::Reject, Err(e)) => Judged::Stop(StopReason::Rejected, e),
        // A rejection is an error; a classifier calling an `Ok` one keeps the value.
        (Verdict::Reject, Ok(value)) => Judged::Done(Ok(value)),
        (Verdict::Retry { after }, Ok(value)) => Judged::Retry(after, Last::Value(value)),
        (Verdict::Retry { after }, Err(e)) => {
            Judged::Retry(after, Last::Failure(Failure::Error(e)))
        }
    }
}

impl Inner {
    /// The wait before the next attempt after attempt `number` failed, or why there is none.
    fn next_delay(
        &self,
        number: u32,
        hint: Option<Duration>,
        delays: &mut Option<Delays>,
        remaining: Option<Duration>,
    ) -> Result<Duration, StopReason> {
        if number >= self.max_attempts {
            return Err(StopReason::AttemptsExhausted);
        }
        let delays = delays.get_or_insert_with(|| self.backoff.start(self.seeds.next_rng()));
        let mut delay = delays.next_delay();
        if let Some(hint) = hint {
            delay = delay.max(hint);
        }
        // Sleeping into the deadline would leave the next attempt no time at all.
        if remaining.is_some_and(|r| delay >= r) {
            return Err(StopReason::Deadline);
        }
        if let Some(budget) = &self.budget
            && !budget.try_withdraw()
        {
            return Err(StopReason::BudgetExhausted);
        }
        metric!(self, retry());
        self.emit(|| RetryEventKind::Retrying {
            attempt: number,
            delay,
        });
        Ok(delay)
    }

    #[inline]
    fn emit(&self, kind: impl FnOnce() -> RetryEventKind) {
        if let Some(listener) = &self.listener {
            listener.on_event(&RetryEvent {
                retry: &self.name,
                kind: kind(),
            });
        }
    }

    #[inline(always)]
    fn finish<T, E>(&self, attempts: u32, result: Result<T, E>) -> Result<T, RetryError<E>> {
        match result {
            Ok(value) => {
                if let Some(budget) = &self.budget {
                    budget.deposit();
                }
                metric!(self, succeeded(attempts));
                self.emit(|| RetryEventKind::Succeeded { attempts });
                Ok(value)
            }
            Err(e) => Err(self.stopped(attempts, StopReason::NotRetryable, Failure::Error(e))),
        }
    }

    fn give_up<T, E>(
        &self,
        attempts: u32,
        reason: StopReason,
        last: Last<T, E>,
    ) -> Result<T, RetryError<E>> {
        match last {
            Last::Value(value) => {
                self.record_stop(attempts, reason);
                Ok(value)
            }
            Last::Failure(failure) => Err(self.stopped(attempts, reason, failure)),
        }
    }

    fn stopped<E>(&self, attempts: u32, reason: StopReason, last: Failure<E>) -> RetryError<E> {
        self.record_stop(attempts, reason);
        RetryError::new(Arc::clone(&self.name), attempts, reason, last)
    }

    fn record_stop(&self, attempts: u32, reason: StopReason) {
        metric!(self, stopped(attempts, reason));
        self.emit(|| RetryEventKind::Stopped { attempts, reason });
    }
}

enum BudgetChoice {
    Default,
    None,
    Shared(Arc<RetryBudget>),
}

/// Builds a [`Retry`]; [`build`](Self::build) checks every setting.
///
/// ```
/// use std::time::Duration;
/// use hardening_recovery::{Backoff, Jitter, Retry, RetryBudget};
///
/// let budget = RetryBudget::builder().ratio(0.1).build()?; // shared by every caller of "users"
/// let retry = Retry::builder("users")
///     .max_attempts(5)
///     .backoff(Backoff::exponential(Duration::from_millis(50), 2.0, Duration::from_secs(2))
///         .with_jitter(Jitter::Equal))
///     .deadline(Duration::from_secs(3))
///     .budget(budget)
///     .seed(7)
///     .build()?;
/// assert_eq!(retry.max_attempts(), 5);
///
/// let err = Retry::builder("users")
///     .backoff(Backoff::exponential(Duration::from_secs(1), 0.5, Duration::from_secs(8)))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "backoff.multiplier");
/// # Ok::<(), hardening_recovery::ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct RetryBuilder {
    name: String,
    max_attempts: u32,
    deadline: Option<Duration>,
    attempt_timeout: Option<Duration>,
    backoff: Backoff,
    seed: Option<u64>,
    budget: BudgetChoice,
    clock: Option<Arc<dyn Clock>>,
    listener: Option<Arc<dyn RetryListener>>,
}

impl fmt::Debug for RetryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBuilder")
            .field("name", &self.name)
            .field("max_attempts", &self.max_attempts)
            .field("deadline", &self.deadline)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("backoff", &self.backoff)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl RetryBuilder {
    /// The most attempts a call makes, the first included; at least 1 (1 means no retry).
    /// Default 3, as Resilience4j and Polly (whose `MaxRetryAttempts` counts retries only:
    /// theirs plus one is ours).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The longest a call may take, all attempts and waits included; above zero. When it
    /// passes, the running attempt is cut off and the call ends. Default: none.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The longest one attempt may take; above zero. A timed-out attempt is retried like a
    /// failed one. Async calls only. Default: none.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// The wait before each retry. Default: [`Backoff::default`].
    pub fn backoff(mut self, backoff: impl Into<Backoff>) -> Self {
        self.backoff = backoff.into();
        self
    }

    /// Seeds the jitter, so the policy's calls draw the same delays run after run (the n-th
    /// call through the policy always gets the same sequence). Default: a random seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Draws retries from `budget`, shared with the other policies that call the same
    /// dependency. Default: a [`RetryBudget::new`] of the policy's own.
    pub fn budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = BudgetChoice::Shared(budget);
        self
    }

    /// Retries without a budget: only the attempt count and the deadline limit them. Only
    /// wise where the callers are few and known.
    pub fn no_budget(mut self) -> Self {
        self.budget = BudgetChoice::None;
        self
    }

    /// The clock the blocking loop reads and sleeps on (and the default budget reads).
    /// Default: [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Sends the policy's events to `listener`.
    pub fn on_event(mut self, listener: impl RetryListener) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Checks every setting and returns the policy, or the first setting that is wrong.
    pub fn build(self) -> Result<Retry, ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::new("max_attempts", 0, "at least 1"));
        }
        if self.deadline == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "deadline",
                "0ns",
                "a duration above zero (leave it unset for no deadline)",
            ));
        }
        if self.attempt_timeout == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "attempt_timeout",
                "0ns",
                "a duration above zero (leave it unset for no timeout)",
            ));
        }
        self.backoff.validate(Fields::RETRY)?;
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let budget = match self.budget {
            BudgetChoice::Default => Some(RetryBudget::with_clock(Arc::clone(&clock))),
            BudgetChoice::None => None,
            BudgetChoice::Shared(budget) => Some(budget),
        };
        Ok(Retry {
            inner: Arc::new(Inner {
                #[cfg(feature = "metrics")]
                metrics: crate::metrics::RetryHandles::new(&self.name),
                name: self.name.into(),
                max_attempts: self.max_attempts,
                deadline: self.deadline,
                attempt_timeout: self.attempt_timeout,
                backoff: self.backoff,
                seeds: SeedSource::new(self.seed),
                budget,
                clock,
                listener: self.listener,
            }),
        })
    }
}
