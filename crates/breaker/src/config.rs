//! Breaker settings, validated once when they are built.

use std::time::Duration;

use crate::backoff::OpenDuration;

/// What the breaker judges its thresholds over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlidingWindow {
    /// The last `n` calls (Resilience4j's `COUNT_BASED`).
    Count(u32),
    /// The calls of the last `n` whole seconds, kept in one-second buckets (Resilience4j's
    /// `TIME_BASED`).
    Time(Duration),
    /// Opens after `n` failures in a row; any success starts the count over (the model of
    /// `failsafe` and `recloser`'s simplest policy). Rate thresholds and the minimum number
    /// of calls do not apply in the closed state; the half-open probes are still judged by
    /// the failure-rate threshold.
    ConsecutiveFailures(u32),
}

impl SlidingWindow {
    /// The last `calls` calls.
    pub const fn count(calls: u32) -> Self {
        SlidingWindow::Count(calls)
    }

    /// The calls of the last `seconds` seconds.
    pub const fn seconds(seconds: u64) -> Self {
        SlidingWindow::Time(Duration::from_secs(seconds))
    }

    /// Opens after `failures` failures in a row.
    pub const fn consecutive_failures(failures: u32) -> Self {
        SlidingWindow::ConsecutiveFailures(failures)
    }
}

impl Default for SlidingWindow {
    /// The last 100 calls: Resilience4j's default.
    fn default() -> Self {
        SlidingWindow::Count(100)
    }
}

/// The largest count-based window, in calls: the window keeps two bits a call.
pub const MAX_COUNT_WINDOW: u32 = 1 << 24;
/// The longest time-based window, in seconds (one day): the window keeps a bucket a second.
pub const MAX_TIME_WINDOW_SECS: u64 = 86_400;

/// A breaker's validated settings. Build one with [`BreakerConfig::builder`]; the defaults are
/// Resilience4j's, except that slow-call timing is off until a threshold is set.
///
/// One config can be shared by many breakers (see [`Registry`](crate::Registry)).
#[derive(Debug, Clone)]
pub struct BreakerConfig {
    pub(crate) failure_rate_threshold: f64,
    pub(crate) slow_call_rate_threshold: f64,
    pub(crate) slow_call_duration_threshold: Option<Duration>,
    pub(crate) sliding_window: SlidingWindow,
    pub(crate) minimum_calls: u32,
    pub(crate) permitted_calls_in_half_open: u16,
    pub(crate) max_wait_in_half_open: Option<Duration>,
    pub(crate) open_duration: OpenDuration,
    pub(crate) automatic_half_open: bool,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_rate_threshold: 50.0,
            slow_call_rate_threshold: 100.0,
            slow_call_duration_threshold: None,
            sliding_window: SlidingWindow::default(),
            minimum_calls: 100,
            permitted_calls_in_half_open: 10,
            max_wait_in_half_open: None,
            open_duration: OpenDuration::default(),
            automatic_half_open: false,
        }
    }
}

impl BreakerConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> BreakerConfigBuilder {
        BreakerConfigBuilder {
            config: BreakerConfig::default(),
        }
    }

    /// The failure rate, in percent, at or above which the breaker opens.
    pub fn failure_rate_threshold(&self) -> f64 {
        self.failure_rate_threshold
    }
    /// The slow-call rate, in percent, at or above which the breaker opens.
    pub fn slow_call_rate_threshold(&self) -> f64 {
        self.slow_call_rate_threshold
    }
    /// Calls at least this long count as slow; `None` when calls are not timed.
    pub fn slow_call_duration_threshold(&self) -> Option<Duration> {
        self.slow_call_duration_threshold
    }
    /// What the thresholds are judged over.
    pub fn sliding_window(&self) -> SlidingWindow {
        self.sliding_window
    }
    /// Calls the window must hold before the rates are judged.
    pub fn minimum_calls(&self) -> u32 {
        self.minimum_calls
    }
    /// Probe calls admitted in the half-open state.
    pub fn permitted_calls_in_half_open(&self) -> u16 {
        self.permitted_calls_in_half_open
    }
    /// The longest the breaker waits in half-open for its probes before it opens again.
    pub fn max_wait_in_half_open(&self) -> Option<Duration> {
        self.max_wait_in_half_open
    }
    /// How long the breaker stays open.
    pub fn open_duration(&self) -> &OpenDuration {
        &self.open_duration
    }
    /// Whether an open breaker moves to half-open when its time is up, without waiting for a
    /// call.
    pub fn automatic_half_open(&self) -> bool {
        self.automatic_half_open
    }
}

