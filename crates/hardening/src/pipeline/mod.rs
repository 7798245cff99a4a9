//! A resilience pipeline whose order is fixed by its type: retry around breaker around rate
//! limiter around timeout around bulkhead around the call.
//!
//! ```text
//! retry ─▶ breaker ─▶ rate limiter ─▶ timeout ─┬▶ bulkhead ─▶ call
//!                                              └──── one time limit ────┘
//! ```
//!
//! # Why the order is fixed
//!
//! This is the order Resilience4j documents, and the one most users mean when they stack
//! these stages:
//!
//! - **Retry outside the breaker.** Each attempt asks the breaker, so three failed attempts are
//!   three failures in its window, and once it opens, its rejection ends the retry at once
//!   instead of being retried into the ground.
//! - **Breaker outside the rate limiter.** The limiter spends a permit only on calls the
//!   breaker lets through; a limiter outside would burn the quota on calls an open breaker
//!   then refuses.
//! - **Breaker outside the timeout.** A timed-out call is a failure the breaker counts; a
//!   timeout outside the breaker would cancel the call and the breaker would never hear of it.
//! - **Timeout outside the bulkhead.** One time limit covers the wait for a bulkhead slot and
//!   the call, so a caller never waits the bulkhead's queue *and then* the whole timeout.
//!
//! Libraries that stack stages in any order make it easy to write the reported mistakes:
//! a retry inside a breaker (one failure counted for a call that failed three times), a
//! per-attempt timeout outside a retry (one slow attempt uses up the time of all), a limiter
//! outside a breaker. Here the
//! stages are fields of one type in that order, and the builder's methods only switch them on:
//! the order of the builder calls changes nothing. For the same reason the builder refuses a
//! [`Retry`] with its own per-attempt timeout, which would time attempts outside the breaker;
//! the pipeline's [`timeout`](PipelineBuilder::timeout) is the per-attempt timeout. (A retry
//! *deadline*, a bound on the whole call, is fine.)
//!
//! # What each stage makes of the others
//!
//! - The refusals, [`StageError::BreakerOpen`], `RateLimited` and `BulkheadFull`, are
//!   rejections ([`RetryHint::is_rejection`](crate::recovery::RetryHint::is_rejection)): never
//!   retried, and when the breaker had let the call through, it ignores them.
//! - A timeout is a failure for the breaker and is retried. When the time runs out while the
//!   attempt still waits for a bulkhead slot, the dependency was never called: the attempt
//!   ends as `BulkheadFull(BulkheadError::Timeout)`, a rejection.
//! - The call's own errors are failures for the breaker, and are retried (all of them with
//!   [`call`](Pipeline::call), those a predicate picks with [`call_if`](Pipeline::call_if)).
//! - The final [`PipelineError`] tells how many attempts ran, why the retry stage stopped and
//!   how the last attempt failed.
//!
//! The time limits and waits run on `tokio::time`, so a pipeline runs on a tokio runtime and
//! its tests under `tokio::time::pause()`. The rate limiter reads the system clock.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use hardening::breaker::Breaker;
//! use hardening::pipeline::Pipeline;
//! use hardening::recovery::Retry;
//!
//! let pipeline = Pipeline::builder("inventory")
//!     .timeout(Duration::from_millis(500)) // stages may be given in any order
//!     .breaker(Breaker::builder("inventory").build())
//!     .retry(Retry::builder("inventory").max_attempts(3).build()?)
//!     .build()?;
//!
//! let mut calls = 0;
//! let stock = pipeline
//!     .call(async || {
//!         calls += 1;
//!         if calls < 2 { Err("flaky") } else { Ok(42) }
//!     })
//!     .await?;
//! assert_eq!((stock, calls), (42, 2));
//! # Ok(())
//! # }
//! ```
//!
//! With the `tower` feature, `PipelineLayer` puts a pipeline in front of any
//! [`tower` service](https://docs.rs/tower).

mod error;
#[cfg(feature = "tower")]
mod layer;

pub use error::{PipelineError, StageError};
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use layer::{PipelineLayer, PipelineService};

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::ConfigError;
use crate::breaker::Breaker;
use crate::recovery::{NoResult, Predicate, Retry, RetryOn};
#[cfg(feature = "resource-management")]
use crate::resources::{Bulkhead, BulkheadError, RateLimiter};

