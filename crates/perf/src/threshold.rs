//! Thresholds that must hold for a while before they count.

use std::time::Duration;

use tokio::time::Instant;

/// What a [`SustainedThreshold`] decided about a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdChange {
    /// The value has been over the limit for the whole hold duration: report it.
    Exceeded,
    /// The value was reported over the limit and has now been back under it for the hold
    /// duration.
    Recovered,
}

/// A limit that a value must stay over for `hold` before it is reported, and back under for
/// `hold` before the recovery is reported, so one spike or one dip never fires an event.
///
/// ```
/// use std::time::Duration;
/// use hardening_perf::{SustainedThreshold, ThresholdChange};
/// use tokio::time::Instant;
///
/// let mut cpu = SustainedThreshold::new(80.0, Duration::from_secs(30));
/// let t = Instant::now();
/// assert_eq!(cpu.observe(t, 95.0), None);
/// assert_eq!(cpu.observe(t + Duration::from_secs(29), 95.0), None);
/// assert_eq!(cpu.observe(t + Duration::from_secs(30), 95.0), Some(ThresholdChange::Exceeded));
/// ```
#[derive(Debug, Clone)]
pub struct SustainedThreshold {
    limit: f64,
    hold: Duration,
    /// Since when the value has been on the other side of the limit from what is reported.
    crossing_since: Option<Instant>,
    exceeded: bool,
}

impl SustainedThreshold {
    /// A threshold at `limit` that must hold for `hold`.
    pub fn new(limit: f64, hold: Duration) -> Self {
        SustainedThreshold {
            limit,
            hold,
            crossing_since: None,
            exceeded: false,
        }
    }

    /// The limit.
    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// Whether the threshold is currently reported as exceeded.
    pub fn is_exceeded(&self) -> bool {
        self.exceeded
    }

    /// Takes a sample; returns a change when one is due.
    pub fn observe(&mut self, at: Instant, value: f64) -> Option<ThresholdChange> {
        let over = value > self.limit;
        if over == self.exceeded {
            self.crossing_since = None;
            return None;
        }
        let since = *self.crossing_since.get_or_insert(at);
        if at.saturating_duration_since(since) < self.hold {
            return None;
        }
        self.crossing_since = None;
        self.exceeded = over;
        Some(if over {
            ThresholdChange::Exceeded
        } else {
            ThresholdChange::Recovered
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spike_shorter_than_the_hold_fires_nothing_and_recovery_needs_the_hold_too() {
        let t = Instant::now();
        let s = |secs| t + Duration::from_secs(secs);
        let mut th = SustainedThreshold::new(10.0, Duration::from_secs(5));
        assert_eq!(th.observe(s(0), 11.0), None);
        assert_eq!(th.observe(s(3), 12.0), None);
        assert_eq!(th.observe(s(4), 9.0), None, "dipped: the clock starts over");
        assert_eq!(th.observe(s(5), 11.0), None);
        assert_eq!(th.observe(s(10), 11.0), Some(ThresholdChange::Exceeded));
        assert_eq!(th.observe(s(11), 50.0), None, "reported once");
        assert!(th.is_exceeded());
        assert_eq!(th.observe(s(12), 1.0), None);
        assert_eq!(th.observe(s(16), 1.0), None);
        assert_eq!(th.observe(s(17), 1.0), Some(ThresholdChange::Recovered));
        assert!(!th.is_exceeded());
    }
}
