//! The sampling loop, in virtual time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::time::Duration;

use hardening_perf::{MonitorConfig, Operations, PerformanceMonitor};

#[tokio::test(start_paused = true)]
async fn publishes_a_sample_every_interval_with_operations_and_stops_cleanly() {
    let operations = Operations::new();
    let config = MonitorConfig::builder()
        .interval(Duration::from_secs(5))
        .build()
        .unwrap();
    let monitor = PerformanceMonitor::start(config, operations.clone()).await;
    let mut samples = monitor.watch();
    let first = monitor.latest();
    assert!(first.process.rss_bytes > 0);
    assert_eq!(first.runtime.workers, 1);

    let _: Result<(), ()> = operations
        .time("load", async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok(())
        })
        .await;
    let before = tokio::time::Instant::now();
    samples.changed().await.unwrap();
    let waited = tokio::time::Instant::now() - before;
    assert!(waited <= Duration::from_secs(5), "{waited:?}");
    let second = samples.borrow_and_update().clone();
    assert_eq!(second.operations.len(), 1);
    assert_eq!(second.operations[0].name, "load");
    assert_eq!(second.operations[0].latency.max, Duration::from_millis(30));
    // Virtual time never makes the probe late.
    assert_eq!(second.latency.max, Duration::ZERO);
    let json = serde_json::to_value(&*second).unwrap();
    assert!(json["process"]["rssBytes"].as_u64().unwrap() > 0);
    assert_eq!(json["operations"][0]["latency"]["max"], 30.0);

    monitor.stop().await;
    assert!(samples.changed().await.is_err(), "the loop ended");
}

#[cfg(feature = "metrics")]
#[tokio::test(start_paused = true)]
async fn every_sample_reaches_the_metrics_facade() {
    use hardening_testkit::MetricsSnapshot;
    use metrics_util::debugging::DebuggingRecorder;

    let recorder = DebuggingRecorder::new();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let operations = Operations::new();
    operations.time_sync("parse", || Ok::<_, ()>(())).unwrap();
    let config = MonitorConfig::builder().build().unwrap();
    let monitor = PerformanceMonitor::start(config, operations).await;
    let m = MetricsSnapshot::of(&recorder);
    assert!(
        m.gauge("hardening_process_resident_memory_bytes", &[])
            .unwrap()
            > 0.0
    );
    assert_eq!(
        m.gauge("hardening_operation_calls", &[("operation", "parse")]),
        Some(1.0)
    );
    assert!(
        m.gauge("hardening_runtime_latency_seconds", &[("quantile", "0.99")])
            .is_some()
    );
    monitor.stop().await;
}
