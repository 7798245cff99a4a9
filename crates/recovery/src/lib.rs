//! Retry with budgets, and supervised recovery of services.
//!
//! Two tools for the two time scales of failure. A [`Retry`] rides out a blip within one
//! call: a few attempts, spaced by a backoff with jitter, under a deadline, and never more
//! than a [`RetryBudget`] allows across all callers, so that retries cannot turn a struggling
//! dependency into a dead one. A [`RecoveryManager`] brings back a service that stays down:
//! an escalation ladder of actions (reconnect, clear a cache, reinitialize, restart) under a
//! restart intensity, a backoff, a concurrency limit and a timeout per action, learning which
//! actions work for which failures.
//!
//! # Retry
//!
//! ```
//! use std::time::Duration;
//! use hardening_recovery::{Backoff, Jitter, Retry, RetryHint, StopReason};
//!
//! #[derive(Debug)]
//! enum Error {
//!     Unavailable { retry_after: Option<Duration> },
//!     CircuitOpen,
//! }
//!
//! impl RetryHint for Error {
//!     fn retry_after(&self) -> Option<Duration> {
//!         match self {
//!             Error::Unavailable { retry_after } => *retry_after,
//!             Error::CircuitOpen => None,
//!         }
//!     }
//!     fn is_rejection(&self) -> bool {
//!         matches!(self, Error::CircuitOpen) // never retried
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let retry = Retry::builder("inventory")
//!     .max_attempts(4)
//!     .backoff(
//!         Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(2))
//!             .with_jitter(Jitter::Full),
//!     )
//!     .deadline(Duration::from_secs(5))
//!     .attempt_timeout(Duration::from_secs(1))
//!     .build()?;
//!
//! // The factory builds each attempt afresh: requests need not be `Clone`.
//! let count = retry
//!     .run(async |attempt| {
//!         if attempt.number() == 1 {
//!             Err(Error::Unavailable { retry_after: Some(Duration::from_millis(300)) })
//!         } else {
//!             Ok(17)
//!         }
//!     })
//!     .await
//!     .map_err(|e| format!("{e:?}"))?;
//! assert_eq!(count, 17);
//!
//! let err = retry.run(async |_| Err::<(), _>(Error::CircuitOpen)).await.unwrap_err();
//! assert_eq!((err.attempts(), err.reason()), (1, StopReason::Rejected));
//! # Ok(())
//! # }
//! ```
//!
//! - Policies: maximum attempts, an overall deadline (it cuts off a running attempt), a
//!   per-attempt timeout, and [`Backoff`]s: constant, exponential with a cap, and full, equal
//!   and decorrelated [`Jitter`] from a seedable generator ([`RetryBuilder::seed`]).
//! - What to retry: errors and `Ok` results by predicate ([`RetryOn`], or any [`Classify`]);
//!   a server's Retry-After honoured and a "do not call now" rejection never retried, both
//!   through the [`RetryHint`] trait on the error.
//! - A [`RetryBudget`] on by default: retries add at most a fraction (20 %) of the recent
//!   successful load plus a floor (10 a second); a spent budget stops retries at once with
//!   [`StopReason::BudgetExhausted`].
//! - The attempt factory (`async |attempt| …`, an `AsyncFnMut`) builds each request afresh
//!   and may borrow `&mut` state; [`Retry::run_blocking`] does the same for blocking code.
//! - A [`RetryError`] tells how many attempts ran, why it stopped ([`StopReason`]) and carries
//!   the last error as its `source`.
//! - Events to a [`RetryListener`]; metrics through the `metrics` facade.
//!
//! # Supervised recovery
//!
//! A service implements [`Recoverable`] (object-safe: initialize, shutdown, status, recover;
//! written with the re-exported [`async_trait`](macro@async_trait) attribute) and is registered by name in a
//! [`ServiceRegistry`]; only registered services are recovered. [`RecoveryManager::report_failure`] starts a recovery; the manager's docs give
//! the rules (ladder, intensity, backoff, concurrency, timeouts, learned ordering) and an
//! example. Recoveries are kept in a bounded, queryable history ([`RecoveryRecord`]) with
//! the mean time to recovery, and an exhausted ladder sends an
//! [`OperatorAlert`](RecoveryEventKind::OperatorAlert) to the [`RecoveryListener`].
//!
//! # Metrics
//!
//! With the `metrics` feature, through the [`metrics`](https://docs.rs/metrics) facade (the
//! `metrics` module has the full list and the recovery metrics). The retry counters map to
//! Resilience4j's, so its Grafana dashboards translate:
//!
//! | hardening | Resilience4j |
//! |---|---|
//! | `hardening_retry_calls_total{retry, kind="successful_without_retry"}` | `resilience4j_retry_calls_total{name, kind="successful_without_retry"}` |
//! | `hardening_retry_calls_total{retry, kind="successful_with_retry"}` | `resilience4j_retry_calls_total{name, kind="successful_with_retry"}` |
//! | `hardening_retry_calls_total{retry, kind="failed_with_retry"}` | `resilience4j_retry_calls_total{name, kind="failed_with_retry"}` |
//! | `hardening_retry_calls_total{retry, kind="failed_without_retry"}` | `resilience4j_retry_calls_total{name, kind="failed_without_retry"}` |
//! | `hardening_retry_attempts_total{retry}` | (none: Resilience4j counts calls) |
//! | `hardening_retry_retries_total{retry}` | (none; its `RetryOnRetryEvent` events) |
//! | `hardening_retry_stopped_total{retry, reason}`, `reason` = `attempts` / `deadline` / `budget` / `not_retryable` / `rejected` | (none; `attempts` is its `RetryOnErrorEvent` after the last attempt) |
//!
//! A call is `successful_*` when it returns an accepted `Ok`, and `failed_*` otherwise (an
//! error, or an `Ok` value that the result predicate still wanted retried when the retries
//! ran out); `with` or `without` says whether more than one attempt ran. The labels are named
//! `retry` rather than `name`; a dashboard query translates with `label_replace` or a
//! recording rule.
//!
//! # In libraries
//!
//! Take a [`Retry`] (or an `Arc<RetryBudget>`) from your caller rather than building your
//! own, so that the application decides the limits and one budget covers every caller of a
//! dependency. Implement [`RetryHint`] for your error type.
//!
//! # In executables
//!
//! Build one [`Retry`] per dependency and clone it (clones share the budget and the seed
//! sequence); build one [`RecoveryManager`] over a [`ServiceRegistry`] at start-up, and call
//! [`RecoveryManager::shutdown`] on the way out.
//!
//! # Crate feature flags
//!
//! ```toml
//! [dependencies]
//! hardening-recovery = { version = "0.1", default-features = false }
//! ```
//!
//! - `metrics` (default): record through the `metrics` facade.
//!
//! Async code runs on tokio (its `time`, `sync` and `rt` features): sleeps and timeouts use
//! `tokio::time`, so tests drive them with `tokio::time::pause()`. The blocking retry loop
//! needs no runtime; it reads and sleeps on a [`Clock`].
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is the workspace's `rust-version` (1.88; async
//! closures need 1.85).