/// A resilience pipeline: up to five stages in a fixed order around a call. See the
/// [module docs](self) for the order and why it is fixed.
///
/// A `Pipeline` is a cheap handle: clones share the stages (and so share one breaker, one
/// limiter and one bulkhead).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use hardening::breaker::{Breaker, State};
/// use hardening::pipeline::{Pipeline, StageError};
/// use hardening::recovery::{Retry, StopReason};
///
/// let breaker = Breaker::builder("payments").build();
/// let pipeline = Pipeline::builder("payments")
///     .retry(Retry::builder("payments").max_attempts(5).build()?)
///     .breaker(breaker.clone())
///     .build()?;
///
/// // An open breaker's refusal is never retried: one attempt, and the call never ran.
/// breaker.transition_to(State::ForcedOpen);
/// let mut calls = 0;
/// let err = pipeline.call(async || { calls += 1; Ok::<_, String>(()) }).await.unwrap_err();
/// assert!(matches!(err.last(), StageError::BreakerOpen(_)));
/// assert_eq!((err.attempts(), err.stopped(), calls), (1, Some(StopReason::Rejected), 0));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Pipeline {
    stages: Arc<Stages>,
}

/// The stages, outermost first. The order of the fields is the order of the pipeline; only
/// [`Stages::attempt`] reads them, and it reads them in this order.
struct Stages {
    name: Arc<str>,
    retry: Option<Retry>,
    breaker: Option<Breaker>,
    #[cfg(feature = "resource-management")]
    limiter: Option<RateLimiter>,
    timeout: Option<Duration>,
    #[cfg(feature = "resource-management")]
    bulkhead: Option<(Bulkhead, i32)>,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.stages.fmt(f)
    }
}

impl fmt::Debug for Stages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Pipeline");
        d.field("name", &self.name)
            .field("retry", &self.retry.as_ref().map(Retry::name))
            .field("breaker", &self.breaker.as_ref().map(Breaker::name));
        #[cfg(feature = "resource-management")]
        d.field("rate_limiter", &self.limiter.is_some());
        d.field("timeout", &self.timeout);
        #[cfg(feature = "resource-management")]
        d.field("bulkhead", &self.bulkhead.as_ref().map(|(b, _)| b.limit()));
        d.finish()
    }
}

/// Switches a [`Pipeline`]'s stages on. The order of these calls does not matter: each stage
/// has its one place in the pipeline.
///
/// ```
/// use std::time::Duration;
/// use hardening::pipeline::Pipeline;
///
/// let err = Pipeline::builder("search").timeout(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.field(), "timeout");
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct PipelineBuilder {
    stages: Stages,
}

impl PipelineBuilder {
    /// Retries failed attempts, outside every other stage. A refusal by a later stage is
    /// never retried. The policy must not have a per-attempt timeout (use
    /// [`timeout`](Self::timeout)); a deadline for the whole call is fine.
    pub fn retry(mut self, retry: Retry) -> Self {
        self.stages.retry = Some(retry);
        self
    }

    /// Asks `breaker` before each attempt; it counts failures and timeouts, and ignores
    /// refusals by the rate limiter and the bulkhead.
    pub fn breaker(mut self, breaker: Breaker) -> Self {
        self.stages.breaker = Some(breaker);
        self
    }

    /// Spends a permit of `limiter` on each attempt the breaker lets through.
    #[cfg(feature = "resource-management")]
    #[cfg_attr(docsrs, doc(cfg(feature = "resource-management")))]
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.stages.limiter = Some(limiter);
        self
    }

    /// Cuts each attempt, its wait for a bulkhead slot included, at `timeout` (above zero).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.stages.timeout = Some(timeout);
        self
    }

    /// Runs each attempt in a slot of `bulkhead`, asked for at `priority` (higher is served
    /// first).
    #[cfg(feature = "resource-management")]
    #[cfg_attr(docsrs, doc(cfg(feature = "resource-management")))]
    pub fn bulkhead(mut self, bulkhead: Bulkhead, priority: i32) -> Self {
        self.stages.bulkhead = Some((bulkhead, priority));
        self
    }

    /// Checks the stages and returns the pipeline, or the first setting that cannot work.
    pub fn build(self) -> Result<Pipeline, ConfigError> {
        let stages = self.stages;
        if let Some(timeout) = stages.timeout
            && timeout.is_zero()
        {
            return Err(ConfigError::new(
                "timeout",
                format_args!("{timeout:?}"),
                "a duration above zero (leave it unset for no timeout)",
            ));
        }
        if let Some(retry) = &stages.retry
            && let Some(attempt_timeout) = retry.attempt_timeout()
        {
            return Err(ConfigError::new(
                "retry",
                format_args!("a policy with attempt_timeout {attempt_timeout:?}"),
                "a policy without a per-attempt timeout: it would cut attempts outside the \
                 breaker, which would never count them; set the pipeline's `timeout` instead",
            ));
        }
        Ok(Pipeline {
            stages: Arc::new(stages),
        })
    }
}

