//! What the monitor records through the `metrics` facade.
#![cfg(feature = "metrics")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

mod support;

use std::time::Duration;

use hardening_health::metrics::names;
use hardening_health::{Group, HealthMonitor};
use hardening_testkit::MetricsSnapshot;
use metrics_util::debugging::DebuggingRecorder;
use support::{Script, Step, every};

#[test]
fn runs_statuses_and_group_health_are_recorded() {
    let recorder = DebuggingRecorder::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let monitor = HealthMonitor::builder()
                .check_arc(
                    "db:ping",
                    Script::new([Step::Pass, Step::Fail]),
                    every(1, [Group::Readiness]),
                )
                .build()
                .unwrap();
            tokio::time::sleep(Duration::from_millis(1500)).await;
            drop(monitor);
        });
    });
    // One snapshot: reading drains histograms.
    let m = MetricsSnapshot::of(&recorder);
    let counter = |status| m.counter(names::RUNS, &[("check", "db:ping"), ("status", status)]);
    assert_eq!(counter("pass"), Some(1));
    assert_eq!(counter("fail"), Some(1));
    assert_eq!(m.gauge(names::UP, &[("check", "db:ping")]), Some(0.0));
    let ready = |status| m.gauge(names::STATUS, &[("group", "ready"), ("status", status)]);
    assert_eq!(ready("unhealthy"), Some(1.0));
    assert_eq!(ready("healthy"), Some(0.0));
    assert_eq!(
        m.histogram(names::DURATION, &[("check", "db:ping")])
            .map(|s| s.len()),
        Some(2)
    );
}
