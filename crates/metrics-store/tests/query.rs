//! Every query function against a plain reference computation over the samples inserted,
//! through raw samples and through the downsampled tiers; matchers; aggregation across
//! series; errors that name the part of the query at fault; serde.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use hardening_metrics_store::{
    Aggregation, Function, RELATIVE_ERROR, RangeQuery, Retention, Sample, Selector, SeriesKey,
    Sketch, Store, Tier,
};
use proptest::prelude::*;

const MINUTE: i64 = 60_000;

/// The reference: the function over the samples with `t - w < timestamp <= t`, straight from
/// its definition in the query module's docs. A sample's predecessor, for `increase` and
/// `rate`, is the sample before it in timestamp order, however far back (of equal timestamps,
/// the one appended earlier).
fn reference(all: &[Sample], t: i64, w: i64, f: Function) -> Option<f64> {
    let mut sorted = all.to_vec();
    sorted.sort_by_key(|s| s.timestamp);
    let idx: Vec<usize> = (0..sorted.len())
        .filter(|&i| i128::from(sorted[i].timestamp) > i128::from(t) - i128::from(w))
        .filter(|&i| sorted[i].timestamp <= t)
        .collect();
    if idx.is_empty() {
        return None;
    }
    let vals: Vec<f64> = idx.iter().map(|&i| sorted[i].value).collect();
    let n = vals.len() as f64;
    Some(match f {
        Function::Avg => vals.iter().sum::<f64>() / n,
        Function::Min => vals.iter().copied().fold(f64::INFINITY, f64::min),
        Function::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Function::Sum => vals.iter().sum(),
        Function::Count => n,
        Function::Last => *vals.last().unwrap(),
        Function::Increase | Function::Rate => {
            let mut inc = 0.0;
            for &i in &idx {
                if i > 0 {
                    let (p, v) = (sorted[i - 1].value, sorted[i].value);
                    inc += if v >= p { v - p } else { v };
                }
            }
            if f == Function::Rate {
                inc / (w as f64 / 1000.0)
            } else {
                inc
            }
        }
        Function::Quantile(q) => {
            let mut v = vals.clone();
            v.sort_by(f64::total_cmp);
            v[(q * (v.len() - 1) as f64).floor() as usize]
        }
    })
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn check(store: &Store, samples: &[Sample], q: &RangeQuery) {
    let w = q.window.unwrap_or(q.step);
    let result = store.query(q).unwrap();
    let got = result.first().map(|s| s.points.clone()).unwrap_or_default();
    let mut expected = Vec::new();
    let mut t = q.from;
    while t <= q.to {
        if let Some(v) = reference(samples, t, w, q.function) {
            expected.push((t, v));
        }
        t += q.step;
    }
    assert_eq!(got.len(), expected.len(), "{q:?}: {got:?} vs {expected:?}");
    for (g, (t, v)) in got.iter().zip(&expected) {
        assert_eq!(g.timestamp, *t);
        assert!(
            close(g.value, *v),
            "{} at {t}: {} vs {v}",
            q.function,
            g.value
        );
    }
}

/// A counter with resets and a gauge, sampled every 10 s with jitter, for two hours.
fn series(seed: u64) -> (Vec<Sample>, Vec<Sample>) {
    let mut rng = seed;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut counter = Vec::new();
    let mut gauge = Vec::new();
    let mut c = 0.0;
    for i in 0..720i64 {
        let t = i * 10_000 + (next() % 3_000) as i64;
        c = if next() % 97 == 0 {
            0.0
        } else {
            c + (next() % 50) as f64
        };
        counter.push(Sample {
            timestamp: t,
            value: c,
        });
        gauge.push(Sample {
            timestamp: t,
            value: (next() % 10_000) as f64 / 7.0 - 300.0,
        });
    }
    (counter, gauge)
}

const FUNCTIONS: [Function; 9] = [
    Function::Avg,
    Function::Min,
    Function::Max,
    Function::Sum,
    Function::Count,
    Function::Last,
    Function::Rate,
    Function::Increase,
    Function::Quantile(0.9),
];

#[test]
fn every_function_matches_the_reference_through_raw_samples_and_through_tiers() {
    for seed in [1u64, 7, 42] {
        let (counter, gauge) = series(seed);
        let mut store = Store::new(Retention::default()).unwrap();
        let (ck, gk) = (SeriesKey::new("c", []), SeriesKey::new("g", []));
        for (c, g) in counter.iter().zip(&gauge) {
            store.insert(&ck, *c);
            store.insert(&gk, *g);
        }
        for f in FUNCTIONS {
            for (name, samples) in [("c", &counter), ("g", &gauge)] {
                // Unaligned: raw samples answer.
                check(
                    &store,
                    samples,
                    &RangeQuery::new(Selector::name(name), 35_000, 7_000_000, 45_000, f),
                );
                check(
                    &store,
                    samples,
                    &RangeQuery::new(Selector::name(name), 1_000, 7_000_000, 30_000, f)
                        .window(90_000),
                );
                // Aligned to the minute tier (and the hour tier for the last): tiers answer,
                // with the same figures.
                check(
                    &store,
                    samples,
                    &RangeQuery::new(Selector::name(name), MINUTE, 7_200_000, MINUTE, f),
                );
                check(
                    &store,
                    samples,
                    &RangeQuery::new(Selector::name(name), 0, 7_200_000, 5 * MINUTE, f)
                        .window(10 * MINUTE),
                );
                check(
                    &store,
                    samples,
                    &RangeQuery::new(Selector::name(name), 3_600_000, 7_200_000, 3_600_000, f),
                );
            }
        }
    }
}

#[test]
fn tiers_answer_for_ranges_the_raw_samples_no_longer_hold() {
    let mut store = Store::new(Retention {
        max_age_ms: 10 * MINUTE,
        chunk_samples: 30,
        ..Retention::default()
    })
    .unwrap();
    let k = SeriesKey::new("requests_total", []);
    let samples: Vec<Sample> = (0..=360)
        .map(|i| Sample {
            timestamp: i * 10_000,
            value: (i * 5) as f64,
        })
        .collect();
    for s in &samples {
        store.insert(&k, *s);
    }
    assert!(
        store.range(&k, 0, MINUTE).is_empty(),
        "the first minute's raw samples are gone"
    );
    assert!(store.dropped().chunks_by_age > 0);
    // Every minute still has its increase from the tier: 6 samples × 5.
    let q = RangeQuery::new(
        Selector::name("requests_total"),
        MINUTE,
        60 * MINUTE,
        MINUTE,
        Function::Increase,
    );
    let points = &store.query(&q).unwrap()[0].points;
    assert_eq!(points.len(), 60);
    assert!(points.iter().all(|p| p.value == 30.0), "{points:?}");
    check(&store, &samples, &q);
    // An unaligned step needs raw samples: only the last ten minutes answer.
    let raw = RangeQuery::new(
        Selector::name("requests_total"),
        30_000,
        3_600_000,
        45_000,
        Function::Increase,
    );
    let points = &store.query(&raw).unwrap()[0].points;
    assert!(
        points[0].timestamp >= 3_600_000 - 11 * MINUTE,
        "{:?}",
        points[0]
    );
}

#[test]
fn downsampled_tiers_keep_min_max_sum_count_last_and_increase() {
    let mut store = Store::new(Retention {
        tiers: vec![
            Tier {
                resolution_ms: MINUTE,
                max_age_ms: 24 * 3_600_000,
            },
            Tier {
                resolution_ms: 3_600_000,
                max_age_ms: 30 * 24 * 3_600_000,
            },
        ],
        ..Retention::default()
    })
    .unwrap();
    let k = SeriesKey::new("g", []);
    let (counter, _) = series(3);
    for s in &counter {
        store.insert(&k, *s);
    }
    for (tier, res) in [(0usize, MINUTE), (1, 3_600_000)] {
        let aggs = store.aggregates(&k, tier, i64::MIN, i64::MAX);
        for (i, a) in aggs.iter().enumerate() {
            let inside: Vec<&Sample> = counter
                .iter()
                .filter(|s| s.timestamp > a.end - res && s.timestamp <= a.end)
                .collect();
            assert_eq!(a.count as usize, inside.len());
            assert_eq!(
                a.min,
                inside.iter().map(|s| s.value).fold(f64::INFINITY, f64::min)
            );
            assert_eq!(
                a.max,
                inside
                    .iter()
                    .map(|s| s.value)
                    .fold(f64::NEG_INFINITY, f64::max)
            );
            assert!(close(a.sum, inside.iter().map(|s| s.value).sum()));
            assert_eq!(a.last, inside.last().unwrap().value);
            if i > 0 {
                let inc = reference(&counter, a.end, res, Function::Increase).unwrap();
                assert!(close(a.increase, inc), "tier {tier} at {}", a.end);
            }
        }
        assert_eq!(
            aggs.iter().map(|a| a.count).sum::<u64>(),
            counter.len() as u64
        );
    }
}

#[test]
fn a_regular_tier_costs_a_fraction_of_its_raw_samples() {
    let mut store = Store::new(Retention::default()).unwrap();
    let k = SeriesKey::new("c", []);
    for i in 0..8_640i64 {
        store.insert(
            &k,
            Sample {
                timestamp: i * 10_000,
                value: (i * 3) as f64,
            },
        );
    }
    let raw = store.range(&k, i64::MIN, i64::MAX).len();
    let minutes = store.aggregates(&k, 0, i64::MIN, i64::MAX).len();
    assert_eq!((raw, minutes), (8_640, 1_441));
}

#[test]
fn matchers_select_series_by_label() {
    let mut store = Store::new(Retention::default()).unwrap();
    for (code, route) in [("200", "/"), ("500", "/"), ("503", "/api"), ("200", "/api")] {
        store.insert(
            &SeriesKey::new("http_requests_total", [("code", code), ("route", route)]),
            Sample {
                timestamp: 0,
                value: 1.0,
            },
        );
    }
    store.insert(
        &SeriesKey::new("http_requests_total", []),
        Sample {
            timestamp: 0,
            value: 1.0,
        },
    );
    store.insert(
        &SeriesKey::new("other", [("code", "500")]),
        Sample {
            timestamp: 0,
            value: 1.0,
        },
    );
    let count = |text: &str| store.query_last(&text.parse().unwrap()).len();
    assert_eq!(count("http_requests_total"), 5);
    assert_eq!(count(r#"http_requests_total{code="200"}"#), 2);
    assert_eq!(
        count(r#"http_requests_total{code!="200"}"#),
        3,
        "a missing label is \"\""
    );
    assert_eq!(count(r#"http_requests_total{code=~"5.."}"#), 2);
    assert_eq!(
        count(r#"http_requests_total{code=~"5"}"#),
        0,
        "regexes are anchored"
    );
    assert_eq!(
        count(r#"http_requests_total{code!~"5..", route="/api"}"#),
        1
    );
    assert_eq!(count(r#"http_requests_total{code=""}"#), 1);
    let built = Selector::name("http_requests_total")
        .equal("route", "/")
        .regex("code", "5.*")
        .unwrap();
    assert_eq!(
        built.to_string(),
        r#"http_requests_total{route="/",code=~"5.*"}"#
    );
    assert_eq!(store.query_last(&built).len(), 1);
    let reparsed: Selector = built.to_string().parse().unwrap();
    assert_eq!(store.query_last(&reparsed).len(), 1);
}

#[test]
fn aggregation_across_series_groups_by_labels() {
    let mut store = Store::new(Retention::default()).unwrap();
    let mut all = Vec::new();
    for (i, (route, code)) in [("/a", "200"), ("/a", "500"), ("/b", "200")]
        .iter()
        .enumerate()
    {
        let k = SeriesKey::new("req", [("route", *route), ("code", *code)]);
        let samples: Vec<Sample> = (0..=30)
            .map(|t| Sample {
                timestamp: t * 10_000,
                value: ((i + 1) * t as usize) as f64,
            })
            .collect();
        for s in &samples {
            store.insert(&k, *s);
        }
        all.push((route.to_string(), samples));
    }
    let q = RangeQuery::new(
        Selector::name("req"),
        MINUTE,
        5 * MINUTE,
        MINUTE,
        Function::Rate,
    );
    for (how, f) in [
        (
            Aggregation::Sum,
            (|v: &[f64]| v.iter().sum::<f64>()) as fn(&[f64]) -> f64,
        ),
        (Aggregation::Avg, |v| v.iter().sum::<f64>() / v.len() as f64),
        (Aggregation::Max, |v| {
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        }),
        (Aggregation::Min, |v| {
            v.iter().copied().fold(f64::INFINITY, f64::min)
        }),
        (Aggregation::Count, |v| v.len() as f64),
    ] {
        let result = store.query(&q.clone().aggregate(how, ["route"])).unwrap();
        assert_eq!(result.len(), 2, "{how:?}");
        for group in &result {
            let route = group.series.label("route").unwrap();
            assert_eq!(group.series.labels().len(), 1);
            for p in &group.points {
                let vals: Vec<f64> = all
                    .iter()
                    .filter(|(r, _)| r == route)
                    .filter_map(|(_, s)| reference(s, p.timestamp, MINUTE, Function::Rate))
                    .collect();
                assert!(
                    close(p.value, f(&vals)),
                    "{how:?} {route} at {}",
                    p.timestamp
                );
            }
        }
    }
    let everything = store.query(&q.aggregate(Aggregation::Sum, [])).unwrap();
    assert_eq!(everything.len(), 1);
    assert!(close(everything[0].points[0].value, 6.0 * 6.0 / 60.0));
}

#[test]
fn histogram_windows_merge_their_sketches() {
    let mut store = Store::new(Retention::default()).unwrap();
    let k = SeriesKey::new("latency_seconds", []);
    let mut all = Vec::new();
    for tick in 1..=60i64 {
        let mut sketch = Sketch::new();
        for j in 0..50 {
            let v = ((tick * 50 + j) % 997) as f64 / 100.0 + 0.001;
            sketch.add(v);
            all.push((tick * 10_000, v));
        }
        store.insert_sketch(&k, tick * 10_000, &sketch);
    }
    for (from, step) in [(MINUTE, MINUTE), (35_000, 45_000)] {
        for f in [
            Function::Quantile(0.5),
            Function::Quantile(0.99),
            Function::Count,
            Function::Sum,
            Function::Max,
            Function::Min,
            Function::Rate,
        ] {
            let q = RangeQuery::new(Selector::name("latency_seconds"), from, 600_000, step, f);
            for p in &store.query(&q).unwrap()[0].points {
                let mut inside: Vec<f64> = all
                    .iter()
                    .filter(|(t, _)| *t > p.timestamp - step && *t <= p.timestamp)
                    .map(|(_, v)| *v)
                    .collect();
                inside.sort_by(f64::total_cmp);
                let n = inside.len();
                let exact = match f {
                    Function::Quantile(q) => inside[(q * (n - 1) as f64).floor() as usize],
                    Function::Count => n as f64,
                    Function::Sum => inside.iter().sum(),
                    Function::Max => inside[n - 1],
                    Function::Min => inside[0],
                    Function::Rate => n as f64 / (step as f64 / 1000.0),
                    _ => unreachable!(),
                };
                let tolerance = if matches!(f, Function::Quantile(_)) {
                    RELATIVE_ERROR
                } else {
                    1e-9
                };
                assert!(
                    (p.value - exact).abs() <= exact.abs() * tolerance + 1e-12,
                    "{f} at {}: {} vs {exact}",
                    p.timestamp,
                    p.value
                );
            }
        }
    }
    let last = RangeQuery::new(
        Selector::name("latency_seconds"),
        MINUTE,
        MINUTE,
        MINUTE,
        Function::Last,
    );
    assert_eq!(store.query(&last).unwrap_err().field(), "function");
    assert!(
        !store.insert(
            &k,
            Sample {
                timestamp: 0,
                value: 1.0
            }
        ),
        "a histogram takes no samples"
    );
    assert_eq!(store.dropped().samples_of_the_wrong_kind, 1);
}

#[test]
fn bad_queries_name_the_part_at_fault() {
    let store = Store::new(Retention::default()).unwrap();
    let run = |q: RangeQuery| store.query(&q).unwrap_err();
    let s = || Selector::name("x");
    assert_eq!(
        run(RangeQuery::new(s(), 0, 10, 0, Function::Avg)).field(),
        "step"
    );
    assert_eq!(
        run(RangeQuery::new(s(), 10, 0, 1, Function::Avg)).field(),
        "to"
    );
    let too_many = run(RangeQuery::new(s(), 0, 1_000_000, 1, Function::Avg));
    assert_eq!(too_many.field(), "step");
    assert!(too_many.message().contains("at most 11000"), "{too_many}");
    assert_eq!(
        run(RangeQuery::new(s(), 0, 10, 1, Function::Avg).window(0)).field(),
        "window"
    );
    assert_eq!(
        run(RangeQuery::new(s(), 0, 10, 1, Function::Quantile(1.5))).field(),
        "function"
    );
    for bad in [
        "",
        "1abc",
        "x{",
        r#"x{a="1""#,
        r#"x{a=1}"#,
        r#"x{a~"1"}"#,
        r#"x{a="1" b="2"}"#,
        r#"x{a="1"} y"#,
        r#"x{a=~"("}"#,
    ] {
        let err = bad.parse::<Selector>().unwrap_err();
        assert_eq!(err.field(), "selector", "{bad}");
        let text = err.to_string();
        assert!(
            text.contains("expected name{label=\"value\"") || text.contains("regular expression"),
            "{text}"
        );
    }
    assert_eq!(
        "median".parse::<Function>().unwrap_err().field(),
        "function"
    );
    assert_eq!(
        "quantile(0.5)".parse::<Function>().unwrap(),
        Function::Quantile(0.5)
    );
}

#[test]
fn queries_and_results_go_through_serde() {
    let mut store = Store::new(Retention::default()).unwrap();
    let k = SeriesKey::new("up", [("job", "api")]);
    store.insert(
        &k,
        Sample {
            timestamp: 60_000,
            value: 1.0,
        },
    );
    let q: RangeQuery = serde_json::from_str(
        r#"{"selector": "up{job=\"api\"}", "from": 60000, "to": 60000, "step": 60000, "function": "max", "aggregate": "sum", "by": ["job"]}"#,
    )
    .unwrap();
    let json = serde_json::to_string(&store.query(&q).unwrap()).unwrap();
    assert_eq!(
        json,
        r#"[{"series":{"name":"up","labels":{"job":"api"}},"points":[{"timestamp":60000,"value":1.0}]}]"#
    );
    let back = serde_json::to_value(&q).unwrap();
    assert_eq!(back["function"], "max");
    assert_eq!(back["selector"], r#"up{job="api"}"#);
    let bad = serde_json::from_str::<RangeQuery>(
        r#"{"selector": "up{", "from": 0, "to": 0, "step": 1, "function": "max"}"#,
    )
    .unwrap_err();
    assert!(bad.to_string().contains("selector"), "{bad}");
}

#[test]
fn extreme_timestamps_steps_and_windows_answer_or_name_the_field() {
    let mut store = Store::new(Retention::default()).unwrap();
    let k = SeriesKey::new("edge", []);
    let h = SeriesKey::new("edge_seconds", []);
    let mut sketch = Sketch::new();
    sketch.add(1.0);
    for t in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
        assert!(
            store.insert(
                &k,
                Sample {
                    timestamp: t,
                    value: 1.0
                }
            ),
            "{t}"
        );
        assert!(store.insert_sketch(&h, t, &sketch), "{t}");
    }
    // The interval holding i64::MAX ends there (it would end past it).
    let last = store.aggregates(&k, 0, i64::MAX, i64::MAX);
    assert_eq!((last.len(), last[0].count), (1, 2));
    let run = |q: RangeQuery| store.query(&q);
    // The last steps before i64::MAX: the next step would pass it.
    let near_max = run(RangeQuery::new(
        Selector::name("edge"),
        i64::MAX - 5,
        i64::MAX,
        1,
        Function::Count,
    ))
    .unwrap();
    let points: Vec<i64> = near_max[0].points.iter().map(|p| p.timestamp).collect();
    assert_eq!(points, [i64::MAX - 1, i64::MAX]);
    // A step count past MAX_POINTS is refused, however wide the range.
    let all = run(RangeQuery::new(
        Selector::name("edge"),
        i64::MIN,
        i64::MAX,
        1,
        Function::Count,
    ))
    .unwrap_err();
    assert_eq!(all.field(), "step");
    // Three points from i64::MIN in steps of i64::MAX, with a window reaching past i64::MIN.
    for f in [
        Function::Count,
        Function::Increase,
        Function::Rate,
        Function::Quantile(0.5),
    ] {
        for name in ["edge", "edge_seconds"] {
            let q = RangeQuery::new(Selector::name(name), i64::MIN, i64::MAX, i64::MAX, f)
                .window(i64::MAX);
            let result = run(q).unwrap();
            let stamps: Vec<i64> = result[0].points.iter().map(|p| p.timestamp).collect();
            assert_eq!(stamps, [i64::MIN, -1, i64::MAX - 1], "{name} {f}");
            if f == Function::Count {
                // (below i64::MIN, MIN], (MIN, −1], (−1, MAX − 1].
                let counts: Vec<f64> = result[0].points.iter().map(|p| p.value).collect();
                assert_eq!(counts, [1.0, 2.0, 2.0], "{name}");
            }
        }
    }
    // What an HTTP status page would pass in.
    let json = format!(
        r#"{{"selector": "edge", "from": {}, "to": {}, "step": 1, "function": "increase", "window": {}}}"#,
        i64::MAX - 5,
        i64::MAX,
        i64::MAX
    );
    let q: RangeQuery = serde_json::from_str(&json).unwrap();
    assert!(store.query(&q).is_ok());
}

#[test]
fn a_points_value_does_not_depend_on_from_and_raw_agrees_with_the_tier() {
    let mut store = Store::new(Retention::default()).unwrap();
    let k = SeriesKey::new("c", []);
    // A gap of ten minutes before the sample at 600 s.
    store.insert(
        &k,
        Sample {
            timestamp: 0,
            value: 100.0,
        },
    );
    store.insert(
        &k,
        Sample {
            timestamp: 600_000,
            value: 150.0,
        },
    );
    let at_600 = |q: RangeQuery| {
        let result = store.query(&q.window(MINUTE)).unwrap();
        result[0]
            .points
            .iter()
            .find(|p| p.timestamp == 600_000)
            .map(|p| p.value)
    };
    // The minute tier answers aligned queries; raw samples answer the others.
    let tier = at_600(RangeQuery::new(
        Selector::name("c"),
        600_000,
        600_000,
        MINUTE,
        Function::Increase,
    ));
    let tier_from_0 = at_600(RangeQuery::new(
        Selector::name("c"),
        0,
        600_000,
        10 * MINUTE,
        Function::Increase,
    ));
    let raw = at_600(RangeQuery::new(
        Selector::name("c"),
        600_000,
        600_000,
        45_000,
        Function::Increase,
    ));
    let raw_from_150 = at_600(RangeQuery::new(
        Selector::name("c"),
        150_000,
        600_000,
        450_000,
        Function::Increase,
    ));
    assert_eq!(
        [tier, tier_from_0, raw, raw_from_150],
        [Some(50.0); 4],
        "the rise from the sample at 0 s, whatever the query's from"
    );
}

#[test]
fn a_late_sample_within_an_interval_is_folded_in_timestamp_order() {
    let mut store = Store::new(Retention::default()).unwrap();
    let k = SeriesKey::new("c", []);
    for (t, v) in [(10_000, 10.0), (30_000, 50.0), (20_000, 45.0)] {
        store.insert(
            &k,
            Sample {
                timestamp: t,
                value: v,
            },
        );
    }
    let minute = store.aggregates(&k, 0, 0, MINUTE);
    assert_eq!((minute[0].last, minute[0].increase), (50.0, 40.0));
    let hour = store.aggregates(&k, 1, 0, 3_600_000);
    assert_eq!((hour[0].last, hour[0].increase), (50.0, 40.0));
    for f in [Function::Last, Function::Increase] {
        let tier = store
            .query(&RangeQuery::new(
                Selector::name("c"),
                MINUTE,
                MINUTE,
                MINUTE,
                f,
            ))
            .unwrap();
        let raw = store
            .query(&RangeQuery::new(Selector::name("c"), MINUTE, MINUTE, 45_000, f).window(MINUTE))
            .unwrap();
        assert_eq!(tier[0].points, raw[0].points, "{f}");
        let expected = if f == Function::Last { 50.0 } else { 40.0 };
        assert_eq!(tier[0].points[0].value, expected, "{f}");
    }
}

#[test]
fn histogram_quantiles_come_from_the_tiers_once_raw_sketches_age_out() {
    let mut store = Store::new(Retention {
        max_age_ms: 10 * MINUTE,
        chunk_samples: 30,
        ..Retention::default()
    })
    .unwrap();
    let k = SeriesKey::new("latency_seconds", []);
    let mut first_minute = Vec::new();
    for tick in 1..=360i64 {
        let mut sketch = Sketch::new();
        for j in 0..20 {
            let v = ((tick * 20 + j) % 500) as f64 / 100.0 + 0.01;
            sketch.add(v);
            if tick <= 6 {
                first_minute.push(v);
            }
        }
        store.insert_sketch(&k, tick * 10_000, &sketch);
    }
    assert!(
        store.dropped().chunks_by_age > 0,
        "the raw sketches of the first minute are gone"
    );
    first_minute.sort_by(f64::total_cmp);
    let exact = first_minute[(0.99 * (first_minute.len() - 1) as f64).floor() as usize];
    let p99 = store
        .query(&RangeQuery::new(
            Selector::name("latency_seconds"),
            MINUTE,
            MINUTE,
            MINUTE,
            Function::Quantile(0.99),
        ))
        .unwrap();
    let got = p99[0].points[0].value;
    assert!(
        (got - exact).abs() <= exact * RELATIVE_ERROR,
        "{got} vs {exact}"
    );
    // The same window's count answers from the tier as well.
    let count = store
        .query(&RangeQuery::new(
            Selector::name("latency_seconds"),
            MINUTE,
            MINUTE,
            MINUTE,
            Function::Count,
        ))
        .unwrap();
    assert_eq!(count[0].points[0].value, 120.0);
}

/// The end of the interval of `res` holding `t`, as the tiers cut them.
fn interval_end(t: i64, res: i64) -> i64 {
    (t - 1).div_euclid(res) * res + res
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_series_and_windows_match_the_reference(
        values in prop::collection::vec((0i64..20_000, -1e6f64..1e6), 1..200),
        from in -50_000i64..50_000,
        step in 1i64..40_000,
        window in 1i64..80_000,
        f in 0usize..9,
    ) {
        let mut store = Store::new(Retention { chunk_samples: 17, ..Retention::default() }).unwrap();
        let k = SeriesKey::new("p", []);
        let mut t = 0;
        let mut samples = Vec::new();
        for (gap, v) in values {
            t += gap;
            let s = Sample { timestamp: t, value: v };
            store.insert(&k, s);
            samples.push(s);
        }
        check(&store, &samples, &RangeQuery::new(Selector::name("p"), from, from + 40 * step, step, FUNCTIONS[f]).window(window));
    }

    /// Steps, windows and starts that are multiples of a tier's resolution: the tiers answer
    /// (raw samples for quantiles), with samples arriving late within the interval being
    /// filled now and then.
    #[test]
    fn random_series_through_the_tiers_match_the_reference(
        values in prop::collection::vec((0i64..3_000, -1e6f64..1e6, 0u8..8), 1..200),
        from in -20i64..20,
        step in 1i64..8,
        window in 1i64..12,
        coarse in any::<bool>(),
        f in 0usize..9,
    ) {
        let tiers = vec![
            Tier { resolution_ms: 1_000, max_age_ms: 30 * 24 * 3_600_000 },
            Tier { resolution_ms: 5_000, max_age_ms: 30 * 24 * 3_600_000 },
        ];
        let mut store = Store::new(Retention { chunk_samples: 17, tiers, ..Retention::default() }).unwrap();
        let k = SeriesKey::new("p", []);
        let mut newest = 0;
        let mut samples = Vec::new();
        for (gap, v, late) in values {
            // A late sample lands in the finest interval being filled, before the newest.
            let start = interval_end(newest, 1_000) - 1_000;
            let t = if late == 0 && newest - start > 1 {
                start + 1 + gap % (newest - start - 1)
            } else {
                newest += gap;
                newest
            };
            let s = Sample { timestamp: t, value: v };
            store.insert(&k, s);
            samples.push(s);
        }
        let res = if coarse { 5_000 } else { 1_000 };
        let q = RangeQuery::new(Selector::name("p"), from * res, (from + 40 * step) * res, step * res, FUNCTIONS[f])
            .window(window * res);
        check(&store, &samples, &q);
    }

    #[test]
    fn sketch_quantiles_stay_within_the_stated_error(
        values in prop::collection::vec(prop_oneof![-1e9f64..1e9, 1e-6f64..10.0, Just(0.0)], 1..300),
        q in 0.0f64..=1.0,
    ) {
        let mut one = Sketch::new();
        let (mut a, mut b) = (Sketch::new(), Sketch::new());
        for (i, v) in values.iter().enumerate() {
            one.add(*v);
            if i % 2 == 0 { a.add(*v) } else { b.add(*v) }
        }
        a.merge(&b);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let exact = sorted[(q * (sorted.len() - 1) as f64).floor() as usize];
        for s in [&one, &a] {
            let got = s.quantile(q).unwrap();
            let tolerance = exact.abs() * RELATIVE_ERROR * (1.0 + 1e-9) + Sketch::MIN_INDEXABLE;
            prop_assert!((got - exact).abs() <= tolerance, "q={q}: {got} vs {exact}");
            prop_assert_eq!(s.count(), values.len() as u64);
        }
        prop_assert_eq!(Sketch::decode(&one.encode()), Some(one.clone()));
    }
}