impl Pipeline {
    /// A builder for a pipeline named `name`, with every stage off.
    pub fn builder(name: impl Into<String>) -> PipelineBuilder {
        let name: String = name.into();
        PipelineBuilder {
            stages: Stages {
                name: name.into(),
                retry: None,
                breaker: None,
                #[cfg(feature = "resource-management")]
                limiter: None,
                timeout: None,
                #[cfg(feature = "resource-management")]
                bulkhead: None,
            },
        }
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.stages.name
    }

    /// The retry stage, if on.
    pub fn retry(&self) -> Option<&Retry> {
        self.stages.retry.as_ref()
    }

    /// The breaker stage, if on.
    pub fn breaker(&self) -> Option<&Breaker> {
        self.stages.breaker.as_ref()
    }

    /// The rate limiter stage, if on.
    #[cfg(feature = "resource-management")]
    #[cfg_attr(docsrs, doc(cfg(feature = "resource-management")))]
    pub fn rate_limiter(&self) -> Option<&RateLimiter> {
        self.stages.limiter.as_ref()
    }

    /// The timeout stage, if on.
    pub fn timeout(&self) -> Option<Duration> {
        self.stages.timeout
    }

    /// The bulkhead stage and the priority its slots are asked for at, if on.
    #[cfg(feature = "resource-management")]
    #[cfg_attr(docsrs, doc(cfg(feature = "resource-management")))]
    pub fn bulkhead(&self) -> Option<(&Bulkhead, i32)> {
        self.stages.bulkhead.as_ref().map(|(b, p)| (b, *p))
    }

    /// Runs `call` through every stage that is on, retrying every failure and timeout of the
    /// call (never a refusal).
    ///
    /// `call` is an async closure called once per attempt, after the breaker and the rate
    /// limiter let the attempt through; it may borrow state mutably.
    ///
    /// In a spawned task, whose future must be `Send`, give it an `async move` closure that
    /// owns what it uses (clone an `Arc` in). A closure borrowing the task's own locals meets
    /// a limit of today's compiler, which then cannot prove the task `Send`
    /// ("implementation of `Send` is not general enough"); so does any `AsyncFnMut` API.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use hardening::pipeline::Pipeline;
    /// use hardening::recovery::Retry;
    ///
    /// let pipeline = Pipeline::builder("search")
    ///     .retry(Retry::builder("search").build()?)
    ///     .build()?;
    /// let calls = Arc::new(AtomicU32::new(0));
    /// let seen = Arc::clone(&calls);
    /// let task = tokio::spawn(async move {
    ///     pipeline
    ///         .call(async move || {
    ///             match seen.fetch_add(1, Ordering::Relaxed) {
    ///                 0 => Err("reset"),
    ///                 n => Ok(n),
    ///             }
    ///         })
    ///         .await
    /// });
    /// assert_eq!(task.await??, 1);
    /// assert_eq!(calls.load(Ordering::Relaxed), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call<T, E, F>(&self, call: F) -> Result<T, PipelineError<E>>
    where
        F: AsyncFnMut() -> Result<T, E>,
    {
        self.call_if(|_: &E| true, call).await
    }

    /// Like [`call`](Self::call), retrying only the call's errors for which `retryable` is
    /// true; timeouts are always retried, refusals never. An error not retried still counts
    /// as a failure for the breaker.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::io::{Error, ErrorKind};
    /// use hardening::pipeline::Pipeline;
    /// use hardening::recovery::{Retry, StopReason};
    ///
    /// let pipeline = Pipeline::builder("users")
    ///     .retry(Retry::builder("users").max_attempts(3).build()?)
    ///     .build()?;
    /// let err = pipeline
    ///     .call_if(
    ///         |e: &Error| e.kind() != ErrorKind::NotFound,
    ///         async || Err::<(), _>(Error::from(ErrorKind::NotFound)),
    ///     )
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!((err.attempts(), err.stopped()), (1, Some(StopReason::NotRetryable)));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call_if<T, E, F, P>(
        &self,
        retryable: P,
        mut call: F,
    ) -> Result<T, PipelineError<E>>
    where
        F: AsyncFnMut() -> Result<T, E>,
        P: Fn(&E) -> bool,
    {
        let stages = &*self.stages;
        match &stages.retry {
            None => stages
                .attempt(|| call())
                .await
                .map_err(|last| PipelineError::single(&stages.name, last)),
            Some(retry) => {
                // The closure owns its handle on the stages: one holding a reference would
                // keep every caller's future from being proven `Send` (see `call`).
                let owned = Arc::clone(&self.stages);
                retry
                    .run_if(retry_on(retryable), async move |_| {
                        owned.attempt(|| call()).await
                    })
                    .await
                    .map_err(|e| PipelineError::retried(&stages.name, e))
            }
        }
    }

