//! The metrics store, each group beside its peer in one run.
//!
//! - Encode and decode: our Gorilla chunks beside `tsz`, a Rust implementation of the same
//!   paper, on the same busy-counter series of 120 samples. `tsz` takes whole-second
//!   timestamps, so both get seconds here; `--example compression` measures our bytes per
//!   sample on millisecond timestamps.
//! - Recording: `counter!(…).increment(1)` through our recorder (which fans out to
//!   `metrics-exporter-prometheus`'s) beside the Prometheus recorder alone; the same with the
//!   handle kept; a histogram record, from one thread and from two at once.
//! - A one-day query at 10 s resolution: no crate does in-process compressed queries to
//!   compare with, so the reference is the same answer from a plain `Vec` of uncompressed
//!   samples, which shows what the compression costs a reader.
//! - `persist_append` measures `ChunkLog::append` of a closed 120-sample chunk, without fsync. It
//!   has no peer: no crate persists chunks in-process the way we do (Prometheus's TSDB is a Go
//!   program, `tsz` has no storage), so the figure stands alone, as a cost per closed chunk.
#![allow(
    clippy::expect_used,
    reason = "a bench whose setup is broken should stop loudly"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hardening_benches::{Shape, series};
use hardening_metrics_store::{
    Chunk, ChunkLog, Function, PersistOptions, RangeQuery, Retention, Sample, Selector, SeriesKey,
    Store, StoreRecorder, SyncPolicy,
};
use metrics_exporter_prometheus::PrometheusBuilder;
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

fn record(c: &mut Criterion) {
    let mut group = c.benchmark_group("recorder_counter_increment");
    let ours = StoreRecorder::new(Retention::default())
        .expect("default retention")
        .with_downstream(PrometheusBuilder::new().build_recorder());
    group.bench_function("hardening", |b| {
        metrics::with_local_recorder(&ours, || {
            b.iter(|| metrics::counter!("requests_total", "route" => "/").increment(1));
        });
    });
    let prometheus = PrometheusBuilder::new().build_recorder();
    group.bench_function("prometheus", |b| {
        metrics::with_local_recorder(&prometheus, || {
            b.iter(|| metrics::counter!("requests_total", "route" => "/").increment(1));
        });
    });
    group.finish();

    // With the handle kept, as the crates of this workspace do: no registration per call.
    let mut group = c.benchmark_group("recorder_counter_handle_increment");
    let counter = metrics::with_local_recorder(&ours, || metrics::counter!("kept_total"));
    group.bench_function("hardening", |b| b.iter(|| counter.increment(1)));
    let counter = metrics::with_local_recorder(&prometheus, || metrics::counter!("kept_total"));
    group.bench_function("prometheus", |b| b.iter(|| counter.increment(1)));
    group.finish();

    let mut group = c.benchmark_group("recorder_histogram_record");
    let histogram = metrics::with_local_recorder(&ours, || metrics::histogram!("latency_seconds"));
    group.bench_function("hardening", |b| {
        b.iter(|| histogram.record(black_box(0.0123)))
    });
    let histogram =
        metrics::with_local_recorder(&prometheus, || metrics::histogram!("latency_seconds"));
    group.bench_function("prometheus", |b| {
        b.iter(|| histogram.record(black_box(0.0123)))
    });
    group.finish();

    // Two threads (the cores of the bench machine) recording into one histogram at once: what
    // sharding the sketch is for. Ours fans out to Prometheus, as above, and is also measured
    // alone (`hardening_store_only`): the part sharding changes. The time is per record of
    // one thread (each records `iters` values), thread start included. Prometheus keeps every
    // value until its upkeep, which runs between batches, untimed, in both.
    let mut group = c.benchmark_group("recorder_histogram_record_2_threads");
    let downstream = PrometheusBuilder::new().build_recorder();
    let downstream_handle = downstream.handle();
    let ours = StoreRecorder::new(Retention::default())
        .expect("default retention")
        .with_downstream(downstream);
    let histogram = metrics::with_local_recorder(&ours, || metrics::histogram!("latency_seconds"));
    group.bench_function("hardening", |b| {
        b.iter_custom(|iters| {
            let took = record_from_threads(&histogram, iters);
            downstream_handle.run_upkeep();
            took
        })
    });
    // Our part alone: the store's recorder with no downstream.
    let alone = StoreRecorder::new(Retention::default()).expect("default retention");
    let histogram = metrics::with_local_recorder(&alone, || metrics::histogram!("latency_seconds"));
    group.bench_function("hardening_store_only", |b| {
        b.iter_custom(|iters| record_from_threads(&histogram, iters))
    });
    let prometheus = PrometheusBuilder::new().build_recorder();
    let handle = prometheus.handle();
    let histogram =
        metrics::with_local_recorder(&prometheus, || metrics::histogram!("latency_seconds"));
    group.bench_function("prometheus", |b| {
        b.iter_custom(|iters| {
            let took = record_from_threads(&histogram, iters);
            handle.run_upkeep();
            took
        })
    });
    group.finish();
}

