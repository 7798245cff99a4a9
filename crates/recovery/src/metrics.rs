//! The crate's metrics, through the `metrics` facade.
//!
//! # Retry
//!
//! | name | kind | labels | Resilience4j counterpart |
//! |---|---|---|---|
//! | `hardening_retry_calls_total` | counter | `retry`, `kind` = `successful_without_retry` / `successful_with_retry` / `failed_with_retry` / `failed_without_retry` | `resilience4j_retry_calls_total{name, kind}`, the same four kinds |
//! | `hardening_retry_attempts_total` | counter | `retry` | (none: Resilience4j counts calls only) |
//! | `hardening_retry_retries_total` | counter | `retry` | (none) |
//! | `hardening_retry_stopped_total` | counter | `retry`, `reason` = `attempts` / `deadline` / `budget` / `not_retryable` / `rejected` | (none; `attempts` is Resilience4j's "retries exhausted", `budget` is the budget's rejections) |
//!
//! How a call is counted in `hardening_retry_calls_total`, as in Resilience4j: a call that
//! returns `Ok` and was accepted is `successful_*`; any other end (an error, or an `Ok` value
//! the result predicate still wanted retried when the retries ran out) is `failed_*`; `with`
//! or `without` says whether more than one attempt ran.
//!
//! # Recovery
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `hardening_recovery_recoveries_total` | counter | `service`, `outcome` = `recovered` / `exhausted` / `given_up` / `cancelled` |
//! | `hardening_recovery_actions_total` | counter | `service`, `action`, `outcome` = `succeeded` / `failed` / `not_up` / `timed_out` |
//! | `hardening_recovery_time_to_recover_seconds` | histogram | `service` |
//! | `hardening_recovery_running` | gauge | (none) |
//!
//! The mean time to recovery (MTTR) of a service is the histogram's `_sum` over its `_count`
//! (in PromQL, `rate(..._sum[1h]) / rate(..._count[1h])`); the
//! [`RecoveryManager::mean_time_to_recovery`](crate::RecoveryManager::mean_time_to_recovery)
//! method computes it from the kept history.
//!
//! Handles are registered when a policy or manager is built, so install your recorder first.

use metrics::{Counter, counter};

use crate::retry::StopReason;

/// Metric names, for dashboards and tests.
pub mod names {
    /// Retried calls by how they ended.
    pub const RETRY_CALLS: &str = "hardening_retry_calls_total";
    /// Attempts, first ones included.
    pub const RETRY_ATTEMPTS: &str = "hardening_retry_attempts_total";
    /// Retries: attempts after the first.
    pub const RETRY_RETRIES: &str = "hardening_retry_retries_total";
    /// Calls that stopped without a success, by reason.
    pub const RETRY_STOPPED: &str = "hardening_retry_stopped_total";
    /// Recoveries by outcome.
    pub const RECOVERIES: &str = "hardening_recovery_recoveries_total";
    /// Recovery actions by outcome.
    pub const RECOVERY_ACTIONS: &str = "hardening_recovery_actions_total";
    /// Time from a reported failure to a successful recovery.
    pub const TIME_TO_RECOVER: &str = "hardening_recovery_time_to_recover_seconds";
    /// Recoveries running now.
    pub const RECOVERIES_RUNNING: &str = "hardening_recovery_running";
}

#[derive(Debug)]
pub(crate) struct RetryHandles {
    successful_without_retry: Counter,
    successful_with_retry: Counter,
    failed_with_retry: Counter,
    failed_without_retry: Counter,
    attempts: Counter,
    retries: Counter,
    stopped: [Counter; 5],
}

impl RetryHandles {
    pub(crate) fn new(name: &str) -> Self {
        let retry = name.to_string();
        let calls = |kind: &'static str| counter!(names::RETRY_CALLS, "retry" => retry.clone(), "kind" => kind);
        RetryHandles {
            successful_without_retry: calls("successful_without_retry"),
            successful_with_retry: calls("successful_with_retry"),
            failed_with_retry: calls("failed_with_retry"),
            failed_without_retry: calls("failed_without_retry"),
            attempts: counter!(names::RETRY_ATTEMPTS, "retry" => retry.clone()),
            retries: counter!(names::RETRY_RETRIES, "retry" => retry.clone()),
            stopped: StopReason::ALL.map(|reason| {
                counter!(names::RETRY_STOPPED, "retry" => retry.clone(), "reason" => reason.as_str())
            }),
        }
    }

    #[inline]
    pub(crate) fn attempt(&self) {
        self.attempts.increment(1);
    }

    pub(crate) fn retry(&self) {
        self.retries.increment(1);
    }

    #[inline]
    pub(crate) fn succeeded(&self, attempts: u32) {
        if attempts > 1 {
            self.successful_with_retry.increment(1);
        } else {
            self.successful_without_retry.increment(1);
        }
    }

    pub(crate) fn stopped(&self, attempts: u32, reason: StopReason) {
        if attempts > 1 {
            self.failed_with_retry.increment(1);
        } else {
            self.failed_without_retry.increment(1);
        }
        if let Some(i) = StopReason::ALL.iter().position(|r| *r == reason) {
            self.stopped[i].increment(1);
        }
    }
}

pub(crate) fn recovery(service: &str, outcome: &crate::RecoveryOutcome) {
    counter!(names::RECOVERIES, "service" => service.to_string(), "outcome" => outcome.as_str())
        .increment(1);
}

pub(crate) fn action(service: &str, action: &str, outcome: crate::ActionOutcome) {
    counter!(
        names::RECOVERY_ACTIONS,
        "service" => service.to_string(),
        "action" => action.to_string(),
        "outcome" => outcome.as_str()
    )
    .increment(1);
}

pub(crate) fn time_to_recover(service: &str, duration: std::time::Duration) {
    metrics::histogram!(names::TIME_TO_RECOVER, "service" => service.to_string())
        .record(duration.as_secs_f64());
}

pub(crate) fn running(delta: f64) {
    metrics::gauge!(names::RECOVERIES_RUNNING).increment(delta);
}
