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
//! day and with every tier full, and what a series with one sample takes.
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
