//! The circuit breaker beside its peers, in one run.
//!
//! Group names are scenarios; function ids are implementations (`hardening` is ours, the rest
//! are peers or baselines), which is how `cargo xtask bench` builds its ratio tables.
#![allow(
    clippy::expect_used,
    reason = "a bench whose setup is broken should stop loudly"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe::CircuitBreaker as _;
use hardening_breaker::{Breaker, BreakerConfig, SlidingWindow, State};

const HOUR: Duration = Duration::from_secs(3600);

/// Our breaker as the peers are configured: a window of the last 100 calls, judged after 100.
fn ours() -> Breaker {
    Breaker::new(
        "bench",
        BreakerConfig::builder()
            .sliding_window(SlidingWindow::count(100))
            .minimum_calls(100)
            .open_duration(HOUR)
            .build()
            .expect("valid config"),
    )
}

fn ours_timed() -> Breaker {
    Breaker::new(
        "bench-timed",
        BreakerConfig::builder()
            .sliding_window(SlidingWindow::count(100))
            .minimum_calls(100)
            .slow_call_duration_threshold(Duration::from_secs(1))
            .build()
            .expect("valid config"),
    )
}

fn recloser() -> recloser::Recloser {
    recloser::Recloser::custom()
        .closed_len(100)
        .open_wait(HOUR)
        .build()
}

/// failsafe's default policy: success rate over a time window, or consecutive failures.
fn failsafe() -> impl failsafe::CircuitBreaker + Clone + Send + Sync {
    failsafe::Config::new().build()
}

fn ok() -> Result<u64, ()> {
    Ok(black_box(1))
}

fn closed_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker_closed_call");
    group.bench_function("bare", |b| b.iter(|| black_box(ok())));
    let breaker = ours();
    group.bench_function("hardening", |b| b.iter(|| black_box(breaker.call(ok))));
    let r = recloser();
    group.bench_function("recloser", |b| b.iter(|| black_box(r.call(ok))));
    let f = failsafe();
    group.bench_function("failsafe", |b| b.iter(|| black_box(f.call(ok))));
    group.finish();
}

fn slow_call_timing(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker_slow_call_timing");
    let timed = ours_timed();
    group.bench_function("hardening", |b| b.iter(|| black_box(timed.call(ok))));
    let untimed = ours();
    group.bench_function("hardening_untimed", |b| {
        b.iter(|| black_box(untimed.call(ok)))
    });
    group.finish();
}

fn open_rejection(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker_open_rejection");
    let breaker = ours();
    breaker.transition_to(State::Open);
    assert!(breaker.call(ok).is_err());
    group.bench_function("hardening", |b| b.iter(|| black_box(breaker.call(ok))));

    let r = recloser::Recloser::custom()
        .closed_len(1)
        .open_wait(HOUR)
        .build();
    let _ = r.call(|| Err::<(), ()>(()));
    let _ = r.call(|| Err::<(), ()>(()));
    assert!(matches!(r.call(ok), Err(recloser::Error::Rejected)));
    group.bench_function("recloser", |b| b.iter(|| black_box(r.call(ok))));

    let f = failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            1,
            failsafe::backoff::constant(HOUR),
        ))
        .build();
    let _ = f.call(|| Err::<(), ()>(()));
    assert!(matches!(f.call(ok), Err(failsafe::Error::Rejected)));
    group.bench_function("failsafe", |b| b.iter(|| black_box(f.call(ok))));
    group.finish();
}

/// Runs `iters` calls split over `threads` threads and returns the wall time, so that
/// criterion's time per iteration is the inverse of the combined throughput.
fn spread<F: Fn() + Sync>(threads: u64, iters: u64, call: F) -> Duration {
    let per_thread = iters.div_ceil(threads);
    let barrier = std::sync::Barrier::new(threads as usize + 1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (call, barrier) = (&call, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    for _ in 0..per_thread {
                        call();
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for handle in handles {
            handle.join().expect("bench thread");
        }
        start.elapsed()
    })
}

fn shared_by_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker_shared_throughput");
    let breaker = ours();
    let r = recloser();
    let f = failsafe();
    for threads in [1u64, 2] {
        let suffix = if threads == 1 { "_1_thread" } else { "" };
        group.bench_function(format!("hardening{suffix}"), |b| {
            b.iter_custom(|iters| {
                spread(threads, iters, || {
                    black_box(breaker.call(ok)).ok();
                })
            })
        });
        group.bench_function(format!("recloser{suffix}"), |b| {
            b.iter_custom(|iters| {
                spread(threads, iters, || {
                    black_box(r.call(ok)).ok();
                })
            })
        });
        group.bench_function(format!("failsafe{suffix}"), |b| {
            b.iter_custom(|iters| {
                spread(threads, iters, || {
                    black_box(f.call(ok)).ok();
                })
            })
        });
    }
    group.finish();
}

criterion_group!(
    name = benches;
    config = hardening_benches::config();
    targets = closed_call, slow_call_timing, open_rejection, shared_by_threads
);
criterion_main!(benches);