#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod budget;
mod clock;
mod config;
mod hint;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod retry;
mod rng;
mod supervise;

pub use backoff::{Backoff, Delays, Jitter, MAX_DELAY};
pub use budget::{RetryBudget, RetryBudgetBuilder};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::ConfigError;
pub use hint::{AnyError, Classify, NoResult, Predicate, RetryHint, RetryOn, Verdict};
pub use retry::{
    Attempt, AttemptTimedOut, Failure, Retry, RetryBuilder, RetryError, RetryEvent, RetryEventKind,
    RetryListener, StopReason,
};
pub use supervise::event::{
    ActionOutcome, ActionRecord, AlertReason, RecoveryEvent, RecoveryEventKind, RecoveryListener,
    RecoveryOutcome, RecoveryRecord,
};
pub use supervise::ladder::{Action, Ladder, Level};
pub use supervise::manager::{
    ActionStats, MAX_CONCURRENT_RECOVERIES, RecoveryError, RecoveryManager, RecoveryManagerBuilder,
    RecoveryTicket, Reported, ShutdownReport,
};
pub use supervise::registry::{Lifecycle, RegistryError, ServiceRegistry};
pub use supervise::service::{Recoverable, ServiceError, ServiceStatus};

/// The attribute that implements [`Recoverable`] with `async fn`s (from the `async-trait`
/// crate, re-exported so that implementors need not depend on it).
pub use async_trait::async_trait;
