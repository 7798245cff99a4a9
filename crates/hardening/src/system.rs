//! The facade: one `Hardening` that builds every part the config switches on, wires them
//! together, and answers the seeds' API.
//!
//! The wiring is the seeds' error-recovery flow: a service's breaker opens (or its health
//! check fails), the recovery manager is told and runs its ladder, the service's health shows
//! it recovering, and once it is back its breaker is moved to half-open so that probes, not a
//! flood, find out whether it holds. Performance limits and failed recoveries raise alerts;
//! memory pressure sheds low-priority resource requests. Every step is a [`HardeningEvent`].

#[cfg(feature = "error-recovery")]
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::broadcast;
#[cfg(feature = "error-recovery")]
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::SystemHardeningConfig;
use crate::{ConfigError, ConfigErrors, HardeningEvent};

#[cfg(feature = "error-recovery")]
use crate::breaker::{self, Breaker, State};
#[cfg(feature = "error-recovery")]
use crate::recovery::{
    Recoverable, RecoveryEvent, RecoveryEventKind, RecoveryManager, ServiceRegistry,
};
#[cfg(feature = "error-recovery")]
use crate::service::{ServiceEntry, ServiceHealth};

/// Events kept for a subscriber that falls behind; past it the oldest are dropped and the
/// subscriber is told how many ([`HardeningEvent::Lagged`]).
const EVENT_BUFFER: usize = 1024;

/// A failure the wiring hands to the recovery manager.
#[cfg(feature = "error-recovery")]
#[derive(Debug, Clone)]
pub(crate) struct FailureReport {
    pub(crate) service: Arc<str>,
    pub(crate) failure: &'static str,
}

/// A resource managed by the system: any value, shared. Downcast it to the type it was added
/// as (`lease.value().downcast_ref::<Gpu>()`).
#[cfg(feature = "resource-management")]
#[cfg_attr(docsrs, doc(cfg(feature = "resource-management")))]
pub type Resource = Arc<dyn std::any::Any + Send + Sync>;

/// Why the system could not do what it was asked.
#[derive(Debug)]
#[non_exhaustive]
pub enum HardeningError {
    /// The part is compiled in but switched off in the config (its `enable…` key).
    Disabled {
        /// The config key that switches it on.
        switch: &'static str,
    },
    /// No service of that name is registered.
    UnknownService(String),
    /// The system is not running: [`Hardening::initialize`] has not run, or
    /// [`Hardening::shutdown`] has.
    NotRunning,
    /// A service failed to start during [`Hardening::initialize`].
    #[cfg(feature = "error-recovery")]
    #[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
    Service(crate::recovery::RegistryError),
    /// The recovery manager refused.
    #[cfg(feature = "error-recovery")]
    #[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
    Recovery(crate::recovery::RecoveryError),
    /// The resource manager refused a request.
    #[cfg(feature = "resource-management")]
    #[cfg_attr(docsrs, doc(cfg(feature = "resource-management")))]
    Request(crate::resources::RequestError),
    /// The resource manager refused a release.
    #[cfg(feature = "resource-management")]
    #[cfg_attr(docsrs, doc(cfg(feature = "resource-management")))]
    Release(crate::resources::ReleaseError),
    /// The system is under memory pressure and sheds requests below this priority.
    Shed {
        /// The lowest priority still served.
        min_priority: i32,
    },
    /// A part failed to start.
    Start(String),
}

impl fmt::Display for HardeningError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HardeningError::Disabled { switch } => {
                write!(f, "this part is switched off: set {switch}: true to use it")
            }
            HardeningError::UnknownService(name) => write!(
                f,
                "no service named {name:?} is registered (HardeningBuilder::service)"
            ),
            HardeningError::NotRunning => f.write_str(
                "the system is not running: call initialize() first (or it was shut down)",
            ),
            #[cfg(feature = "error-recovery")]
            HardeningError::Service(e) => write!(f, "a service failed to start: {e}"),
            #[cfg(feature = "error-recovery")]
            HardeningError::Recovery(e) => e.fmt(f),
            #[cfg(feature = "resource-management")]
            HardeningError::Request(e) => e.fmt(f),
            #[cfg(feature = "resource-management")]
            HardeningError::Release(e) => e.fmt(f),
            HardeningError::Shed { min_priority } => write!(
                f,
                "the system is under memory pressure and serves only priority {min_priority} and above"
            ),
            HardeningError::Start(what) => write!(f, "failed to start: {what}"),
        }
    }
}

impl std::error::Error for HardeningError {}

/// The seeds' `getHealthStatus()`: the overall health, memory, uptime and every check.
#[cfg(feature = "health-monitoring")]
#[cfg_attr(docsrs, doc(cfg(feature = "health-monitoring")))]
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct HealthStatus {
    /// Healthy, degraded or unhealthy.
    #[serde(serialize_with = "display")]
    pub status: crate::health::Health,
    /// The machine's memory (`None` where the platform does not tell).
    pub memory: Option<MemoryStatus>,
    /// Since [`Hardening::initialize`].
    #[serde(serialize_with = "seconds")]
    pub uptime: Duration,
    /// Every check's latest result.
    pub checks: Vec<CheckStatus>,
}

/// Memory in use, as the seeds report it.
#[cfg(feature = "health-monitoring")]
#[cfg_attr(docsrs, doc(cfg(feature = "health-monitoring")))]
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct MemoryStatus {
    /// Bytes in use.
    pub used: u64,
    /// Bytes in all.
    pub total: u64,
    /// `used` as a percentage of `total`.
    pub percentage: f64,
}

/// One check's latest result.
#[cfg(feature = "health-monitoring")]
#[cfg_attr(docsrs, doc(cfg(feature = "health-monitoring")))]
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct CheckStatus {
    /// The check's name (`service:<name>` for a service's own check).
    pub name: String,
    /// Pass, warn or fail.
    #[serde(serialize_with = "display")]
    pub status: crate::health::Status,
    /// What the check said.
    pub message: Option<String>,
}

/// The seeds' `getResourceStats()`: totals over every pool, and each pool.
#[cfg(feature = "resource-management")]
#[cfg_attr(docsrs, doc(cfg(feature = "resource-management")))]
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ResourceStats {
    /// Resources free to lease.
    pub ready: usize,
    /// Resources on lease.
    pub busy: usize,
    /// Resources out of service.
    pub unavailable: usize,
    /// Leases held now (the seeds' `activeAllocations`).
    pub active_allocations: usize,
    /// Requests waiting.
    pub waiters: usize,
    /// Whether low-priority requests are being shed (memory pressure).
    pub shedding: bool,
    /// Each pool.
    #[serde(skip)]
    pub pools: Vec<crate::resources::PoolStats>,
}

/// What a shutdown managed within its bound.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Whether every step finished within the bound.
    pub within_bound: bool,
    /// Recoveries that finished during the shutdown.
    pub recoveries_finished: usize,
    /// Recoveries still running at the bound, which were aborted.
    pub recoveries_aborted: usize,
    /// Services whose `shutdown` failed, with the reason.
    pub services_failed: Vec<(String, String)>,
    /// Steps cut short by the bound.
    pub cut_short: Vec<&'static str>,
}

/// Where the system is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Built,
    Running,
    Stopped,
}

