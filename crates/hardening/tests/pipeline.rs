//! The pipeline's order, proved one rule at a time on tokio's paused clock.
//!
//! Each test names the ordering mistake it rules out: built in the wrong order (a breaker
//! inside the retry, a limiter outside the breaker, a timeout inside the bulkhead), the
//! pipeline would fail it.
#![cfg(feature = "error-recovery")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardening::breaker::{Breaker, BreakerConfig, BreakerEvent, EventKind, SlidingWindow, State};
use hardening::pipeline::{Pipeline, PipelineError, StageError};
use hardening::recovery::{Backoff, Retry, RetryEvent, RetryEventKind, StopReason};
use tokio::time::Instant;

const MS: fn(u64) -> Duration = Duration::from_millis;

/// What happened, in order: the breaker's and the retry's events and the calls made.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The breaker's verdicts only (`success`, `failure`, `ignored`, `not permitted`).
    fn verdicts(&self) -> Vec<String> {
        self.entries()
            .into_iter()
            .filter_map(|e| e.strip_prefix("breaker: ").map(str::to_owned))
            .filter(|e| !e.starts_with("rate") && !e.contains("->"))
            .collect()
    }

    /// How many calls reached the dependency.
    fn calls(&self) -> usize {
        self.entries()
            .iter()
            .filter(|e| e.starts_with("call"))
            .count()
    }
}

/// A breaker reporting to `log` that opens when half of the last `window` calls (at least
/// `window`) failed, and stays open for a minute.
fn breaker(log: &Log, window: u32) -> Breaker {
    let config = BreakerConfig::builder()
        .sliding_window(SlidingWindow::count(window))
        .minimum_calls(window)
        .failure_rate_threshold(50.0)
        .open_duration(Duration::from_secs(60))
        .build()
        .unwrap();
    let log = log.clone();
    Breaker::builder("dependency")
        .config(config)
        .on_event(move |event: &BreakerEvent<'_>| {
            log.push(match event.kind {
                EventKind::Success { .. } => "breaker: success".to_owned(),
                EventKind::Failure { .. } => "breaker: failure".to_owned(),
                EventKind::Ignored => "breaker: ignored".to_owned(),
                EventKind::NotPermitted => "breaker: not permitted".to_owned(),
                EventKind::StateTransition { from, to } => format!("breaker: {from:?} -> {to:?}"),
                EventKind::FailureRateExceeded { rate } => format!("breaker: rate {rate}"),
                other => format!("breaker: {other:?}"),
            })
        })
        .build()
}

/// A retry of at most `attempts` attempts without waits or budget, reporting to `log`.
fn retry(log: &Log, attempts: u32) -> Retry {
    let log = log.clone();
    Retry::builder("dependency")
        .max_attempts(attempts)
        .backoff(Backoff::none())
        .no_budget()
        .on_event(move |event: &RetryEvent<'_>| {
            log.push(match event.kind {
                RetryEventKind::Retrying { attempt, .. } => format!("retry: after {attempt}"),
                RetryEventKind::Stopped { attempts, reason } => {
                    format!("retry: stopped after {attempts} ({reason})")
                }
                RetryEventKind::Succeeded { attempts } => {
                    format!("retry: succeeded after {attempts}")
                }
                other => format!("retry: {other:?}"),
            })
        })
        .build()
        .unwrap()
}

/// A call that logs itself and fails.
async fn failing(log: &Log) -> Result<u32, String> {
    log.push("call");
    Err("refused".to_owned())
}

/// A call that logs itself, takes `took` and succeeds.
async fn slow(log: &Log, took: Duration) -> Result<u32, String> {
    log.push("call");
    tokio::time::sleep(took).await;
    Ok(1)
}

// Mistake ruled out: a retry inside the breaker, which retries the breaker's refusal (or a
// retry that ignores "do not call now").
#[tokio::test(start_paused = true)]
async fn a_retry_never_retries_a_breaker_rejection() {
    let log = Log::default();
    let breaker = breaker(&log, 2);
    let pipeline = Pipeline::builder("p")
        .retry(retry(&log, 5))
        .breaker(breaker.clone())
        .build()
        .unwrap();

    // Two failures open the breaker; the third attempt is refused and ends the call.
    let err = pipeline
        .call(async || failing(&log).await)
        .await
        .unwrap_err();
    assert!(matches!(err.last(), StageError::BreakerOpen(_)), "{err}");
    assert_eq!(
        (err.attempts(), err.stopped()),
        (3, Some(StopReason::Rejected))
    );
    assert_eq!(log.calls(), 2);
    assert_eq!(breaker.state(), State::Open);

    // Open already: one refused attempt, no call.
    let err = pipeline
        .call(async || failing(&log).await)
        .await
        .unwrap_err();
    assert_eq!(
        (err.attempts(), err.stopped()),
        (1, Some(StopReason::Rejected))
    );
    assert_eq!(log.calls(), 2);
    assert_eq!(
        log.verdicts(),
        ["failure", "failure", "not permitted", "not permitted"]
    );
}

