//! `stats()` publishes the same figures through the `metrics` facade.
#![cfg(feature = "metrics")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use hardening_resources::{ByteSize, NewResource, PoolConfig, Requirements, ResourceManager};
use hardening_testkit::MetricsSnapshot;
use metrics_util::debugging::DebuggingRecorder;

#[test]
fn stats_reach_the_metrics_facade() {
    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        let manager: ResourceManager<u8> = ResourceManager::builder().build().unwrap();
        manager
            .add_pool("gpu", PoolConfig::builder().build().unwrap(), None)
            .unwrap();
        for i in 0..3 {
            manager
                .add_resource("gpu", NewResource::new(i).memory(ByteSize::new(1_000)))
                .unwrap();
        }
        let _held = manager
            .try_request("gpu", "worker", &Requirements::new())
            .unwrap()
            .unwrap();
        let stats = manager.stats();
        assert_eq!((stats[0].ready, stats[0].busy), (2, 1));
    });
    let m = MetricsSnapshot::of(&recorder);
    let resources = |status| {
        m.gauge(
            "hardening_resources",
            &[("kind", "gpu"), ("status", status)],
        )
    };
    assert_eq!(resources("ready"), Some(2.0));
    assert_eq!(resources("busy"), Some(1.0));
    assert_eq!(resources("unavailable"), Some(0.0));
    assert_eq!(
        m.gauge("hardening_resource_waiters", &[("kind", "gpu")]),
        Some(0.0)
    );
    assert_eq!(
        m.gauge("hardening_resource_memory_bytes", &[("kind", "gpu")]),
        Some(3_000.0)
    );
}

/// The maintenance task publishes the pools' figures on its own, so the gauges stay current
/// when nothing reads `stats()`.
#[test]
fn maintenance_keeps_the_gauges_current() {
    let m = MetricsSnapshot::record_paused(async {
        let manager: ResourceManager<u8> = ResourceManager::builder().build().unwrap();
        manager
            .add_pool("cpu", PoolConfig::builder().build().unwrap(), None)
            .unwrap();
        manager.add_resource("cpu", NewResource::new(0)).unwrap();
        let maintenance = manager.spawn_maintenance(std::time::Duration::from_secs(1));
        let _held = manager
            .try_request("cpu", "worker", &Requirements::new())
            .unwrap()
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        maintenance.abort();
    });
    assert_eq!(
        m.gauge(
            "hardening_resources",
            &[("kind", "cpu"), ("status", "busy")]
        ),
        Some(1.0)
    );
}