/// The system: every part the config switches on, wired together. Cheap to clone (every
/// clone is the same system).
///
/// ```
/// # #[cfg(feature = "error-recovery")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use hardening::config::SystemHardeningConfig;
/// use hardening::recovery::{Recoverable, ServiceError, ServiceStatus, async_trait};
/// use hardening::{Condition, Hardening};
///
/// struct Inference(AtomicBool);
///
/// #[async_trait]
/// impl Recoverable for Inference {
///     async fn initialize(&self) -> Result<(), ServiceError> {
///         self.0.store(true, Ordering::SeqCst);
///         Ok(())
///     }
///     async fn shutdown(&self) -> Result<(), ServiceError> {
///         self.0.store(false, Ordering::SeqCst);
///         Ok(())
///     }
///     async fn status(&self) -> ServiceStatus {
///         if self.0.load(Ordering::SeqCst) { ServiceStatus::Healthy } else { ServiceStatus::Stopped }
///     }
///     async fn recover(&self, _action: &str) -> Result<(), ServiceError> {
///         self.initialize().await
///     }
/// }
///
/// let config = SystemHardeningConfig {
///     recoverable_services: vec!["model-inference".into()],
///     ..SystemHardeningConfig::default()
/// };
/// let hardening = Hardening::builder(config)
///     .service("model-inference", Inference(AtomicBool::new(false)))
///     .build()?;
/// hardening.initialize().await?;
///
/// let answer = hardening
///     .call("model-inference", async || Ok::<_, std::io::Error>(42))
///     .await?;
/// assert_eq!(answer, 42);
/// let health = hardening.service_health("model-inference").await?;
/// assert_eq!(health.condition, Condition::Healthy);
///
/// hardening.shutdown().await;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "error-recovery"))]
/// # fn main() {}
/// ```
#[derive(Clone)]
pub struct Hardening {
    inner: Arc<Inner>,
}

struct Inner {
    config: SystemHardeningConfig,
    events: broadcast::Sender<HardeningEvent>,
    phase: Mutex<Phase>,
    started: Mutex<Option<Instant>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    emergency: AtomicBool,
    /// Where the services' health checks report failures.
    #[cfg(all(feature = "error-recovery", feature = "health-monitoring"))]
    failures: mpsc::UnboundedSender<FailureReport>,
    #[cfg(feature = "error-recovery")]
    failures_rx: Mutex<Option<mpsc::UnboundedReceiver<FailureReport>>>,
    #[cfg(feature = "error-recovery")]
    services: BTreeMap<String, ServiceEntry>,
    #[cfg(feature = "error-recovery")]
    all_services: Arc<ServiceRegistry>,
    #[cfg(feature = "error-recovery")]
    pipelines: BTreeMap<String, crate::pipeline::Pipeline>,
    #[cfg(feature = "error-recovery")]
    breakers: breaker::Registry,
    #[cfg(feature = "error-recovery")]
    manager: Option<RecoveryManager>,
    #[cfg(feature = "health-monitoring")]
    health: health_part::HealthPart,
    #[cfg(feature = "performance-monitoring")]
    perf: perf_part::PerfPart,
    #[cfg(feature = "resource-management")]
    resources: Option<crate::resources::ResourceManager<Resource>>,
    #[cfg(feature = "metrics-store")]
    store: Option<Arc<crate::metrics_store::StoreRecorder>>,
    #[cfg(feature = "http")]
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here panics while holding a lock; a poisoned one still holds consistent data.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl fmt::Debug for Hardening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Hardening");
        d.field("phase", &*lock(&self.inner.phase));
        #[cfg(feature = "error-recovery")]
        d.field("services", &self.inner.services.keys().collect::<Vec<_>>());
        d.finish_non_exhaustive()
    }
}

/// Registers services, checks and resources, then builds the system with
/// [`build`](Self::build), which checks every setting at once.
#[must_use = "a builder does nothing until `build` is called"]
pub struct HardeningBuilder {
    config: SystemHardeningConfig,
    #[cfg(feature = "error-recovery")]
    services: Vec<(String, Arc<dyn Recoverable>)>,
    #[cfg(feature = "health-monitoring")]
    checks: Vec<(String, Arc<dyn crate::health::HealthCheck>)>,
    #[cfg(feature = "health-monitoring")]
    alerts: Option<crate::health::alert::AlertManagerBuilder>,
    #[cfg(feature = "resource-management")]
    resources: Vec<(String, crate::resources::NewResource<Resource>)>,
    #[cfg(any(feature = "metrics-store", feature = "http"))]
    install_recorder: bool,
}

impl fmt::Debug for HardeningBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("HardeningBuilder");
        #[cfg(feature = "error-recovery")]
        d.field(
            "services",
            &self.services.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        );
        d.finish_non_exhaustive()
    }
}

impl Hardening {
    /// A builder for the system `config` describes.
    pub fn builder(config: SystemHardeningConfig) -> HardeningBuilder {
        HardeningBuilder {
            config,
            #[cfg(feature = "error-recovery")]
            services: Vec::new(),
            #[cfg(feature = "health-monitoring")]
            checks: Vec::new(),
            #[cfg(feature = "health-monitoring")]
            alerts: None,
            #[cfg(feature = "resource-management")]
            resources: Vec::new(),
            #[cfg(any(feature = "metrics-store", feature = "http"))]
            install_recorder: true,
        }
    }

    /// The settings the system was built from.
    pub fn config(&self) -> &SystemHardeningConfig {
        &self.inner.config
    }

    /// Every event from now on, from every part. A subscriber that falls more than 1,024
    /// events behind gets [`HardeningEvent::Lagged`] in place of what it missed; use
    /// [`next_event`] to read it that way.
    pub fn subscribe(&self) -> broadcast::Receiver<HardeningEvent> {
        self.inner.events.subscribe()
    }

    fn emit(&self, event: HardeningEvent) {
        emit(&self.inner.events, event);
    }

