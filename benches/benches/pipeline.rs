//! The full resilience pipeline (retry, breaker, rate limiter, timeout, bulkhead) on a call
//! that succeeds at once, beside the same five stages from tower-resilience, in one run.
//!
//! Group names are scenarios; function ids are implementations (`hardening` is ours,
//! `tower_resilience` the peer, `bare` the call alone), which is how `cargo xtask bench` builds
//! its ratio tables. Every case runs on one current-thread tokio runtime with its time driver
//! (the timeouts need it), and every implementation does the same work: pass the five stages,
//! run the call, return its value.
//!
//! The stages are configured alike: 3 attempts with a retry budget of 10 retries a second,
//! a count-based breaker over the last 100 calls opening at 50 % failures, a rate limit no
//! call here reaches, a 1 s timeout, and a bulkhead of 64 slots with a wait of at most 1 s.
//! (tower-resilience's rate limiter counts in fixed windows; ours is a GCRA. Neither refuses
//! a call in this bench.)
#![allow(
    clippy::expect_used,
    reason = "a bench whose setup is broken should stop loudly"
)]

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hardening::breaker::{Breaker, BreakerConfig, SlidingWindow};
use hardening::pipeline::{Pipeline, PipelineLayer};
use hardening::recovery::{Backoff, Jitter, Retry, RetryBudget};
use hardening::resources::{Bulkhead, RateLimiter, quota};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_resilience::bulkhead::{BulkheadLayer, BulkheadServiceError};
use tower_resilience::circuitbreaker::{CircuitBreakerError, CircuitBreakerLayer};
use tower_resilience::ratelimiter::{RateLimiterLayer, RateLimiterServiceError};
use tower_resilience::retry::{RetryBudgetBuilder, RetryLayer};
use tower_resilience::timelimiter::{TimeLimiterError, TimeLimiterLayer};

/// A rate no call in this bench reaches: the limiter is consulted, never refuses.
const UNREACHED_RATE: u32 = 1_000_000_000;
const TIMEOUT: Duration = Duration::from_secs(1);
const BULKHEAD_SLOTS: usize = 64;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

async fn succeed(n: u64) -> Result<u64, Infallible> {
    Ok(black_box(n))
}

/// Our five stages, every one on.
fn ours() -> Pipeline {
    let retry = Retry::builder("bench")
        .max_attempts(3)
        .backoff(
            Backoff::exponential(Duration::from_millis(10), 2.0, Duration::from_secs(1))
                .with_jitter(Jitter::Full),
        )
        .budget(RetryBudget::builder().build().expect("valid budget"))
        .build()
        .expect("valid retry");
    let breaker_config = BreakerConfig::builder()
        .sliding_window(SlidingWindow::count(100))
        .minimum_calls(100)
        .failure_rate_threshold(50.0)
        .open_duration(Duration::from_secs(30))
        .build()
        .expect("valid breaker");
    Pipeline::builder("bench")
        .retry(retry)
        .breaker(Breaker::new("bench", breaker_config))
        .rate_limiter(RateLimiter::new(
            quota(UNREACHED_RATE, UNREACHED_RATE).expect("a non-zero quota"),
        ))
        .timeout(TIMEOUT)
        .bulkhead(Bulkhead::new(BULKHEAD_SLOTS, BULKHEAD_SLOTS, TIMEOUT), 0)
        .build()
        .expect("valid pipeline")
}

/// What the breaker layer of the tower-resilience stack answers with.
type PeerError = CircuitBreakerError<
    RateLimiterServiceError<TimeLimiterError<BulkheadServiceError<Infallible>>>,
>;

/// The same five stages from tower-resilience, outermost first, around `service`.
fn peer<S>(
    service: S,
) -> impl Service<u64, Response = u64, Error = PeerError, Future: Send> + Clone + Send + 'static
where
    S: Service<u64, Response = u64, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let budget = RetryBudgetBuilder::new()
        .token_bucket()
        .tokens_per_second(10.0)
        .build()
        .expect("valid budget");
    let retry = RetryLayer::<u64, u64, PeerError>::builder()
        .max_attempts(3)
        .exponential_backoff(Duration::from_millis(10))
        .budget(budget)
        // As in ours: a refusal by the breaker is never retried.
        .retry_on(|e: &PeerError| !matches!(e, CircuitBreakerError::OpenCircuit))
        .build();
    let breaker = CircuitBreakerLayer::builder()
        .sliding_window_size(100)
        .minimum_number_of_calls(100)
        .failure_rate_threshold(0.5)
        .wait_duration_in_open(Duration::from_secs(30))
        .build()
        .expect("valid breaker");
    let limiter = RateLimiterLayer::builder()
        .limit_for_period(UNREACHED_RATE as usize)
        .refresh_period(Duration::from_secs(1))
        .timeout_duration(Duration::ZERO)
        .build()
        .expect("valid rate limiter");
    let timeout = TimeLimiterLayer::builder()
        .timeout_duration(TIMEOUT)
        .build();
    let bulkhead = BulkheadLayer::builder()
        .max_concurrent_calls(BULKHEAD_SLOTS)
        .max_wait_duration(TIMEOUT)
        .build()
        .expect("valid bulkhead");
    ServiceBuilder::new()
        .layer(retry)
        .layer(breaker)
        .layer(limiter)
        .layer(timeout)
        .layer(bulkhead)
        .service(service)
}

/// One call through a tower service, as a caller holding a shared service makes it.
async fn through<S>(mut service: S, request: u64) -> Result<u64, S::Error>
where
    S: Service<u64, Response = u64>,
{
    service.ready().await?.call(request).await
}

fn call_succeeds(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("pipeline_call_succeeds");

    group.bench_function("bare", |b| b.to_async(&rt).iter(|| succeed(1)));

    let pipeline = ours();
    group.bench_function("hardening", |b| {
        b.to_async(&rt).iter(|| pipeline.call(|| succeed(1)))
    });

    // Built inside the runtime: tower-resilience's layers may reach for its handle.
    let stack = rt.block_on(async { peer(tower::service_fn(succeed)) });
    group.bench_function("tower_resilience", |b| {
        b.to_async(&rt).iter(|| through(stack.clone(), 1))
    });
    group.finish();

    // Both as tower middleware around the same `service_fn`: what our layer's boxing and
    // per-attempt clones add to the pipeline, beside the peer's stack.
    let mut group = c.benchmark_group("pipeline_layer_call_succeeds");
    let bare = tower::service_fn(succeed);
    group.bench_function("bare", |b| b.to_async(&rt).iter(|| through(bare, 1)));
    let layered = PipelineLayer::new(ours()).layer(tower::service_fn(succeed));
    group.bench_function("hardening", |b| {
        b.to_async(&rt).iter(|| through(layered.clone(), 1))
    });
    group.bench_function("tower_resilience", |b| {
        b.to_async(&rt).iter(|| through(stack.clone(), 1))
    });
    group.finish();
}

criterion_group!(
    name = benches;
    config = hardening_benches::config();
    targets = call_succeeds
);
criterion_main!(benches);
