//! The latency probe against real blocking.
//!
//! These two tests measure wall-clock time on purpose: what the probe reports *is* how long the
//! runtime was really blocked, which virtual time cannot stand in for. They sleep only to block
//! the runtime they observe, and they are the only tests in this binary, so nothing else
//! competes for the runtime while they measure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::time::Duration;

use hardening_perf::LatencyProbe;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn a_runtime_blocked_for_100ms_is_reported_within_one_interval() {
    runtime().block_on(async {
        let probe = LatencyProbe::start(Duration::from_millis(10)).await;
        probe.take();
        // Block the only worker: the probe cannot run until this returns.
        tokio::task::spawn(async { std::thread::sleep(Duration::from_millis(100)) })
            .await
            .unwrap();
        // One reporting interval later.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let summary = probe.take().summary(Duration::from_millis(50));
        let p99 = summary.p99.as_secs_f64() * 1000.0;
        let max = summary.max.as_secs_f64() * 1000.0;
        // The probe's deadline fell somewhere in the blocked 100 ms, so it woke between 90 and
        // 100 ms late (its period is 10 ms); bucket error adds at most 1.6%.
        assert!((88.0..=112.0).contains(&p99), "p99 {p99} ms");
        assert!((88.0..=112.0).contains(&max), "max {max} ms");
        assert!(summary.count_over_threshold >= 1);
    });
}

#[test]
fn an_idle_runtime_reports_under_2ms() {
    runtime().block_on(async {
        let probe = LatencyProbe::start(Duration::from_millis(5)).await;
        probe.take();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let summary = probe.take().summary(Duration::from_millis(50));
        assert!(summary.count >= 20, "{} samples", summary.count);
        assert!(
            summary.p99 < Duration::from_millis(2),
            "p99 {:?}",
            summary.p99
        );
        assert!(probe.timer_floor() <= Duration::from_millis(2));
    });
}
