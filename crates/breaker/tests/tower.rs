//! The `tower` middleware: calls pass, failures count, an open breaker rejects before the
//! inner service runs.
#![cfg(feature = "tower")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hardening_breaker::tower::BreakerLayer;
use hardening_breaker::{Breaker, BreakerConfig, CallError, Outcome, SlidingWindow, State};
use tower::{Layer, Service, ServiceExt, service_fn};

fn breaker() -> Breaker {
    Breaker::new(
        "backend",
        BreakerConfig::builder()
            .sliding_window(SlidingWindow::count(2))
            .minimum_calls(2)
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn an_open_breaker_rejects_without_calling_the_service() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let breaker = breaker();
    let mut service = BreakerLayer::new(breaker.clone()).layer(service_fn(move |fail: bool| {
        seen.fetch_add(1, Ordering::SeqCst);
        async move { if fail { Err("down") } else { Ok("up") } }
    }));
    assert_eq!(service.ready().await.unwrap().call(false).await, Ok("up"));
    assert_eq!(
        service.ready().await.unwrap().call(true).await,
        Err(CallError::Inner("down"))
    );
    // One failure in two calls reaches the 50% threshold.
    assert_eq!(breaker.state(), State::Open);
    let rejected = service
        .ready()
        .await
        .unwrap()
        .call(false)
        .await
        .unwrap_err();
    assert_eq!(rejected.not_permitted().unwrap().breaker(), "backend");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the rejected call never ran"
    );
}

#[tokio::test]
async fn a_classifier_turns_error_responses_into_failures() {
    let breaker = breaker();
    let layer = BreakerLayer::new(breaker.clone()).with_classifier(|r: &Result<u16, ()>| match r {
        Ok(status) if *status >= 500 => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(()) => Outcome::Failure,
    });
    let mut service = layer.layer(service_fn(|status: u16| async move { Ok::<_, ()>(status) }));
    service.ready().await.unwrap().call(503).await.unwrap();
    service.ready().await.unwrap().call(500).await.unwrap();
    assert_eq!(breaker.state(), State::Open);
}