// Mistake ruled out: a breaker outside the retry, which sees one call where the dependency
// failed three times, and so opens three times too slowly.
#[tokio::test(start_paused = true)]
async fn each_retry_attempt_is_judged_by_the_breaker() {
    let log = Log::default();
    let breaker = breaker(&log, 100);
    let pipeline = Pipeline::builder("p")
        .breaker(breaker.clone())
        .retry(retry(&log, 3))
        .build()
        .unwrap();
    let err = pipeline
        .call(async || failing(&log).await)
        .await
        .unwrap_err();
    assert_eq!(
        (err.attempts(), err.stopped()),
        (3, Some(StopReason::AttemptsExhausted))
    );
    assert_eq!(breaker.metrics().failed_total, 3);
    assert_eq!(log.verdicts(), ["failure", "failure", "failure"]);
}

// Mistake ruled out: a timeout outside the breaker, which cancels the call before the
// breaker hears how it ended (a dropped permit counts as ignored).
#[tokio::test(start_paused = true)]
async fn a_timeout_counts_as_a_breaker_failure_and_is_retried() {
    let log = Log::default();
    let breaker = breaker(&log, 100);
    let pipeline = Pipeline::builder("p")
        .retry(retry(&log, 2))
        .breaker(breaker.clone())
        .timeout(MS(100))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = pipeline
        .call(async || slow(&log, Duration::from_secs(10)).await)
        .await
        .unwrap_err();
    assert!(
        matches!(err.last(), StageError::TimedOut(d) if *d == MS(100)),
        "{err}"
    );
    assert_eq!(
        (err.attempts(), err.stopped()),
        (2, Some(StopReason::AttemptsExhausted))
    );
    assert_eq!(start.elapsed(), MS(200));
    assert_eq!(breaker.metrics().failed_total, 2);
    assert_eq!(log.verdicts(), ["failure", "failure"]);
}

// Mistake ruled out: a timeout inside the bulkhead, which lets a caller wait the whole queue
// and then the whole timeout.
#[cfg(feature = "resource-management")]
#[tokio::test(start_paused = true)]
async fn the_timeout_covers_the_wait_for_a_bulkhead_slot_and_the_call() {
    use hardening::resources::{Bulkhead, BulkheadError};

    let log = Log::default();
    let breaker = breaker(&log, 100);
    let bulkhead = Bulkhead::new(1, 4, Duration::from_secs(10));
    let pipeline = Pipeline::builder("p")
        .bulkhead(bulkhead.clone(), 0)
        .timeout(MS(100))
        .breaker(breaker.clone())
        .build()
        .unwrap();

    // The only slot is taken and stays taken: the attempt ends at the pipeline's 100 ms, not
    // the bulkhead's 10 s, as a refusal: the dependency was never called, so the breaker
    // ignores it.
    let held = bulkhead.acquire(0).await.unwrap();
    let start = Instant::now();
    let err = pipeline
        .call(async || slow(&log, MS(1)).await)
        .await
        .unwrap_err();
    assert!(
        matches!(err.last(), StageError::BulkheadFull(BulkheadError::Timeout)),
        "{err}"
    );
    assert_eq!(start.elapsed(), MS(100));
    assert_eq!(log.calls(), 0);
    assert_eq!(log.verdicts(), ["ignored"]);

    // The slot frees after 60 ms and the call takes 60 ms: 120 ms in all, over the limit of
    // 100 ms that covers both. The call had started, so this is the dependency's timeout.
    tokio::spawn(async move {
        tokio::time::sleep(MS(60)).await;
        drop(held);
    });
    let start = Instant::now();
    let err = pipeline
        .call(async || slow(&log, MS(60)).await)
        .await
        .unwrap_err();
    assert!(matches!(err.last(), StageError::TimedOut(_)), "{err}");
    assert_eq!(start.elapsed(), MS(100));
    assert_eq!(log.calls(), 1);
    assert_eq!(log.verdicts(), ["ignored", "failure"]);
}