    /// Starts everything: initializes the services, then starts health checks, alerts,
    /// performance monitoring, resource maintenance and metrics sampling, and the wiring
    /// between them. Must run inside a tokio runtime. Calling it again does nothing.
    pub async fn initialize(&self) -> Result<(), HardeningError> {
        {
            let mut phase = lock(&self.inner.phase);
            match *phase {
                Phase::Built => *phase = Phase::Running,
                Phase::Running => return Ok(()),
                Phase::Stopped => return Err(HardeningError::NotRunning),
            }
        }
        *lock(&self.inner.started) = Some(Instant::now());
        #[cfg(feature = "error-recovery")]
        if let Err(e) = self.inner.all_services.initialize_all().await {
            *lock(&self.inner.phase) = Phase::Built;
            return Err(HardeningError::Service(e));
        }
        #[cfg_attr(
            not(any(
                feature = "error-recovery",
                feature = "health-monitoring",
                feature = "performance-monitoring",
                feature = "resource-management",
                feature = "metrics-store"
            )),
            allow(unused_mut, reason = "no part to start")
        )]
        let mut tasks: Vec<JoinHandle<()>> = Vec::new();
        #[cfg(feature = "error-recovery")]
        if let Some(rx) = lock(&self.inner.failures_rx).take() {
            tasks.push(self.spawn_failure_reports(rx));
        }
        #[cfg(feature = "health-monitoring")]
        tasks.extend(
            self.inner
                .health
                .start(&self.inner, &self.inner.events)
                .map_err(|e| HardeningError::Start(e.to_string()))?,
        );
        #[cfg(feature = "performance-monitoring")]
        tasks.extend(self.inner.perf.start(self).await);
        #[cfg(all(feature = "error-recovery", feature = "health-monitoring"))]
        tasks.push(self.spawn_recovery_alerts());
        #[cfg(feature = "resource-management")]
        if let Some(resources) = &self.inner.resources {
            tasks.push(resources.spawn_maintenance(Duration::from_secs(1)));
        }
        #[cfg(feature = "metrics-store")]
        if let Some(store) = &self.inner.store {
            let every = Duration::from_millis(self.inner.config.metrics_store.sample_interval_ms);
            match store.spawn_sampler(every) {
                Ok(task) => tasks.push(task),
                Err(e) => return Err(HardeningError::Start(e.to_string())),
            }
        }
        #[cfg(feature = "http")]
        {
            // Without its own HTTP listener the Prometheus recorder needs its upkeep run (it
            // drains histogram buckets).
            let handle = self.inner.prometheus.clone();
            tasks.push(tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(5));
                loop {
                    every.tick().await;
                    handle.run_upkeep();
                }
            }));
        }
        #[cfg(all(feature = "metrics-store", feature = "error-recovery"))]
        if self.inner.store.is_some() {
            // Breaker counters batch per thread; publish them as often as the store samples,
            // so that history sees every call.
            let breakers: Vec<Breaker> = self
                .inner
                .services
                .values()
                .map(|e| e.breaker.clone())
                .collect();
            let every = Duration::from_millis(self.inner.config.metrics_store.sample_interval_ms);
            tasks.push(tokio::spawn(async move {
                let mut ticks = tokio::time::interval(every);
                loop {
                    ticks.tick().await;
                    for breaker in &breakers {
                        breaker.flush_metrics();
                    }
                }
            }));
        }
        lock(&self.inner.tasks).extend(tasks);
        self.emit(HardeningEvent::Initialized);
        Ok(())
    }

    /// Stops everything within the config's `shutdownTimeoutMs`: readiness fails first,
    /// running recoveries are drained (and aborted at the bound), resources are released,
    /// monitoring stops, metrics are flushed, and the services are shut down. Calling it
    /// again does nothing.
    pub async fn shutdown(&self) -> ShutdownReport {
        let bound = Duration::from_millis(self.inner.config.shutdown_timeout_ms);
        let deadline = Instant::now() + bound;
        let mut report = ShutdownReport {
            within_bound: true,
            recoveries_finished: 0,
            recoveries_aborted: 0,
            services_failed: Vec::new(),
            cut_short: Vec::new(),
        };
        {
            let mut phase = lock(&self.inner.phase);
            if *phase == Phase::Stopped {
                return report;
            }
            *phase = Phase::Stopped;
        }
        self.emit(HardeningEvent::ShutdownStarted);
        #[cfg_attr(
            not(any(
                feature = "error-recovery",
                feature = "health-monitoring",
                feature = "performance-monitoring"
            )),
            allow(unused_variables, reason = "no part whose stop takes time")
        )]
        let remaining = || deadline.saturating_duration_since(Instant::now());
        // Readiness first, so traffic stops coming while the rest winds down.
        #[cfg(feature = "health-monitoring")]
        if !self
            .inner
            .health
            .shutdown(remaining() / 5, remaining())
            .await
        {
            report.cut_short.push("health");
        }
        #[cfg(feature = "error-recovery")]
        if let Some(manager) = &self.inner.manager {
            let drained = manager.shutdown(remaining() / 2).await;
            report.recoveries_finished = drained.finished;
            report.recoveries_aborted = drained.aborted;
        }
        #[cfg(feature = "resource-management")]
        if let Some(resources) = &self.inner.resources {
            resources.shutdown();
        }
        #[cfg(feature = "performance-monitoring")]
        if tokio::time::timeout(remaining(), self.inner.perf.stop())
            .await
            .is_err()
        {
            report.cut_short.push("performance");
        }
        #[cfg(feature = "metrics-store")]
        if let Some(store) = &self.inner.store
            && let Err(e) = store.flush()
        {
            tracing::warn!(error = %e, "flushing the metrics store failed");
            report.cut_short.push("metrics");
        }
        #[cfg(feature = "error-recovery")]
        match tokio::time::timeout(remaining(), self.inner.all_services.shutdown_all()).await {
            Ok(errors) => {
                report.services_failed = errors
                    .into_iter()
                    .map(|e| match e {
                        crate::recovery::RegistryError::Service { service, error } => {
                            (service, error.to_string())
                        }
                        other => (String::new(), other.to_string()),
                    })
                    .collect();
            }
            Err(_) => report.cut_short.push("services"),
        }
        for task in lock(&self.inner.tasks).drain(..) {
            task.abort();
        }
        report.within_bound = report.cut_short.is_empty() && Instant::now() <= deadline;
        report
    }

    /// Time since [`initialize`](Self::initialize), or zero before it.
    pub fn uptime(&self) -> Duration {
        lock(&self.inner.started).map_or(Duration::ZERO, |at| at.elapsed())
    }

    /// Whether low-priority resource requests are being shed (memory pressure).
    pub fn is_emergency(&self) -> bool {
        self.inner.emergency.load(Ordering::Acquire)
    }

    #[cfg(feature = "performance-monitoring")]
    pub(crate) fn set_emergency(&self, on: bool, reason: &str) {
        if self.inner.emergency.swap(on, Ordering::AcqRel) != on {
            self.emit(if on {
                HardeningEvent::EmergencyActivated {
                    reason: reason.to_string(),
                }
            } else {
                HardeningEvent::EmergencyDeactivated {
                    reason: reason.to_string(),
                }
            });
        }
    }
}

/// Sends an event to whoever listens; with nobody listening it is dropped, which is fine.
fn emit(events: &broadcast::Sender<HardeningEvent>, event: HardeningEvent) {
    tracing::debug!(event = event.kind(), "hardening event");
    let _ = events.send(event);
}

/// The next event of `events`, with a fallen-behind subscriber told how many it missed
/// rather than erroring; `None` once the system is gone.
pub async fn next_event(
    events: &mut broadcast::Receiver<HardeningEvent>,
) -> Option<HardeningEvent> {
    match events.recv().await {
        Ok(event) => Some(event),
        Err(broadcast::error::RecvError::Lagged(missed)) => Some(HardeningEvent::Lagged { missed }),
        Err(broadcast::error::RecvError::Closed) => None,
    }
}

impl HardeningBuilder {
    /// Registers a service under `name`: it gets a breaker and a health check, and if the
    /// config lists it as recoverable, a place in the recovery manager.
    #[cfg(feature = "error-recovery")]
    #[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
    pub fn service(mut self, name: impl Into<String>, service: impl Recoverable) -> Self {
        self.services.push((name.into(), Arc::new(service)));
        self
    }

    /// Registers a service that is already shared.
    #[cfg(feature = "error-recovery")]
    #[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
    pub fn service_arc(mut self, name: impl Into<String>, service: Arc<dyn Recoverable>) -> Self {
        self.services.push((name.into(), service));
        self
    }

    /// Adds a health check of your own, run with the config's interval and thresholds.
    #[cfg(feature = "health-monitoring")]
    #[cfg_attr(docsrs, doc(cfg(feature = "health-monitoring")))]
    pub fn health_check(
        mut self,
        name: impl Into<String>,
        check: impl crate::health::HealthCheck + 'static,
    ) -> Self {
        self.checks.push((name.into(), Arc::new(check)));
        self
    }

    /// The alert manager to raise alerts on, with your sinks and routes (default: one that
    /// logs every alert through `tracing`).
    #[cfg(feature = "health-monitoring")]
    #[cfg_attr(docsrs, doc(cfg(feature = "health-monitoring")))]
    pub fn alerts(mut self, alerts: crate::health::alert::AlertManagerBuilder) -> Self {
        self.alerts = Some(alerts);
        self
    }

    /// Adds a resource of type `kind` (a pool of that kind is made with the config's
    /// `resources.pools.<kind>` settings, or the defaults).
    #[cfg(feature = "resource-management")]
    #[cfg_attr(docsrs, doc(cfg(feature = "resource-management")))]
    pub fn resource(
        mut self,
        kind: impl Into<String>,
        resource: crate::resources::NewResource<Resource>,
    ) -> Self {
        self.resources.push((kind.into(), resource));
        self
    }

