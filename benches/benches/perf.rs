//! hardening-perf beside a bare `sysinfo` refresh and `tokio-metrics`, in one run.
//!
//! Group names are scenarios; function ids are implementations (`hardening` is ours).
#![allow(
    clippy::expect_used,
    reason = "a bench whose setup is broken should stop loudly"
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hardening_benches::poll_ready;
use hardening_perf::{Operations, ProcessSampler};
use sysinfo::{MemoryRefreshKind, ProcessRefreshKind, ProcessesToUpdate, System};

/// One sample of this process's figures: ours (which also reads threads, open files, load and
/// cgroup limits) against the bare `sysinfo` refresh of CPU and memory.
fn process_sample(c: &mut Criterion) {
    let mut group = c.benchmark_group("perf_process_sample");
    let mut sampler = ProcessSampler::new();
    group.bench_function("hardening", |b| b.iter(|| black_box(sampler.sample())));
    let mut system = System::new();
    let pid = sysinfo::get_current_pid().expect("pid");
    group.bench_function("sysinfo", |b| {
        b.iter(|| {
            system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
            system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                false,
                ProcessRefreshKind::nothing().with_cpu().with_memory(),
            );
            let process = system.process(pid).expect("this process");
            black_box((process.cpu_usage(), process.memory(), system.used_memory()))
        })
    });
    group.finish();
}

/// The per-call cost of timing an operation.
fn operation_timing(c: &mut Criterion) {
    let mut group = c.benchmark_group("perf_time_future");
    let operations = Operations::new();
    let op = operations.operation("bench");
    group.bench_function("hardening", |b| {
        b.iter(|| poll_ready(op.time(async { Ok::<_, ()>(black_box(1)) })))
    });
    let monitor = tokio_metrics::TaskMonitor::new();
    group.bench_function("tokio_metrics", |b| {
        b.iter(|| poll_ready(monitor.instrument(async { Ok::<_, ()>(black_box(1)) })))
    });
    group.bench_function("bare", |b| {
        b.iter(|| poll_ready(async { Ok::<_, ()>(black_box(1)) }))
    });
    group.finish();

    let mut group = c.benchmark_group("perf_time_closure");
    group.bench_function("hardening", |b| {
        b.iter(|| op.time_sync(|| Ok::<_, ()>(black_box(1))))
    });
    group.bench_function("bare", |b| b.iter(|| Ok::<_, ()>(black_box(1))));
    group.finish();
}

criterion_group!(
    name = benches;
    config = hardening_benches::config();
    targets = process_sample, operation_timing
);
criterion_main!(benches);