// Mistake ruled out: a rate limiter outside the breaker, which spends the quota on calls an
// open breaker then refuses.
#[cfg(feature = "resource-management")]
#[tokio::test(start_paused = true)]
async fn the_rate_limiter_spends_nothing_when_the_breaker_rejects() {
    use hardening::resources::{RateLimiter, quota};

    let log = Log::default();
    let breaker = breaker(&log, 100);
    // One permit, the next a second later (the limiter reads the system clock: this test
    // needs only that the next one is not due within its run).
    let limiter = RateLimiter::new(quota(1, 1).unwrap());
    let pipeline = Pipeline::builder("p")
        .rate_limiter(limiter.clone())
        .breaker(breaker.clone())
        .build()
        .unwrap();

    breaker.transition_to(State::ForcedOpen);
    for _ in 0..5 {
        let err = pipeline
            .call(async || slow(&log, MS(1)).await)
            .await
            .unwrap_err();
        assert!(matches!(err.last(), StageError::BreakerOpen(_)), "{err}");
    }
    breaker.transition_to(State::Closed);
    // The one permit is still there.
    assert_eq!(
        pipeline
            .call(async || slow(&log, MS(1)).await)
            .await
            .unwrap(),
        1
    );
    // And it was the only one.
    let err = pipeline
        .call(async || slow(&log, MS(1)).await)
        .await
        .unwrap_err();
    assert!(matches!(err.last(), StageError::RateLimited(_)), "{err}");
    assert_eq!(log.calls(), 1);
}

// A refusal by a stage inside the breaker is no verdict on the dependency, and is never
// retried.
#[cfg(feature = "resource-management")]
#[tokio::test(start_paused = true)]
async fn inner_refusals_are_ignored_by_the_breaker_and_never_retried() {
    use hardening::resources::{Bulkhead, BulkheadError, RateLimiter, quota};

    let log = Log::default();
    let breaker = breaker(&log, 100);
    let limiter = RateLimiter::new(quota(1, 1).unwrap());
    limiter.check().unwrap(); // spend the only permit
    let limited = Pipeline::builder("p")
        .retry(retry(&log, 5))
        .breaker(breaker.clone())
        .rate_limiter(limiter)
        .build()
        .unwrap();
    let err = limited
        .call(async || failing(&log).await)
        .await
        .unwrap_err();
    assert!(matches!(err.last(), StageError::RateLimited(_)), "{err}");
    assert_eq!(
        (err.attempts(), err.stopped()),
        (1, Some(StopReason::Rejected))
    );

    let bulkhead = Bulkhead::new(1, 0, Duration::from_secs(1));
    let _held = bulkhead.acquire(0).await.unwrap();
    let full = Pipeline::builder("p")
        .retry(retry(&log, 5))
        .breaker(breaker.clone())
        .bulkhead(bulkhead, 0)
        .build()
        .unwrap();
    let err = full.call(async || failing(&log).await).await.unwrap_err();
    assert!(
        matches!(err.last(), StageError::BulkheadFull(BulkheadError::Full)),
        "{err}"
    );
    assert_eq!(
        (err.attempts(), err.stopped()),
        (1, Some(StopReason::Rejected))
    );

    assert_eq!(log.calls(), 0);
    assert_eq!(log.verdicts(), ["ignored", "ignored"]);
    assert_eq!(breaker.metrics().failed_total, 0);
}

/// A scripted run through a pipeline built by `build`, returning everything that happened.
/// The script: successes, failures, a slow call, until the breaker opens and refuses.
async fn scripted_run(build: impl FnOnce(&Log) -> Pipeline) -> Vec<String> {
    let log = Log::default();
    let pipeline = build(&log);
    // The breaker opens after the sixth call: S F S F F F (two thirds failed).
    let script = ["ok", "fail", "ok", "slow", "slow", "slow"];
    let mut step = 0;
    for round in 0..5 {
        let outcome = pipeline
            .call(async || {
                let what = script.get(step).copied().unwrap_or("ok");
                step += 1;
                log.push(format!("call {what}"));
                match what {
                    "fail" => Err(format!("failure {step}")),
                    "slow" => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        Ok(step)
                    }
                    _ => Ok(step),
                }
            })
            .await;
        log.push(match outcome {
            Ok(value) => format!("round {round}: ok {value}"),
            // Not the message: a breaker's refusal tells the rest of its open time, which it
            // reads from the system clock.
            Err(e) => format!(
                "round {round}: {} attempt(s), {:?}, {}",
                e.attempts(),
                e.stopped(),
                match e.last() {
                    StageError::BreakerOpen(open) => format!("breaker {:?}", open.state()),
                    other => other.to_string(),
                }
            ),
        });
    }
    log.entries()
}

