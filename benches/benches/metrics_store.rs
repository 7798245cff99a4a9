//! Our Gorilla chunks beside `tsz`, a Rust implementation of the same paper, in one run.
//!
//! Both encode and decode the same busy-counter series of 120 samples. `tsz` takes whole-second
//! timestamps, so both get seconds here; `--example compression` measures our bytes per sample
//! on millisecond timestamps.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hardening_benches::{Shape, series};
use hardening_metrics_store::{Chunk, Sample};
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

criterion_group!(
    name = benches;
    config = hardening_benches::config();
    targets = encode, decode
);
criterion_main!(benches);
