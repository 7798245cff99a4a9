//! Thresholds with hold durations, and drift detection, on synthetic samples in virtual time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::time::Duration;

use hardening_perf::{MonitorConfig, PerfEvent, PerformanceMetrics, Watched, Watchers};
use tokio::time::Instant;

fn sample(cpu: f64, rss: u64) -> PerformanceMetrics {
    let mut m = PerformanceMetrics::default();
    m.process.cpu_percent_of_core = cpu;
    m.process.rss_bytes = rss;
    m
}

#[tokio::test(start_paused = true)]
async fn cpu_must_stay_high_for_the_hold_before_an_event_and_low_for_the_recovery() {
    let config = MonitorConfig::builder()
        .interval(Duration::from_secs(1))
        .cpu_percent(80.0, Duration::from_secs(10))
        .build()
        .unwrap();
    let mut watchers = Watchers::new(&config);
    let mut events = Vec::new();
    let cpu = |second: u64| match second {
        0..5 => 95.0, // a 5 s burst: too short
        5..8 => 10.0,
        8..30 => 99.0, // sustained
        _ => 5.0,      // recovered
    };
    for second in 0..50u64 {
        let at = Instant::now();
        for event in watchers.observe(at, &mut sample(cpu(second), 1 << 30)) {
            events.push((second, event));
        }
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    assert_eq!(
        events,
        [
            (
                18,
                PerfEvent::ThresholdExceeded {
                    watched: Watched::Cpu,
                    value: 99.0,
                    limit: 80.0
                }
            ),
            (
                40,
                PerfEvent::ThresholdRecovered {
                    watched: Watched::Cpu,
                    value: 5.0,
                    limit: 80.0
                }
            ),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn steadily_growing_rss_is_reported_as_drift_and_flat_rss_is_not() {
    let config = MonitorConfig::builder()
        .interval(Duration::from_secs(60))
        .memory_drift(Duration::from_secs(3600), 10.0)
        .build()
        .unwrap();
    let mut leaking = Watchers::new(&config);
    let mut steady = Watchers::new(&config);
    let mut leak_events = Vec::new();
    let mut steady_events = Vec::new();
    for minute in 0..120u64 {
        let at = Instant::now();
        // 500 MB growing by 1 MB a minute (about 12% an hour) vs. 500 MB with noise.
        let noise = if minute % 2 == 0 { 2_000_000 } else { 0 };
        let mut grow = sample(10.0, 500_000_000 + minute * 1_000_000);
        let mut flat = sample(10.0, 500_000_000 + noise);
        leak_events.extend(leaking.observe(at, &mut grow));
        steady_events.extend(steady.observe(at, &mut flat));
        assert!(
            flat.rss_drift_percent_per_hour
                .is_none_or(|d| d.abs() < 2.0)
        );
        tokio::time::advance(Duration::from_secs(60)).await;
    }
    assert_eq!(steady_events, []);
    assert_eq!(leak_events.len(), 1, "{leak_events:?}");
    assert!(matches!(
        leak_events[0],
        PerfEvent::ThresholdExceeded { watched: Watched::RssDrift, value, limit: 10.0 } if value > 10.0
    ));
}

#[tokio::test(start_paused = true)]
async fn a_growing_heap_is_reported_as_heap_drift() {
    let config = MonitorConfig::builder()
        .interval(Duration::from_secs(60))
        .memory_drift(Duration::from_secs(3600), 10.0)
        .build()
        .unwrap();
    let mut watchers = Watchers::new(&config);
    let mut events = Vec::new();
    for minute in 0..60u64 {
        let mut m = sample(10.0, 500_000_000);
        m.heap = Some(hardening_perf::alloc::HeapStats {
            bytes_in_use: 100_000_000 + minute * 1_000_000,
            allocations: minute * 1_000,
        });
        events.extend(watchers.observe(Instant::now(), &mut m));
        if minute > 20 {
            assert!(m.heap_drift_percent_per_hour.unwrap() > 30.0);
        }
        tokio::time::advance(Duration::from_secs(60)).await;
    }
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(
        events[0],
        PerfEvent::ThresholdExceeded {
            watched: Watched::HeapDrift,
            ..
        }
    ));
}
