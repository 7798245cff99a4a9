//! The breaker's metrics, through the `metrics` facade.
//!
//! | name | kind | labels | Resilience4j counterpart |
//! |---|---|---|---|
//! | `hardening_breaker_calls_total` | counter | `breaker`, `outcome` = `success` / `failure` / `ignored` | `resilience4j_circuitbreaker_calls_seconds_count{kind}` |
//! | `hardening_breaker_slow_calls_total` | counter | `breaker`, `outcome` = `success` / `failure` | `resilience4j_circuitbreaker_slow_calls{kind}` |
//! | `hardening_breaker_not_permitted_calls_total` | counter | `breaker` | `resilience4j_circuitbreaker_not_permitted_calls_total` |
//! | `hardening_breaker_state` | gauge, 1 for the current state and 0 for the others | `breaker`, `state` | `resilience4j_circuitbreaker_state{state}` |
//! | `hardening_breaker_failure_rate` | gauge, percent; -1 until the minimum number of calls | `breaker` | `resilience4j_circuitbreaker_failure_rate` |
//! | `hardening_breaker_slow_call_rate` | gauge, percent; -1 until the minimum number of calls | `breaker` | `resilience4j_circuitbreaker_slow_call_rate` |
//! | `hardening_breaker_buffered_calls` | gauge | `breaker` | `resilience4j_circuitbreaker_buffered_calls` |
//! | `hardening_breaker_transitions_total` | counter | `breaker`, `from`, `to` | (events only) |
//!
//! Handles are registered when the breaker is built, so install your recorder first. Fast
//! successes, rejections and ignored calls reach the counters in per-thread batches of up to
//! 64 (see [`Breaker::flush_metrics`](crate::Breaker::flush_metrics)); everything else
//! immediately.

use metrics::{Counter, Gauge, counter, gauge};

use crate::State;
use crate::window::Tally;

/// Metric names, for dashboards and tests.
pub mod names {
    /// Calls by outcome.
    pub const CALLS: &str = "hardening_breaker_calls_total";
    /// Slow calls by outcome.
    pub const SLOW_CALLS: &str = "hardening_breaker_slow_calls_total";
    /// Rejected calls.
    pub const NOT_PERMITTED: &str = "hardening_breaker_not_permitted_calls_total";
    /// 1 for the current state, 0 for the others.
    pub const STATE: &str = "hardening_breaker_state";
    /// The window's failure rate in percent, -1 before the minimum number of calls.
    pub const FAILURE_RATE: &str = "hardening_breaker_failure_rate";
    /// The window's slow-call rate in percent, -1 before the minimum number of calls.
    pub const SLOW_CALL_RATE: &str = "hardening_breaker_slow_call_rate";
    /// Calls in the window.
    pub const BUFFERED_CALLS: &str = "hardening_breaker_buffered_calls";
    /// State transitions.
    pub const TRANSITIONS: &str = "hardening_breaker_transitions_total";
}

#[derive(Debug)]
pub(crate) struct Handles {
    name: Box<str>,
    success: Counter,
    failure: Counter,
    ignored: Counter,
    slow_success: Counter,
    slow_failure: Counter,
    not_permitted: Counter,
    state: [Gauge; 6],
    failure_rate: Gauge,
    slow_call_rate: Gauge,
    buffered: Gauge,
}

impl Handles {
    pub(crate) fn new(name: &str) -> Self {
        let breaker = name.to_string();
        let calls = |outcome: &'static str| counter!(names::CALLS, "breaker" => breaker.clone(), "outcome" => outcome);
        let slow = |outcome: &'static str| counter!(names::SLOW_CALLS, "breaker" => breaker.clone(), "outcome" => outcome);
        Handles {
            name: name.into(),
            success: calls("success"),
            failure: calls("failure"),
            ignored: calls("ignored"),
            slow_success: slow("success"),
            slow_failure: slow("failure"),
            not_permitted: counter!(names::NOT_PERMITTED, "breaker" => breaker.clone()),
            state: State::ALL.map(|state| {
                gauge!(names::STATE, "breaker" => breaker.clone(), "state" => state.as_str())
            }),
            failure_rate: gauge!(names::FAILURE_RATE, "breaker" => breaker.clone()),
            slow_call_rate: gauge!(names::SLOW_CALL_RATE, "breaker" => breaker.clone()),
            buffered: gauge!(names::BUFFERED_CALLS, "breaker" => breaker.clone()),
        }
    }

    pub(crate) fn calls(&self, failure: bool, slow: bool, count: u64) {
        let (calls, slow_calls) = if failure {
            (&self.failure, &self.slow_failure)
        } else {
            (&self.success, &self.slow_success)
        };
        calls.increment(count);
        if slow {
            slow_calls.increment(count);
        }
    }

    pub(crate) fn ignored(&self, count: u64) {
        self.ignored.increment(count);
    }

    pub(crate) fn not_permitted(&self, count: u64) {
        self.not_permitted.increment(count);
    }

    pub(crate) fn state(&self, current: State) {
        for (gauge, state) in self.state.iter().zip(State::ALL) {
            gauge.set(if state == current { 1.0 } else { 0.0 });
        }
    }

    pub(crate) fn window(&self, tally: &Tally, judged: bool) {
        let rate = |r: Option<f64>| if judged { r.unwrap_or(-1.0) } else { -1.0 };
        self.failure_rate.set(rate(tally.failure_rate()));
        self.slow_call_rate.set(rate(tally.slow_call_rate()));
        self.buffered.set(tally.calls as f64);
    }

    pub(crate) fn transition(&self, from: State, to: State) {
        counter!(
            names::TRANSITIONS,
            "breaker" => self.name.to_string(),
            "from" => from.as_str(),
            "to" => to.as_str()
        )
        .increment(1);
    }
}
