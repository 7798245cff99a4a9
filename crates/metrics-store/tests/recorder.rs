//! The recorder keeps history of what the facade records and fans out to Prometheus.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

#[cfg(feature = "tokio")]
use std::sync::Arc;
use std::time::Duration;

use hardening_metrics_store::{
    Function, PersistOptions, RELATIVE_ERROR, RangeQuery, Retention, Selector, SeriesKey,
    StoreRecorder,
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

/// The lines of a Prometheus text, sorted: the exporter's order of series is its map's.
fn sorted_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    lines.sort_unstable();
    lines
}

#[test]
fn the_prometheus_text_is_what_prometheus_alone_renders() {
    let behind = PrometheusBuilder::new().build_recorder();
    let handle = behind.handle();
    let recorder = StoreRecorder::new(Retention::default())
        .unwrap()
        .with_downstream(behind);
    let alone = PrometheusBuilder::new().build_recorder();
    let alone_handle = alone.handle();
    let record = || {
        metrics::describe_counter!("logins_total", metrics::Unit::Count, "Logins by method.");
        metrics::counter!("logins_total", "method" => "sso").increment(4);
        metrics::counter!("logins_total", "method" => "password").absolute(9);
        metrics::gauge!("sessions").increment(2.0);
        metrics::gauge!("sessions").decrement(0.5);
        for v in [0.25, 0.5, 0.125, 3.0] {
            metrics::histogram!("login_seconds", "method" => "sso").record(v);
        }
    };
    metrics::with_local_recorder(&recorder, record);
    metrics::with_local_recorder(&alone, record);
    recorder.sample(0);
    let text = handle.render();
    assert!(text.contains("logins_total{method=\"sso\"} 4"), "{text}");
    assert_eq!(sorted_lines(&text), sorted_lines(&alone_handle.render()));
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
        1.5
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

#[cfg(feature = "tokio")]
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

/// The snapshot as text and value, sorted by series.
fn snapshot(recorder: &StoreRecorder) -> Vec<(String, f64)> {
    recorder
        .snapshot()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

const HOUR: i64 = 3_600_000;

#[test]
fn series_the_downstream_keeps_stay_in_the_snapshot_and_the_store() {
    let prometheus = PrometheusBuilder::new().build_recorder();
    let handle = prometheus.handle();
    let recorder = StoreRecorder::new(Retention::default())
        .unwrap()
        .with_downstream(prometheus);
    // Through the macros, no handle kept: a gauge set once, a counter that goes quiet.
    metrics::with_local_recorder(&recorder, || {
        metrics::gauge!("pool_size").set(8.0);
        for _ in 0..5 {
            metrics::counter!("restarts_total").increment(1);
        }
    });
    // Two hours of sampling; idle_after_ms is one hour.
    for tick in 0..=720i64 {
        recorder.sample(tick * 10_000);
    }
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("restarts_total").increment(1);
    });
    recorder.sample(2 * HOUR + 10_000);
    assert_eq!(
        snapshot(&recorder),
        [
            ("pool_size".to_string(), 8.0),
            ("restarts_total".to_string(), 6.0)
        ]
    );
    let text = handle.render();
    assert!(text.contains("pool_size 8\n"), "{text}");
    assert!(text.contains("restarts_total 6\n"), "{text}");
    let store = recorder.store();
    assert_eq!(
        store.last(&SeriesKey::new("pool_size", [])).unwrap().value,
        8.0
    );
    let restarts = store.last(&SeriesKey::new("restarts_total", [])).unwrap();
    assert_eq!(
        (restarts.timestamp, restarts.value),
        (2 * HOUR + 10_000, 6.0)
    );
    assert_eq!(store.dropped().idle_series, 0);
}

#[test]
fn a_downstream_that_forgets_idle_series_is_followed() {
    let recorder = StoreRecorder::new(Retention::default())
        .unwrap()
        .with_downstream(PrometheusBuilder::new().build_recorder())
        .downstream_forgets_idle_after(Duration::from_secs(2 * 3_600));
    metrics::with_local_recorder(&recorder, || metrics::gauge!("pool_size").set(8.0));
    // Forgotten after two hours (the longer of the two), not after one.
    for tick in 0..=720i64 {
        recorder.sample(tick * 10_000);
    }
    assert_eq!(snapshot(&recorder).len(), 1);
    for tick in 721..=800i64 {
        recorder.sample(tick * 10_000);
    }
    assert!(snapshot(&recorder).is_empty());
    assert!(
        recorder
            .store()
            .last(&SeriesKey::new("pool_size", []))
            .is_some(),
        "history first"
    );
    recorder.sample(4 * HOUR);
    assert_eq!(recorder.store().series_count(), 0);
}

#[test]
fn registrations_past_the_series_cap_go_only_downstream_and_are_counted() {
    let prometheus = PrometheusBuilder::new().build_recorder();
    let handle = prometheus.handle();
    let recorder = StoreRecorder::new(Retention {
        max_series: 5,
        ..Retention::default()
    })
    .unwrap()
    .with_downstream(prometheus);
    for tick in 0..10i64 {
        metrics::with_local_recorder(&recorder, || {
            for user in 0..100 {
                let user = (tick * 100 + user).to_string();
                metrics::counter!("requests_total", "user" => user).increment(1);
            }
        });
        // No sampler for the first half: the registrations are bounded all the same.
        if tick >= 5 {
            recorder.sample(tick * 10_000);
        }
        assert_eq!(recorder.registered(), 5, "tick {tick}");
    }
    let stats = recorder.stats();
    assert_eq!(stats.dropped.registrations_over_series_cap, 995);
    assert_eq!(stats.series, 5);
    assert_eq!(snapshot(&recorder).len(), 5);
    let text = handle.render();
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("requests_total{"))
            .count(),
        1_000,
        "Prometheus still gets every series"
    );
}

