//! What readers see: a cached, immutable picture of every check and group.

use std::sync::Arc;

use crate::{CheckName, CheckResult, Criticality, Group, Health, Status};

/// One check as of the latest snapshot.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CheckReport {
    /// The check's name (`component:measurement`).
    pub name: CheckName,
    /// The judged status, after the success and failure thresholds.
    pub status: Status,
    /// What the judged status means for the check's groups.
    pub health: Health,
    /// The latest run, or `None` before the first one.
    pub last: Option<CheckResult>,
    /// How many runs in a row have had the latest run's outcome (success or failure).
    pub consecutive: u32,
    /// Runs finished so far.
    pub runs: u64,
    /// The groups the check belongs to.
    pub groups: Arc<[Group]>,
    /// How much a failure matters.
    pub criticality: Criticality,
}

/// Every check and every group at one moment. Cheap to get
/// ([`HealthMonitor::snapshot`](crate::HealthMonitor::snapshot)) and never waits on a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub(crate) overall: Health,
    pub(crate) groups: Vec<(Group, Health)>,
    pub(crate) checks: Vec<Arc<CheckReport>>,
    pub(crate) started: bool,
    pub(crate) shutting_down: bool,
}

impl Snapshot {
    /// The health of the whole service: every check, aggregated with the service's severity
    /// order; [`Health::Starting`] until the startup group has passed.
    pub fn overall(&self) -> Health {
        self.overall
    }

    /// A group's health, as its probe reports it; `None` for a custom group no check belongs
    /// to. The three probes' groups are always known (an empty one is healthy).
    pub fn group(&self, group: &Group) -> Option<Health> {
        self.groups
            .iter()
            .find(|(g, _)| g == group)
            .map(|(_, health)| *health)
    }

    /// Every group with its health: liveness, readiness and startup first, then custom groups
    /// in the order they were first used.
    pub fn groups(&self) -> impl Iterator<Item = (&Group, Health)> {
        self.groups.iter().map(|(g, h)| (g, *h))
    }

    /// Every check, in the order they were registered.
    pub fn checks(&self) -> impl Iterator<Item = &CheckReport> {
        self.checks.iter().map(|c| &**c)
    }

    /// The checks that belong to `group`.
    pub fn checks_in<'a>(&'a self, group: &'a Group) -> impl Iterator<Item = &'a CheckReport> {
        self.checks().filter(move |c| c.groups.contains(group))
    }

    /// One check by its key (`component:measurement`).
    pub fn check(&self, key: &str) -> Option<&CheckReport> {
        self.checks().find(|c| c.name.as_str() == key)
    }

    /// Whether the startup group has passed (it stays passed, as in Kubernetes).
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Whether a graceful shutdown has begun (readiness then reports unhealthy).
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }
}
