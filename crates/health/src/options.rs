//! How each check is run and judged, validated once when built.

use std::time::Duration;

use crate::error::human;
use crate::{ConfigError, Group};

/// How much a failing check matters to the aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Criticality {
    /// A failure makes its groups [`Unhealthy`](crate::Health::Unhealthy). The default.
    #[default]
    Critical,
    /// A failure only makes its groups [`Degraded`](crate::Health::Degraded): a cache, a
    /// secondary replica, anything the service can limp along without.
    NonCritical,
}

/// How one registered check is scheduled and judged. Build with [`CheckOptions::builder`];
/// `CheckOptions::default()` is the defaults below.
///
/// | setting | default | why |
/// |---|---|---|
/// | interval | 30 s | the seeds' health-check interval |
/// | jitter | 0.1 (±10 % of the interval) | spreads checks that started together |
/// | initial delay | 0 | run once at start, so the first snapshot is real |
/// | timeout | 10 s | a third of the interval: a hung check is judged well before the next run |
/// | success threshold | 1 | Kubernetes' default |
/// | failure threshold | 1 | the probe that reads the snapshot applies its own `failureThreshold`; counting twice would only delay it |
/// | groups | readiness | a failing dependency should take the instance out of rotation, not restart it |
/// | criticality | critical | |
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOptions {
    pub(crate) interval: Duration,
    pub(crate) jitter: f64,
    pub(crate) initial_delay: Duration,
    pub(crate) timeout: Duration,
    pub(crate) success_threshold: u32,
    pub(crate) failure_threshold: u32,
    pub(crate) groups: Vec<Group>,
    pub(crate) criticality: Criticality,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            interval: Duration::from_secs(30),
            jitter: 0.1,
            initial_delay: Duration::ZERO,
            timeout: Duration::from_secs(10),
            success_threshold: 1,
            failure_threshold: 1,
            groups: vec![Group::Readiness],
            criticality: Criticality::Critical,
        }
    }
}

impl CheckOptions {
    /// A builder starting from the defaults.
    pub fn builder() -> CheckOptionsBuilder {
        CheckOptionsBuilder {
            options: CheckOptions::default(),
        }
    }

    /// The time between the end of one run and the start of the next, before jitter.
    pub fn interval(&self) -> Duration {
        self.interval
    }
    /// The jitter, as a fraction of the interval.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }
    /// The wait before the first run.
    pub fn initial_delay(&self) -> Duration {
        self.initial_delay
    }
    /// How long a run may take before it is stopped and counted as a failure.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
    /// Successes in a row that turn a failing check passing.
    pub fn success_threshold(&self) -> u32 {
        self.success_threshold
    }
    /// Failures in a row that turn a passing check failing.
    pub fn failure_threshold(&self) -> u32 {
        self.failure_threshold
    }
    /// The groups the check belongs to.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }
    /// How much a failure matters.
    pub fn criticality(&self) -> Criticality {
        self.criticality
    }

    /// The range every wait between runs falls in: `interval × (1 ± jitter)`.
    pub fn interval_bounds(&self) -> (Duration, Duration) {
        let spread = self.interval.mul_f64(self.jitter);
        (
            self.interval.saturating_sub(spread),
            self.interval.saturating_add(spread),
        )
    }
}

/// The largest accepted jitter fraction (exclusive): at 1.0 a wait could be zero.
pub const MAX_JITTER: f64 = 1.0;

/// Builds [`CheckOptions`]; [`build`](Self::build) checks every setting.
///
/// ```
/// use std::time::Duration;
/// use hardening_health::{CheckOptions, Group};
///
/// let options = CheckOptions::builder()
///     .interval(Duration::from_secs(10))
///     .timeout(Duration::from_secs(2))
///     .failure_threshold(3)
///     .groups([Group::Liveness, Group::Readiness])
///     .build()?;
/// assert_eq!(options.failure_threshold(), 3);
///
/// let err = CheckOptions::builder().jitter(1.5).build().unwrap_err();
/// assert_eq!(err.field(), "jitter");
/// # Ok::<(), hardening_health::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct CheckOptionsBuilder {
    options: CheckOptions,
}

