//! Health checks that run in the background on tokio, Kubernetes-style probes, and
//! `application/health+json` bodies, where asking for health never waits on a check.
//!
//! You register [`HealthCheck`]s with a [`HealthMonitor`]. Each runs on its own schedule
//! (interval with jitter, initial delay, timeout), at most N at once; a check that fails,
//! errs, panics or hangs past its timeout is judged a failure and never stops the others.
//! Results pass through Kubernetes' success and failure thresholds and are folded into the
//! health of each group ([`Group::Liveness`], [`Group::Readiness`], [`Group::Startup`],
//! custom groups) and of the whole service ([`Health`]). Readers get a cached [`Snapshot`];
//! subscribers get [`HealthEvent`]s when something changes.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use hardening_health::checks::{Heartbeat, SystemMemory, Threshold};
//! use hardening_health::{
//!     check_fn, CheckOptions, Group, Health, HealthJson, HealthMonitor, Observation, Scope,
//! };
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (worker, beat) = Heartbeat::new(Duration::from_secs(60))?;
//! let monitor = HealthMonitor::builder()
//!     // Warm-up must finish before the service counts as started.
//!     .check(
//!         "cache:warm",
//!         check_fn(|| async { Ok(Observation::pass()) }),
//!         CheckOptions::builder().groups([Group::Startup]).build()?,
//!     )
//!     // The worker loop must check in every minute, or the process is restarted.
//!     .check(
//!         "worker:heartbeat",
//!         worker,
//!         CheckOptions::builder()
//!             .groups([Group::Liveness])
//!             .interval(Duration::from_secs(10))
//!             .failure_threshold(3)
//!             .build()?,
//!     )
//!     .check(
//!         "memory:utilization",
//!         SystemMemory::new(Threshold::above(100.0, 100.0)?),
//!         CheckOptions::default(), // readiness, every 30 s
//!     )
//!     .build()?;
//!
//! tokio::time::sleep(Duration::from_millis(10)).await; // the first runs finish
//! beat.beat();
//! assert_eq!(monitor.group(&Group::Liveness), Some(Health::Healthy));
//!
//! let response = HealthJson::new()
//!     .render(&monitor.snapshot(), &Scope::Group(Group::Readiness), true)
//!     .ok_or("unknown group")?;
//! assert_eq!(response.status_code, 200);
//! assert!(response.body.contains("memory:utilization"));
//!
//! // Readiness turns failing at once; checks stop after the grace period.
//! let mut events = monitor.subscribe();
//! monitor.shutdown(Duration::from_secs(5)).await;
//! assert_eq!(events.recv().await?, hardening_health::HealthEvent::ShutdownStarted);
//! # Ok(())
//! # }
//! ```
//!
//! # What it has
//!
//! - The [`HealthCheck`] trait (async, object-safe, blanket impls for `&T`, `Box<T>`,
//!   `Arc<T>`), [`check_fn`] for closures, and the [`checks`] module: memory (process and
//!   system), disk space, TCP connect, TTL heartbeat, HTTP GET (`http` feature) and a
//!   command's exit status (`command` feature).
//! - [`CheckOptions`] per check, with documented defaults and a [`ConfigError`] naming the
//!   field for a setting that cannot work.
//! - [`HealthMonitor`]: background runs bounded by a semaphore; panics, errors and timeouts as
//!   failures; [`SeverityOrder`] and [`Criticality`] for aggregation; startup gating; a
//!   [`SystemStatus`] with uptime, last time healthy and memory; [`HealthMonitor::subscribe`]
//!   and [`HealthMonitor::watch`] for changes; [`HealthMonitor::shutdown`] that turns
//!   readiness first.
//! - [`HealthJson`]: `application/health+json` bodies with 200/503 and a [`DetailsPolicy`]; an
//!   `axum` router (`axum` feature).
//! - [`alert`]: Prometheus-style alerting rules and Alertmanager-style routing in-process
//!   (below).
//!
//! # Alerts
//!
//! An [`alert::AlertManager`] turns conditions into alerts and tells people, as Prometheus'
//! alerting rules and Alertmanager do, without a server between them. [`alert::Rule`]s
//! evaluate a condition (a closure, or a group's or check's health) every interval; it must
//! hold `for` a while before the alert fires, and the alert keeps firing for
//! `keep_firing_for` after it stops holding. Other parts of a service raise and resolve
//! alerts directly ([`alert::AlertManager::raise`], [`alert::AlertManager::resolve`]).
//! [`alert::Route`]s group alerts by labels and pace notices (`group_wait`, `group_interval`,
//! `repeat_interval`, resolve notices); [`alert::InhibitRule`]s and [`alert::Silence`]s mute
//! them; each sink (log, channel, webhook) has its own queue, timeout and rate limit, so one
//! that fails or hangs holds up nothing else. `docs/alerts.md` maps every setting to its
//! Alertmanager concept.
//!
//! ```
//! use std::time::Duration;
//! use hardening_health::alert::{
//!     Alert, AlertManager, ChannelSink, Condition, InhibitRule, LogSink, Matcher, Route, Rule,
//!     Severity, SinkOptions,
//! };
//! use hardening_health::{check_fn, CheckOptions, Group, Health, HealthMonitor, Observation};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let monitor = HealthMonitor::builder()
//!     .check("db:ping", check_fn(|| async { Ok(Observation::fail("refused")) }), CheckOptions::default())
//!     .build()?;
//! let (pager, mut pages) = ChannelSink::new(16)?;
//! let alerts = AlertManager::builder()
//!     .sink("log", LogSink::new(), SinkOptions::default())
//!     .sink("pager", pager, SinkOptions::builder().rate_limit(10, Duration::from_secs(60)).build()?)
//!     // Critical alerts page, one notice per service; everything is logged.
//!     .route(
//!         Route::builder("oncall")
//!             .matcher(Matcher::regex("severity", "critical|emergency")?)
//!             .group_by(["service"])
//!             .group_wait(Duration::from_secs(10))
//!             .group_interval(Duration::from_secs(60))
//!             .sinks(["pager", "log"])
//!             .build()?,
//!     )
//!     .default_route(Route::builder("log").sinks(["log"]).build()?)
//!     // While the database is down, its slow queries are noise.
//!     .inhibit(InhibitRule::new(
//!         [Matcher::equal("alertname", "DatabaseDown")?],
//!         [Matcher::equal("alertname", "SlowQueries")?],
//!         ["service"],
//!     )?)
//!     .rule(
//!         Rule::builder(
//!             "DatabaseDown",
//!             Condition::group_health(&monitor, Group::Readiness, [Health::Unhealthy]),
//!         )
//!         .severity(Severity::Critical)
//!         .label("service", "db")
//!         .summary("the database does not answer")
//!         .for_duration(Duration::from_secs(30))
//!         .build()?,
//!     )
//!     .build()?;
//!
//! // Another part of the service (say, a latency threshold) raises an alert directly.
//! alerts.raise(Alert::new("SlowQueries", Severity::Critical).with_label("service", "db"))?;
//!
//! // At 10 s the group's wait ends: the slow queries page.
//! let first = pages.recv().await.ok_or("closed")?;
//! assert_eq!(first.alerts()[0].name(), "SlowQueries");
//! // At 30 s the rule has held long enough: the database is down. At the group's next
//! // flush (70 s) it pages, and the slow queries, now inhibited, are left out.
//! let second = pages.recv().await.ok_or("closed")?;
//! let names: Vec<&str> = second.alerts().iter().map(|a| a.name()).collect();
//! assert_eq!(names, ["DatabaseDown"]);
//! assert!(alerts.active().iter().any(|a| a.alert.name() == "SlowQueries" && a.inhibited));
//! # Ok(())
//! # }
//! ```
//!
//! # Crate feature flags
//!
//! ```toml
//! [dependencies]
//! hardening-health = { version = "0.1", features = ["axum", "http", "webhook"] }
//! ```
//!
//! - `metrics` (default): record runs, durations and statuses through the
//!   [`metrics`](https://docs.rs/metrics) facade (see the `metrics` module).
//! - `http`: [`checks::HttpGet`](crate::checks).
//! - `command`: [`checks::CommandCheck`](crate::checks), on `tokio::process`.
//! - `axum`: the `axum` module's `HealthRoutes`.
//! - `webhook`: `alert::WebhookSink`, posting Alertmanager's webhook JSON over the same
//!   minimal HTTP/1.1 client as `HttpGet`.
//!
//! A tokio runtime is needed: checks run as tokio tasks and time is `tokio::time`, so tests
//! run under `tokio::time::pause()`.
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is the workspace's `rust-version` (1.88).

#![cfg_attr(docsrs, feature(doc_cfg))]

mod aggregate;
pub mod alert;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod check;
pub mod checks;
mod error;
mod event;
#[cfg(any(feature = "http", feature = "webhook"))]
mod http1;
mod judge;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod monitor;
mod options;
mod render;
mod snapshot;
mod status;
mod system;

pub use aggregate::SeverityOrder;
/// The attribute for implementing [`HealthCheck`], re-exported from `async-trait`.
pub use async_trait::async_trait;
pub use check::{BoxError, CheckName, CheckResult, FnCheck, HealthCheck, Observation, check_fn};
pub use error::ConfigError;
pub use event::HealthEvent;
pub use monitor::{DEFAULT_MAX_CONCURRENT, HealthMonitor, HealthMonitorBuilder};
pub use options::{CheckOptions, CheckOptionsBuilder, Criticality, MAX_JITTER};
pub use render::{
    CONTENT_TYPE, DetailsPolicy, HealthJson, HealthResponse, Scope, status_code, wire_status,
};
pub use snapshot::{CheckReport, Snapshot};
pub use status::{Group, Health, Status};
pub use system::{MemoryUsage, SystemStatus};
