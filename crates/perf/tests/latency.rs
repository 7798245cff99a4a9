//! The latency probe against a blocked runtime, in virtual time.
//!
//! A blocked runtime is one where time passes and no task runs. `tokio::time::advance` is
//! exactly that under a paused clock: it moves the clock forward without polling anything, so
//! the probe's timer fires as late as a real block would make it, and the figures are exact.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::time::Duration;

use hardening_perf::LatencyProbe;

/// The histogram's relative bucket error (see `histogram.rs`), with room for rounding.
const BUCKET_ERROR: f64 = 0.016;

fn within_bucket_error(measured: Duration, expected: Duration) -> bool {
    let (m, e) = (measured.as_secs_f64(), expected.as_secs_f64());
    (m - e).abs() <= e * BUCKET_ERROR
}

#[tokio::test(start_paused = true)]
async fn a_runtime_blocked_for_100ms_is_reported_within_one_interval() {
    let probe = LatencyProbe::start(Duration::from_millis(10)).await;
    assert_eq!(probe.timer_floor(), Duration::ZERO);
    probe.take();
    // Let the probe task run once, so that it is asleep on its timer.
    tokio::task::yield_now().await;
    // The probe is asleep until 10 ms from now; 100 ms pass with nothing polled, so it wakes
    // 90 ms late.
    tokio::time::advance(Duration::from_millis(100)).await;
    // One reporting interval later: five more on-time wakes.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let summary = probe.take().summary(Duration::from_millis(50));
    assert!(
        within_bucket_error(summary.max, Duration::from_millis(90)),
        "max {:?}",
        summary.max
    );
    assert!(
        within_bucket_error(summary.p99, Duration::from_millis(90)),
        "p99 {:?}",
        summary.p99
    );
    assert_eq!(summary.count_over_threshold, 1);
    assert!(summary.count >= 5, "{} samples", summary.count);
}

#[tokio::test(start_paused = true)]
async fn an_idle_runtime_reports_no_lateness_and_one_sample_a_period() {
    let probe = LatencyProbe::start(Duration::from_millis(5)).await;
    probe.take();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let summary = probe.take().summary(Duration::from_millis(50));
    // 300 ms at one wake every 5 ms; the last may or may not have been recorded yet.
    assert!(
        (59..=60).contains(&summary.count),
        "{} samples",
        summary.count
    );
    assert_eq!(summary.p99, Duration::ZERO);
    assert_eq!(summary.max, Duration::ZERO);
    assert_eq!(summary.count_over_threshold, 0);
}

#[tokio::test(start_paused = true)]
async fn the_next_interval_starts_empty() {
    let probe = LatencyProbe::start(Duration::from_millis(10)).await;
    tokio::task::yield_now().await;
    tokio::time::advance(Duration::from_millis(40)).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(
        probe
            .take()
            .summary(Duration::from_millis(20))
            .count_over_threshold
            >= 1
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let next = probe.take().summary(Duration::from_millis(20));
    assert_eq!(next.count_over_threshold, 0);
    assert_eq!(next.max, Duration::ZERO);
}
