//! hardening-resources beside tokio's semaphore, tower's concurrency limit and bare governor.
//!
//! Group names are scenarios; function ids are implementations (`hardening` is ours).
#![allow(
    clippy::expect_used,
    reason = "a bench whose setup is broken should stop loudly"
)]

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hardening_benches::poll_ready;
use hardening_resources::{
    Bulkhead, NewResource, PoolConfig, RateLimiter, Requirements, ResourceManager, quota,
};
use tower::{Service, ServiceExt};

/// An uncontended request and release: a lease on one of eight resources against a permit of
/// a semaphore with eight permits.
fn request_release(c: &mut Criterion) {
    let mut group = c.benchmark_group("resources_request_release");
    let manager: ResourceManager<u64> = ResourceManager::builder().build().expect("manager");
    manager
        .add_pool(
            "slot",
            PoolConfig::builder().max(8).build().expect("pool"),
            None,
        )
        .expect("pool");
    for i in 0..8 {
        manager
            .add_resource("slot", NewResource::new(i))
            .expect("resource");
    }
    let owner: Arc<str> = Arc::from("bench");
    let anything = Requirements::new();
    group.bench_function("hardening", |b| {
        b.iter(|| {
            let lease = manager
                .try_request("slot", Arc::clone(&owner), &anything)
                .expect("known pool")
                .expect("a ready resource");
            black_box(*lease)
        })
    });
    let semaphore = tokio::sync::Semaphore::new(8);
    group.bench_function("tokio_semaphore", |b| {
        b.iter(|| black_box(semaphore.try_acquire().expect("a free permit")))
    });
    group.finish();
}

/// Entering and leaving a bulkhead of eight, against tower's `ConcurrencyLimit` of eight
/// around a service that answers at once.
fn bulkhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("resources_bulkhead");
    let bulkhead = Bulkhead::new(8, 8, Duration::from_secs(1));
    group.bench_function("hardening", |b| {
        b.iter(|| black_box(poll_ready(bulkhead.acquire(0)).expect("a free slot")))
    });
    let mut limited = tower::limit::ConcurrencyLimit::new(
        tower::service_fn(|x: u64| std::future::ready(Ok::<_, ()>(x))),
        8,
    );
    group.bench_function("tower_concurrency_limit", |b| {
        b.iter(|| {
            let service = poll_ready(limited.ready()).expect("ready");
            black_box(poll_ready(service.call(1)).expect("answered"))
        })
    });
    group.finish();
}

/// One allowed call through a rate limit, against governor alone.
fn rate_limit(c: &mut Criterion) {
    let mut group = c.benchmark_group("resources_rate_limit");
    let ours = RateLimiter::new(quota(u32::MAX, u32::MAX).expect("quota"));
    group.bench_function("hardening", |b| b.iter(|| black_box(ours.check())));
    let bare = governor::RateLimiter::direct(governor::Quota::per_second(
        NonZeroU32::new(u32::MAX).expect("non-zero"),
    ));
    group.bench_function("governor", |b| b.iter(|| black_box(bare.check())));
    group.finish();
}

criterion_group!(
    name = benches;
    config = hardening_benches::config();
    targets = request_release, bulkhead, rate_limit
);
criterion_main!(benches);
