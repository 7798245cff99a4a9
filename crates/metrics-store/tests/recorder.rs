//! The recorder keeps history of what the facade records and fans out to Prometheus.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use hardening_metrics_store::{Retention, SeriesKey, StoreRecorder};
use metrics_exporter_prometheus::PrometheusBuilder;

#[test]
fn counters_and_gauges_are_sampled_into_the_store_at_the_callers_ticks() {
    let recorder = StoreRecorder::new(Retention::default()).unwrap();
    metrics::with_local_recorder(&recorder, || {
        let requests = metrics::counter!("requests_total", "route" => "/");
        let depth = metrics::gauge!("queue_depth");
        for tick in 0..5i64 {
            requests.increment(10);
            depth.set(tick as f64 * 1.5);
            recorder.sample(tick * 10_000);
        }
    });
    let store = recorder.store();
    let requests: Vec<(i64, f64)> = store
        .range(
            &SeriesKey::new("requests_total", [("route", "/")]),
            0,
            i64::MAX,
        )
        .iter()
        .map(|s| (s.timestamp, s.value))
        .collect();
    assert_eq!(
        requests,
        [
            (0, 10.0),
            (10_000, 20.0),
            (20_000, 30.0),
            (30_000, 40.0),
            (40_000, 50.0)
        ]
    );
    let depth = store.last(&SeriesKey::new("queue_depth", [])).unwrap();
    assert_eq!((depth.timestamp, depth.value), (40_000, 6.0));
}

#[test]
fn the_prometheus_text_keeps_working_beside_the_store() {
    let prometheus = PrometheusBuilder::new().build_recorder();
    let handle = prometheus.handle();
    let recorder = StoreRecorder::new(Retention::default())
        .unwrap()
        .with_downstream(prometheus);
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("logins_total", "method" => "sso").increment(4);
        metrics::gauge!("sessions").increment(2.0);
        metrics::histogram!("login_seconds").record(0.25);
    });
    recorder.sample(0);
    let text = handle.render();
    assert!(text.contains("logins_total{method=\"sso\"} 4"), "{text}");
    assert!(text.contains("sessions 2"), "{text}");
    assert!(text.contains("login_seconds"), "{text}");
    let store = recorder.store();
    assert_eq!(
        store
            .last(&SeriesKey::new("logins_total", [("method", "sso")]))
            .unwrap()
            .value,
        4.0
    );
    assert_eq!(
        store.last(&SeriesKey::new("sessions", [])).unwrap().value,
        2.0
    );
}

#[test]
fn a_snapshot_reads_current_values_without_sampling() {
    let recorder = StoreRecorder::new(Retention::default()).unwrap();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("b_total").increment(2);
        metrics::gauge!("a_level", "zone" => "x").set(-1.5);
    });
    let snapshot: Vec<(String, f64)> = recorder
        .snapshot()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(
        snapshot,
        [
            ("a_level{zone=\"x\"}".to_string(), -1.5),
            ("b_total".to_string(), 2.0)
        ]
    );
    assert_eq!(recorder.store().series_count(), 0, "nothing sampled yet");
}
