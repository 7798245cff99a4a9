//! The service-wide status of the seeds' `getHealthStatus()`.

use std::time::{Duration, SystemTime};

use crate::Health;

/// Uptime, the time the service was last healthy, and the machine's memory.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SystemStatus {
    /// The whole service's health now.
    pub health: Health,
    /// Time since the monitor started.
    pub uptime: Duration,
    /// The last time the whole service was healthy (now, if it is); `None` if it never was.
    pub last_healthy: Option<SystemTime>,
    /// The machine's memory; `None` where the platform does not tell.
    pub memory: Option<MemoryUsage>,
}

/// Memory in use out of the total, in bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct MemoryUsage {
    /// Bytes in use.
    pub used: u64,
    /// Bytes in all.
    pub total: u64,
    /// `used` as a percentage of `total`.
    pub percent: f64,
}

impl MemoryUsage {
    pub(crate) fn new(used: u64, total: u64) -> Option<Self> {
        (total > 0).then(|| MemoryUsage {
            used,
            total,
            percent: used as f64 * 100.0 / total as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_of_the_total_and_zero_total_is_unknown() {
        let usage = MemoryUsage::new(1, 4);
        assert_eq!(usage.map(|u| u.percent), Some(25.0));
        assert_eq!(MemoryUsage::new(1, 0), None);
    }
}