/// Builds a [`BreakerConfig`]; [`build`](Self::build) checks every setting.
///
/// ```
/// use std::time::Duration;
/// use hardening_breaker::{BreakerConfig, SlidingWindow};
///
/// let config = BreakerConfig::builder()
///     .failure_rate_threshold(25.0)
///     .sliding_window(SlidingWindow::count(50))
///     .minimum_calls(20)
///     .slow_call_duration_threshold(Duration::from_millis(500))
///     .build()?;
/// assert_eq!(config.minimum_calls(), 20);
///
/// let err = BreakerConfig::builder().failure_rate_threshold(150.0).build().unwrap_err();
/// assert_eq!(err.field(), "failure_rate_threshold");
/// # Ok::<(), hardening_breaker::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct BreakerConfigBuilder {
    config: BreakerConfig,
}

impl BreakerConfigBuilder {
    /// The failure rate, in percent (0 < rate ≤ 100), at or above which the breaker opens.
    /// Default 50.
    pub fn failure_rate_threshold(mut self, percent: f64) -> Self {
        self.config.failure_rate_threshold = percent;
        self
    }

    /// The slow-call rate, in percent (0 < rate ≤ 100), at or above which the breaker opens.
    /// Default 100. Has an effect only with a slow-call duration threshold.
    pub fn slow_call_rate_threshold(mut self, percent: f64) -> Self {
        self.config.slow_call_rate_threshold = percent;
        self
    }

    /// Calls that take at least this long count as slow. Setting it turns on call timing
    /// (two clock reads a call). Default: off.
    pub fn slow_call_duration_threshold(mut self, threshold: Duration) -> Self {
        self.config.slow_call_duration_threshold = Some(threshold);
        self
    }

    /// What the thresholds are judged over. Default: the last 100 calls.
    pub fn sliding_window(mut self, window: SlidingWindow) -> Self {
        self.config.sliding_window = window;
        self
    }

    /// Calls the window must hold before rates are judged (at least 1; for a count window, at
    /// most its size). Default 100.
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.config.minimum_calls = calls;
        self
    }

    /// Probe calls admitted in the half-open state (at least 1). Default 10.
    pub fn permitted_calls_in_half_open(mut self, calls: u16) -> Self {
        self.config.permitted_calls_in_half_open = calls;
        self
    }

    /// The longest the breaker waits in half-open for its probes to finish before opening
    /// again. Default: no limit.
    pub fn max_wait_in_half_open(mut self, wait: Duration) -> Self {
        self.config.max_wait_in_half_open = Some(wait);
        self
    }

    /// How long the breaker stays open: a [`Duration`] for a constant, or any
    /// [`OpenDuration`]. Default 60 s.
    pub fn open_duration(mut self, duration: impl Into<OpenDuration>) -> Self {
        self.config.open_duration = duration.into();
        self
    }

    /// Move from open to half-open when the open duration ends, even with no call arriving.
    /// Default: off (the first call after the open duration moves it).
    pub fn automatic_half_open(mut self, enabled: bool) -> Self {
        self.config.automatic_half_open = enabled;
        self
    }

    /// Checks every setting and returns the config, or the first setting that is wrong.
    pub fn build(self) -> Result<BreakerConfig, ConfigError> {
        let c = &self.config;
        check_percent("failure_rate_threshold", c.failure_rate_threshold)?;
        check_percent("slow_call_rate_threshold", c.slow_call_rate_threshold)?;
        if c.slow_call_duration_threshold == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "slow_call_duration_threshold",
                "0ns",
                "a duration above zero (every call would be slow)",
            ));
        }
        match c.sliding_window {
            SlidingWindow::Count(n) => {
                if n == 0 || n > MAX_COUNT_WINDOW {
                    return Err(ConfigError::new(
                        "sliding_window",
                        format!("Count({n})"),
                        format!("a count between 1 and {MAX_COUNT_WINDOW} calls"),
                    ));
                }
                if c.minimum_calls > n {
                    return Err(ConfigError::new(
                        "minimum_calls",
                        c.minimum_calls,
                        format!(
                            "at most the count window's size ({n}); a larger minimum could never be reached"
                        ),
                    ));
                }
            }
            SlidingWindow::Time(duration) => {
                let secs = duration.as_secs();
                if secs == 0 || secs > MAX_TIME_WINDOW_SECS || duration.subsec_nanos() != 0 {
                    return Err(ConfigError::new(
                        "sliding_window",
                        format!("Time({duration:?})"),
                        format!("a whole number of seconds between 1 and {MAX_TIME_WINDOW_SECS}"),
                    ));
                }
            }
            SlidingWindow::ConsecutiveFailures(n) => {
                if n == 0 {
                    return Err(ConfigError::new(
                        "sliding_window",
                        "ConsecutiveFailures(0)",
                        "at least 1 failure",
                    ));
                }
            }
        }
        if c.minimum_calls == 0 {
            return Err(ConfigError::new("minimum_calls", 0, "at least 1 call"));
        }
        if c.permitted_calls_in_half_open == 0 {
            return Err(ConfigError::new(
                "permitted_calls_in_half_open",
                0,
                "at least 1 probe call",
            ));
        }
        if c.max_wait_in_half_open == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "max_wait_in_half_open",
                "0ns",
                "a duration above zero (leave it unset to wait without limit)",
            ));
        }
        if let OpenDuration::Exponential {
            initial,
            multiplier,
            max,
        } = &c.open_duration
        {
            if !(multiplier.is_finite() && *multiplier >= 1.0) {
                return Err(ConfigError::new(
                    "open_duration.multiplier",
                    multiplier,
                    "a finite number of at least 1.0",
                ));
            }
            if initial > max {
                return Err(ConfigError::new(
                    "open_duration.initial",
                    format!("{initial:?}"),
                    format!("at most open_duration.max ({max:?})"),
                ));
            }
        }
        Ok(self.config)
    }
}

