//! What the monitor tells its subscribers.

use crate::{CheckName, Group, Health, Status};

/// A change, sent to every [`HealthMonitor::subscribe`](crate::HealthMonitor::subscribe)r.
///
/// Only changes are sent: a check that keeps passing sends nothing. With no subscriber,
/// sending costs one atomic load.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthEvent {
    /// The whole service's health changed.
    Overall {
        /// Before.
        from: Health,
        /// After.
        to: Health,
    },
    /// A group's health, as its probe reports it, changed.
    Group {
        /// The group.
        group: Group,
        /// Before.
        from: Health,
        /// After.
        to: Health,
    },
    /// A check's judged status changed.
    Check {
        /// The check.
        name: CheckName,
        /// Before.
        from: Status,
        /// After.
        to: Status,
        /// The latest run's message, if any.
        message: Option<String>,
    },
    /// A graceful shutdown began: readiness is now failing; checks stop after the grace
    /// period.
    ShutdownStarted,
    /// Every check has stopped.
    Stopped,
}
