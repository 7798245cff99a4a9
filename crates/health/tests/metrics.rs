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
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use support::{Script, Step, every};

type Entry = (
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
);

fn value<'a>(snapshot: &'a [Entry], name: &str, labels: &[(&str, &str)]) -> Option<&'a DebugValue> {
    snapshot
        .iter()
        .find(|(key, _, _, _)| {
            let key = key.key();
            key.name() == name
                && labels
                    .iter()
                    .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
        })
        .map(|(_, _, _, value)| value)
}

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
    let snapshot = recorder.snapshotter().snapshot().into_vec();
    let recorder = &snapshot;
    let counter = |status| {
        value(
            recorder,
            names::RUNS,
            &[("check", "db:ping"), ("status", status)],
        )
    };
    assert_eq!(counter("pass"), Some(&DebugValue::Counter(1)));
    assert_eq!(counter("fail"), Some(&DebugValue::Counter(1)));
    assert_eq!(
        value(recorder, names::UP, &[("check", "db:ping")]),
        Some(&DebugValue::Gauge(0.0.into()))
    );
    let ready = |status| {
        value(
            recorder,
            names::STATUS,
            &[("group", "ready"), ("status", status)],
        )
    };
    assert_eq!(ready("unhealthy"), Some(&DebugValue::Gauge(1.0.into())));
    assert_eq!(ready("healthy"), Some(&DebugValue::Gauge(0.0.into())));
    match value(recorder, names::DURATION, &[("check", "db:ping")]) {
        Some(DebugValue::Histogram(samples)) => assert_eq!(samples.len(), 2),
        other => panic!("{other:?}"),
    }
}
