//! One serializable report of the whole system: what `/status` serves.

use serde::Serialize;

use crate::Hardening;

/// Everything the system can tell about itself at one moment, for a status endpoint or a log:
/// services, breakers, recoveries, resources, performance and active alerts. Parts that are
/// compiled out or switched off are absent (`null` in JSON).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StatusReport {
    /// Seconds since [`Hardening::initialize`].
    pub uptime_seconds: f64,
    /// Whether low-priority resource requests are being shed (memory pressure).
    pub emergency: bool,
    /// The overall health, when health monitoring runs.
    pub health: Option<String>,
    /// Each service's health.
    pub services: Vec<ServiceView>,
    /// Each breaker.
    pub breakers: Vec<BreakerView>,
    /// The recovery manager's state, when error recovery is on.
    pub recoveries: Option<RecoveriesView>,
    /// Resource pools, when resource management is on.
    pub resources: Option<ResourcesView>,
    /// The latest performance sample, when performance monitoring runs.
    pub performance: Option<serde_json::Value>,
    /// Active alerts, when alerts run.
    pub alerts: Option<serde_json::Value>,
}

/// A service in the [`StatusReport`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ServiceView {
    /// The service's name.
    pub name: String,
    /// Healthy, degraded, recovering, unhealthy, given up or stopped.
    pub condition: String,
    /// Its breaker's state.
    pub circuit_state: String,
    /// Whether the recovery manager may recover it.
    pub recoverable: bool,
    /// Where it stands with the recovery manager.
    pub recovery: Option<String>,
}

/// A breaker in the [`StatusReport`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BreakerView {
    /// The breaker's (and its service's) name.
    pub name: String,
    /// Its state.
    pub state: String,
    /// The window's failure rate in percent, once it holds the minimum number of calls.
    pub failure_rate: Option<f64>,
    /// The window's slow-call rate in percent.
    pub slow_call_rate: Option<f64>,
    /// Calls in the window.
    pub buffered_calls: u64,
    /// Failed calls in the window.
    pub failed_calls: u64,
    /// Successful calls since start.
    pub successful_total: u64,
    /// Failed calls since start.
    pub failed_total: u64,
    /// Calls refused since start.
    pub not_permitted_total: u64,
}

/// The recovery manager in the [`StatusReport`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RecoveriesView {
    /// Recoveries running now.
    pub running: usize,
    /// Mean time to recovery over the kept history, in seconds.
    pub mean_time_to_recovery_seconds: Option<f64>,
    /// The latest recoveries, newest last (at most 20).
    pub recent: Vec<RecoveryView>,
}

/// One recovery in the [`StatusReport`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RecoveryView {
    /// The service.
    pub service: String,
    /// The failure it was told of.
    pub failure: String,
    /// Recovered, exhausted, given up or cancelled.
    pub outcome: String,
    /// From report to end, in seconds.
    pub duration_seconds: f64,
    /// The actions tried, in order, with how each went.
    pub actions: Vec<(String, String)>,
}

/// Resources in the [`StatusReport`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ResourcesView {
    /// Resources free to lease.
    pub ready: usize,
    /// Resources on lease.
    pub busy: usize,
    /// Resources out of service.
    pub unavailable: usize,
    /// Requests waiting.
    pub waiters: usize,
    /// Each pool: kind, ready, busy, unavailable, waiters.
    pub pools: Vec<PoolView>,
}

/// One pool in the [`StatusReport`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PoolView {
    /// The resource kind.
    pub kind: String,
    /// Free to lease.
    pub ready: usize,
    /// On lease.
    pub busy: usize,
    /// Out of service.
    pub unavailable: usize,
    /// Requests waiting.
    pub waiters: usize,
    /// Memory the pool's resources are declared with, in bytes.
    pub memory_bytes: u64,
}

impl Hardening {
    /// The whole system at this moment (what the admin endpoint's `/status` serves). Asks
    /// each service for its status, within the health check timeout.
    pub async fn status_report(&self) -> StatusReport {
        #[cfg_attr(
            not(any(
                feature = "error-recovery",
                feature = "health-monitoring",
                feature = "performance-monitoring",
                feature = "resource-management"
            )),
            allow(unused_mut, reason = "no part to report")
        )]
        let mut report = StatusReport {
            uptime_seconds: self.uptime().as_secs_f64(),
            emergency: self.is_emergency(),
            health: None,
            services: Vec::new(),
            breakers: Vec::new(),
            recoveries: None,
            resources: None,
            performance: None,
            alerts: None,
        };
        #[cfg(feature = "error-recovery")]
        {
            for name in self.services() {
                if let Some(breaker) = self.breaker(&name) {
                    let m = breaker.metrics();
                    report.breakers.push(BreakerView {
                        name: name.clone(),
                        state: m.state.to_string(),
                        failure_rate: m.failure_rate,
                        slow_call_rate: m.slow_call_rate,
                        buffered_calls: m.buffered_calls,
                        failed_calls: m.failed_calls,
                        successful_total: m.successful_total,
                        failed_total: m.failed_total,
                        not_permitted_total: m.not_permitted_total,
                    });
                }
                if let Ok(health) = self.service_health(&name).await {
                    report.services.push(ServiceView {
                        name,
                        condition: health.condition.to_string(),
                        circuit_state: health.circuit_state.to_string(),
                        recoverable: health.recoverable,
                        recovery: health.recovery.map(|l| l.as_str().to_string()),
                    });
                }
            }
            if let Some(manager) = self.recovery_manager() {
                let history = manager.history();
                let skip = history.len().saturating_sub(20);
                report.recoveries = Some(RecoveriesView {
                    running: manager.running(),
                    mean_time_to_recovery_seconds: manager
                        .mean_time_to_recovery(None)
                        .map(|d| d.as_secs_f64()),
                    recent: history
                        .into_iter()
                        .skip(skip)
                        .map(|r| RecoveryView {
                            service: r.service,
                            failure: r.failure,
                            outcome: r.outcome.as_str().to_string(),
                            duration_seconds: r.duration.as_secs_f64(),
                            actions: r
                                .actions
                                .iter()
                                .map(|a| (a.action.clone(), a.outcome.as_str().to_string()))
                                .collect(),
                        })
                        .collect(),
                });
            }
        }
        #[cfg(feature = "health-monitoring")]
        {
            report.health = self.health_monitor().map(|m| m.overall().to_string());
            report.alerts = self
                .alerts()
                .and_then(|alerts| serde_json::to_value(alerts.active()).ok());
        }
        #[cfg(feature = "performance-monitoring")]
        {
            report.performance = self
                .performance_metrics()
                .ok()
                .and_then(|m| serde_json::to_value(&*m).ok());
        }
        #[cfg(feature = "resource-management")]
        if let Ok(stats) = self.resource_stats() {
            report.resources = Some(ResourcesView {
                ready: stats.ready,
                busy: stats.busy,
                unavailable: stats.unavailable,
                waiters: stats.waiters,
                pools: stats
                    .pools
                    .iter()
                    .map(|p| PoolView {
                        kind: p.kind.clone(),
                        ready: p.ready,
                        busy: p.busy,
                        unavailable: p.unavailable,
                        waiters: p.waiters,
                        memory_bytes: p.memory.bytes(),
                    })
                    .collect(),
            });
        }
        report
    }
}
