//! Turning the config's sections into each crate's own settings.
//!
//! The config reader has checked each setting's form; the crates' builders check what they
//! know best (how settings combine). Their errors name their own fields, which are mapped
//! back to the config key a user wrote, so an error always points into the file.

#![cfg_attr(
    not(any(
        feature = "error-recovery",
        feature = "health-monitoring",
        feature = "performance-monitoring",
        feature = "resource-management",
        feature = "metrics-store"
    )),
    allow(dead_code, reason = "nothing to assemble without a part compiled in")
)]

#[cfg(any(
    feature = "error-recovery",
    feature = "health-monitoring",
    feature = "performance-monitoring",
    feature = "resource-management"
))]
use std::time::Duration;

use crate::ConfigError;
use crate::config::read::join;

/// A crate's error under the config path `section`: its field mapped through `keys` (crate
/// field, config key), or else turned to camel case.
fn mapped(section: &str, keys: &[(&str, &str)], error: ConfigError) -> ConfigError {
    let key = keys
        .iter()
        .find(|(crate_field, _)| *crate_field == error.field())
        .map(|(_, key)| (*key).to_string())
        .unwrap_or_else(|| camel(error.field()));
    error.with_field(join(section, &key))
}

fn camel(field: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(any(
    feature = "error-recovery",
    feature = "health-monitoring",
    feature = "performance-monitoring",
    feature = "resource-management"
))]
fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

#[cfg(feature = "error-recovery")]
pub(crate) use recovery::*;

#[cfg(feature = "error-recovery")]
mod recovery {
    use super::{mapped, ms};
    use crate::ConfigError;
    use crate::breaker::{BreakerConfig, OpenDuration, SlidingWindow};
    use crate::config::{
        BreakerSettings, JitterKind, LadderSettings, RecoverySettings, RetrySettings,
        SlidingWindowType,
    };
    use crate::recovery::{
        Action, Backoff, Jitter, Ladder, Level, RecoveryManagerBuilder, Retry, RetryBudget,
    };

    const BREAKER_KEYS: &[(&str, &str)] = &[
        ("failure_rate_threshold", "failureRateThreshold"),
        ("slow_call_rate_threshold", "slowCallRateThreshold"),
        (
            "slow_call_duration_threshold",
            "slowCallDurationThresholdMs",
        ),
        ("sliding_window", "slidingWindowSize"),
        ("minimum_calls", "minimumNumberOfCalls"),
        (
            "permitted_calls_in_half_open",
            "permittedNumberOfCallsInHalfOpenState",
        ),
        ("max_wait_in_half_open", "maxWaitDurationInHalfOpenStateMs"),
        ("open_duration", "waitDurationInOpenStateMs"),
    ];

    /// A breaker's settings; `section` is where they were read (`breaker`, or
    /// `services.<name>.breaker`).
    pub(crate) fn breaker_config(
        s: &BreakerSettings,
        section: &str,
    ) -> Result<BreakerConfig, ConfigError> {
        let window = match s.sliding_window_type {
            SlidingWindowType::CountBased => SlidingWindow::count(s.sliding_window_size),
            SlidingWindowType::TimeBased => {
                SlidingWindow::seconds(u64::from(s.sliding_window_size))
            }
            SlidingWindowType::ConsecutiveFailures => {
                SlidingWindow::consecutive_failures(s.sliding_window_size)
            }
        };
        let wait = ms(s.wait_duration_in_open_state_ms);
        let open = if s.open_state_backoff_multiplier > 1.0 {
            let max = s
                .max_wait_duration_in_open_state_ms
                .map(ms)
                .unwrap_or(wait.saturating_mul(10));
            OpenDuration::exponential(wait, s.open_state_backoff_multiplier, max)
        } else {
            OpenDuration::constant(wait)
        };
        let half_open_calls = u16::try_from(s.permitted_number_of_calls_in_half_open_state)
            .map_err(|_| {
                ConfigError::new(
                    crate::config::read::join(section, "permittedNumberOfCallsInHalfOpenState"),
                    s.permitted_number_of_calls_in_half_open_state,
                    format!("at most {}", u16::MAX),
                )
            })?;
        let mut builder = BreakerConfig::builder()
            .failure_rate_threshold(s.failure_rate_threshold)
            .slow_call_rate_threshold(s.slow_call_rate_threshold)
            .sliding_window(window)
            .minimum_calls(s.minimum_number_of_calls)
            .permitted_calls_in_half_open(half_open_calls)
            .open_duration(open)
            .automatic_half_open(s.automatic_transition_from_open_to_half_open_enabled);
        if let Some(slow) = s.slow_call_duration_threshold_ms {
            builder = builder.slow_call_duration_threshold(ms(slow));
        }
        if let Some(wait) = s.max_wait_duration_in_half_open_state_ms {
            builder = builder.max_wait_in_half_open(ms(wait));
        }
        builder
            .build()
            .map_err(|e| mapped(section, BREAKER_KEYS, e))
    }