    /// Whether [`build`](Self::build) installs the process's global `metrics` recorder: the
    /// metrics store (fanning out to Prometheus with `http`), or Prometheus's alone. Default
    /// true; a process has one, so a second system, or a test that runs several, turns this
    /// off.
    #[cfg(any(feature = "metrics-store", feature = "http"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "metrics-store", feature = "http"))))]
    pub fn install_metrics_recorder(mut self, install: bool) -> Self {
        self.install_recorder = install;
        self
    }

    /// Checks every setting (each problem reported with its path, all at once) and builds
    /// the parts that need no runtime; [`Hardening::initialize`] starts the rest.
    pub fn build(self) -> Result<Hardening, ConfigErrors> {
        let mut errors = Vec::new();
        let config = self.config;
        for (switch, on, feature, compiled) in [
            (
                "enableHealthMonitoring",
                config.enable_health_monitoring,
                "health-monitoring",
                cfg!(feature = "health-monitoring"),
            ),
            (
                "enablePerformanceMonitoring",
                config.enable_performance_monitoring,
                "performance-monitoring",
                cfg!(feature = "performance-monitoring"),
            ),
            (
                "enableErrorRecovery",
                config.enable_error_recovery,
                "error-recovery",
                cfg!(feature = "error-recovery"),
            ),
            (
                "enableResourceManagement",
                config.enable_resource_management,
                "resource-management",
                cfg!(feature = "resource-management"),
            ),
            (
                "enableMetricsStore",
                config.enable_metrics_store,
                "metrics-store",
                cfg!(feature = "metrics-store"),
            ),
        ] {
            if on && !compiled {
                errors.push(ConfigError::new(
                    switch,
                    true,
                    format!(
                        "false: this build of hardening has no `{feature}` feature; add it to the \
                         hardening dependency's features, or set {switch}: false"
                    ),
                ));
            }
        }
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        #[cfg(feature = "error-recovery")]
        let (failures, failures_rx) = mpsc::unbounded_channel();

        #[cfg(any(feature = "metrics-store", feature = "http"))]
        let recorders = metrics_part::build(&config, self.install_recorder, &mut errors);

        #[cfg(feature = "error-recovery")]
        let recovery =
            recovery_part::build(&config, self.services, &events, &failures, &mut errors);
        #[cfg(not(feature = "error-recovery"))]
        if !config.recoverable().is_empty() || !config.services.is_empty() {
            errors.push(ConfigError::new(
                "recoverableServices",
                format!("{:?}", config.recoverable()),
                "no services: services need the `error-recovery` feature",
            ));
        }

        #[cfg(feature = "health-monitoring")]
        let health = health_part::HealthPart::new(&config, self.checks, self.alerts, &mut errors);
        #[cfg(feature = "performance-monitoring")]
        let perf = perf_part::PerfPart::new(&config, &mut errors);
        #[cfg(feature = "resource-management")]
        let resources = resources_part::build(&config, self.resources, &mut errors);

        if !errors.is_empty() {
            return Err(ConfigErrors::new(errors));
        }
        #[cfg(feature = "error-recovery")]
        let recovery = recovery.ok_or_else(|| {
            ConfigErrors::from(ConfigError::new(
                "(services)",
                "an incomplete build",
                "a complete one",
            ))
        })?;
        let hardening = Hardening {
            inner: Arc::new(Inner {
                #[cfg(feature = "error-recovery")]
                services: recovery.services,
                #[cfg(feature = "error-recovery")]
                all_services: recovery.all,
                #[cfg(feature = "error-recovery")]
                pipelines: recovery.pipelines,
                #[cfg(feature = "error-recovery")]
                breakers: recovery.breakers,
                #[cfg(feature = "error-recovery")]
                manager: recovery.manager,
                #[cfg(feature = "health-monitoring")]
                health,
                #[cfg(feature = "performance-monitoring")]
                perf,
                #[cfg(feature = "resource-management")]
                resources,
                #[cfg(feature = "metrics-store")]
                store: recorders.store,
                #[cfg(feature = "http")]
                prometheus: recorders.prometheus,
                config,
                events,
                phase: Mutex::new(Phase::Built),
                started: Mutex::new(None),
                tasks: Mutex::new(Vec::new()),
                emergency: AtomicBool::new(false),
                #[cfg(all(feature = "error-recovery", feature = "health-monitoring"))]
                failures,
                #[cfg(feature = "error-recovery")]
                failures_rx: Mutex::new(Some(failures_rx)),
            }),
        };
        Ok(hardening)
    }
}

#[cfg(feature = "error-recovery")]
impl Hardening {
    /// The names of the registered services.
    pub fn services(&self) -> Vec<String> {
        self.inner.services.keys().cloned().collect()
    }

    /// Service `name`'s breaker.
    pub fn breaker(&self, name: &str) -> Option<Breaker> {
        self.inner.services.get(name).map(|e| e.breaker.clone())
    }

    /// Every service's breaker state.
    pub fn breaker_states(&self) -> Vec<(String, State)> {
        self.inner.breakers.states()
    }

    /// Service `name`'s resilience pipeline (retry, breaker, timeout, bulkhead), to call it
    /// through yourself or to wrap a `tower` service with.
    pub fn pipeline(&self, name: &str) -> Option<&crate::pipeline::Pipeline> {
        self.inner.pipelines.get(name)
    }

    /// Calls service `name` through its pipeline: `call` is retried as the `retry` settings
    /// say, each attempt judged by the service's breaker and cut by its timeout.
    pub async fn call<T, E, F>(&self, name: &str, call: F) -> Result<T, ServiceCallError<E>>
    where
        F: AsyncFnMut() -> Result<T, E>,
    {
        let pipeline = self
            .inner
            .pipelines
            .get(name)
            .ok_or_else(|| ServiceCallError::UnknownService(name.to_string()))?;
        pipeline
            .call(call)
            .await
            .map_err(ServiceCallError::Pipeline)
    }

    /// The seeds' `getServiceHealth(name)`: what the service says of itself (asked now,
    /// within the health check timeout), its circuit state and its recovery state.
    pub async fn service_health(&self, name: &str) -> Result<ServiceHealth, HardeningError> {
        let entry = self
            .inner
            .services
            .get(name)
            .ok_or_else(|| HardeningError::UnknownService(name.to_string()))?;
        Ok(entry
            .health(Duration::from_millis(
                self.inner.config.health.check_timeout_ms,
            ))
            .await)
    }

    /// Tells the recovery manager that service `name` failed with `failure` (what an
    /// operator's "recover now" does). Errors if the service is not recoverable.
    pub fn recover(&self, name: &str, failure: &str) -> Result<(), HardeningError> {
        let manager = self
            .inner
            .manager
            .as_ref()
            .ok_or(HardeningError::Disabled {
                switch: "enableErrorRecovery",
            })?;
        if *lock(&self.inner.phase) != Phase::Running {
            return Err(HardeningError::NotRunning);
        }
        manager
            .report_failure(name, failure)
            .map(|_| ())
            .map_err(HardeningError::Recovery)
    }

    /// The recovery manager, when error recovery is on (history, learned action order, mean
    /// time to recovery).
    pub fn recovery_manager(&self) -> Option<&RecoveryManager> {
        self.inner.manager.as_ref()
    }

