//! Keep a service standing when its parts fail.
//!
//! `hardening` is the umbrella over a family of focused crates, each usable on its own. It
//! re-exports them as modules behind features named after the switches of
//! `SystemHardeningConfig`. Today it carries the circuit breaker and performance monitoring;
//! the health, recovery, resource and metrics-store crates join it as they land.
//!
//! ```
//! # #[cfg(feature = "error-recovery")] {
//! use hardening::breaker::{Breaker, State};
//!
//! let breaker = Breaker::builder("inventory").build();
//! let value = breaker.call(|| Ok::<_, std::io::Error>(7)).unwrap();
//! assert_eq!(value, 7);
//! assert_eq!(breaker.state(), State::Closed);
//! # }
//! ```
//!
//! # Crate feature flags
//!
//! ```toml
//! [dependencies]
//! hardening = { version = "0.1", features = ["full"] }
//! ```
//!
//! - `error-recovery` (default): [`breaker`], the circuit breaker.
//! - `performance-monitoring`: [`perf`], process, runtime and operation monitoring.
//! - `tower`: the breaker's `tower` layer.
//! - `full`: everything.

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "error-recovery")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
#[doc(inline)]
pub use hardening_breaker as breaker;

#[cfg(feature = "performance-monitoring")]
#[cfg_attr(docsrs, doc(cfg(feature = "performance-monitoring")))]
#[doc(inline)]
pub use hardening_perf as perf;

/// The names most programs need, in one import.
pub mod prelude {
    #[cfg(feature = "error-recovery")]
    pub use crate::breaker::{
        Breaker, BreakerConfig, CallError, NotPermitted, Outcome, Registry, SlidingWindow, State,
    };
    #[cfg(feature = "performance-monitoring")]
    pub use crate::perf::{MonitorConfig, Operations, PerformanceMetrics, PerformanceMonitor};
}
