//! A circuit breaker with the whole Resilience4j model and a hot path that neither locks nor
//! allocates, and that gets faster, not slower, when threads share it.
//!
//! A breaker watches the outcomes of calls to a dependency. While the dependency is healthy the
//! breaker is **closed** and calls flow. When the failure rate (or the slow-call rate) over a
//! sliding window crosses a threshold, it **opens** and rejects calls at once, giving the
//! dependency room to recover and the caller a fast, typed error that says when to try again.
//! After the open duration it goes **half-open** and admits a fixed number of probe calls;
//! their outcomes decide whether it closes again or reopens with a longer open duration.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use hardening_breaker::{Breaker, BreakerConfig, ManualClock, SlidingWindow, State};
//!
//! let clock = ManualClock::new();
//! let breaker = Breaker::builder("payments")
//!     .config(
//!         BreakerConfig::builder()
//!             .sliding_window(SlidingWindow::count(20))
//!             .minimum_calls(5)
//!             .failure_rate_threshold(50.0)
//!             .open_duration(Duration::from_secs(10))
//!             .permitted_calls_in_half_open(2)
//!             .build()?,
//!     )
//!     .clock(clock.clone())
//!     .build();
//!
//! // The dependency fails: after the minimum number of calls the breaker opens.
//! for _ in 0..5 {
//!     let _ = breaker.call(|| Err::<(), _>("timeout"));
//! }
//! assert_eq!(breaker.state(), State::Open);
//! let rejected = breaker.call(|| Ok::<_, &str>(())).unwrap_err();
//! assert!(rejected.is_not_permitted());
//!
//! // Ten seconds later two probes are let through; both succeed, so it closes.
//! clock.advance(Duration::from_secs(10));
//! breaker.call(|| Ok::<_, &str>(())).unwrap();
//! assert_eq!(breaker.state(), State::HalfOpen);
//! breaker.call(|| Ok::<_, &str>(())).unwrap();
//! assert_eq!(breaker.state(), State::Closed);
//! # Ok::<(), hardening_breaker::ConfigError>(())
//! ```
//!
//! # What it has
//!
//! - States [`Closed`](State::Closed), [`Open`](State::Open), [`HalfOpen`](State::HalfOpen),
//!   and the operator's [`ForcedOpen`](State::ForcedOpen), [`Disabled`](State::Disabled) and
//!   [`MetricsOnly`](State::MetricsOnly); [`Breaker::transition_to`] and [`Breaker::reset`].
//! - Count-based and time-based sliding windows, or a consecutive-failures count
//!   ([`SlidingWindow`]); failure-rate and slow-call-rate thresholds; a minimum number of
//!   calls before judging.
//! - The open duration from a backoff ([`OpenDuration`]: constant, exponential with a cap, or
//!   your own), restarted when the breaker closes; optional automatic move to half-open.
//! - Exactly N half-open probes, reserved atomically by RAII [`Permit`]s: a dropped probe
//!   gives its slot back; a maximum wait in half-open.
//! - [`Classifier`]s deciding which errors and which `Ok` results count as failures, and
//!   which are ignored.
//! - [`Breaker::call`], [`Breaker::call_async`] (any executor) and the permit API
//!   ([`Breaker::try_acquire`]) for everything else. A rejection is a [`NotPermitted`]
//!   carrying the breaker's name and the time until it may admit a probe.
//! - A [`Registry`] of named breakers with shared configs; [`Listener`]s for events;
//!   metrics through the `metrics` facade (see the `metrics` module); a `tower` layer.
//! - Config checked when built: a bad setting is a [`ConfigError`] naming the field.
//!
//! # How the hot path stays fast
//!
//! In the closed state [`Breaker::try_acquire`] is one atomic load. A successful call that
//! cannot change any decision (the window already holds the minimum number of calls, so a
//! success can only lower the rates) is counted in a per-thread stripe padded to its own cache
//! line and folded into the shared window every 64 calls, on the next failure, slow call or
//! state change, and whenever the metrics are read. Failures and slow calls take a short
//! lock. One thread alone sees exactly the Resilience4j semantics (a model test checks it
//! call by call); threads racing each other may see a failure judged before another thread's
//! last few successes are folded in.
//!
//! # Crate feature flags
//!
//! ```toml
//! [dependencies]
//! hardening-breaker = { version = "0.1", default-features = false, features = ["tower"] }
//! ```
//!
//! - `metrics` (default): record through the [`metrics`](https://docs.rs/metrics) facade.
//! - `tower`: the `tower` module's `BreakerLayer`.
//!
//! No async runtime is needed. Automatic transitions use one shared background thread.
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is the workspace's `rust-version` (1.88).

#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod breaker;
mod classify;
mod clock;
mod config;
mod error;
mod event;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod permit;
mod registry;
mod state;
mod stripes;
mod sync;
mod timer;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;
mod window;

pub use backoff::{OpenBackoff, OpenDuration};
pub use breaker::{Breaker, BreakerBuilder, MetricsSnapshot};
pub use classify::{Classifier, ErrIsFailure, Outcome};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    BreakerConfig, BreakerConfigBuilder, ConfigError, MAX_COUNT_WINDOW, MAX_TIME_WINDOW_SECS,
    SlidingWindow,
};
pub use error::{CallError, NotPermitted};
pub use event::{BreakerEvent, EventKind, Listener};
pub use permit::{OwnedPermit, Permit};
pub use registry::{Registry, UnknownConfig};
pub use state::State;