fn check_percent(field: &'static str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value > 0.0 && value <= 100.0 {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            value,
            "a percentage above 0 and at most 100",
        ))
    }
}

/// A setting that cannot work, named with the value given and what is accepted.
///
/// ```
/// use hardening_breaker::{BreakerConfig, SlidingWindow};
///
/// let err = BreakerConfig::builder()
///     .sliding_window(SlidingWindow::count(0))
///     .build()
///     .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "sliding_window: Count(0) is not accepted; expected a count between 1 and 16777216 calls"
/// );
/// ```
#[doc(inline)]
pub use hardening_core::ConfigError;

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(builder: BreakerConfigBuilder) -> String {
        builder
            .build()
            .expect_err("config should be refused")
            .field()
            .to_string()
    }

    #[test]
    fn defaults_are_valid_and_match_resilience4j() {
        let config = BreakerConfig::builder().build().unwrap();
        assert_eq!(config.failure_rate_threshold(), 50.0);
        assert_eq!(config.slow_call_rate_threshold(), 100.0);
        assert_eq!(config.sliding_window(), SlidingWindow::Count(100));
        assert_eq!(config.minimum_calls(), 100);
        assert_eq!(config.permitted_calls_in_half_open(), 10);
        assert_eq!(
            config.open_duration().for_opening(1),
            Duration::from_secs(60)
        );
        assert!(!config.automatic_half_open());
    }

    #[test]
    fn every_bad_setting_names_its_field() {
        let b = BreakerConfig::builder;
        assert_eq!(
            field_of(b().failure_rate_threshold(0.0)),
            "failure_rate_threshold"
        );
        assert_eq!(
            field_of(b().failure_rate_threshold(100.5)),
            "failure_rate_threshold"
        );
        assert_eq!(
            field_of(b().failure_rate_threshold(f64::NAN)),
            "failure_rate_threshold"
        );
        assert_eq!(
            field_of(b().slow_call_rate_threshold(-1.0)),
            "slow_call_rate_threshold"
        );
        assert_eq!(
            field_of(b().slow_call_duration_threshold(Duration::ZERO)),
            "slow_call_duration_threshold"
        );
        assert_eq!(
            field_of(b().sliding_window(SlidingWindow::count(0))),
            "sliding_window"
        );
        assert_eq!(
            field_of(b().sliding_window(SlidingWindow::count(MAX_COUNT_WINDOW + 1))),
            "sliding_window"
        );
        assert_eq!(
            field_of(b().sliding_window(SlidingWindow::seconds(0))),
            "sliding_window"
        );
        assert_eq!(
            field_of(b().sliding_window(SlidingWindow::Time(Duration::from_millis(1500)))),
            "sliding_window"
        );
        assert_eq!(
            field_of(b().sliding_window(SlidingWindow::consecutive_failures(0))),
            "sliding_window"
        );
        assert_eq!(
            field_of(
                b().sliding_window(SlidingWindow::count(10))
                    .minimum_calls(11)
            ),
            "minimum_calls"
        );
        assert_eq!(field_of(b().minimum_calls(0)), "minimum_calls");
        assert_eq!(
            field_of(b().permitted_calls_in_half_open(0)),
            "permitted_calls_in_half_open"
        );
        assert_eq!(
            field_of(b().max_wait_in_half_open(Duration::ZERO)),
            "max_wait_in_half_open"
        );
        assert_eq!(
            field_of(b().open_duration(OpenDuration::exponential(
                Duration::from_secs(1),
                0.5,
                Duration::from_secs(10)
            ))),
            "open_duration.multiplier"
        );
        assert_eq!(
            field_of(b().open_duration(OpenDuration::exponential(
                Duration::from_secs(20),
                2.0,
                Duration::from_secs(10)
            ))),
            "open_duration.initial"
        );
    }

    #[test]
    fn error_message_names_value_and_accepted_forms() {
        let err = BreakerConfig::builder()
            .failure_rate_threshold(150.0)
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "failure_rate_threshold: 150 is not accepted; expected a percentage above 0 and at most 100"
        );
    }
}