const THREADS: usize = 2;

fn record_from_threads(histogram: &metrics::Histogram, iters: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..iters {
                    histogram.record(black_box(0.0123));
                }
            });
        }
    });
    start.elapsed()
}

/// One day of a busy counter every 10 s: 8,640 samples.
const DAY_AT_10S: usize = 8_640;

fn query_one_day(c: &mut Criterion) {
    let points = series(Shape::BusyCounter, DAY_AT_10S, 10_000, 0, 7);
    let from = points[0].0;
    let to = points[DAY_AT_10S - 1].0;
    let mut store = Store::new(Retention::default()).expect("default retention");
    let key = SeriesKey::new("requests_total", [("route", "/")]);
    for &(timestamp, value) in &points {
        store.insert(&key, Sample { timestamp, value });
    }
    let plain: Vec<Sample> = points
        .iter()
        .map(|&(timestamp, value)| Sample { timestamp, value })
        .collect();

    let mut group = c.benchmark_group("store_query_one_day_raw_10s");
    group.throughput(Throughput::Elements(DAY_AT_10S as u64));
    let selector = Selector::name("requests_total");
    group.bench_function("hardening", |b| {
        b.iter(|| black_box(store.query_raw(&selector, from, to)))
    });
    group.bench_function("plain_vec", |b| {
        b.iter(|| {
            black_box(
                plain
                    .iter()
                    .filter(|s| s.timestamp >= from && s.timestamp <= to)
                    .copied()
                    .collect::<Vec<Sample>>(),
            )
        })
    });
    group.finish();

    // rate over 1 min windows at every 10 s step, across the day: 8,640 points.
    let mut group = c.benchmark_group("store_query_one_day_rate_10s_step");
    group.throughput(Throughput::Elements(DAY_AT_10S as u64));
    let query = RangeQuery::new(
        Selector::name("requests_total"),
        from,
        to,
        10_000,
        Function::Rate,
    )
    .window(60_000);
    group.bench_function("hardening", |b| b.iter(|| black_box(store.query(&query))));
    group.bench_function("plain_vec", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(DAY_AT_10S);
            let mut t = from;
            while t <= to {
                let lo = plain.partition_point(|s| s.timestamp <= t - 60_000);
                let hi = plain.partition_point(|s| s.timestamp <= t);
                let mut increase = 0.0;
                for i in lo.max(1)..hi {
                    let (p, v) = (plain[i - 1].value, plain[i].value);
                    increase += if v >= p { v - p } else { v };
                }
                if hi > lo {
                    out.push(Sample {
                        timestamp: t,
                        value: increase / 60.0,
                    });
                }
                t += 10_000;
            }
            black_box(out)
        })
    });
    group.finish();

    // The same day at 1-minute steps: the minute tier answers, no raw sample is decoded.
    let mut group = c.benchmark_group("store_query_one_day_rate_1m_tier");
    let aligned_from = from - from.rem_euclid(60_000) + 60_000;
    let query = RangeQuery::new(
        Selector::name("requests_total"),
        aligned_from,
        to,
        60_000,
        Function::Rate,
    );
    group.bench_function("hardening", |b| b.iter(|| black_box(store.query(&query))));
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
    targets = encode, decode, record, query_one_day, persist_append
);
criterion_main!(benches);