    /// Hands failure reports to the recovery manager (a report for a service already being
    /// recovered joins that recovery).
    fn spawn_failure_reports(
        &self,
        mut rx: mpsc::UnboundedReceiver<FailureReport>,
    ) -> JoinHandle<()> {
        let manager = self.inner.manager.clone();
        tokio::spawn(async move {
            while let Some(report) = rx.recv().await {
                let Some(manager) = &manager else { continue };
                if let Err(e) = manager.report_failure(&report.service, report.failure) {
                    tracing::warn!(service = %report.service, error = %e, "recovery not started");
                }
            }
        })
    }
}

/// Why a call through [`Hardening::call`] failed.
#[cfg(feature = "error-recovery")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
#[derive(Debug)]
#[non_exhaustive]
pub enum ServiceCallError<E> {
    /// No service of that name is registered.
    UnknownService(String),
    /// The pipeline's verdict: a stage refused the call, or every attempt failed.
    Pipeline(crate::pipeline::PipelineError<E>),
}

#[cfg(feature = "error-recovery")]
impl<E: fmt::Display> fmt::Display for ServiceCallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceCallError::UnknownService(name) => write!(
                f,
                "no service named {name:?} is registered (HardeningBuilder::service)"
            ),
            ServiceCallError::Pipeline(e) => e.fmt(f),
        }
    }
}

#[cfg(feature = "error-recovery")]
impl<E: fmt::Debug + fmt::Display> std::error::Error for ServiceCallError<E> {}

#[cfg(feature = "error-recovery")]
mod recovery_part {
    use super::*;
    use crate::assemble;
    use crate::clock::TokioClock;
    use crate::pipeline::Pipeline;

    pub(super) struct Built {
        pub(super) services: BTreeMap<String, ServiceEntry>,
        pub(super) all: Arc<ServiceRegistry>,
        pub(super) pipelines: BTreeMap<String, Pipeline>,
        pub(super) breakers: breaker::Registry,
        pub(super) manager: Option<RecoveryManager>,
    }

