//! Keep a service standing when its parts fail.
//!
//! `hardening` is the umbrella over a family of focused crates, each usable on its own. It
//! re-exports them as modules behind features named after the switches of
//! `SystemHardeningConfig`. The metrics store joins them when it lands; the wiring between
//! crates (config, the error-recovery flow, one event stream) is the umbrella's next step.
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
//! - `error-recovery` (default): [`breaker`], the circuit breaker, and [`recovery`], retry
//!   and supervised recovery.
//! - `health-monitoring`: [`health`], background checks, probes and health+json.
//! - `performance-monitoring`: [`perf`], process, runtime and operation monitoring.
//! - `resource-management`: [`resources`], priority allocation and load protection.
//! - `tower`: the breaker's `tower` layer.
//! - `full`: everything.

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "error-recovery")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
#[doc(inline)]
pub use hardening_breaker as breaker;

#[cfg(feature = "error-recovery")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
#[doc(inline)]
pub use hardening_recovery as recovery;

#[cfg(feature = "health-monitoring")]
#[cfg_attr(docsrs, doc(cfg(feature = "health-monitoring")))]
#[doc(inline)]
pub use hardening_health as health;

#[cfg(feature = "performance-monitoring")]
#[cfg_attr(docsrs, doc(cfg(feature = "performance-monitoring")))]
#[doc(inline)]
pub use hardening_perf as perf;

#[cfg(feature = "resource-management")]
#[cfg_attr(docsrs, doc(cfg(feature = "resource-management")))]
#[doc(inline)]
pub use hardening_resources as resources;

#[cfg(feature = "metrics-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics-store")))]
#[doc(inline)]
pub use hardening_metrics_store as metrics_store;

mod assemble;
#[cfg(feature = "error-recovery")]
mod clock;
pub mod config;
mod error;
mod event;
#[cfg(feature = "error-recovery")]
mod service;
mod system;

pub use error::{ConfigError, ConfigErrors};
pub use event::HardeningEvent;
#[cfg(feature = "error-recovery")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
pub use service::{Condition, ServiceHealth};
#[cfg(feature = "error-recovery")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
pub use system::CallError;
#[cfg(feature = "resource-management")]
#[cfg_attr(docsrs, doc(cfg(feature = "resource-management")))]
pub use system::{Resource, ResourceStats};
#[cfg(feature = "health-monitoring")]
#[cfg_attr(docsrs, doc(cfg(feature = "health-monitoring")))]
pub use system::{CheckStatus, HealthStatus, MemoryStatus};
pub use system::{Hardening, HardeningBuilder, HardeningError, ShutdownReport, next_event};

#[cfg(feature = "error-recovery")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
pub mod pipeline;

/// The names most programs need, in one import.
pub mod prelude {
    #[cfg(feature = "error-recovery")]
    pub use crate::breaker::{
        Breaker, BreakerConfig, CallError, NotPermitted, Outcome, Registry, SlidingWindow, State,
    };
    #[cfg(feature = "performance-monitoring")]
    pub use crate::perf::{MonitorConfig, Operations, PerformanceMetrics, PerformanceMonitor};
}
