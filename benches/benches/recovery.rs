//! The retry wrapper and its budget beside their peers, in one run.
//!
//! Group names are scenarios; function ids are implementations (`hardening` is ours, the rest
//! are peers or baselines), which is how `cargo xtask bench` builds its ratio tables. Every
//! async case runs on one current-thread tokio runtime, and every implementation does the same
//! work: build the call, run one attempt that succeeds, return its value.
#![allow(
    clippy::expect_used,
    reason = "a bench whose setup is broken should stop loudly"
)]

use std::future::{Ready, ready};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use criterion::{Criterion, criterion_group, criterion_main};
use hardening_recovery::{Backoff, Jitter, Retry, RetryBudget};
use tower::retry::budget::{Budget, TpsBudget};
use tower::{Service, ServiceExt};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

async fn succeed(n: u64) -> Result<u64, std::io::Error> {
    Ok(black_box(n))
}

/// Our policy as the peers are configured: 3 attempts, exponential backoff with jitter, and
/// (as with tower) a budget that each success deposits into.
fn ours() -> Retry {
    Retry::builder("bench")
        .max_attempts(3)
        .backoff(
            Backoff::exponential(Duration::from_millis(10), 2.0, Duration::from_secs(1))
                .with_jitter(Jitter::Full),
        )
        .build()
        .expect("valid policy")
}

/// tower's retry: up to two retries, drawing on a `TpsBudget` like ours (10 s, 10/s, 20 %).
#[derive(Clone)]
struct TowerPolicy {
    retries_left: usize,
    budget: Arc<TpsBudget>,
}

impl<E> tower::retry::Policy<u64, u64, E> for TowerPolicy {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut u64, result: &mut Result<u64, E>) -> Option<Self::Future> {
        match result {
            Ok(_) => {
                self.budget.deposit();
                None
            }
            Err(_) if self.retries_left > 0 && self.budget.withdraw() => {
                self.retries_left -= 1;
                Some(ready(()))
            }
            Err(_) => None,
        }
    }

    fn clone_request(&mut self, req: &u64) -> Option<u64> {
        Some(*req)
    }
}

fn first_attempt_succeeds(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("retry_first_attempt_succeeds");

    group.bench_function("bare", |b| b.to_async(&rt).iter(|| succeed(1)));

    let retry = ours();
    group.bench_function("hardening", |b| {
        b.to_async(&rt).iter(|| retry.run(|_| succeed(1)))
    });

    // The same policy without the budget: what the budget's deposit costs on this path.
    let unbudgeted = Retry::builder("bench-no-budget")
        .max_attempts(3)
        .backoff(
            Backoff::exponential(Duration::from_millis(10), 2.0, Duration::from_secs(1))
                .with_jitter(Jitter::Full),
        )
        .no_budget()
        .build()
        .expect("valid policy");
    group.bench_function("hardening_no_budget", |b| {
        b.to_async(&rt).iter(|| unbudgeted.run(|_| succeed(1)))
    });

    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(10))
        .with_max_delay(Duration::from_secs(1))
        .with_max_times(2)
        .with_jitter();
    group.bench_function("backon", |b| {
        b.to_async(&rt).iter(|| (|| succeed(1)).retry(backoff))
    });

    let service = tower::retry::Retry::new(
        TowerPolicy {
            retries_left: 2,
            budget: Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.2)),
        },
        tower::service_fn(succeed),
    );
    group.bench_function("tower_retry", |b| {
        b.to_async(&rt).iter(|| {
            let mut service = service.clone();
            async move { service.ready().await?.call(1).await }
        })
    });
    group.finish();
}

fn budget_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("retry_budget_check");
    // One success and one retry request per iteration: the budget stays at its floor, so
    // both implementations keep answering (mostly "no") rather than draining once.
    let ours = RetryBudget::new();
    group.bench_function("hardening", |b| {
        b.iter(|| {
            ours.deposit();
            black_box(ours.try_withdraw())
        })
    });
    let tower = TpsBudget::new(Duration::from_secs(10), 10, 0.2);
    group.bench_function("tower", |b| {
        b.iter(|| {
            tower.deposit();
            black_box(tower.withdraw())
        })
    });
    group.finish();

    // The deposit alone: what every successful call through a budgeted retry pays.
    let mut group = c.benchmark_group("retry_budget_deposit");
    group.bench_function("hardening", |b| b.iter(|| ours.deposit()));
    group.bench_function("tower", |b| b.iter(|| tower.deposit()));
    group.finish();
}

criterion_group!(
    name = benches;
    config = hardening_benches::config();
    targets = first_attempt_succeeds, budget_check
);
criterion_main!(benches);