    pub(super) fn build(
        config: &SystemHardeningConfig,
        services: Vec<(String, Arc<dyn Recoverable>)>,
        events: &broadcast::Sender<HardeningEvent>,
        failures: &mpsc::UnboundedSender<FailureReport>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Built> {
        let recoverable_names = config.recoverable();
        let registered: Vec<&str> = services.iter().map(|(n, _)| n.as_str()).collect();
        let listing = || {
            if registered.is_empty() {
                "the name of a registered service (none is registered: HardeningBuilder::service)"
                    .to_string()
            } else {
                format!(
                    "the name of a registered service ({})",
                    registered.join(", ")
                )
            }
        };
        for name in &config.recoverable_services {
            if !registered.contains(&name.as_str()) {
                errors.push(ConfigError::new(
                    "recoverableServices",
                    format!("{name:?}"),
                    listing(),
                ));
            }
        }
        for name in config.services.keys() {
            if !registered.contains(&name.as_str()) {
                errors.push(ConfigError::new(
                    format!("services.{name}"),
                    "settings for a service that is not registered",
                    listing(),
                ));
            }
        }
        for (i, name) in registered.iter().enumerate() {
            if name.trim().is_empty() {
                errors.push(ConfigError::new(
                    "(services)",
                    "an empty service name",
                    "a name such as \"model-inference\"",
                ));
            } else if registered[..i].contains(name) {
                errors.push(ConfigError::new(
                    "(services)",
                    format!("{name:?} registered twice"),
                    "each service registered once",
                ));
            }
        }
        let recoverable_services: Vec<Arc<str>> = services
            .iter()
            .filter(|(name, _)| config.enable_error_recovery && recoverable_names.contains(name))
            .map(|(name, _)| Arc::from(name.as_str()))
            .collect();
        let breakers = breaker::Registry::new(breaker::BreakerConfig::default())
            .with_clock(TokioClock)
            .with_listener(breaker_listener(
                events.clone(),
                failures.clone(),
                recoverable_services,
            ));
        let all = ServiceRegistry::new();
        let recoverable = ServiceRegistry::new();
        let mut entries = BTreeMap::new();
        let mut pipelines = BTreeMap::new();
        for (name, service) in services {
            let settings = config.service(&name);
            let section = if config.services.contains_key(&name) {
                format!("services.{name}.breaker")
            } else {
                "breaker".to_string()
            };
            let breaker_config = match assemble::breaker_config(&settings.breaker, &section) {
                Ok(c) => c,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let breaker = breakers.get_or_create_with(&name, breaker_config);
            let is_recoverable = config.enable_error_recovery && recoverable_names.contains(&name);
            // Registered twice is reported above; the registries refuse it quietly here.
            let _ = all.register_arc(name.clone(), Arc::clone(&service));
            if is_recoverable {
                let _ = recoverable.register_arc(name.clone(), Arc::clone(&service));
            }
            let mut pipeline = Pipeline::builder(name.clone());
            if config.enable_error_recovery {
                match assemble::retry(&config.retry, &name) {
                    Ok(retry) if config.retry.max_attempts > 1 => pipeline = pipeline.retry(retry),
                    Ok(_) => {}
                    Err(e) => errors.push(e),
                }
                pipeline = pipeline.breaker(breaker.clone());
            }
            let timeout = settings.timeout_ms.or(config.retry.attempt_timeout_ms);
            if let Some(timeout) = timeout {
                pipeline = pipeline.timeout(Duration::from_millis(timeout));
            }
            #[cfg(feature = "resource-management")]
            if let Some(limit) = settings.max_concurrent_calls {
                // Calls past the limit queue (as many again), each waiting at most the
                // service's timeout, or a second.
                let wait = Duration::from_millis(timeout.unwrap_or(1_000));
                let bulkhead =
                    crate::resources::Bulkhead::new(limit as usize, limit as usize, wait);
                pipeline = pipeline.bulkhead(bulkhead, 0);
            }
            match pipeline.build() {
                Ok(p) => {
                    pipelines.insert(name.clone(), p);
                }
                Err(e) => errors.push(e),
            }
            entries.insert(
                name.clone(),
                ServiceEntry {
                    name: name.as_str().into(),
                    service,
                    breaker,
                    recoverable: is_recoverable.then(|| Arc::clone(&recoverable)),
                    max_memory: settings.max_memory.map(|size| size.bytes()),
                },
            );
        }
        let manager = if config.enable_error_recovery {
            let by_name: BTreeMap<String, Breaker> = entries
                .iter()
                .map(|(name, entry): (&String, &ServiceEntry)| {
                    (name.clone(), entry.breaker.clone())
                })
                .collect();
            let listener = recovery_listener(events.clone(), by_name);
            match assemble::recovery_manager(
                &config.recovery,
                RecoveryManager::builder(Arc::clone(&recoverable)),
            )
            .on_event(listener)
            .build()
            {
                Ok(manager) => Some(manager),
                Err(e) => {
                    errors.push(assemble::recovery_error(e));
                    None
                }
            }
        } else {
            None
        };
        Some(Built {
            services: entries,
            all,
            pipelines,
            breakers,
            manager,
        })
    }

    /// Routes each breaker's events into the system: transitions become events, and an
    /// opened breaker of a recoverable service becomes a failure report.
    fn breaker_listener(
        events: broadcast::Sender<HardeningEvent>,
        failures: mpsc::UnboundedSender<FailureReport>,
        recoverable: Vec<Arc<str>>,
    ) -> impl Fn(&breaker::BreakerEvent<'_>) + Send + Sync + 'static {
        move |event: &breaker::BreakerEvent<'_>| {
            if let breaker::EventKind::StateTransition { from, to } = event.kind {
                emit(
                    &events,
                    HardeningEvent::BreakerStateChanged {
                        service: event.breaker.to_string(),
                        from,
                        to,
                    },
                );
                if to == State::Open
                    && let Some(name) = recoverable.iter().find(|n| ***n == *event.breaker)
                {
                    // The receiver lives as long as the system.
                    let _ = failures.send(FailureReport {
                        service: Arc::clone(name),
                        failure: "circuit_open",
                    });
                }
            }
        }
    }

    /// Turns the recovery manager's events into system events; a recovered service's breaker
    /// goes to half-open, so its probes decide whether it closes.
    fn recovery_listener(
        events: broadcast::Sender<HardeningEvent>,
        breakers: BTreeMap<String, Breaker>,
    ) -> impl Fn(&RecoveryEvent<'_>) + Send + Sync + 'static {
        move |event: &RecoveryEvent<'_>| {
            let service = event.service.to_string();
            match event.kind {
                RecoveryEventKind::Started { .. } => emit(
                    &events,
                    HardeningEvent::RecoveryStarted {
                        service,
                        failure: event.failure.to_string(),
                    },
                ),
                RecoveryEventKind::ActionFinished {
                    level,
                    action,
                    outcome,
                    elapsed,
                } => emit(
                    &events,
                    HardeningEvent::RecoveryAction {
                        service,
                        level,
                        action: action.to_string(),
                        outcome,
                        elapsed,
                    },
                ),
                RecoveryEventKind::Recovered {
                    action,
                    time_to_recover,
                    ..
                } => {
                    emit(
                        &events,
                        HardeningEvent::RecoveryCompleted {
                            service,
                            action: action.to_string(),
                            time_to_recover,
                        },
                    );
                    if let Some(breaker) = breakers.get(event.service)
                        && breaker.state() == State::Open
                    {
                        breaker.transition_to(State::HalfOpen);
                    }
                }
                RecoveryEventKind::OperatorAlert { reason } => emit(
                    &events,
                    HardeningEvent::RecoveryFailed {
                        service,
                        reason: reason.to_string(),
                        given_up: matches!(
                            reason,
                            crate::recovery::AlertReason::IntensityExceeded { .. }
                        ),
                    },
                ),
                _ => {}
            }
        }
    }
}

#[cfg(feature = "health-monitoring")]
impl Hardening {
    /// The seeds' `getHealthStatus()`: overall health, memory, uptime and each check.
    pub fn health_status(&self) -> Result<HealthStatus, HardeningError> {
        let monitor = self
            .inner
            .health
            .monitor()
            .ok_or(HardeningError::Disabled {
                switch: "enableHealthMonitoring",
            })?;
        let system = monitor.system_status();
        let snapshot = monitor.snapshot();
        Ok(HealthStatus {
            status: system.health,
            memory: system.memory.map(|m| MemoryStatus {
                used: m.used,
                total: m.total,
                percentage: m.percent,
            }),
            uptime: self.uptime(),
            checks: snapshot
                .checks()
                .map(|report| CheckStatus {
                    name: report.name.to_string(),
                    status: report.status,
                    message: report.last.as_ref().and_then(|last| last.message.clone()),
                })
                .collect(),
        })
    }

    /// The health monitor, once [`initialize`](Self::initialize) has started it (probes,
    /// the axum router, the watch stream).
    pub fn health_monitor(&self) -> Option<crate::health::HealthMonitor> {
        self.inner.health.monitor()
    }

    /// The alert manager, once [`initialize`](Self::initialize) has started it.
    pub fn alerts(&self) -> Option<crate::health::alert::AlertManager> {
        self.inner.health.alerts()
    }

    /// Raises an alert (and emits [`HardeningEvent::AlertCreated`]); does nothing when
    /// alerts do not run.
    #[cfg(any(feature = "error-recovery", feature = "performance-monitoring"))]
    pub(crate) fn raise_alert(&self, alert: crate::health::alert::Alert) {
        if let Some(alerts) = self.inner.health.alerts() {
            let event = HardeningEvent::AlertCreated {
                name: alert.name().to_string(),
                severity: alert.severity(),
                summary: alert.summary().to_string(),
            };
            match alerts.raise(alert) {
                Ok(()) => self.emit(event),
                Err(e) => tracing::warn!(error = %e, "alert not raised"),
            }
        }
    }

    /// Resolves an alert (and emits [`HardeningEvent::AlertResolved`]).
    #[cfg(any(feature = "error-recovery", feature = "performance-monitoring"))]
    pub(crate) fn resolve_alert(&self, name: &str, labels: &crate::health::alert::Labels) {
        if let Some(alerts) = self.inner.health.alerts()
            && alerts.resolve(name, labels)
        {
            self.emit(HardeningEvent::AlertResolved {
                name: name.to_string(),
            });
        }
    }
}

#[cfg(all(feature = "error-recovery", feature = "health-monitoring"))]
impl Hardening {
    /// Raises an alert for every failed recovery (critical; emergency when the service is
    /// given up) and resolves it once the service is recovered.
    fn spawn_recovery_alerts(&self) -> JoinHandle<()> {
        use crate::health::alert::{Alert, Labels, Severity};
        let mut events = self.subscribe();
        let system = self.clone();
        tokio::spawn(async move {
            while let Some(event) = next_event(&mut events).await {
                match event {
                    HardeningEvent::RecoveryFailed {
                        service,
                        reason,
                        given_up,
                    } => {
                        let severity = if given_up {
                            Severity::Emergency
                        } else {
                            Severity::Critical
                        };
                        system.raise_alert(
                            Alert::new("RecoveryFailed", severity)
                                .with_label("service", service.as_str())
                                .with_summary(format!("recovery of {service} failed: {reason}")),
                        );
                    }
                    HardeningEvent::RecoveryCompleted { service, .. } => {
                        let labels: Labels = [("service".to_string(), service)].into();
                        system.resolve_alert("RecoveryFailed", &labels);
                    }
                    _ => {}
                }
            }
        })
    }
}

#[cfg(feature = "health-monitoring")]
mod health_part {
    use super::*;
    use crate::health::alert::{AlertManager, AlertManagerBuilder, LogSink, Route, SinkOptions};
    use crate::health::{CheckOptions, HealthCheck, HealthMonitor};

    /// What the health part starts with: the user's checks and the alert manager's builder.
    type PendingStart = (Vec<(String, Arc<dyn HealthCheck>)>, AlertManagerBuilder);

    /// The health monitor and alert manager: configured at build, started at initialize
    /// (both run tasks on the runtime).
    pub(super) struct HealthPart {
        enabled: bool,
        options: Option<CheckOptions>,
        pending: Mutex<Option<PendingStart>>,
        monitor: Mutex<Option<HealthMonitor>>,
        alerts: Mutex<Option<AlertManager>>,
        max_concurrent: usize,
    }

    impl HealthPart {
        pub(super) fn new(
            config: &SystemHardeningConfig,
            checks: Vec<(String, Arc<dyn HealthCheck>)>,
            alerts: Option<AlertManagerBuilder>,
            errors: &mut Vec<ConfigError>,
        ) -> Self {
            let options = match crate::assemble::check_options(config) {
                Ok(options) => Some(options),
                Err(e) => {
                    errors.push(e);
                    None
                }
            };
            let alerts = alerts.unwrap_or_else(default_alerts);
            HealthPart {
                enabled: config.enable_health_monitoring,
                options,
                pending: Mutex::new(Some((checks, alerts))),
                monitor: Mutex::new(None),
                alerts: Mutex::new(None),
                max_concurrent: config.health.max_concurrent as usize,
            }
        }

        pub(super) fn monitor(&self) -> Option<HealthMonitor> {
            lock(&self.monitor).clone()
        }

        pub(super) fn alerts(&self) -> Option<AlertManager> {
            lock(&self.alerts).clone()
        }

        /// Starts the monitor (each service's check, the system memory check and the
        /// user's checks) and the alert manager; returns the task that turns health changes
        /// into events.
        pub(super) fn start(
            &self,
            inner: &Inner,
            events: &broadcast::Sender<HardeningEvent>,
        ) -> Result<Vec<JoinHandle<()>>, crate::health::ConfigError> {
            if !self.enabled {
                return Ok(Vec::new());
            }
            let Some((checks, alerts)) = lock(&self.pending).take() else {
                return Ok(Vec::new());
            };
            let Some(options) = self.options.clone() else {
                return Ok(Vec::new());
            };
            let alerts = alerts.build()?;
            *lock(&self.alerts) = Some(alerts);
            let mut builder = HealthMonitor::builder().max_concurrent(self.max_concurrent);
            #[cfg(feature = "error-recovery")]
            for entry in inner.services.values() {
                builder = builder.check(
                    format!("service:{}", entry.name),
                    crate::service::ServiceCheck {
                        entry: entry.clone(),
                        timeout: options.timeout(),
                        failures: inner.failures.clone(),
                    },
                    options.clone(),
                );
            }
            let memory = &inner.config.health;
            builder = builder.check(
                "memory:utilization",
                crate::health::checks::SystemMemory::new(crate::health::checks::Threshold::above(
                    memory.memory_warn_percent,
                    memory.memory_fail_percent,
                )?),
                options.clone(),
            );
            for (name, check) in checks {
                builder = builder.check_arc(name, check, options.clone());
            }
            let monitor = builder.build()?;
            let mut changes = monitor.subscribe();
            *lock(&self.monitor) = Some(monitor);
            let events = events.clone();
            let forward = tokio::spawn(async move {
                loop {
                    match changes.recv().await {
                        Ok(crate::health::HealthEvent::Overall { from, to }) => {
                            emit(&events, HardeningEvent::HealthChanged { from, to });
                        }
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            emit(&events, HardeningEvent::Lagged { missed });
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
            });
            Ok(vec![forward])
        }

        /// Readiness fails at once, checks run for `grace`, then stop; alerts flush within
        /// what remains of `bound`. `false` if the bound cut something short.
        pub(super) async fn shutdown(&self, grace: Duration, bound: Duration) -> bool {
            let monitor = self.monitor();
            let alerts = self.alerts();
            let work = async {
                if let Some(monitor) = monitor {
                    monitor.shutdown(grace).await;
                }
                if let Some(alerts) = alerts {
                    alerts.shutdown(grace).await;
                }
            };
            tokio::time::timeout(bound, work).await.is_ok()
        }
    }

    /// Every alert to the log, grouped by name and service.
    fn default_alerts() -> AlertManagerBuilder {
        let builder = AlertManager::builder().sink("log", LogSink::new(), SinkOptions::default());
        match Route::builder("log")
            .group_by(["alertname", "service"])
            .build()
        {
            Ok(route) => builder.default_route(route),
            Err(_) => builder,
        }
    }
}

#[cfg(feature = "performance-monitoring")]
impl Hardening {
    /// The seeds' `getPerformanceMetrics()`: the latest sample of CPU, memory, runtime
    /// latency and operation timings.
    pub fn performance_metrics(
        &self,
    ) -> Result<Arc<crate::perf::PerformanceMetrics>, HardeningError> {
        self.inner
            .perf
            .latest()
            .ok_or(if self.inner.config.enable_performance_monitoring {
                HardeningError::NotRunning
            } else {
                HardeningError::Disabled {
                    switch: "enablePerformanceMonitoring",
                }
            })
    }

    /// The operation timings the performance monitor reports: time your own operations
    /// with it.
    pub fn operations(&self) -> &crate::perf::Operations {
        self.inner.perf.operations()
    }
}

#[cfg(feature = "performance-monitoring")]
mod perf_part {
    use super::*;
    use crate::perf::{MonitorConfig, Operations, PerfEvent, PerformanceMonitor, Watched};

    pub(super) struct PerfPart {
        config: Option<MonitorConfig>,
        operations: Operations,
        monitor: tokio::sync::Mutex<Option<PerformanceMonitor>>,
        latest: Mutex<Option<tokio::sync::watch::Receiver<Arc<crate::perf::PerformanceMetrics>>>>,
    }

    impl PerfPart {
        pub(super) fn new(config: &SystemHardeningConfig, errors: &mut Vec<ConfigError>) -> Self {
            let monitor_config = if config.enable_performance_monitoring {
                match crate::assemble::monitor_config(config) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        errors.push(e);
                        None
                    }
                }
            } else {
                None
            };
            PerfPart {
                config: monitor_config,
                operations: Operations::new(),
                monitor: tokio::sync::Mutex::new(None),
                latest: Mutex::new(None),
            }
        }

        pub(super) fn operations(&self) -> &Operations {
            &self.operations
        }

        pub(super) fn latest(&self) -> Option<Arc<crate::perf::PerformanceMetrics>> {
            lock(&self.latest)
                .as_ref()
                .map(|rx| Arc::clone(&rx.borrow()))
        }

        pub(super) async fn start(&self, system: &Hardening) -> Vec<JoinHandle<()>> {
            let Some(config) = self.config.clone() else {
                return Vec::new();
            };
            let monitor = PerformanceMonitor::start(config, self.operations.clone()).await;
            let mut events = monitor.subscribe();
            *lock(&self.latest) = Some(monitor.watch());
            *self.monitor.lock().await = Some(monitor);
            let system = system.clone();
            let forward = tokio::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(event) => on_perf_event(&system, event),
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
            });
            vec![forward]
        }

        pub(super) async fn stop(&self) {
            if let Some(monitor) = self.monitor.lock().await.take() {
                monitor.stop().await;
            }
        }
    }

