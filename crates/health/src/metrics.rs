//! The monitor's metrics, through the `metrics` facade.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `hardening_health_check_runs_total` | counter | `check`, `status` = `pass` / `warn` / `fail` (the run's own verdict) |
//! | `hardening_health_check_duration_seconds` | histogram | `check` |
//! | `hardening_health_check_up` | gauge, 1 while the judged status is pass or warn, else 0 | `check` |
//! | `hardening_health_status` | gauge, 1 for the group's current health and 0 for the others | `group` (`live`, `ready`, `startup`, custom names), `status` = `healthy` / `degraded` / `unhealthy` / `starting` |
//!
//! The [alert manager](crate::alert::AlertManager)'s, named after Alertmanager's own
//! (`alertmanager_notifications_total`, `alertmanager_notifications_failed_total`):
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `hardening_alert_raised_total` | counter: alerts that started firing (raised, or a rule's alert fired) | `severity` |
//! | `hardening_alert_resolved_total` | counter: firing alerts that resolved | `severity` |
//! | `hardening_alert_refused_total` | counter: raises refused at the manager's limit of active alerts | |
//! | `hardening_alert_active` | gauge, updated at each flush | `state` = `pending` / `firing` |
//! | `hardening_alert_notifications_total` | counter: notifications a sink delivered | `sink` |
//! | `hardening_alert_notifications_failed_total` | counter: notifications a sink failed to deliver | `sink`, `reason` = `error` / `timeout` / `panic` |
//! | `hardening_alert_notifications_dropped_total` | counter: notifications never handed to a sink | `sink`, `reason` = `rate_limited` / `queue_full` |
//!
//! Handles are registered when the monitor or the alert manager is built, so install your
//! recorder first.

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

use crate::alert::Severity;
use crate::alert::sink::{Dropped, Failure};
use crate::monitor::{Entry, GroupState};
use crate::{Health, Status};

/// Metric names, for dashboards and tests.
pub mod names {
    /// Runs by their own verdict.
    pub const RUNS: &str = "hardening_health_check_runs_total";
    /// How long each run took.
    pub const DURATION: &str = "hardening_health_check_duration_seconds";
    /// 1 while a check's judged status is pass or warn, else 0.
    pub const UP: &str = "hardening_health_check_up";
    /// 1 for a group's current health, 0 for the others.
    pub const STATUS: &str = "hardening_health_status";
    /// Alerts that started firing, by severity.
    pub const ALERTS_RAISED: &str = "hardening_alert_raised_total";
    /// Firing alerts that resolved, by severity.
    pub const ALERTS_RESOLVED: &str = "hardening_alert_resolved_total";
    /// Raises refused at the manager's limit of active alerts.
    pub const ALERTS_REFUSED: &str = "hardening_alert_refused_total";
    /// Alerts pending and firing, by state.
    pub const ALERTS_ACTIVE: &str = "hardening_alert_active";
    /// Notifications a sink delivered.
    pub const NOTIFICATIONS: &str = "hardening_alert_notifications_total";
    /// Notifications a sink failed to deliver, by reason.
    pub const NOTIFICATIONS_FAILED: &str = "hardening_alert_notifications_failed_total";
    /// Notifications never handed to a sink (rate limit, full queue), by reason.
    pub const NOTIFICATIONS_DROPPED: &str = "hardening_alert_notifications_dropped_total";
}

const HEALTHS: [Health; 4] = [
    Health::Healthy,
    Health::Degraded,
    Health::Unhealthy,
    Health::Starting,
];

#[derive(Debug)]
struct CheckHandles {
    runs: [Counter; 3],
    duration: Histogram,
    up: Gauge,
}

#[derive(Debug)]
pub(crate) struct Handles {
    checks: Vec<CheckHandles>,
    groups: Vec<[Gauge; 4]>,
}

impl Handles {
    pub(crate) fn new(entries: &[Entry], groups: &[GroupState]) -> Self {
        let checks = entries
            .iter()
            .map(|entry| {
                let check = entry.name.to_string();
                let runs = [Status::Pass, Status::Warn, Status::Fail].map(|status| {
                    counter!(names::RUNS, "check" => check.clone(), "status" => status.as_str())
                });
                CheckHandles {
                    runs,
                    duration: histogram!(names::DURATION, "check" => check.clone()),
                    up: gauge!(names::UP, "check" => check),
                }
            })
            .collect();
        let groups = groups
            .iter()
            .map(|g| {
                let group = g.group.name().to_string();
                HEALTHS.map(
                    |h| gauge!(names::STATUS, "group" => group.clone(), "status" => h.as_str()),
                )
            })
            .collect();
        Handles { checks, groups }
    }

    pub(crate) fn run(&self, index: usize, status: Status, duration: Duration) {
        if let Some(check) = self.checks.get(index) {
            let slot = match status {
                Status::Pass => 0,
                Status::Warn => 1,
                Status::Fail => 2,
            };
            check.runs[slot].increment(1);
            check.duration.record(duration.as_secs_f64());
        }
    }

    pub(crate) fn status(&self, index: usize, status: Status) {
        if let Some(check) = self.checks.get(index) {
            check.up.set(if status.is_success() { 1.0 } else { 0.0 });
        }
    }

    pub(crate) fn groups(&self, groups: &[GroupState]) {
        for (gauges, group) in self.groups.iter().zip(groups) {
            for (gauge, health) in gauges.iter().zip(HEALTHS) {
                gauge.set(if health == group.effective { 1.0 } else { 0.0 });
            }
        }
    }
}

/// The alert manager's handles.
#[derive(Debug)]
pub(crate) struct AlertHandles {
    raised: [Counter; 4],
    resolved: [Counter; 4],
    refused: Counter,
    pending: Gauge,
    firing: Gauge,
}

impl AlertHandles {
    pub(crate) fn new() -> Self {
        AlertHandles {
            raised: Severity::ALL.map(|s| counter!(names::ALERTS_RAISED, "severity" => s.as_str())),
            resolved: Severity::ALL
                .map(|s| counter!(names::ALERTS_RESOLVED, "severity" => s.as_str())),
            refused: counter!(names::ALERTS_REFUSED),
            pending: gauge!(names::ALERTS_ACTIVE, "state" => "pending"),
            firing: gauge!(names::ALERTS_ACTIVE, "state" => "firing"),
        }
    }

    pub(crate) fn raised(&self, severity: Severity) {
        self.raised[severity as usize].increment(1);
    }

    pub(crate) fn resolved(&self, severity: Severity) {
        self.resolved[severity as usize].increment(1);
    }

    pub(crate) fn refused(&self) {
        self.refused.increment(1);
    }

    pub(crate) fn active(&self, pending: usize, firing: usize) {
        self.pending.set(pending as f64);
        self.firing.set(firing as f64);
    }
}

/// One sink's handles.
#[derive(Debug)]
pub(crate) struct SinkHandles {
    sent: Counter,
    failed: [Counter; 3],
    dropped: [Counter; 2],
}

impl SinkHandles {
    pub(crate) fn new(sink: &str) -> Self {
        let failed = Failure::ALL.map(|reason| {
            counter!(names::NOTIFICATIONS_FAILED, "sink" => sink.to_string(), "reason" => reason.as_str())
        });
        let dropped = Dropped::ALL.map(|reason| {
            counter!(names::NOTIFICATIONS_DROPPED, "sink" => sink.to_string(), "reason" => reason.as_str())
        });
        SinkHandles {
            sent: counter!(names::NOTIFICATIONS, "sink" => sink.to_string()),
            failed,
            dropped,
        }
    }

    pub(crate) fn sent(&self) {
        self.sent.increment(1);
    }

    pub(crate) fn failed(&self, reason: Failure) {
        self.failed[reason as usize].increment(1);
    }

    pub(crate) fn dropped(&self, reason: Dropped) {
        self.dropped[reason as usize].increment(1);
    }
}
