//! The monitor's settings, validated when built.

use std::time::Duration;

/// A limit that must hold for a while before it counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit<T> {
    /// The value that must be exceeded.
    pub value: T,
    /// How long it must stay exceeded (and then clear) before an event fires.
    pub hold: Duration,
}

/// How the monitor samples and what it watches. Build with [`MonitorConfig::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    pub(crate) interval: Duration,
    pub(crate) latency_probe_period: Duration,
    pub(crate) latency_threshold: Duration,
    pub(crate) cpu_percent: Option<Limit<f64>>,
    pub(crate) rss_bytes: Option<Limit<u64>>,
    pub(crate) latency_p99: Option<Limit<Duration>>,
    pub(crate) operation_p95: Option<Limit<Duration>>,
    pub(crate) error_rate: Option<Limit<f64>>,
    pub(crate) drift_window: Duration,
    pub(crate) drift_limit_percent_per_hour: f64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            interval: Duration::from_secs(5),
            latency_probe_period: Duration::from_millis(20),
            latency_threshold: Duration::from_millis(50),
            cpu_percent: None,
            rss_bytes: None,
            latency_p99: None,
            operation_p95: None,
            error_rate: None,
            drift_window: Duration::from_secs(3600),
            drift_limit_percent_per_hour: 10.0,
        }
    }
}

impl MonitorConfig {
    /// A builder starting from the defaults: a 5 s interval, a 20 ms latency probe, no
    /// thresholds, drift judged over an hour against 10% an hour.
    pub fn builder() -> MonitorConfigBuilder {
        MonitorConfigBuilder {
            config: MonitorConfig::default(),
        }
    }

    /// How often the monitor samples (`performanceCheckIntervalMs`).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How often the latency probe wakes.
    pub fn latency_probe_period(&self) -> Duration {
        self.latency_probe_period
    }
}

/// Builds a [`MonitorConfig`].
///
/// ```
/// use std::time::Duration;
/// use hardening_perf::MonitorConfig;
///
/// let config = MonitorConfig::builder()
///     .interval(Duration::from_millis(1000))
///     .cpu_percent(90.0, Duration::from_secs(30))
///     .latency_p99(Duration::from_millis(100), Duration::from_secs(10))
///     .build()?;
/// assert_eq!(config.interval(), Duration::from_secs(1));
///
/// let err = MonitorConfig::builder().interval(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.to_string(), "interval: 0ns is not accepted; expected at least 200ms (the shortest interval that gives a CPU figure)");
/// # Ok::<(), hardening_perf::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct MonitorConfigBuilder {
    config: MonitorConfig,
}

