//! A registered service's health: what it says of itself, its breaker, and its recovery.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::breaker::{Breaker, State};
use crate::recovery::{Lifecycle, Recoverable, ServiceRegistry, ServiceStatus};

/// How a service is doing, all things considered: the seeds' service status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Condition {
    /// Up, and its breaker closed.
    Healthy,
    /// Up with reduced capacity, or its breaker is letting probes through (half-open).
    Degraded,
    /// The recovery manager is working on it.
    Recovering,
    /// Down, or its breaker is open.
    Unhealthy,
    /// Failed too often: recovery gave up on it until an operator resets it.
    GivenUp,
    /// Not running (before initialization, after shutdown).
    Stopped,
}

impl Condition {
    /// The condition's name as it serializes.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Healthy => "healthy",
            Condition::Degraded => "degraded",
            Condition::Recovering => "recovering",
            Condition::Unhealthy => "unhealthy",
            Condition::GivenUp => "given_up",
            Condition::Stopped => "stopped",
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A service's health, as [`Hardening::service_health`](crate::Hardening::service_health)
/// reports it: the seeds' `getServiceHealth`, with its circuit and recovery state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ServiceHealth {
    /// The service's name.
    pub name: String,
    /// All things considered.
    pub condition: Condition,
    /// What the service says of itself (`None` if it did not answer within the health check
    /// timeout).
    #[serde(serialize_with = "status")]
    pub status: Option<ServiceStatus>,
    /// Its circuit breaker's state.
    #[serde(serialize_with = "display")]
    pub circuit_state: State,
    /// Whether the recovery manager may recover it.
    pub recoverable: bool,
    /// Where it stands with the recovery manager (`None` when it is not recoverable).
    #[serde(serialize_with = "lifecycle")]
    pub recovery: Option<Lifecycle>,
    /// The memory the config gives it (`services.<name>.maxMemory`), in bytes.
    pub max_memory: Option<u64>,
}

impl ServiceHealth {
    /// Judges a service from its parts.
    pub(crate) fn judge(
        name: &str,
        status: Option<ServiceStatus>,
        circuit_state: State,
        recovery: Option<Lifecycle>,
    ) -> ServiceHealth {
        let condition = match (recovery, status, circuit_state) {
            (Some(Lifecycle::GivenUp), _, _) => Condition::GivenUp,
            (Some(Lifecycle::Recovering), _, _) => Condition::Recovering,
            (_, Some(ServiceStatus::Stopped), _) => Condition::Stopped,
            (Some(Lifecycle::Failed), _, _)
            | (_, None | Some(ServiceStatus::Unhealthy), _)
            | (_, _, State::Open | State::ForcedOpen) => Condition::Unhealthy,
            (_, Some(ServiceStatus::Degraded), _) | (_, _, State::HalfOpen) => Condition::Degraded,
            _ => Condition::Healthy,
        };
        ServiceHealth {
            name: name.to_string(),
            condition,
            status,
            circuit_state,
            recoverable: recovery.is_some(),
            recovery,
            max_memory: None,
        }
    }

    /// Whether the service can take calls (healthy or degraded).
    pub fn is_up(&self) -> bool {
        matches!(self.condition, Condition::Healthy | Condition::Degraded)
    }
}

/// What the system keeps of one registered service.
#[derive(Clone)]
pub(crate) struct ServiceEntry {
    pub(crate) name: Arc<str>,
    pub(crate) service: Arc<dyn Recoverable>,
    pub(crate) breaker: Breaker,
    /// The recovery manager's registry, when the service is recoverable.
    pub(crate) recoverable: Option<Arc<ServiceRegistry>>,
    /// `services.<name>.maxMemory`, in bytes.
    pub(crate) max_memory: Option<u64>,
}

impl fmt::Debug for ServiceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceEntry")
            .field("name", &self.name)
            .field("breaker", &self.breaker.state())
            .field("recoverable", &self.recoverable.is_some())
            .finish_non_exhaustive()
    }
}

impl ServiceEntry {
    /// Asks the service for its status (within `timeout`) and judges it with its breaker and
    /// recovery state.
    pub(crate) async fn health(&self, timeout: std::time::Duration) -> ServiceHealth {
        let status = tokio::time::timeout(timeout, self.service.status())
            .await
            .ok();
        let recovery = self.recoverable.as_ref().map(|registry| {
            registry
                .lifecycle(&self.name)
                .unwrap_or(Lifecycle::Registered)
        });
        ServiceHealth {
            max_memory: self.max_memory,
            ..ServiceHealth::judge(&self.name, status, self.breaker.state(), recovery)
        }
    }
}

fn display<T: fmt::Display, S: serde::Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

fn status<S: serde::Serializer>(value: &Option<ServiceStatus>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(ServiceStatus::Healthy) => s.serialize_str("healthy"),
        Some(ServiceStatus::Degraded) => s.serialize_str("degraded"),
        Some(ServiceStatus::Unhealthy) => s.serialize_str("unhealthy"),
        Some(ServiceStatus::Stopped) => s.serialize_str("stopped"),
        Some(_) => s.serialize_str("unknown"),
        None => s.serialize_none(),
    }
}

fn lifecycle<S: serde::Serializer>(value: &Option<Lifecycle>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(lifecycle) => s.serialize_str(lifecycle.as_str()),
        None => s.serialize_none(),
    }
}

/// The health check each service gets: its [`ServiceHealth`] as a pass, warning or failure.
/// A failing service that is recoverable and not yet being recovered is reported to the
/// recovery manager.
#[cfg(feature = "health-monitoring")]
pub(crate) struct ServiceCheck {
    pub(crate) entry: ServiceEntry,
    pub(crate) timeout: std::time::Duration,
    pub(crate) failures: tokio::sync::mpsc::UnboundedSender<crate::system::FailureReport>,
}

#[cfg(feature = "health-monitoring")]
#[crate::health::async_trait]
impl crate::health::HealthCheck for ServiceCheck {
    async fn check(&self) -> Result<crate::health::Observation, crate::health::BoxError> {
        use crate::health::{Observation, Status};
        let health = self.entry.health(self.timeout).await;
        let status = match health.condition {
            Condition::Healthy => Status::Pass,
            Condition::Degraded | Condition::Recovering => Status::Warn,
            Condition::Unhealthy | Condition::GivenUp | Condition::Stopped => Status::Fail,
        };
        if health.condition == Condition::Unhealthy
            && health.recoverable
            && matches!(health.status, None | Some(ServiceStatus::Unhealthy))
        {
            // The receiver lives as long as the system; a send after shutdown has nobody to
            // act on it, which is right.
            let _ = self.failures.send(crate::system::FailureReport {
                service: Arc::clone(&self.entry.name),
                failure: "health_check_failed",
            });
        }
        let message = format!(
            "{} (circuit {}{})",
            health.condition,
            health.circuit_state,
            match health.recovery {
                Some(lifecycle) => format!(", recovery {}", lifecycle.as_str()),
                None => String::new(),
            }
        );
        let mut observation = Observation::new(status).with_message(message);
        observation.value = serde_json::to_value(&health).ok();
        Ok(observation)
    }
}
