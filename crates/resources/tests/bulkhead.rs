//! The bulkhead and the adaptive limits, in virtual time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::time::Duration;

use hardening_resources::{AdaptiveBulkhead, Aimd, Bulkhead, BulkheadError, Vegas};

async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn at_most_n_at_once_and_the_queue_waits_at_most_the_max_wait() {
    let bulkhead = Bulkhead::new(2, 1, Duration::from_secs(3));
    let a = bulkhead.acquire(0).await.unwrap();
    let _b = bulkhead.acquire(0).await.unwrap();
    assert_eq!(bulkhead.in_flight(), 2);
    let started = tokio::time::Instant::now();
    let err = bulkhead.acquire(0).await.unwrap_err();
    assert_eq!(err, BulkheadError::Timeout);
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(bulkhead.queued(), 0, "a timed-out call leaves the queue");
    // A queued call gets the slot as soon as one frees.
    let waiting = {
        let bulkhead = bulkhead.clone();
        tokio::spawn(async move { bulkhead.acquire(0).await.map(|_| ()) })
    };
    settle().await;
    assert_eq!(bulkhead.queued(), 1);
    drop(a);
    waiting.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_sheds_its_lowest_priority_for_a_higher_one() {
    let bulkhead = Bulkhead::new(1, 2, Duration::from_secs(60));
    let held = bulkhead.acquire(0).await.unwrap();
    let spawn = |priority| {
        let bulkhead = bulkhead.clone();
        tokio::spawn(async move { bulkhead.acquire(priority).await.map(drop) })
    };
    let low = spawn(1);
    let mid = spawn(5);
    settle().await;
    // Full: a call of lower or equal priority than all queued is refused at once.
    assert_eq!(bulkhead.acquire(1).await.unwrap_err(), BulkheadError::Full);
    let high = spawn(9);
    settle().await;
    assert_eq!(low.await.unwrap(), Err(BulkheadError::Shed));
    drop(held);
    assert_eq!(high.await.unwrap(), Ok(()));
    assert_eq!(mid.await.unwrap(), Ok(()));
    assert_eq!(bulkhead.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_queue_is_served_by_priority() {
    let bulkhead = Bulkhead::new(1, 10, Duration::from_secs(60));
    let held = bulkhead.acquire(0).await.unwrap();
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let tasks: Vec<_> = [(1, "low"), (7, "high"), (4, "mid")]
        .into_iter()
        .map(|(priority, name)| {
            let bulkhead = bulkhead.clone();
            let order = order.clone();
            tokio::spawn(async move {
                let permit = bulkhead.acquire(priority).await.unwrap();
                order.lock().unwrap().push(name);
                drop(permit);
            })
        })
        .collect();
    settle().await;
    drop(held);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), ["high", "mid", "low"]);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_frees_its_place_and_loses_no_slot() {
    let bulkhead = Bulkhead::new(1, 1, Duration::from_secs(60));
    let held = bulkhead.acquire(0).await.unwrap();
    let waiting = {
        let bulkhead = bulkhead.clone();
        tokio::spawn(async move { bulkhead.acquire(0).await.map(drop) })
    };
    settle().await;
    waiting.abort();
    let _ = waiting.await;
    assert_eq!(bulkhead.queued(), 0);
    drop(held);
    assert_eq!(bulkhead.in_flight(), 0);
    assert!(bulkhead.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_raised_limit_admits_queued_calls_at_once() {
    let bulkhead = Bulkhead::new(1, 5, Duration::from_secs(60));
    let _held = bulkhead.acquire(0).await.unwrap();
    let waiting = {
        let bulkhead = bulkhead.clone();
        tokio::spawn(async move { bulkhead.acquire(0).await.map(drop) })
    };
    settle().await;
    bulkhead.set_limit(2);
    waiting.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_bulkhead_follows_its_algorithm() {
    let aimd = AdaptiveBulkhead::new(
        Aimd::new(4, 1, 10, 0.5, Duration::from_secs(1)),
        10,
        Duration::from_secs(5),
    );
    let permits: Vec<_> = futures_join(&aimd, 4).await;
    for p in permits {
        p.success();
    }
    // Each permit saw 1, 2, 3 and 4 calls in flight; AIMD grows only when calls fill at least
    // half the limit, so the first (1 of 4) taught nothing and the other three added one each.
    assert_eq!(aimd.limit(), 7);
    let p = aimd.acquire(0).await.unwrap();
    p.dropped();
    assert_eq!(aimd.limit(), 3, "a drop halves it (7 * 0.5, rounded down)");

    let vegas = AdaptiveBulkhead::new(Vegas::new(10, 100), 10, Duration::from_secs(5));
    let permits = futures_join(&vegas, 10).await;
    // Every call takes the same 5 ms: no sign of queueing.
    tokio::time::advance(Duration::from_millis(5)).await;
    for p in permits {
        p.success();
    }
    assert!(
        vegas.limit() > 10,
        "no queueing seen: Vegas grows ({})",
        vegas.limit()
    );
}

async fn futures_join(
    bulkhead: &AdaptiveBulkhead,
    n: usize,
) -> Vec<hardening_resources::AdaptivePermit> {
    let mut permits = Vec::new();
    for _ in 0..n {
        permits.push(bulkhead.acquire(0).await.unwrap());
    }
    permits
}