    /// The retry stage of service `name`'s pipeline.
    pub(crate) fn retry(s: &RetrySettings, name: &str) -> Result<Retry, ConfigError> {
        let initial = ms(s.wait_duration_ms);
        let max = ms(s.max_wait_duration_ms);
        let backoff = match s.jitter {
            JitterKind::Decorrelated => Backoff::decorrelated_jitter(initial, max),
            other => {
                Backoff::exponential(initial, s.backoff_multiplier, max).with_jitter(match other {
                    JitterKind::Full => Jitter::Full,
                    JitterKind::Equal => Jitter::Equal,
                    _ => Jitter::None,
                })
            }
        };
        let mut builder = Retry::builder(name)
            .max_attempts(s.max_attempts)
            .backoff(backoff);
        if let Some(deadline) = s.deadline_ms {
            builder = builder.deadline(ms(deadline));
        }
        // `attemptTimeoutMs` is the pipeline's timeout stage, inside the breaker, so that the
        // breaker counts a timed-out attempt (the system sets it there); a retry's own
        // attempt timeout would cut attempts outside the breaker.
        builder = if s.budget_enabled {
            let budget = RetryBudget::builder()
                .ratio(s.budget_ratio)
                .min_per_sec(s.budget_min_per_second)
                .build()
                .map_err(|e| {
                    mapped(
                        "retry",
                        &[
                            ("budget.ratio", "budgetRatio"),
                            ("budget.min_per_sec", "budgetMinPerSecond"),
                        ],
                        e,
                    )
                })?;
            builder.budget(budget)
        } else {
            builder.no_budget()
        };
        builder.build().map_err(|e| {
            mapped(
                "retry",
                &[
                    ("max_attempts", "maxAttempts"),
                    ("backoff.initial", "waitDurationMs"),
                    ("backoff.multiplier", "backoffMultiplier"),
                    ("backoff.max", "maxWaitDurationMs"),
                ],
                e,
            )
        })
    }

    /// The ladder the config names: lifecycle actions by their names, the rest passed to the
    /// service's `recover`.
    pub(crate) fn ladder(s: &LadderSettings) -> Ladder {
        let actions = |names: &[String]| -> Vec<Action> {
            names
                .iter()
                .map(|name| match name.as_str() {
                    "reinitialize" => Action::Reinitialize,
                    "restart" => Action::Restart,
                    other => Action::named(other),
                })
                .collect()
        };
        Ladder::new()
            .level(Level::Soft, actions(&s.soft))
            .level(Level::Medium, actions(&s.medium))
            .level(Level::Hard, actions(&s.hard))
            .level(Level::Emergency, actions(&s.emergency))
    }

    /// The recovery manager's settings, on top of `builder`.
    pub(crate) fn recovery_manager(
        s: &RecoverySettings,
        builder: RecoveryManagerBuilder,
    ) -> RecoveryManagerBuilder {
        builder
            .ladder(ladder(&s.ladder))
            .intensity(s.max_recoveries, ms(s.intensity_window_ms))
            .backoff(Backoff::exponential(
                ms(s.backoff_initial_ms),
                2.0,
                ms(s.backoff_max_ms),
            ))
            .stable_period(ms(s.stable_period_ms))
            .max_concurrent(s.max_concurrent as usize)
            .action_timeout(ms(s.action_timeout_ms))
            .history_capacity(s.history_capacity as usize)
    }

    /// A recovery manager's own error, under `recovery`.
    pub(crate) fn recovery_error(e: ConfigError) -> ConfigError {
        mapped(
            "recovery",
            &[
                ("ladder", "ladder"),
                ("max_recoveries", "maxRecoveries"),
                ("within", "intensityWindowMs"),
                ("backoff.initial", "backoffInitialMs"),
                ("backoff.max", "backoffMaxMs"),
                ("stable_period", "stablePeriodMs"),
                ("max_concurrent", "maxConcurrent"),
                ("action_timeout", "actionTimeoutMs"),
                ("history_capacity", "historyCapacity"),
            ],
            e,
        )
    }
}