impl MonitorConfigBuilder {
    /// How often to sample; at least 200 ms. Default 5 s.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.config.interval = interval;
        self
    }

    /// How often the latency probe wakes; 1 ms to 1 s. Default 20 ms: fifty wake-ups a second
    /// keep the whole monitor near a quarter of a percent of one core, and a stall is still
    /// measured to within the period.
    pub fn latency_probe_period(mut self, period: Duration) -> Self {
        self.config.latency_probe_period = period;
        self
    }

    /// Latency samples at or above this are counted apart. Default 50 ms.
    pub fn latency_threshold(mut self, threshold: Duration) -> Self {
        self.config.latency_threshold = threshold;
        self
    }

    /// Fire when the process uses more than `percent` of one core for `hold`.
    pub fn cpu_percent(mut self, percent: f64, hold: Duration) -> Self {
        self.config.cpu_percent = Some(Limit {
            value: percent,
            hold,
        });
        self
    }

    /// Fire when resident memory is above `bytes` for `hold`.
    pub fn rss_bytes(mut self, bytes: u64, hold: Duration) -> Self {
        self.config.rss_bytes = Some(Limit { value: bytes, hold });
        self
    }

    /// Fire when the runtime latency's p99 is above `p99` for `hold`.
    pub fn latency_p99(mut self, p99: Duration, hold: Duration) -> Self {
        self.config.latency_p99 = Some(Limit { value: p99, hold });
        self
    }

    /// Fire when any operation's p95 is above `p95` for `hold`.
    pub fn operation_p95(mut self, p95: Duration, hold: Duration) -> Self {
        self.config.operation_p95 = Some(Limit { value: p95, hold });
        self
    }

    /// Fire when any operation's error rate (0.0 to 1.0) is above `rate` for `hold`.
    pub fn error_rate(mut self, rate: f64, hold: Duration) -> Self {
        self.config.error_rate = Some(Limit { value: rate, hold });
        self
    }

    /// Judge memory drift over `window` and fire past `percent_per_hour`.
    pub fn memory_drift(mut self, window: Duration, percent_per_hour: f64) -> Self {
        self.config.drift_window = window;
        self.config.drift_limit_percent_per_hour = percent_per_hour;
        self
    }

    /// Checks every setting.
    pub fn build(self) -> Result<MonitorConfig, ConfigError> {
        let c = &self.config;
        let min = crate::process::ProcessSampler::MINIMUM_INTERVAL;
        if c.interval < min {
            return Err(ConfigError::new(
                "interval",
                format!("{:?}", c.interval),
                format!("at least {min:?} (the shortest interval that gives a CPU figure)"),
            ));
        }
        if c.latency_probe_period < Duration::from_millis(1)
            || c.latency_probe_period > Duration::from_secs(1)
        {
            return Err(ConfigError::new(
                "latency_probe_period",
                format!("{:?}", c.latency_probe_period),
                "a duration from 1ms to 1s",
            ));
        }
        if c.latency_threshold.is_zero() {
            return Err(ConfigError::new(
                "latency_threshold",
                "0ns",
                "a duration above zero",
            ));
        }
        if let Some(l) = c.cpu_percent
            && !(l.value.is_finite() && l.value > 0.0)
        {
            return Err(ConfigError::new(
                "cpu_percent",
                l.value,
                "a percentage of one core above 0 (200 is two cores)",
            ));
        }
        if let Some(l) = c.error_rate
            && !(l.value.is_finite() && l.value > 0.0 && l.value <= 1.0)
        {
            return Err(ConfigError::new(
                "error_rate",
                l.value,
                "a ratio above 0 and at most 1",
            ));
        }
        if c.rss_bytes.is_some_and(|l| l.value == 0) {
            return Err(ConfigError::new(
                "rss_bytes",
                0,
                "a number of bytes above 0",
            ));
        }
        if c.drift_window < c.interval * 2 {
            return Err(ConfigError::new(
                "memory_drift.window",
                format!("{:?}", c.drift_window),
                format!("at least two intervals ({:?})", c.interval * 2),
            ));
        }
        if !(c.drift_limit_percent_per_hour.is_finite() && c.drift_limit_percent_per_hour > 0.0) {
            return Err(ConfigError::new(
                "memory_drift.percent_per_hour",
                c.drift_limit_percent_per_hour,
                "a percentage above 0",
            ));
        }
        Ok(self.config)
    }
}

/// A setting that cannot work, named with the value given and what is accepted.
#[doc(inline)]
pub use hardening_core::ConfigError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_name_their_field() {
        let b = MonitorConfig::builder;
        let field = |r: Result<MonitorConfig, ConfigError>| r.unwrap_err().field().to_string();
        assert!(b().build().is_ok());
        assert_eq!(
            field(b().interval(Duration::from_millis(10)).build()),
            "interval"
        );
        assert_eq!(
            field(b().latency_probe_period(Duration::ZERO).build()),
            "latency_probe_period"
        );
        assert_eq!(
            field(b().latency_threshold(Duration::ZERO).build()),
            "latency_threshold"
        );
        assert_eq!(
            field(b().cpu_percent(-1.0, Duration::ZERO).build()),
            "cpu_percent"
        );
        assert_eq!(
            field(b().error_rate(1.5, Duration::ZERO).build()),
            "error_rate"
        );
        assert_eq!(field(b().rss_bytes(0, Duration::ZERO).build()), "rss_bytes");
        assert_eq!(
            field(b().memory_drift(Duration::from_secs(1), 10.0).build()),
            "memory_drift.window"
        );
        assert_eq!(
            field(
                b().memory_drift(Duration::from_secs(3600), f64::NAN)
                    .build()
            ),
            "memory_drift.percent_per_hour"
        );
    }
}
