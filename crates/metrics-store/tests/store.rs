//! Retention by age, memory and series count, idle eviction, ranges and snapshots, against a
//! plain list of the samples kept.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use hardening_metrics_store::{Chunk, Retention, Sample, SeriesKey, Store};

fn sample(timestamp: i64, value: f64) -> Sample {
    Sample { timestamp, value }
}

fn key(name: &str) -> SeriesKey {
    SeriesKey::new(name, [("instance", "a")])
}

#[test]
fn ranges_match_a_plain_filter_over_what_was_inserted() {
    let mut store = Store::new(Retention {
        chunk_samples: 7,
        ..Retention::default()
    })
    .unwrap();
    let k = key("x");
    let mut kept = Vec::new();
    for i in 0..200i64 {
        // Mostly in order, with a late sample now and then.
        let t = if i % 13 == 0 {
            i * 1000 - 2500
        } else {
            i * 1000
        };
        let s = sample(t, (i % 17) as f64 * 0.5);
        assert!(store.insert(&k, s));
        kept.push(s);
    }
    for (from, to) in [
        (0, 199_000),
        (10_500, 20_500),
        (-5_000, 3_000),
        (150_000, 150_000),
    ] {
        let expected: Vec<Sample> = kept
            .iter()
            .copied()
            .filter(|s| s.timestamp >= from && s.timestamp <= to)
            .collect();
        assert_eq!(store.range(&k, from, to), expected, "{from}..={to}");
    }
    // The latest by timestamp, not the last appended.
    assert_eq!(store.last(&k).unwrap().timestamp, 199_000);
}

#[test]
fn old_chunks_age_out_whole_once_past_the_window() {
    let mut store = Store::new(Retention {
        max_age_ms: 60_000,
        chunk_samples: 10,
        ..Retention::default()
    })
    .unwrap();
    let k = key("age");
    for i in 0..100i64 {
        store.insert(&k, sample(i * 1000, i as f64));
    }
    let oldest = store.range(&k, i64::MIN, i64::MAX)[0].timestamp;
    // Newest is 99 s; a chunk goes when all of it is more than 60 s older. The chunks ending
    // at 9, 19 and 29 s are gone; the one ending at 39 s is exactly 60 s old and stays.
    assert_eq!(oldest, 30_000);
    assert_eq!(store.dropped().chunks_by_age, 3);
}

#[test]
fn the_memory_budget_drops_the_oldest_chunks_across_series() {
    let mut store = Store::new(Retention {
        max_bytes: 8_000,
        max_series: 2,
        chunk_samples: 10,
        ..Retention::default()
    })
    .unwrap();
    for i in 0..400i64 {
        store.insert(&key("a"), sample(i * 1000, (i * 7) as f64));
        store.insert(&key("b"), sample(i * 1000 + 500, (i * 3) as f64));
        assert!(store.memory_bytes() <= 8_000, "over budget after {i}");
        assert!(!store.stats().over_budget);
    }
    assert!(store.dropped().chunks_by_memory > 0);
    // What is left is the newest history of both series.
    let a = store.range(&key("a"), i64::MIN, i64::MAX);
    let b = store.range(&key("b"), i64::MIN, i64::MAX);
    assert_eq!(a.last().unwrap().timestamp, 399_000);
    assert_eq!(b.last().unwrap().timestamp, 399_500);
    assert!((a[0].timestamp - b[0].timestamp).abs() <= 10_500);
}

#[test]
fn the_series_cap_refuses_new_series_and_counts_them() {
    let mut store = Store::new(Retention {
        max_series: 2,
        ..Retention::default()
    })
    .unwrap();
    assert!(store.insert(&key("a"), sample(0, 1.0)));
    assert!(store.insert(&key("b"), sample(0, 1.0)));
    assert!(!store.insert(&key("c"), sample(0, 1.0)));
    assert!(
        store.insert(&key("a"), sample(1, 2.0)),
        "existing series still grow"
    );
    assert_eq!(store.series_count(), 2);
    assert_eq!(store.dropped().samples_over_series_cap, 1);
}

#[test]
fn idle_series_are_evicted_and_their_memory_given_back() {
    let mut store = Store::new(Retention {
        idle_after_ms: 10_000,
        ..Retention::default()
    })
    .unwrap();
    store.insert(&key("quiet"), sample(0, 1.0));
    store.insert(&key("busy"), sample(0, 1.0));
    store.insert(&key("busy"), sample(15_000, 2.0));
    let before = store.memory_bytes();
    store.evict_idle(15_000);
    assert_eq!(store.series_count(), 1);
    assert!(store.memory_bytes() < before);
    assert_eq!(store.dropped().idle_series, 1);
    let snapshot = store.snapshot();
    assert_eq!(snapshot.len(), 1);
    assert_eq!(snapshot[0].0.to_string(), "busy{instance=\"a\"}");
    assert_eq!(snapshot[0].1, sample(15_000, 2.0));
}

