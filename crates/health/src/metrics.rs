//! The monitor's metrics, through the `metrics` facade.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `hardening_health_check_runs_total` | counter | `check`, `status` = `pass` / `warn` / `fail` (the run's own verdict) |
//! | `hardening_health_check_duration_seconds` | histogram | `check` |
//! | `hardening_health_check_up` | gauge, 1 while the judged status is pass or warn, else 0 | `check` |
//! | `hardening_health_status` | gauge, 1 for the group's current health and 0 for the others | `group` (`live`, `ready`, `startup`, custom names), `status` = `healthy` / `degraded` / `unhealthy` / `starting` |
//!
//! Handles are registered when the monitor is built, so install your recorder first.

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

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