// The builder only switches stages on: given in another order, they run in the same one.
#[tokio::test(start_paused = true)]
async fn the_order_of_the_builder_calls_does_not_change_behaviour() {
    let forward = scripted_run(|log| {
        let builder = Pipeline::builder("p")
            .retry(retry(log, 3))
            .breaker(breaker(log, 6));
        #[cfg(feature = "resource-management")]
        let builder = builder.rate_limiter(hardening::resources::RateLimiter::new(
            hardening::resources::quota(1000, 1000).unwrap(),
        ));
        let builder = builder.timeout(MS(100));
        #[cfg(feature = "resource-management")]
        let builder = builder.bulkhead(
            hardening::resources::Bulkhead::new(2, 2, Duration::from_secs(1)),
            0,
        );
        builder.build().unwrap()
    })
    .await;
    let backward = scripted_run(|log| {
        let builder = Pipeline::builder("p");
        #[cfg(feature = "resource-management")]
        let builder = builder.bulkhead(
            hardening::resources::Bulkhead::new(2, 2, Duration::from_secs(1)),
            0,
        );
        let builder = builder.timeout(MS(100));
        #[cfg(feature = "resource-management")]
        let builder = builder.rate_limiter(hardening::resources::RateLimiter::new(
            hardening::resources::quota(1000, 1000).unwrap(),
        ));
        // The breaker is built before the retry here, so their listeners are set up in the
        // other order too.
        let breaker = breaker(log, 6);
        builder
            .breaker(breaker)
            .retry(retry(log, 3))
            .build()
            .unwrap()
    })
    .await;
    assert_eq!(forward, backward);
    // The script exercised every path: retries, timeouts, an opened breaker's refusals.
    for seen in [
        "round 1: ok 3",
        "round 2: 3 attempt(s), Some(AttemptsExhausted), timed out after 100ms",
        "breaker: Closed -> Open",
        "round 3: 1 attempt(s), Some(Rejected), breaker Open",
    ] {
        assert!(
            forward.iter().any(|e| e == seen),
            "{seen} missing: {forward:#?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_error_tells_attempts_why_the_retry_stopped_and_the_last_error() {
    let log = Log::default();
    let pipeline = Pipeline::builder("inventory")
        .retry(retry(&log, 3))
        .build()
        .unwrap();
    let mut n = 0;
    let err: PipelineError<String> = pipeline
        .call(async || {
            n += 1;
            Err::<(), _>(format!("refused {n}"))
        })
        .await
        .unwrap_err();
    assert_eq!(err.pipeline(), "inventory");
    assert_eq!(err.attempts(), 3);
    assert_eq!(err.stopped(), Some(StopReason::AttemptsExhausted));
    assert_eq!(err.last().failed().map(String::as_str), Some("refused 3"));
    assert!(!err.is_rejection());
    assert_eq!(
        err.to_string(),
        "pipeline 'inventory' gave up after 3 attempts (attempts exhausted): refused 3"
    );
    let source = std::error::Error::source(&err).unwrap();
    assert_eq!(source.to_string(), "refused 3");
    assert_eq!(err.into_last().into_failed().as_deref(), Some("refused 3"));

    // Errors the predicate does not pick stop at once.
    let err = pipeline
        .call_if(
            |e: &String| e != "bad request",
            async || Err::<(), _>("bad request".to_owned()),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.attempts(), err.stopped()),
        (1, Some(StopReason::NotRetryable))
    );

    // The retry's deadline cuts the call off.
    let deadline = Retry::builder("inventory")
        .max_attempts(10)
        .backoff(Backoff::none())
        .deadline(MS(250))
        .build()
        .unwrap();
    let pipeline = Pipeline::builder("inventory")
        .retry(deadline)
        .timeout(MS(100))
        .build()
        .unwrap();
    let err = pipeline
        .call(async || slow(&log, Duration::from_secs(1)).await)
        .await
        .unwrap_err();
    assert_eq!(
        (err.attempts(), err.stopped()),
        (3, Some(StopReason::Deadline))
    );
    assert!(
        matches!(err.last(), StageError::TimedOut(d) if *d == MS(50)),
        "{err}"
    );

    // Without a retry stage: one attempt, no stop reason.
    let breaker = breaker(&log, 100);
    breaker.transition_to(State::ForcedOpen);
    let pipeline = Pipeline::builder("inventory")
        .breaker(breaker)
        .build()
        .unwrap();
    let err = pipeline
        .call(async || failing(&log).await)
        .await
        .unwrap_err();
    assert_eq!((err.attempts(), err.stopped()), (1, None));
    assert!(err.is_rejection());
    assert!(
        err.to_string().starts_with("pipeline 'inventory' failed: "),
        "{err}"
    );
}

#[test]
fn the_builder_refuses_settings_that_cannot_work() {
    let err = Pipeline::builder("p")
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "timeout");

    // A per-attempt timeout in the retry would time attempts outside the breaker.
    let timed = Retry::builder("p")
        .attempt_timeout(MS(100))
        .build()
        .unwrap();
    let err = Pipeline::builder("p").retry(timed).build().unwrap_err();
    assert_eq!(err.field(), "retry");
    assert!(err.expected().contains("`timeout`"), "{err}");

    // A deadline over the whole call is fine.
    let bounded = Retry::builder("p").deadline(MS(100)).build().unwrap();
    assert!(Pipeline::builder("p").retry(bounded).build().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_the_pipeline_can_be_spawned() {
    let pipeline = Pipeline::builder("p")
        .retry(
            Retry::builder("p")
                .backoff(Backoff::none())
                .build()
                .unwrap(),
        )
        .breaker(Breaker::builder("p").build())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let handle = tokio::spawn(async move {
        let mut n = 0;
        pipeline
            .call(async move || {
                n += 1;
                tokio::task::yield_now().await;
                if n < 2 { Err("flaky") } else { Ok(n) }
            })
            .await
    });
    assert_eq!(handle.await.unwrap().unwrap(), 2);
}

#[cfg(feature = "tower")]
mod tower_layer {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicU32, Ordering};

    use hardening::pipeline::{PipelineLayer, PipelineService};
    use tower::{Layer, Service, ServiceExt, service_fn};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_layer_runs_a_service_through_every_stage() {
        let log = Log::default();
        let breaker = breaker(&log, 100);
        let pipeline = Pipeline::builder("echo")
            .retry(retry(&log, 3))
            .breaker(breaker.clone())
            .timeout(MS(100))
            .build()
            .unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let seen = Arc::clone(&calls);
        let mut service = PipelineLayer::new(pipeline).layer(service_fn(move |n: u32| {
            let call = seen.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                match call {
                    1 => Err("refused"),
                    2 => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Ok(0)
                    }
                    _ => Ok(n * 2),
                }
            }
        }));
        let start = Instant::now();
        let answer = service.ready().await.unwrap().call(21).await.unwrap();
        assert_eq!(answer, 42);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(start.elapsed(), MS(100));
        assert_eq!(log.verdicts(), ["failure", "failure", "success"]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_layer_rejects_without_calling_the_service_when_the_breaker_is_open() {
        let log = Log::default();
        let breaker = breaker(&log, 100);
        let pipeline = Pipeline::builder("echo")
            .retry(retry(&log, 3))
            .breaker(breaker.clone())
            .build()
            .unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let seen = Arc::clone(&calls);
        let mut service = PipelineLayer::new(pipeline).layer(service_fn(move |n: u32| {
            seen.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, Infallible>(n) }
        }));
        breaker.transition_to(State::ForcedOpen);
        let err = service.ready().await.unwrap().call(1).await.unwrap_err();
        assert!(matches!(err.last(), StageError::BreakerOpen(_)), "{err}");
        assert_eq!(
            (err.attempts(), err.stopped()),
            (1, Some(StopReason::Rejected))
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0);

        breaker.transition_to(State::Closed);
        assert_eq!(service.ready().await.unwrap().call(7).await.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// Compiles only if the service's response future is `Send` for any `Send` inner service.
    #[allow(dead_code, reason = "a compile-time assertion")]
    fn response_future_is_send<S, R>(service: &mut PipelineService<S>, request: R)
    where
        S: Service<R> + Clone + Send + 'static,
        S::Future: Send,
        S::Response: Send,
        S::Error: Send,
        R: Clone + Send + 'static,
    {
        fn is_send<T: Send>(_: &T) {}
        is_send(&service.call(request));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_layer_future_can_be_spawned() {
        let pipeline = Pipeline::builder("echo")
            .retry(
                Retry::builder("echo")
                    .backoff(Backoff::none())
                    .build()
                    .unwrap(),
            )
            .breaker(Breaker::builder("echo").build())
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let mut service = PipelineLayer::new(pipeline).layer(service_fn(|n: u32| async move {
            Ok::<_, Infallible>(n + 1)
        }));
        let future = service.ready().await.unwrap().call(1);
        assert_eq!(tokio::spawn(future).await.unwrap().unwrap(), 2);
    }
}
