//! Our Gorilla chunks beside `tsz`, a Rust implementation of the same paper, in one run.
//!
//! Both encode and decode the same busy-counter series of 120 samples. `tsz` takes whole-second
//! timestamps, so both get seconds here; `--example compression` measures our bytes per sample
//! on millisecond timestamps.
//!
//! `persist_append` measures `ChunkLog::append` of a closed 120-sample chunk, without fsync. It
//! has no peer: no crate persists chunks in-process the way we do (Prometheus's TSDB is a Go
//! program, `tsz` has no storage), so the figure stands alone, as a cost per closed chunk.
#![allow(
    clippy::expect_used,
    reason = "a bench whose setup is broken should stop loudly"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hardening_benches::{Shape, series};
use hardening_metrics_store::{Chunk, ChunkLog, PersistOptions, Sample, SeriesKey, SyncPolicy};
use tsz::stream::{BufferedReader, BufferedWriter};
use tsz::{DataPoint, Decode, Encode, StdDecoder, StdEncoder};

const N: usize = 120;

fn points() -> Vec<(u64, f64)> {
    series(Shape::BusyCounter, N, 10_000, 0, 7)
        .into_iter()
        .map(|(t, v)| ((t / 1000) as u64, v))
        .collect()
}

fn ours(points: &[(u64, f64)]) -> Chunk {
    let mut chunk = Chunk::new();
    for &(t, value) in points {
        chunk.push(Sample {
            timestamp: t as i64,
            value,
        });
    }
    chunk
}

fn theirs(points: &[(u64, f64)]) -> Box<[u8]> {
    let mut encoder = StdEncoder::new(points[0].0, BufferedWriter::new());
    for &(t, v) in points {
        encoder.encode(DataPoint::new(t, v));
    }
    encoder.close()
}

fn encode(c: &mut Criterion) {
    let points = points();
    let mut group = c.benchmark_group("store_encode_120_samples");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("hardening", |b| b.iter(|| black_box(ours(&points))));
    group.bench_function("tsz", |b| b.iter(|| black_box(theirs(&points))));
    group.finish();
}

fn decode(c: &mut Criterion) {
    let points = points();
    let chunk = ours(&points);
    let bytes = theirs(&points);
    let mut group = c.benchmark_group("store_decode_120_samples");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("hardening", |b| {
        b.iter(|| chunk.iter().map(|s| s.value).sum::<f64>())
    });
    group.bench_function("tsz", |b| {
        b.iter(|| {
            let mut decoder = StdDecoder::new(BufferedReader::new(bytes.clone()));
            let mut sum = 0.0;
            while let Ok(point) = decoder.next() {
                sum += point.get_value();
            }
            sum
        })
    });
    group.finish();
}

fn persist_append(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("hardening-bench-persist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The defaults but a 16 MiB budget: a long run rotates and deletes segments as a service's
    // would, which is part of the cost.
    let options = PersistOptions::builder(&dir)
        .max_disk_bytes(16 << 20)
        .sync(SyncPolicy::Never)
        .build()
        .expect("valid options");
    let (mut log, _) = ChunkLog::open(options).expect("a writable temp dir");
    let key = SeriesKey::new(
        "http_requests_total",
        [("route", "/api/orders"), ("method", "GET")],
    );
    let chunk = series(Shape::BusyCounter, N, 10_000, 0, 7)
        .into_iter()
        .fold(Chunk::new(), |mut chunk, (timestamp, value)| {
            chunk.push(Sample { timestamp, value });
            chunk
        });
    let mut group = c.benchmark_group("persist_append");
    group.throughput(Throughput::Elements(1));
    group.bench_function("hardening", |b| {
        b.iter(|| {
            log.append(black_box(&key), black_box(&chunk))
                .expect("append")
        })
    });
    group.finish();
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(
    name = benches;
    config = hardening_benches::config();
    targets = encode, decode, persist_append
);
criterion_main!(benches);
