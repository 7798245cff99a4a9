//! Folding many checks into one health.

use crate::{ConfigError, Criticality, Health, Status};

/// Which health wins when checks disagree: the first in the order that any check has.
///
/// The default is `[Unhealthy, Degraded, Healthy]`: one unhealthy check makes the group
/// unhealthy, otherwise one degraded check makes it degraded. Like Spring Boot's
/// `status.order`, the order can be changed, for the whole service or for one group.
///
/// ```
/// use hardening_health::{Health, SeverityOrder};
///
/// let order = SeverityOrder::default();
/// assert_eq!(order.aggregate([Health::Healthy, Health::Degraded]), Health::Degraded);
/// assert_eq!(order.aggregate([]), Health::Healthy);
///
/// // A group where any warning matters more than a failure elsewhere in it.
/// let odd = SeverityOrder::new([Health::Degraded, Health::Unhealthy, Health::Healthy])?;
/// assert_eq!(odd.aggregate([Health::Unhealthy, Health::Degraded]), Health::Degraded);
/// # Ok::<(), hardening_health::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeverityOrder([Health; 3]);

impl Default for SeverityOrder {
    fn default() -> Self {
        SeverityOrder([Health::Unhealthy, Health::Degraded, Health::Healthy])
    }
}

impl SeverityOrder {
    /// An order, most severe first; it must hold `Healthy`, `Degraded` and `Unhealthy` once
    /// each.
    pub fn new(order: [Health; 3]) -> Result<Self, ConfigError> {
        let complete = Health::AGGREGATES
            .iter()
            .all(|h| order.iter().filter(|o| *o == h).count() == 1);
        if complete {
            Ok(SeverityOrder(order))
        } else {
            Err(ConfigError::new(
                "severity_order",
                format!("{order:?}"),
                "Healthy, Degraded and Unhealthy, once each, most severe first",
            ))
        }
    }

    /// The order, most severe first.
    pub fn order(&self) -> [Health; 3] {
        self.0
    }

    /// The rank of a health in this order: 0 is the most severe.
    pub fn rank(&self, health: Health) -> usize {
        self.0
            .iter()
            .position(|h| *h == health)
            .unwrap_or(self.0.len())
    }

    /// The first health of the order that any of `healths` has; `Healthy` when there are
    /// none. `Starting` is ignored.
    pub fn aggregate(&self, healths: impl IntoIterator<Item = Health>) -> Health {
        let mut present = [0_u32; 4];
        for health in healths {
            present[health.index()] += 1;
        }
        self.aggregate_counts(&present)
    }

    /// The same, from counts indexed by `Health::index`.
    pub(crate) fn aggregate_counts(&self, counts: &[u32; 4]) -> Health {
        self.0
            .iter()
            .copied()
            .find(|h| counts[h.index()] > 0)
            .unwrap_or(Health::Healthy)
    }
}

/// What one check's judged status means for its groups.
pub(crate) fn health_of(status: Status, criticality: Criticality) -> Health {
    match (status, criticality) {
        (Status::Pass, _) => Health::Healthy,
        (Status::Warn, _) | (Status::Fail, Criticality::NonCritical) => Health::Degraded,
        (Status::Fail, Criticality::Critical) => Health::Unhealthy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_orders_are_rejected() {
        let err =
            SeverityOrder::new([Health::Healthy, Health::Healthy, Health::Degraded]).unwrap_err();
        assert_eq!(err.field(), "severity_order");
        assert!(SeverityOrder::new([Health::Starting, Health::Healthy, Health::Degraded]).is_err());
    }

    #[test]
    fn criticality_softens_failures_only() {
        assert_eq!(
            health_of(Status::Fail, Criticality::Critical),
            Health::Unhealthy
        );
        assert_eq!(
            health_of(Status::Fail, Criticality::NonCritical),
            Health::Degraded
        );
        assert_eq!(
            health_of(Status::Warn, Criticality::Critical),
            Health::Degraded
        );
        assert_eq!(
            health_of(Status::Pass, Criticality::NonCritical),
            Health::Healthy
        );
    }
}