#[test]
fn a_budget_that_cannot_hold_the_series_cap_is_refused_naming_max_bytes() {
    let small = Retention {
        max_series: 5_000,
        max_bytes: 100_000,
        ..Retention::default()
    };
    let err = Store::new(small.clone()).unwrap_err();
    assert_eq!(err.field(), "max_bytes");
    assert!(err.expected().contains("max_series (5000)"), "{err}");
    assert!(
        err.expected().contains(&small.min_bytes().to_string()),
        "{err}"
    );
    // The floor itself is accepted, and the defaults clear it.
    let floor = Retention {
        max_bytes: small.min_bytes(),
        ..small
    };
    assert!(Store::new(floor).is_ok());
    let defaults = Retention::default();
    assert!(defaults.min_bytes() <= defaults.max_bytes / 2);
}

#[test]
fn a_budget_passed_by_open_chunks_alone_is_reported_not_hidden() {
    let retention = Retention {
        max_series: 50,
        chunk_samples: 120,
        ..Retention::default()
    };
    let mut store = Store::new(Retention {
        max_bytes: retention.min_bytes(),
        ..retention
    })
    .unwrap();
    // Noisy values take far more than 2 bytes a sample, and no chunk closes: nothing can go.
    for i in 0..100i64 {
        for s in 0..50 {
            let noisy = f64::from_bits(
                0x4000_0000_0000_0000
                    ^ ((i * 7919 + s) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 12,
            );
            assert!(store.insert(&key(&format!("s{s}")), sample(i * 1000, noisy)));
        }
    }
    let stats = store.stats();
    assert!(stats.over_budget, "{stats:?}");
    assert!(stats.memory_bytes > stats.max_bytes);
    assert_eq!(
        stats.dropped.chunks_by_memory, 0,
        "nothing closed, nothing dropped"
    );
    assert_eq!(stats.series, 50);
    // Once chunks close, the budget drops them and is met again.
    for i in 100..400i64 {
        for s in 0..50 {
            store.insert(&key(&format!("s{s}")), sample(i * 1000, 1.0));
        }
    }
    let stats = store.stats();
    assert!(!stats.over_budget, "{stats:?}");
    assert!(stats.dropped.chunks_by_memory > 0);
}

#[test]
fn memory_counts_each_series_key() {
    let short = SeriesKey::new("m", [("id", "1")]);
    let long_value = "x".repeat(4_096);
    let long = SeriesKey::new("m", [("id", long_value.as_str())]);
    let mut a = Store::new(Retention::default()).unwrap();
    let mut b = Store::new(Retention::default()).unwrap();
    a.insert(&short, sample(0, 1.0));
    b.insert(&long, sample(0, 1.0));
    assert!(
        b.memory_bytes() >= a.memory_bytes() + 4_000,
        "{} vs {}",
        b.memory_bytes(),
        a.memory_bytes()
    );
    b.evict_idle(i64::MAX);
    assert_eq!(b.memory_bytes(), 0, "the key's bytes go with the series");
}

#[test]
fn restored_series_count_as_active_from_the_restart_not_from_their_last_sample() {
    let mut store = Store::new(Retention {
        idle_after_ms: 3_600_000,
        ..Retention::default()
    })
    .unwrap();
    let mut chunk = Chunk::new();
    for i in 0..12 {
        chunk.push(sample(i * 10_000, i as f64));
    }
    store.restore([(key("old"), chunk)]);
    // The first sampling after a restart two hours later.
    let restart = 2 * 3_600_000;
    store.insert(&key("new"), sample(restart, 1.0));
    store.evict_idle(restart);
    assert_eq!(
        store.range(&key("old"), 0, restart).len(),
        12,
        "history survives the gap"
    );
    store.evict_idle(restart + 3_600_000);
    assert_eq!(
        store.series_count(),
        2,
        "idle_after_ms counts from the restart"
    );
    // Nothing recorded to it for idle_after_ms after the restart: it goes.
    store.insert(&key("new"), sample(restart + 3_600_001, 2.0));
    store.evict_idle(restart + 3_600_001);
    assert_eq!(store.series_count(), 1);
    assert_eq!(store.dropped().idle_series, 1);
}
