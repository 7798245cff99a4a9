//! Keep a service standing when its parts fail.
//!
//! `hardening` composes a family of focused crates (circuit breaking, retry and supervised
//! recovery, health checks and alerts, performance monitoring, priority-based resource
//! management, an in-process metrics store) behind features named after the switches of the
//! seeds' `SystemHardeningConfig`, and wires them together: a service's breaker opens, the
//! recovery manager runs its escalation ladder, health shows the service recovering, and its
//! breaker half-opens so that probes decide when it is let back in. Every step is one
//! [`HardeningEvent`] stream.
//!
//! Each crate also stands alone: `hardening-breaker` without anything else is a complete
//! circuit breaker, and this crate re-exports each as a module ([`breaker`], [`recovery`],
//! [`health`], [`perf`], [`resources`], [`metrics_store`]).
//!
//! # Quick start
//!
//! Read the config (YAML, TOML or JSON, with `HARDENING_*` environment overrides), register
//! your services, initialize, and call them through their pipelines:
//!
//! ```
//! # #[cfg(feature = "error-recovery")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use hardening::config::{Format, SystemHardeningConfig};
//! use hardening::recovery::{Recoverable, ServiceError, ServiceStatus, async_trait};
//! use hardening::{Condition, Hardening};
//!
//! struct ModelInference;
//!
//! #[async_trait]
//! impl Recoverable for ModelInference {
//!     async fn initialize(&self) -> Result<(), ServiceError> { Ok(()) }
//!     async fn shutdown(&self) -> Result<(), ServiceError> { Ok(()) }
//!     async fn status(&self) -> ServiceStatus { ServiceStatus::Healthy }
//!     async fn recover(&self, _action: &str) -> Result<(), ServiceError> { Ok(()) }
//! }
//!
//! let config = SystemHardeningConfig::from_text(
//!     "recoverableServices: [model-inference]\nbreaker: {failureRateThreshold: 25}",
//!     Format::Yaml, // or SystemHardeningConfig::load("hardening.yaml")?
//! )?;
//! let hardening = Hardening::builder(config)
//!     .service("model-inference", ModelInference)
//!     .build()?; // every setting that cannot work, at once, with its path
//! let mut events = hardening.subscribe();
//! hardening.initialize().await?;
//!
//! // Retried, judged by the breaker, cut by the timeout: the order is fixed by the pipeline.
//! let label = hardening.call("model-inference", async || Ok::<_, ServiceError>("cat")).await?;
//! assert_eq!(label, "cat");
//! assert_eq!(
//!     hardening.service_health("model-inference").await?.condition,
//!     Condition::Healthy
//! );
//! let mut seen = Vec::new();
//! while let Ok(event) = events.try_recv() {
//!     seen.push(event.kind()); // health_changed, breaker_state_changed, recovery_started, ...
//! }
//! assert!(seen.contains(&"initialized"));
//! hardening.shutdown().await;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "error-recovery"))]
//! # fn main() {}
//! ```
//!
//! # Per feature
//!
//! - **`error-recovery`** (default): [`Hardening::service`](HardeningBuilder::service),
//!   [`Hardening::call`], [`Hardening::service_health`], [`Hardening::recover`], and the
//!   [`pipeline`] (retry around breaker around rate limiter around timeout around bulkhead,
//!   in an order the types fix).
//! - **`health-monitoring`**: [`Hardening::health_status`] (the seeds' `getHealthStatus`:
//!   status, memory, uptime, checks), a check per service, [`Hardening::alerts`] raised for
//!   failed recoveries and performance limits, and the monitor's probes
//!   ([`Hardening::health_monitor`]) for `hardening-health`'s `axum` router.
//! - **`performance-monitoring`**: [`Hardening::performance_metrics`] (CPU, memory, runtime
//!   latency, operation timings) and [`Hardening::operations`] to time your own.
//! - **`resource-management`**: [`Hardening::request_resource`] and
//!   [`Hardening::release_resource`] (by owner), [`Hardening::resource_stats`]; under memory
//!   pressure low priorities are shed.
//! - **`metrics-store`**: every metric's history in process ([`Hardening::metrics_store`]).
//! - **`tower`**: the pipeline as a `tower::Layer` ([`pipeline::PipelineLayer`]), and the
//!   breaker's own layer.
//! - **`full`**: everything.
//!
//! ```toml
//! [dependencies]
//! hardening = { version = "0.1", features = ["full"] }
//! ```
//!
//! A switch turned on in the config whose feature is compiled out is an error at
//! [`build`](HardeningBuilder::build) that names both.
//!
//! # Configuration
//!
//! [`config::SystemHardeningConfig`] has the seeds' fields (`enableHealthMonitoring`, ...,
//! `recoverableServices`) and a section per part; `docs/configuration.md` in the repository
//! is the reference of every key, its default and its environment variable.
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is 1.88.

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

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod admin;
mod assemble;
#[cfg(feature = "error-recovery")]
mod clock;
pub mod config;
mod error;
mod event;
#[cfg(feature = "error-recovery")]
mod service;
mod status;
mod system;

pub use error::{ConfigError, ConfigErrors};
pub use event::HardeningEvent;
/// Sizes and durations written as people write them (`"512MiB"`, `"1m30s"`), as the config and
/// the demo read them.
pub use hardening_core::{ByteSize, HumanDuration, ParseDurationError, ParseSizeError};
#[cfg(feature = "error-recovery")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
pub use service::{Condition, ServiceHealth};
pub use status::{
    BreakerView, PoolView, RecoveriesView, RecoveryView, ResourcesView, ServiceView, StatusReport,
};
#[cfg(feature = "error-recovery")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
pub use system::ServiceCallError;
#[cfg(feature = "health-monitoring")]
#[cfg_attr(docsrs, doc(cfg(feature = "health-monitoring")))]
pub use system::{CheckStatus, HealthStatus, MemoryStatus};
pub use system::{Hardening, HardeningBuilder, HardeningError, ShutdownReport, next_event};
#[cfg(feature = "resource-management")]
#[cfg_attr(docsrs, doc(cfg(feature = "resource-management")))]
pub use system::{Resource, ResourceStats};

#[cfg(feature = "error-recovery")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
pub mod pipeline;

/// The names most programs need, in one import.
pub mod prelude {
    #[cfg(feature = "error-recovery")]
    pub use crate::breaker::{
        Breaker, BreakerConfig, CallError, NotPermitted, Outcome, Registry, SlidingWindow, State,
    };
    pub use crate::config::{Format, SystemHardeningConfig};
    #[cfg(feature = "performance-monitoring")]
    pub use crate::perf::{MonitorConfig, Operations, PerformanceMetrics, PerformanceMonitor};
    #[cfg(feature = "error-recovery")]
    pub use crate::{Condition, ServiceHealth};
    pub use crate::{Hardening, HardeningEvent};
}
