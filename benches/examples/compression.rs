//! Bytes per sample of our Gorilla chunks on realistic series (fixed seed), at 10 s and 1 s
//! intervals, 120 samples a chunk, millisecond timestamps: on the scheduled tick (what the
//! store's sampler writes) and, for comparison, up to 2 ms late (what a sampler stamping the
//! time it woke would write).
//!
//! ```text
//! cargo run --release -p hardening-benches --example compression
//! ```
//!
//! Also measures what one series at 10 s takes in a store with the default retention after a
//! day and with every tier full, what a series with one sample takes, and what the minute
//! tier's open block holds when full (480 aggregates in six columns).
//!
//! Prints one JSON object; `cargo xtask bench` runs it and reports it.

use hardening_benches::{Shape, series};
use hardening_metrics_store::{Chunk, Retention, Sample, SeriesKey, Store};

/// Samples per chunk, as the Gorilla paper (two hours at a minute, 120).
const CHUNK: usize = 120;
/// Chunks per series.
const CHUNKS: usize = 100;

fn bytes_per_sample(points: &[(i64, f64)]) -> f64 {
    let mut bits = 0u64;
    for chunk in points.chunks(CHUNK) {
        let mut c = Chunk::new();
        for &(timestamp, value) in chunk {
            c.push(Sample { timestamp, value });
        }
        bits += c.bits();
    }
    bits as f64 / 8.0 / points.len() as f64
}

/// The memory of the six columns (count, min, max, sum, last, increase) of the minute
/// aggregates of `points`: what the minute tier's open block holds when it is full.
fn open_minute_block_bytes(points: &[(i64, f64)]) -> usize {
    const MINUTE: i64 = 60_000;
    let mut columns: [Chunk; 6] = Default::default();
    let mut previous: Option<f64> = None;
    let mut start = 0;
    while start < points.len() {
        let end = (points[start].0 - 1).div_euclid(MINUTE) * MINUTE + MINUTE;
        let stop = points[start..]
            .iter()
            .position(|&(t, _)| t > end)
            .map_or(points.len(), |n| start + n);
        let values: Vec<f64> = points[start..stop].iter().map(|&(_, v)| v).collect();
        let mut increase = 0.0;
        for &v in &values {
            increase += match previous {
                Some(p) if v >= p => v - p,
                Some(_) => v,
                None => 0.0,
            };
            previous = Some(v);
        }
        let aggregate = [
            values.len() as f64,
            values.iter().copied().fold(f64::INFINITY, f64::min),
            values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            values.iter().sum(),
            values[values.len() - 1],
            increase,
        ];
        for (column, value) in columns.iter_mut().zip(aggregate) {
            column.push(Sample {
                timestamp: end,
                value,
            });
        }
        start = stop;
    }
    columns.iter().map(Chunk::memory_bytes).sum()
}

fn main() -> Result<(), hardening_metrics_store::ConfigError> {
    let mut fields = vec!["\"scenario\":\"store_bytes_per_sample\"".to_string()];
    for (interval, jitter, label) in [
        (10_000, 0, "10s"),
        (1_000, 0, "1s"),
        (10_000, 2, "10s_jittered"),
    ] {
        let mut total = 0.0;
        for (i, shape) in Shape::ALL.into_iter().enumerate() {
            let points = series(shape, CHUNK * CHUNKS, interval, jitter, 42 + i as u64);
            let b = bytes_per_sample(&points);
            total += b;
            fields.push(format!("\"{}_{label}\":{b:.3}", shape.name()));
        }
        fields.push(format!(
            "\"mean_{label}\":{:.3}",
            total / Shape::ALL.len() as f64
        ));
    }
    // The memory model: what a series takes in the store with the default retention (raw
    // samples, the 1-minute and 1-hour tiers, the series' own bookkeeping) at 10 s, after one
    // day and after 31 days (every tier full).
    for (days, label) in [(1, "day"), (31, "full")] {
        let mut total = 0.0;
        for (i, shape) in Shape::ALL.into_iter().enumerate() {
            let mut store = Store::new(Retention::default())?;
            let key = SeriesKey::new("series", [("shape", shape.name())]);
            for (timestamp, value) in series(shape, 8_640 * days, 10_000, 0, 42 + i as u64) {
                store.insert(&key, Sample { timestamp, value });
            }
            total += store.memory_bytes() as f64;
        }
        fields.push(format!(
            "\"store_bytes_per_series_{label}_10s\":{:.0}",
            total / Shape::ALL.len() as f64
        ));
    }
    // An open tier block just before it closes: 4 × 120 minute aggregates (8 hours at 10 s)
    // in six Gorilla columns, laid out as the store's minute tier lays them.
    let mut largest = 0;
    let mut total = 0;
    for (i, shape) in Shape::ALL.into_iter().enumerate() {
        let bytes = open_minute_block_bytes(&series(shape, 2_880, 10_000, 0, 42 + i as u64));
        largest = largest.max(bytes);
        total += bytes;
    }
    fields.push(format!(
        "\"store_open_minute_block_bytes_mean\":{},\"store_open_minute_block_bytes_max\":{largest}",
        total / Shape::ALL.len()
    ));
    let mut store = Store::new(Retention::default())?;
    store.insert(
        &SeriesKey::new("series", [("shape", "one")]),
        Sample {
            timestamp: 0,
            value: 1.0,
        },
    );
    fields.push(format!(
        "\"store_bytes_one_sample_series\":{}",
        store.memory_bytes()
    ));
    println!("{{{}}}", fields.join(","));
    Ok(())
}
