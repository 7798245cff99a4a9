//! What the breaker records through the `metrics` facade, by name and label.
#![cfg(feature = "metrics")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::time::Duration;

use hardening_breaker::metrics::names;
use hardening_breaker::{Breaker, BreakerConfig, ManualClock, SlidingWindow, State};
use hardening_testkit::MetricsSnapshot;
use metrics_util::debugging::DebuggingRecorder;

#[test]
fn calls_rejections_state_and_rates_are_recorded_with_documented_names() {
    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        let clock = ManualClock::new();
        let breaker = Breaker::builder("db")
            .config(
                BreakerConfig::builder()
                    .sliding_window(SlidingWindow::count(4))
                    .minimum_calls(4)
                    .slow_call_duration_threshold(Duration::from_secs(1))
                    .build()
                    .unwrap(),
            )
            .clock(clock.clone())
            .build();
        breaker.call(|| Ok::<_, ()>(())).unwrap();
        let permit = breaker.try_acquire().unwrap();
        clock.advance(Duration::from_secs(2));
        permit.success(); // slow
        let _ = breaker.call(|| Err::<(), _>(()));
        let _ = breaker.call(|| Err::<(), _>(()));
        // 2 of 4 failed: open.
        assert_eq!(breaker.state(), State::Open);
        let _ = breaker.call(|| Ok::<_, ()>(()));
        breaker.flush_metrics();

        let m = MetricsSnapshot::of(&recorder);
        let counter = |name: &str, labels: &[(&str, &str)]| {
            m.counter(name, labels)
                .unwrap_or_else(|| panic!("no counter {name} {labels:?}"))
        };
        let gauge = |name: &str, labels: &[(&str, &str)]| {
            m.gauge(name, labels)
                .unwrap_or_else(|| panic!("no gauge {name} {labels:?}"))
        };
        let db = ("breaker", "db");
        assert_eq!(counter(names::CALLS, &[db, ("outcome", "success")]), 2);
        assert_eq!(counter(names::CALLS, &[db, ("outcome", "failure")]), 2);
        assert_eq!(counter(names::SLOW_CALLS, &[db, ("outcome", "success")]), 1);
        assert_eq!(counter(names::NOT_PERMITTED, &[db]), 1);
        assert_eq!(
            counter(
                names::TRANSITIONS,
                &[db, ("from", "closed"), ("to", "open")]
            ),
            1
        );
        assert_eq!(gauge(names::STATE, &[db, ("state", "open")]), 1.0);
        assert_eq!(gauge(names::STATE, &[db, ("state", "closed")]), 0.0);
        assert_eq!(gauge(names::FAILURE_RATE, &[db]), 50.0);
        assert_eq!(gauge(names::SLOW_CALL_RATE, &[db]), 25.0);
        assert_eq!(gauge(names::BUFFERED_CALLS, &[db]), 4.0);
    });
}

#[test]
fn batched_successes_reach_the_counters_on_flush() {
    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        let breaker = Breaker::new(
            "api",
            BreakerConfig::builder()
                .sliding_window(SlidingWindow::count(10))
                .minimum_calls(1)
                .build()
                .unwrap(),
        );
        for _ in 0..1_000 {
            breaker.call(|| Ok::<_, ()>(())).unwrap();
        }
        breaker.flush_metrics();
        let m = MetricsSnapshot::of(&recorder);
        assert_eq!(
            m.counter(names::CALLS, &[("breaker", "api"), ("outcome", "success")]),
            Some(1_000)
        );
    });
}
