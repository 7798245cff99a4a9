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
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let operations = Operations::new();
    operations.time_sync("parse", || Ok::<_, ()>(())).unwrap();
    let config = MonitorConfig::builder().build().unwrap();
    let monitor = PerformanceMonitor::start(config, operations).await;
    let gauges: Vec<(String, Vec<String>, f64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Gauge(v) => Some((
                key.key().name().to_string(),
                key.key()
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect(),
                v.into_inner(),
            )),
            _ => None,
        })
        .collect();
    let find = |name: &str, label: Option<&str>| {
        gauges
            .iter()
            .find(|(n, labels, _)| n == name && label.is_none_or(|l| labels.iter().any(|x| x == l)))
            .map(|(_, _, v)| *v)
    };
    assert!(find("hardening_process_resident_memory_bytes", None).unwrap() > 0.0);
    assert_eq!(
        find("hardening_operation_calls", Some("operation=parse")),
        Some(1.0)
    );
    assert!(find("hardening_runtime_latency_seconds", Some("quantile=0.99")).is_some());
    monitor.stop().await;
}