/// The options of the system's own checks: the config's interval, timeout and thresholds.
#[cfg(feature = "health-monitoring")]
pub(crate) fn check_options(
    config: &crate::config::SystemHardeningConfig,
) -> Result<crate::health::CheckOptions, ConfigError> {
    let h = &config.health;
    crate::health::CheckOptions::builder()
        .interval(ms(config.health_check_interval_ms))
        .timeout(ms(h.check_timeout_ms))
        .failure_threshold(h.failure_threshold)
        .success_threshold(h.success_threshold)
        .build()
        .map_err(|e| {
            mapped(
                "health",
                &[
                    ("interval", "healthCheckIntervalMs"),
                    ("timeout", "checkTimeoutMs"),
                    ("failure_threshold", "failureThreshold"),
                    ("success_threshold", "successThreshold"),
                ],
                e,
            )
        })
}

/// The performance monitor's settings.
#[cfg(feature = "performance-monitoring")]
pub(crate) fn monitor_config(
    config: &crate::config::SystemHardeningConfig,
) -> Result<crate::perf::MonitorConfig, ConfigError> {
    let p = &config.performance;
    let hold = ms(p.hold_ms);
    let mut builder = crate::perf::MonitorConfig::builder()
        .interval(ms(config.performance_check_interval_ms))
        .latency_probe_period(ms(p.latency_probe_period_ms))
        .latency_threshold(ms(p.latency_threshold_ms))
        .memory_drift(
            ms(p.memory_drift_window_ms),
            p.memory_drift_percent_per_hour,
        );
    if let Some(cpu) = p.cpu_percent_limit {
        builder = builder.cpu_percent(cpu, hold);
    }
    if let Some(rss) = p.rss_limit {
        builder = builder.rss_bytes(rss.bytes(), hold);
    }
    if let Some(p99) = p.latency_p99_limit_ms {
        builder = builder.latency_p99(ms(p99), hold);
    }
    builder.build().map_err(|e| {
        let keys: &[(&str, &str)] = &[
            ("interval", "performanceCheckIntervalMs"),
            ("latency_probe_period", "performance.latencyProbePeriodMs"),
            ("latency_threshold", "performance.latencyThresholdMs"),
            ("cpu_percent", "performance.cpuPercentLimit"),
            ("rss_bytes", "performance.rssLimit"),
            ("memory_drift.window", "performance.memoryDriftWindowMs"),
            (
                "memory_drift.percent_per_hour",
                "performance.memoryDriftPercentPerHour",
            ),
        ];
        mapped("", keys, e)
    })
}

/// One resource pool's settings; `top` is the config's `maxResourceMemory`.
#[cfg(feature = "resource-management")]
pub(crate) fn pool_config(
    s: &crate::config::PoolSettings,
    top: Option<crate::config::ByteSize>,
    section: &str,
) -> Result<crate::resources::PoolConfig, ConfigError> {
    use crate::resources::{ByteSize, PoolConfig};
    let mut builder = PoolConfig::builder()
        .min(s.min as usize)
        .max(s.max as usize)
        .request_timeout(s.request_timeout_ms.map(ms));
    if let Some(idle) = s.idle_timeout_ms {
        builder = builder.idle_timeout(ms(idle));
    }
    if let Some(ttl) = s.lease_ttl_ms {
        builder = builder.lease_ttl(ms(ttl));
    }
    if let Some(limit) = s.max_resource_memory.or(top) {
        builder = builder.max_resource_memory(ByteSize::new(limit.bytes()));
    }
    builder.build().map_err(|e| {
        mapped(
            section,
            &[
                ("min", "min"),
                ("max", "max"),
                ("idle_timeout", "idleTimeoutMs"),
                ("lease_ttl", "leaseTtlMs"),
                ("request_timeout", "requestTimeoutMs"),
                ("max_resource_memory", "maxResourceMemory"),
            ],
            e,
        )
    })
}

/// The metrics store's retention.
#[cfg(feature = "metrics-store")]
pub(crate) fn retention(
    s: &crate::config::MetricsStoreSettings,
) -> Result<crate::metrics_store::Retention, ConfigError> {
    let retention = crate::metrics_store::Retention {
        max_age_ms: i64::try_from(s.retention_ms).unwrap_or(i64::MAX),
        max_bytes: usize::try_from(s.max_memory.bytes()).unwrap_or(usize::MAX),
        max_series: s.max_series as usize,
        ..crate::metrics_store::Retention::default()
    };
    retention.validate().map_err(|e| {
        mapped(
            "metricsStore",
            &[
                ("max_age_ms", "retentionMs"),
                ("max_bytes", "maxMemory"),
                ("max_series", "maxSeries"),
            ],
            e,
        )
    })?;
    Ok(retention)
}