    /// Runs the calls `make` makes, one owned future per attempt. A future borrowing `make`
    /// (as [`call`](Self::call)'s do) cannot be proven `Send` in generic code such as a `tower`
    /// service; this one can, when `make` and its futures are.
    #[cfg(feature = "tower")]
    pub(crate) async fn call_owned<T, E, M, Fut>(self, mut make: M) -> Result<T, PipelineError<E>>
    where
        M: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let stages = &self.stages;
        match &stages.retry {
            None => stages
                .attempt(make)
                .await
                .map_err(|last| PipelineError::single(&stages.name, last)),
            Some(retry) => retry
                // `run_fn_if`, not `run_if`: the futures of an `AsyncFnMut` borrow it with a
                // lifetime the compiler's `Send` proof cannot see through.
                .run_fn_if(retry_on(|_: &E| true), |_| {
                    // Made before the stages are asked, but a future does nothing until
                    // polled: the call starts only once they let it through.
                    let call = make();
                    stages.attempt(move || call)
                })
                .await
                .map_err(|e| PipelineError::retried(&stages.name, e)),
        }
    }
}

impl Stages {
    /// One attempt through breaker, rate limiter, timeout and bulkhead, in that order; the
    /// call is made (`make` called) only once every stage has let it through.
    async fn attempt<T, E, Fut>(&self, make: impl FnOnce() -> Fut) -> Result<T, StageError<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = match &self.breaker {
            Some(breaker) => Some(breaker.try_acquire().map_err(StageError::BreakerOpen)?),
            None => None,
        };
        #[cfg(feature = "resource-management")]
        if let Some(limiter) = &self.limiter
            && let Err(limited) = limiter.check()
        {
            // The breaker let the call through but it never ran: no verdict on the
            // dependency (and a half-open probe slot goes back).
            if let Some(permit) = permit {
                permit.ignore();
            }
            return Err(StageError::RateLimited(limited));
        }
        let result = self.timed(make).await;
        if let Some(permit) = permit {
            match &result {
                Ok(_) => permit.success(),
                Err(e) if e.is_rejection() => permit.ignore(),
                Err(_) => permit.failure(),
            }
        }
        result
    }

    /// The timeout stage, around the bulkhead and the call.
    async fn timed<T, E, Fut>(&self, make: impl FnOnce() -> Fut) -> Result<T, StageError<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        // Whether the call has started, so a timeout during the wait for a bulkhead slot
        // is told apart from one during the call.
        let mut called = false;
        let Some(limit) = self.timeout else {
            return self.slotted(make, &mut called).await;
        };
        let outcome = tokio::time::timeout(limit, self.slotted(make, &mut called)).await;
        match outcome {
            Ok(result) => result,
            #[cfg(feature = "resource-management")]
            Err(_) if !called => Err(StageError::BulkheadFull(BulkheadError::Timeout)),
            Err(_) => Err(StageError::TimedOut(limit)),
        }
    }

    /// The bulkhead stage, around the call; sets `called` when the call starts.
    async fn slotted<T, E, Fut>(
        &self,
        make: impl FnOnce() -> Fut,
        called: &mut bool,
    ) -> Result<T, StageError<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        #[cfg(feature = "resource-management")]
        let _slot = match &self.bulkhead {
            Some((bulkhead, priority)) => Some(
                bulkhead
                    .acquire(*priority)
                    .await
                    .map_err(StageError::BulkheadFull)?,
            ),
            None => None,
        };
        *called = true;
        make().await.map_err(StageError::Failed)
    }
}

/// The retry stage's classifier: refusals never, timeouts always, the call's own errors as
/// `retryable` says.
fn retry_on<E>(retryable: impl Fn(&E) -> bool) -> RetryOn<impl Predicate<StageError<E>>, NoResult> {
    RetryOn::errors_with_hints().errors(move |e: &StageError<E>| match e {
        StageError::Failed(inner) => retryable(inner),
        _ => true,
    })
}