impl CheckOptionsBuilder {
    /// Time from the end of one run to the start of the next (above zero). Default 30 s.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.options.interval = interval;
        self
    }

    /// Each wait is the interval times a uniform factor in `1 ± jitter` (0 ≤ jitter < 1).
    /// Default 0.1. Seed it with [`HealthMonitorBuilder::jitter_seed`](crate::HealthMonitorBuilder::jitter_seed).
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.options.jitter = fraction;
        self
    }

    /// Wait before the first run (Kubernetes' `initialDelaySeconds`). Default 0.
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.options.initial_delay = delay;
        self
    }

    /// How long a run may take (above zero); a run still going then is stopped and counts as
    /// a failure. Default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// Successes in a row that turn a failing check passing (at least 1). Default 1.
    pub fn success_threshold(mut self, runs: u32) -> Self {
        self.options.success_threshold = runs;
        self
    }

    /// Failures in a row that turn a passing check failing (at least 1). Default 1.
    pub fn failure_threshold(mut self, runs: u32) -> Self {
        self.options.failure_threshold = runs;
        self
    }

    /// The groups the check belongs to (at least one; repeats are dropped). Default:
    /// readiness.
    pub fn groups(mut self, groups: impl IntoIterator<Item = Group>) -> Self {
        self.options.groups = Vec::new();
        for group in groups {
            if !self.options.groups.contains(&group) {
                self.options.groups.push(group);
            }
        }
        self
    }

    /// How much a failure matters. Default: critical.
    pub fn criticality(mut self, criticality: Criticality) -> Self {
        self.options.criticality = criticality;
        self
    }

    /// Checks every setting and returns the options, or the first setting that is wrong.
    pub fn build(self) -> Result<CheckOptions, ConfigError> {
        let o = &self.options;
        if o.interval.is_zero() {
            return Err(ConfigError::new(
                "interval",
                human(o.interval),
                "a duration above zero",
            ));
        }
        if !(o.jitter.is_finite() && (0.0..MAX_JITTER).contains(&o.jitter)) {
            return Err(ConfigError::new(
                "jitter",
                o.jitter,
                "a fraction of the interval from 0 up to (not including) 1",
            ));
        }
        if o.timeout.is_zero() {
            return Err(ConfigError::new(
                "timeout",
                human(o.timeout),
                "a duration above zero",
            ));
        }
        if o.success_threshold == 0 {
            return Err(ConfigError::new("success_threshold", 0, "at least 1 run"));
        }
        if o.failure_threshold == 0 {
            return Err(ConfigError::new("failure_threshold", 0, "at least 1 run"));
        }
        if o.groups.is_empty() {
            return Err(ConfigError::new(
                "groups",
                "[]",
                "at least one group (liveness, readiness, startup or a custom one)",
            ));
        }
        Ok(self.options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_documented_values() {
        let o = CheckOptions::default();
        assert_eq!(o.interval(), Duration::from_secs(30));
        assert_eq!(o.timeout(), Duration::from_secs(10));
        assert_eq!((o.success_threshold(), o.failure_threshold()), (1, 1));
        assert_eq!(o.groups(), [Group::Readiness]);
        assert_eq!(CheckOptions::builder().build(), Ok(o));
    }

    #[test]
    fn every_bad_setting_names_its_field() {
        let cases = [
            (CheckOptions::builder().interval(Duration::ZERO), "interval"),
            (CheckOptions::builder().jitter(-0.1), "jitter"),
            (CheckOptions::builder().jitter(f64::NAN), "jitter"),
            (CheckOptions::builder().jitter(1.0), "jitter"),
            (CheckOptions::builder().timeout(Duration::ZERO), "timeout"),
            (
                CheckOptions::builder().success_threshold(0),
                "success_threshold",
            ),
            (
                CheckOptions::builder().failure_threshold(0),
                "failure_threshold",
            ),
            (CheckOptions::builder().groups([]), "groups"),
        ];
        for (builder, field) in cases {
            let err = builder.build().unwrap_err();
            assert_eq!(err.field(), field, "{err}");
            assert!(err.to_string().starts_with(&format!("{field}: ")), "{err}");
        }
        assert_eq!(
            CheckOptions::builder()
                .interval(Duration::ZERO)
                .build()
                .unwrap_err()
                .to_string(),
            "interval: 0s is not accepted; expected a duration above zero"
        );
    }

    #[test]
    fn groups_drop_repeats_and_bounds_follow_jitter() {
        let o = CheckOptions::builder()
            .groups([Group::Liveness, Group::Liveness, Group::Startup])
            .interval(Duration::from_secs(10))
            .jitter(0.2)
            .build()
            .unwrap();
        assert_eq!(o.groups(), [Group::Liveness, Group::Startup]);
        assert_eq!(
            o.interval_bounds(),
            (Duration::from_secs(8), Duration::from_secs(12))
        );
    }
}