    /// A performance limit crossed: an event, an alert, and for memory, emergency mode.
    fn on_perf_event(system: &Hardening, event: PerfEvent) {
        let (watched, value, limit, exceeded) = match event {
            PerfEvent::ThresholdExceeded {
                watched,
                value,
                limit,
            } => (watched, value, limit, true),
            PerfEvent::ThresholdRecovered {
                watched,
                value,
                limit,
            } => (watched, value, limit, false),
            _ => return,
        };
        system.emit(HardeningEvent::PerformanceThreshold {
            watched,
            value,
            limit,
            exceeded,
        });
        let name = watched_name(watched);
        #[cfg(feature = "health-monitoring")]
        {
            use crate::health::alert::{Alert, Labels, Severity};
            let labels: Labels = [("watched".to_string(), name.to_string())].into();
            if exceeded {
                let severity = if watched == Watched::Rss {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                system.raise_alert(
                    Alert::new("PerformanceThreshold", severity)
                        .with_labels(labels)
                        .with_summary(format!(
                            "{name} is {value:.3}, above its limit of {limit:.3}"
                        )),
                );
            } else {
                system.resolve_alert("PerformanceThreshold", &labels);
            }
        }
        if matches!(watched, Watched::Rss | Watched::RssDrift) {
            system.set_emergency(exceeded, &format!("{name} above its limit"));
        }
    }

    fn watched_name(watched: Watched) -> &'static str {
        match watched {
            Watched::Cpu => "cpu",
            Watched::Rss => "rss",
            Watched::LatencyP99 => "latency_p99",
            Watched::OperationP95 => "operation_p95",
            Watched::ErrorRate => "error_rate",
            Watched::RssDrift => "rss_drift",
            Watched::HeapDrift => "heap_drift",
            _ => "other",
        }
    }
}

