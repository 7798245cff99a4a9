//! The recorder keeps history of what the facade records and fans out to Prometheus.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::sync::Arc;
use std::time::Duration;

use hardening_metrics_store::{
    Function, RELATIVE_ERROR, RangeQuery, Retention, Selector, SeriesKey, StoreRecorder,
};
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

#[test]
fn histograms_are_sampled_as_one_sketch_per_interval() {
    let recorder = StoreRecorder::new(Retention::default()).unwrap();
    let mut all = Vec::new();
    metrics::with_local_recorder(&recorder, || {
        let latency = metrics::histogram!("rpc_seconds", "method" => "get");
        for tick in 1..=6i64 {
            for j in 0..100 {
                let v = (tick * 100 + j) as f64 / 1000.0;
                latency.record(v);
                all.push(v);
            }
            recorder.sample(tick * 10_000);
        }
    });
    let q = RangeQuery::new(
        r#"rpc_seconds{method="get"}"#.parse().unwrap(),
        60_000,
        60_000,
        60_000,
        Function::Quantile(0.99),
    );
    let p99 = recorder.query(&q).unwrap()[0].points[0].value;
    all.sort_by(f64::total_cmp);
    let exact = all[(0.99 * (all.len() - 1) as f64).floor() as usize];
    assert!(
        (p99 - exact).abs() <= exact * RELATIVE_ERROR,
        "{p99} vs {exact}"
    );
    let count = RangeQuery::new(
        Selector::name("rpc_seconds"),
        60_000,
        60_000,
        60_000,
        Function::Count,
    );
    assert_eq!(recorder.query(&count).unwrap()[0].points[0].value, 600.0);
}

#[test]
fn idle_series_are_forgotten_once_nobody_holds_them() {
    let recorder = StoreRecorder::new(Retention {
        idle_after_ms: 60_000,
        ..Retention::default()
    })
    .unwrap();
    // One request per user id: label values that come and go, with no handle kept.
    metrics::with_local_recorder(&recorder, || {
        for user in 0..100 {
            metrics::counter!("requests_total", "user" => user.to_string()).increment(1);
        }
    });
    let held = metrics::with_local_recorder(&recorder, || metrics::gauge!("held"));
    held.set(1.0);
    for tick in 0..=20i64 {
        recorder.sample(tick * 10_000);
    }
    assert_eq!(
        recorder.snapshot().len(),
        1,
        "only the held gauge is remembered"
    );
    assert_eq!(
        recorder.store().series_count(),
        1,
        "the store evicted the rest"
    );
    assert!(recorder.store().dropped().idle_series >= 100);
    // The held one comes back to life when it changes.
    held.set(2.0);
    recorder.sample(300_000);
    assert_eq!(
        recorder
            .store()
            .last(&SeriesKey::new("held", []))
            .unwrap()
            .value,
        2.0
    );
}

#[tokio::test(start_paused = true)]
async fn the_sampler_ticks_on_tokio_time() {
    let recorder = Arc::new(StoreRecorder::new(Retention::default()).unwrap());
    let counter = metrics::with_local_recorder(&*recorder, || metrics::counter!("ticks_total"));
    assert_eq!(
        recorder.spawn_sampler(Duration::ZERO).unwrap_err().field(),
        "interval"
    );
    let sampler = recorder.spawn_sampler(Duration::from_secs(10)).unwrap();
    for _ in 0..6 {
        counter.increment(1);
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    sampler.abort();
    let raw = recorder.query_raw(&Selector::name("ticks_total"), i64::MIN, i64::MAX);
    let samples = &raw[0].points;
    assert!(samples.len() >= 6, "{samples:?}");
    // Regular ticks, 10 s apart, on the paused clock.
    assert!(
        samples
            .windows(2)
            .all(|w| w[1].timestamp - w[0].timestamp == 10_000)
    );
    assert_eq!(samples.last().unwrap().value, 6.0);
}

#[test]
fn history_survives_restarts_without_duplicates() {
    use hardening_metrics_store::PersistOptions;
    let dir = std::env::temp_dir().join(format!(
        "hardening-recorder-restarts-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let retention = || Retention {
        chunk_samples: 8,
        ..Retention::default()
    };
    let mut expected = Vec::new();
    let mut tick = 0i64;
    for run in 0..3 {
        let (recorder, damaged) = StoreRecorder::new(retention())
            .unwrap()
            .with_persistence(PersistOptions::builder(&dir).build().unwrap())
            .unwrap();
        assert!(damaged.is_empty(), "run {run}: {damaged:?}");
        // Everything sampled by earlier runs is back, once.
        let back = recorder.query_raw(&Selector::name("jobs_total"), i64::MIN, i64::MAX);
        let back: Vec<(i64, f64)> = back
            .first()
            .map(|s| s.points.iter().map(|p| (p.timestamp, p.value)).collect())
            .unwrap_or_default();
        assert_eq!(back, expected, "run {run}");
        let jobs = metrics::with_local_recorder(&recorder, || metrics::counter!("jobs_total"));
        for _ in 0..13 {
            jobs.increment(2);
            tick += 1;
            recorder.sample(tick * 10_000);
            expected.push((tick * 10_000, f64::from(2 * (tick as u32 - 13 * run))));
        }
        // 13 samples with 8 a chunk: one chunk closed and written while sampling, the
        // open rest written by the graceful flush.
        recorder.flush().unwrap();
        assert_eq!(recorder.persistence_failures(), 0);
        assert_eq!(recorder.last_persistence_error(), None);
    }
    // The minute tier was rebuilt from what was read back.
    let (recorder, _) = StoreRecorder::new(retention())
        .unwrap()
        .with_persistence(PersistOptions::builder(&dir).build().unwrap())
        .unwrap();
    let minutes =
        recorder
            .store()
            .aggregates(&SeriesKey::new("jobs_total", []), 0, i64::MIN, i64::MAX);
    assert_eq!(minutes.iter().map(|a| a.count).sum::<u64>(), 39);
    let _ = std::fs::remove_dir_all(&dir);
}
