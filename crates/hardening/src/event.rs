//! One stream of what happens across the system, merged from every part.

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

#[cfg(feature = "error-recovery")]
use crate::breaker::State;
#[cfg(feature = "health-monitoring")]
use crate::health::Health;
#[cfg(feature = "health-monitoring")]
use crate::health::alert::Severity;
#[cfg(feature = "performance-monitoring")]
use crate::perf::Watched;
#[cfg(feature = "error-recovery")]
use crate::recovery::{ActionOutcome, Level};

/// Something that happened in the system, from whichever part: the seeds'
/// `alert_created`, `recovery_completed`, `emergency_activated` and breaker transitions, and
/// the rest. Subscribe with [`Hardening::subscribe`](crate::Hardening::subscribe).
///
/// Serializes as JSON objects tagged by `type` in snake case
/// (`{"type":"breaker_state_changed","service":"inventory","from":"closed","to":"open"}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HardeningEvent {
    /// [`Hardening::initialize`](crate::Hardening::initialize) finished: services are up and
    /// monitoring runs.
    Initialized,
    /// A service's circuit breaker changed state.
    #[cfg(feature = "error-recovery")]
    #[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
    BreakerStateChanged {
        /// The service (and breaker) name.
        service: String,
        /// The state it left.
        #[serde(serialize_with = "display")]
        from: State,
        /// The state it entered.
        #[serde(serialize_with = "display")]
        to: State,
    },
    /// The recovery manager was told a service failed and started recovering it.
    #[cfg(feature = "error-recovery")]
    #[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
    RecoveryStarted {
        /// The service.
        service: String,
        /// The failure it was told of (`circuit_open`, `health_check_failed`, or the
        /// operator's reason).
        failure: String,
    },
    /// One recovery action finished.
    #[cfg(feature = "error-recovery")]
    #[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
    RecoveryAction {
        /// The service.
        service: String,
        /// The ladder level the action belongs to.
        #[serde(serialize_with = "display")]
        level: Level,
        /// The action's name.
        action: String,
        /// How it went.
        #[serde(serialize_with = "action_outcome")]
        outcome: ActionOutcome,
        /// How long it took.
        #[serde(serialize_with = "millis")]
        elapsed: Duration,
    },
    /// A service was brought back; its breaker now lets probes through (half-open).
    #[cfg(feature = "error-recovery")]
    #[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
    RecoveryCompleted {
        /// The service.
        service: String,
        /// The action that brought it back.
        action: String,
        /// From the failure report to the service being up.
        #[serde(serialize_with = "millis")]
        time_to_recover: Duration,
    },
    /// Recovery of a service failed: every action of the ladder failed, or the service failed
    /// too often and is given up. An operator is needed; an alert is raised too when alerts
    /// run.
    #[cfg(feature = "error-recovery")]
    #[cfg_attr(docsrs, doc(cfg(feature = "error-recovery")))]
    RecoveryFailed {
        /// The service.
        service: String,
        /// Why, in words.
        reason: String,
        /// Whether the service is given up (no more recoveries until reset).
        given_up: bool,
    },
    /// The whole system's health changed.
    #[cfg(feature = "health-monitoring")]
    #[cfg_attr(docsrs, doc(cfg(feature = "health-monitoring")))]
    HealthChanged {
        /// Before.
        #[serde(serialize_with = "display")]
        from: Health,
        /// After.
        #[serde(serialize_with = "display")]
        to: Health,
    },
    /// An alert started firing.
    #[cfg(feature = "health-monitoring")]
    #[cfg_attr(docsrs, doc(cfg(feature = "health-monitoring")))]
    AlertCreated {
        /// The alert's name.
        name: String,
        /// How bad.
        #[serde(serialize_with = "display")]
        severity: Severity,
        /// One line for a human.
        summary: String,
    },
    /// An alert stopped firing.
    #[cfg(feature = "health-monitoring")]
    #[cfg_attr(docsrs, doc(cfg(feature = "health-monitoring")))]
    AlertResolved {
        /// The alert's name.
        name: String,
    },
    /// A performance figure stayed past its limit for the hold time, or came back under it.
    #[cfg(feature = "performance-monitoring")]
    #[cfg_attr(docsrs, doc(cfg(feature = "performance-monitoring")))]
    PerformanceThreshold {
        /// Which figure.
        watched: Watched,
        /// Its value.
        value: f64,
        /// The limit.
        limit: f64,
        /// `true` when it went over, `false` when it came back.
        exceeded: bool,
    },
    /// The system is under pressure (memory past its limit): low-priority resource requests
    /// are shed until it passes.
    EmergencyActivated {
        /// What the pressure is.
        reason: String,
    },
    /// The pressure passed.
    EmergencyDeactivated {
        /// What the pressure was.
        reason: String,
    },
    /// [`Hardening::shutdown`](crate::Hardening::shutdown) began: readiness now fails.
    ShutdownStarted,
    /// Some events were not seen: the subscriber fell this many behind and they were
    /// dropped (the stream keeps the newest).
    Lagged {
        /// Events missed.
        missed: u64,
    },
}

impl HardeningEvent {
    /// The event's type as it serializes (`breaker_state_changed`, `recovery_completed`,
    /// ...).
    pub fn kind(&self) -> &'static str {
        match self {
            HardeningEvent::Initialized => "initialized",
            #[cfg(feature = "error-recovery")]
            HardeningEvent::BreakerStateChanged { .. } => "breaker_state_changed",
            #[cfg(feature = "error-recovery")]
            HardeningEvent::RecoveryStarted { .. } => "recovery_started",
            #[cfg(feature = "error-recovery")]
            HardeningEvent::RecoveryAction { .. } => "recovery_action",
            #[cfg(feature = "error-recovery")]
            HardeningEvent::RecoveryCompleted { .. } => "recovery_completed",
            #[cfg(feature = "error-recovery")]
            HardeningEvent::RecoveryFailed { .. } => "recovery_failed",
            #[cfg(feature = "health-monitoring")]
            HardeningEvent::HealthChanged { .. } => "health_changed",
            #[cfg(feature = "health-monitoring")]
            HardeningEvent::AlertCreated { .. } => "alert_created",
            #[cfg(feature = "health-monitoring")]
            HardeningEvent::AlertResolved { .. } => "alert_resolved",
            #[cfg(feature = "performance-monitoring")]
            HardeningEvent::PerformanceThreshold { .. } => "performance_threshold",
            HardeningEvent::EmergencyActivated { .. } => "emergency_activated",
            HardeningEvent::EmergencyDeactivated { .. } => "emergency_deactivated",
            HardeningEvent::ShutdownStarted => "shutdown_started",
            HardeningEvent::Lagged { .. } => "lagged",
        }
    }
}

#[allow(
    dead_code,
    reason = "used by the variants of some features only; without them nothing serializes so"
)]
fn display<T: fmt::Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

#[allow(dead_code, reason = "used by the error-recovery variants only")]
fn millis<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(feature = "error-recovery")]
fn action_outcome<S: Serializer>(value: &ActionOutcome, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value.as_str())
}