#[cfg(feature = "resource-management")]
impl Hardening {
    fn resource_manager(
        &self,
    ) -> Result<&crate::resources::ResourceManager<Resource>, HardeningError> {
        self.inner
            .resources
            .as_ref()
            .ok_or(HardeningError::Disabled {
                switch: "enableResourceManagement",
            })
    }

    /// The seeds' `requestResource(kind, owner, priority, requirements)`: waits for a
    /// resource of `kind` whose metadata meets `requirements`, served by priority (then
    /// arrival, with aging). Under memory pressure, requests below the config's
    /// `resources.emergencyMinPriority` are shed at once.
    pub async fn request_resource(
        &self,
        kind: &str,
        owner: &str,
        priority: i32,
        requirements: crate::resources::Requirements,
    ) -> Result<crate::resources::Lease<Resource>, HardeningError> {
        let manager = self.resource_manager()?;
        let floor = self.inner.config.resources.emergency_min_priority;
        if self.is_emergency() && priority < floor {
            return Err(HardeningError::Shed {
                min_priority: floor,
            });
        }
        manager
            .request(kind, owner, priority, requirements)
            .await
            .map_err(HardeningError::Request)
    }

    /// The seeds' `releaseResource(id, owner)`: only the owner may release.
    pub fn release_resource(
        &self,
        id: crate::resources::ResourceId,
        owner: &str,
    ) -> Result<(), HardeningError> {
        self.resource_manager()?
            .release(id, owner)
            .map_err(HardeningError::Release)
    }

    /// The seeds' `getResourceStats()`.
    pub fn resource_stats(&self) -> Result<ResourceStats, HardeningError> {
        let pools = self.resource_manager()?.stats();
        Ok(ResourceStats {
            ready: pools.iter().map(|p| p.ready).sum(),
            busy: pools.iter().map(|p| p.busy).sum(),
            unavailable: pools.iter().map(|p| p.unavailable).sum(),
            active_allocations: pools.iter().map(|p| p.busy).sum(),
            waiters: pools.iter().map(|p| p.waiters).sum(),
            shedding: self.is_emergency(),
            pools,
        })
    }
}

#[cfg(feature = "resource-management")]
mod resources_part {
    use super::*;
    use crate::resources::{ByteSize, NewResource, ResourceManager};

    pub(super) fn build(
        config: &SystemHardeningConfig,
        resources: Vec<(String, NewResource<Resource>)>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<ResourceManager<Resource>> {
        if !config.enable_resource_management {
            return None;
        }
        let r = &config.resources;
        let mut builder = ResourceManager::builder();
        if let Some(budget) = r.memory_budget {
            builder = builder.memory_budget(ByteSize::new(budget.bytes()));
        }
        if let Some(step) = r.aging_step_ms {
            builder = builder.aging_step(Duration::from_millis(step));
        }
        let manager = match builder.build() {
            Ok(m) => m,
            Err(e) => {
                errors.push(e.within("resources"));
                return None;
            }
        };
        let mut kinds: Vec<String> = r.pools.keys().cloned().collect();
        for (kind, _) in &resources {
            if !kinds.contains(kind) {
                kinds.push(kind.clone());
            }
        }
        for kind in &kinds {
            let settings = r.pools.get(kind).cloned().unwrap_or_default();
            let section = format!("resources.pools.{kind}");
            match crate::assemble::pool_config(&settings, config.max_resource_memory, &section) {
                Ok(pool) => {
                    if let Err(e) = manager.add_pool(kind, pool, None) {
                        errors.push(ConfigError::new(
                            section,
                            e.value(),
                            e.expected().to_string(),
                        ));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        for (kind, resource) in resources {
            if let Err(e) = manager.add_resource(&kind, resource) {
                errors.push(ConfigError::new(
                    format!("resources.pools.{kind}"),
                    "a resource that cannot be added",
                    e.to_string(),
                ));
            }
        }
        Some(manager)
    }
}

#[cfg(feature = "metrics-store")]
impl Hardening {
    /// The metrics store, when it is on: history of every metric, queries, snapshots.
    pub fn metrics_store(&self) -> Option<&Arc<crate::metrics_store::StoreRecorder>> {
        self.inner.store.as_ref()
    }
}

#[cfg(feature = "http")]
impl Hardening {
    /// The Prometheus recorder's handle: what `/metrics` renders.
    pub(crate) fn prometheus(&self) -> Option<&metrics_exporter_prometheus::PrometheusHandle> {
        Some(&self.inner.prometheus)
    }
}

/// The `metrics` recorders: the store keeps history and fans out to Prometheus, which
/// renders `/metrics`; either alone when the other is off.
#[cfg(any(feature = "metrics-store", feature = "http"))]
mod metrics_part {
    use super::*;

    pub(super) struct Recorders {
        #[cfg(feature = "metrics-store")]
        pub(super) store: Option<Arc<crate::metrics_store::StoreRecorder>>,
        #[cfg(feature = "http")]
        pub(super) prometheus: metrics_exporter_prometheus::PrometheusHandle,
    }

    pub(super) fn build(
        config: &SystemHardeningConfig,
        install: bool,
        errors: &mut Vec<ConfigError>,
    ) -> Recorders {
        #[cfg(feature = "http")]
        let mut prometheus =
            Some(metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder());
        #[cfg(feature = "http")]
        let handle = prometheus.as_ref().map(|p| p.handle());
        #[cfg(feature = "metrics-store")]
        let store = if config.enable_metrics_store {
            store(config, errors).map(|store| {
                #[cfg(feature = "http")]
                let store = match prometheus.take() {
                    Some(downstream) => store.with_downstream(downstream),
                    None => store,
                };
                Arc::new(store)
            })
        } else {
            None
        };
        if install {
            let installed = {
                #[cfg(feature = "metrics-store")]
                let installed = store
                    .as_ref()
                    .map(|store| metrics::set_global_recorder(Arc::clone(store)).is_ok());
                #[cfg(not(feature = "metrics-store"))]
                let installed: Option<bool> = None;
                #[cfg(feature = "http")]
                let installed = installed.or_else(|| {
                    prometheus
                        .take()
                        .map(|p| metrics::set_global_recorder(p).is_ok())
                });
                installed
            };
            if installed == Some(false) {
                let field = if config.enable_metrics_store && cfg!(feature = "metrics-store") {
                    "enableMetricsStore"
                } else {
                    "(metrics recorder)"
                };
                errors.push(ConfigError::new(
                    field,
                    "a second global `metrics` recorder",
                    "no other `metrics` recorder installed in this process (a process has one \
                     global recorder; HardeningBuilder::install_metrics_recorder(false) keeps \
                     the store and /metrics without installing them)",
                ));
            }
        }
        Recorders {
            #[cfg(feature = "metrics-store")]
            store,
            #[cfg(feature = "http")]
            prometheus: match handle {
                Some(handle) => handle,
                None => metrics_exporter_prometheus::PrometheusBuilder::new()
                    .build_recorder()
                    .handle(),
            },
        }
    }

    #[cfg(feature = "metrics-store")]
    fn store(
        config: &SystemHardeningConfig,
        errors: &mut Vec<ConfigError>,
    ) -> Option<crate::metrics_store::StoreRecorder> {
        let retention = match crate::assemble::retention(&config.metrics_store) {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                return None;
            }
        };
        match crate::metrics_store::StoreRecorder::new(retention) {
            Ok(r) => Some(r),
            Err(e) => {
                errors.push(e.within("metricsStore"));
                None
            }
        }
    }
}

#[allow(dead_code, reason = "used by the health-monitoring types only")]
fn display<T: fmt::Display, S: serde::Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

#[allow(dead_code, reason = "used by the health-monitoring types only")]
fn seconds<S: serde::Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(value.as_secs_f64())
}