#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn the_sampler_stamps_the_tick_it_was_due_at_when_it_wakes_late() {
    let recorder = Arc::new(StoreRecorder::new(Retention::default()).unwrap());
    let counter = metrics::with_local_recorder(&*recorder, || metrics::counter!("ticks_total"));
    let sampler = recorder.spawn_sampler(Duration::from_secs(10)).unwrap();
    let stored = |recorder: &StoreRecorder| {
        recorder
            .query_raw(&Selector::name("ticks_total"), i64::MIN, i64::MAX)
            .first()
            .map_or(0, |s| s.points.len())
    };
    let settle = |want: usize| {
        let recorder = Arc::clone(&recorder);
        async move {
            for _ in 0..1_000 {
                if stored(&recorder) >= want {
                    return;
                }
                tokio::task::yield_now().await;
            }
            panic!("the sampler did not take sample {want}");
        }
    };
    settle(1).await; // the first tick is due at the start
    for (n, late_ms) in [(2, 3), (3, 7), (4, 2_500)] {
        counter.increment(1);
        // Time moves past the tick while the runtime polls nothing: the sampler wakes
        // `late_ms` after its tick.
        tokio::time::advance(Duration::from_millis(10_000 + late_ms)).await;
        settle(n).await;
    }
    sampler.abort();
    let raw = recorder.query_raw(&Selector::name("ticks_total"), i64::MIN, i64::MAX);
    let stamps: Vec<i64> = raw[0].points.iter().map(|p| p.timestamp).collect();
    let gaps: Vec<i64> = stamps.windows(2).map(|w| w[1] - w[0]).collect();
    // Woken 3, 10 and 2,510 ms after the start of each ten seconds, stamped on the ticks.
    assert_eq!(gaps, [10_000, 10_000, 10_000], "{stamps:?}");
    let values: Vec<f64> = raw[0].points.iter().map(|p| p.value).collect();
    assert_eq!(values, [0.0, 1.0, 2.0, 3.0]);
}

#[cfg(feature = "tokio")]
#[test]
fn spawning_the_sampler_outside_a_runtime_is_an_error_not_a_panic() {
    let recorder = Arc::new(StoreRecorder::new(Retention::default()).unwrap());
    let err = recorder.spawn_sampler(Duration::from_secs(10)).unwrap_err();
    assert_eq!(err.field(), "runtime");
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

#[test]
fn history_survives_a_restart_after_a_stop_longer_than_idle_after() {
    let dir = std::env::temp_dir().join(format!(
        "hardening-recorder-long-stop-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let open = || {
        let (recorder, damaged) = StoreRecorder::new(Retention::default())
            .unwrap()
            .with_persistence(PersistOptions::builder(&dir).build().unwrap())
            .unwrap();
        assert!(damaged.is_empty(), "{damaged:?}");
        recorder
    };
    {
        let recorder = open();
        let jobs = metrics::with_local_recorder(&recorder, || metrics::counter!("jobs_total"));
        for tick in 1..=12i64 {
            jobs.increment(1);
            recorder.sample(tick * 10_000);
        }
        recorder.flush().unwrap();
    }
    // Back two hours later (idle_after_ms is one hour); something else records.
    let recorder = open();
    let other = metrics::with_local_recorder(&recorder, || metrics::counter!("other_total"));
    let restart = 2 * HOUR + 120_000;
    other.increment(1);
    recorder.sample(restart);
    let jobs = |recorder: &StoreRecorder| {
        recorder
            .query_raw(&Selector::name("jobs_total"), i64::MIN, i64::MAX)
            .first()
            .map_or(0, |s| s.points.len())
    };
    assert_eq!(jobs(&recorder), 12, "restored history outlives the stop");
    // Nothing records to it for idle_after_ms after the restart: then it goes.
    recorder.sample(restart + HOUR);
    assert_eq!(jobs(&recorder), 12);
    recorder.sample(restart + HOUR + 10_000);
    assert_eq!(jobs(&recorder), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn histogram_values_recorded_by_many_threads_are_all_sampled() {
    let recorder = StoreRecorder::new(Retention::default()).unwrap();
    let latency = metrics::with_local_recorder(&recorder, || metrics::histogram!("work_seconds"));
    std::thread::scope(|scope| {
        for t in 0..8u32 {
            let latency = latency.clone();
            scope.spawn(move || {
                for i in 0..1_000u32 {
                    latency.record(f64::from(t * 1_000 + i + 1) / 1_000.0);
                }
            });
        }
    });
    recorder.sample(10_000);
    let query = |f| {
        recorder
            .query(&RangeQuery::new(
                Selector::name("work_seconds"),
                10_000,
                10_000,
                10_000,
                f,
            ))
            .unwrap()[0]
            .points[0]
            .value
    };
    assert_eq!(query(Function::Count), 8_000.0);
    assert_eq!(query(Function::Max), 8.0);
    assert_eq!(query(Function::Min), 0.001);
    let p50 = query(Function::Quantile(0.5));
    assert!((p50 - 3.999).abs() <= 3.999 * RELATIVE_ERROR, "{p50}");
}
