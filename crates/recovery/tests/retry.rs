//! Each behaviour the retry policy promises, one test apiece, on tokio's paused clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardening_recovery::{
    Backoff, Failure, Jitter, ManualClock, Retry, RetryBudget, RetryError, RetryEvent,
    RetryEventKind, RetryHint, RetryOn, StopReason, Verdict,
};
use tokio::time::Instant;

const MS: fn(u64) -> Duration = Duration::from_millis;

/// An error as a server would send it.
#[derive(Debug, Clone, PartialEq)]
enum ApiError {
    Unavailable(Option<Duration>),
    BadRequest,
    CircuitOpen,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for ApiError {}

impl RetryHint for ApiError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Unavailable(after) => *after,
            _ => None,
        }
    }
    fn is_rejection(&self) -> bool {
        matches!(self, ApiError::CircuitOpen)
    }
}

fn policy(name: &str) -> hardening_recovery::RetryBuilder {
    Retry::builder(name).no_budget().backoff(Backoff::none())
}

/// A policy and the events it emits.
fn with_events(
    builder: hardening_recovery::RetryBuilder,
) -> (Retry, Arc<Mutex<Vec<RetryEventKind>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let retry = builder
        .on_event(move |e: &RetryEvent<'_>| sink.lock().unwrap().push(e.kind))
        .build()
        .unwrap();
    (retry, events)
}

fn delays(events: &Mutex<Vec<RetryEventKind>>) -> Vec<Duration> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            RetryEventKind::Retrying { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn stops_after_max_attempts_with_the_last_error() {
    let retry = policy("a").max_attempts(3).build().unwrap();
    let err = retry
        .run(async |attempt| Err::<(), _>(format!("failure {}", attempt.number())))
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 3);
    assert_eq!(err.reason(), StopReason::AttemptsExhausted);
    assert_eq!(err.last_error().map(String::as_str), Some("failure 3"));
}

#[tokio::test(start_paused = true)]
async fn first_success_returns_without_retrying() {
    let (retry, events) = with_events(policy("a").max_attempts(5));
    let calls = Cell::new(0);
    let value = retry
        .run(async |_| {
            calls.set(calls.get() + 1);
            Ok::<_, String>(7)
        })
        .await
        .unwrap();
    assert_eq!((value, calls.get()), (7, 1));
    assert_eq!(
        *events.lock().unwrap(),
        [RetryEventKind::Succeeded { attempts: 1 }]
    );
}

#[tokio::test(start_paused = true)]
async fn deadline_cuts_off_a_slow_attempt_and_stops() {
    let retry = policy("a")
        .max_attempts(10)
        .deadline(Duration::from_secs(1))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = retry
        .run(async |_| {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, String>(())
        })
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(err.reason(), StopReason::Deadline);
    assert_eq!(err.attempts(), 1);
    match err.last() {
        Failure::TimedOut(t) => assert_eq!(t.after(), Duration::from_secs(1)),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn deadline_stops_before_a_wait_that_would_pass_it() {
    let retry = policy("a")
        .max_attempts(10)
        .backoff(Backoff::constant(MS(400)))
        .deadline(Duration::from_secs(1))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = retry.run(async |_| Err::<(), _>("down")).await.unwrap_err();
    // Attempts at 0 ms, 400 ms and 800 ms; a fourth would start at 1200 ms, past the deadline,
    // so the loop stops at 800 ms instead of sleeping for nothing.
    assert_eq!(err.attempts(), 3);
    assert_eq!(err.reason(), StopReason::Deadline);
    assert_eq!(start.elapsed(), MS(800));
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_retries_a_hung_attempt() {
    let retry = policy("a")
        .max_attempts(3)
        .attempt_timeout(MS(100))
        .backoff(Backoff::constant(MS(10)))
        .build()
        .unwrap();
    let start = Instant::now();
    let value = retry
        .run(async |attempt| {
            if attempt.number() == 1 {
                std::future::pending::<()>().await;
            }
            Ok::<_, String>(attempt.number())
        })
        .await
        .unwrap();
    assert_eq!(value, 2);
    assert_eq!(start.elapsed(), MS(110));
}

#[tokio::test(start_paused = true)]
async fn every_attempt_timing_out_ends_with_a_timeout_as_the_last_failure() {
    let retry = policy("a")
        .max_attempts(2)
        .attempt_timeout(MS(50))
        .build()
        .unwrap();
    let err = retry
        .run(async |_| {
            std::future::pending::<()>().await;
            Ok::<(), String>(())
        })
        .await
        .unwrap_err();
    assert_eq!(err.reason(), StopReason::AttemptsExhausted);
    assert!(matches!(err.last(), Failure::TimedOut(_)));
    assert!(
        err.to_string().ends_with("attempt timed out after 50ms"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn constant_and_exponential_backoffs_wait_as_configured() {
    for (backoff, expected) in [
        (Backoff::constant(MS(30)), vec![0, 30, 60, 90, 120]),
        (
            Backoff::exponential(MS(10), 2.0, MS(50)),
            vec![0, 10, 30, 70, 120],
        ),
    ] {
        let retry = policy("a")
            .max_attempts(5)
            .backoff(backoff)
            .build()
            .unwrap();
        let start = Instant::now();
        let mut starts = Vec::new();
        let _ = retry
            .run(async |_| {
                starts.push(start.elapsed().as_millis() as u64);
                Err::<(), _>("no")
            })
            .await;
        assert_eq!(starts, expected);
    }
}

#[tokio::test(start_paused = true)]
async fn jittered_delays_stay_within_their_bounds() {
    let cases = [
        Backoff::exponential(MS(10), 2.0, MS(200)).with_jitter(Jitter::Full),
        Backoff::exponential(MS(10), 2.0, MS(200)).with_jitter(Jitter::Equal),
        Backoff::decorrelated_jitter(MS(10), MS(200)),
    ];
    for backoff in cases {
        let (retry, events) = with_events(policy("a").max_attempts(12).backoff(backoff));
        let _ = retry.run(async |_| Err::<(), _>("no")).await;
        let seen = delays(&events);
        assert_eq!(seen.len(), 11);
        let plain: Vec<_> = Backoff::exponential(MS(10), 2.0, MS(200))
            .delays(0)
            .take(11)
            .collect();
        for (i, delay) in seen.iter().enumerate() {
            let (lo, hi) = match backoff.jitter() {
                Jitter::Full => (Duration::ZERO, plain[i]),
                Jitter::Equal => (plain[i] / 2, plain[i]),
                _ => backoff.bounds(),
            };
            assert!(
                *delay >= lo && *delay <= hi,
                "{backoff:?}: {delay:?} not in {lo:?}..={hi:?}"
            );
        }
        assert!(seen.windows(2).any(|w| w[0] != w[1]), "no spread: {seen:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_seed_replays_the_same_jitter() {
    let run = async |seed| {
        let backoff = Backoff::exponential(MS(10), 2.0, MS(500)).with_jitter(Jitter::Full);
        let (retry, events) = with_events(policy("a").max_attempts(6).backoff(backoff).seed(seed));
        for _ in 0..3 {
            let _ = retry.run(async |_| Err::<(), _>("no")).await;
        }
        delays(&events)
    };
    let a = run(1).await;
    assert_eq!(a, run(1).await);
    assert_ne!(a, run(2).await);
}

#[tokio::test(start_paused = true)]
async fn ok_results_are_retried_by_predicate_and_the_last_is_returned_when_retries_run_out() {
    let (retry, events) = with_events(policy("a").max_attempts(3));
    let on = RetryOn::errors_with_hints().results(|status: &u16| *status == 503);
    let status = retry
        .run_if(on, async |attempt| {
            Ok::<_, ApiError>(if attempt.number() < 2 { 503 } else { 200 })
        })
        .await
        .unwrap();
    assert_eq!(status, 200);

    let status = retry
        .run_if(on, async |_| Ok::<u16, ApiError>(503))
        .await
        .unwrap();
    assert_eq!(status, 503);
    assert_eq!(
        events.lock().unwrap().last(),
        Some(&RetryEventKind::Stopped {
            attempts: 3,
            reason: StopReason::AttemptsExhausted
        })
    );
}

#[tokio::test(start_paused = true)]
async fn errors_the_predicate_refuses_are_not_retried() {
    let retry = policy("a").max_attempts(5).build().unwrap();
    let on = RetryOn::errors_with_hints().errors(|e: &ApiError| *e != ApiError::BadRequest);
    let err = retry
        .run_if(on, async |_| Err::<(), _>(ApiError::BadRequest))
        .await
        .unwrap_err();
    assert_eq!(
        (err.attempts(), err.reason()),
        (1, StopReason::NotRetryable)
    );
}

#[tokio::test(start_paused = true)]
async fn a_classifier_closure_has_the_last_word() {
    let retry = policy("a").max_attempts(4).build().unwrap();
    let classify = |r: &Result<u32, std::convert::Infallible>| match r {
        Ok(n) if *n < 3 => Verdict::Retry { after: Some(MS(5)) },
        _ => Verdict::Accept,
    };
    let start = Instant::now();
    let n = retry
        .run_if(classify, async |attempt| Ok(attempt.number()))
        .await
        .unwrap();
    assert_eq!((n, start.elapsed()), (3, MS(10)));
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_hint_is_honoured() {
    let retry = policy("a")
        .max_attempts(3)
        .backoff(Backoff::constant(MS(10)))
        .build()
        .unwrap();
    let start = Instant::now();
    let mut starts = Vec::new();
    let value = retry
        .run(async |attempt| {
            starts.push(start.elapsed());
            match attempt.number() {
                1 => Err(ApiError::Unavailable(Some(Duration::from_secs(3)))),
                // A hint shorter than the backoff does not shorten it.
                2 => Err(ApiError::Unavailable(Some(MS(1)))),
                _ => Ok("ok"),
            }
        })
        .await
        .unwrap();
    assert_eq!(value, "ok");
    assert_eq!(starts, [MS(0), MS(3000), MS(3010)]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_hint_past_the_deadline_stops_at_once() {
    let retry = policy("a")
        .max_attempts(3)
        .deadline(Duration::from_secs(2))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = retry
        .run(async |_| Err::<(), _>(ApiError::Unavailable(Some(Duration::from_secs(5)))))
        .await
        .unwrap_err();
    assert_eq!((err.attempts(), err.reason()), (1, StopReason::Deadline));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_do_not_call_now_rejection_is_never_retried() {
    let (retry, events) = with_events(policy("a").max_attempts(5));
    let err = retry
        .run(async |_| Err::<(), _>(ApiError::CircuitOpen))
        .await
        .unwrap_err();
    assert_eq!((err.attempts(), err.reason()), (1, StopReason::Rejected));
    assert!(delays(&events).is_empty());
    // Nested: the outer policy sees the inner stop as a rejection too.
    let outer = policy("outer").max_attempts(5).build().unwrap();
    let calls = Cell::new(0);
    let err = outer
        .run(async |_| {
            calls.set(calls.get() + 1);
            retry
                .run(async |_| Err::<(), _>(ApiError::CircuitOpen))
                .await
        })
        .await
        .unwrap_err();
    assert_eq!((calls.get(), err.reason()), (1, StopReason::Rejected));
}

/// A retry storm: 1,000 concurrent callers through `retry`, every attempt failing with
/// `error` (after a yield, when `yield_first`, so that every caller starts before any
/// retries). Returns the attempts made in all and how each caller ended.
async fn storm<E>(retry: &Retry, error: E, yield_first: bool) -> (u32, Vec<RetryError<E>>)
where
    E: hardening_recovery::RetryHint + Clone + Send + Sync + 'static,
{
    let attempts = Arc::new(AtomicU32::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (retry, attempts, error) = (retry.clone(), Arc::clone(&attempts), error.clone());
        tasks.spawn(async move {
            retry
                .run(async move |_| {
                    attempts.fetch_add(1, Ordering::Relaxed);
                    if yield_first {
                        tokio::task::yield_now().await;
                    }
                    Err::<(), _>(error.clone())
                })
                .await
        });
    }
    let mut errors = Vec::new();
    while let Some(result) = tasks.join_next().await {
        errors.push(result.unwrap().unwrap_err());
    }
    (attempts.load(Ordering::Relaxed), errors)
}

#[tokio::test(start_paused = true)]
async fn a_thousand_failing_callers_add_no_more_retries_than_the_budget_allows() {
    // No successes, so only the floor is available: 10 a second over a 10 s window.
    let budget = RetryBudget::builder()
        .ratio(0.2)
        .min_per_sec(10)
        .ttl(Duration::from_secs(10))
        .build()
        .unwrap();
    let retry = Retry::builder("storm")
        .max_attempts(5)
        .backoff(Backoff::constant(MS(10)).with_jitter(Jitter::Full))
        .budget(Arc::clone(&budget))
        .build()
        .unwrap();
    let (attempts, errors) = storm(&retry, ApiError::Unavailable(None), true).await;
    let mut by_budget = 0;
    for err in errors {
        match err.reason() {
            StopReason::BudgetExhausted => by_budget += 1,
            StopReason::AttemptsExhausted => {}
            other => panic!("unexpected stop: {other:?}"),
        }
    }
    assert!(
        attempts <= 1000 + 100,
        "{attempts} attempts: the budget allows 100 retries"
    );
    assert_eq!(
        attempts, 1100,
        "the floor should be used, not more, not less"
    );
    assert!(by_budget >= 900, "{by_budget}");
    assert_eq!(budget.balance(), 0);
}

/// The same storm on two worker threads racing for the budget, in real time (a paused clock
/// needs a current-thread runtime), with no backoff so it ends in milliseconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_threads_cannot_overdraw_the_budget() {
    let budget = RetryBudget::builder()
        .min_per_sec(2)
        .ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    let retry = Retry::builder("storm")
        .max_attempts(5)
        .backoff(Backoff::none())
        .budget(Arc::clone(&budget))
        .build()
        .unwrap();
    let (attempts, _) = storm(&retry, "down", false).await;
    // The floor is 2 a second over 60 s: 120 retries. A withdrawal checks and spends in one
    // compare-and-swap, so racing threads cannot both take the last retry. (The one
    // allowance: a withdrawal that read the clock just before a 6 s slot boundary and one just
    // after work on different slots, and may overdraw by one between them.)
    assert!((1120..=1121).contains(&attempts), "{attempts} attempts");
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_stops_retries_at_once_and_says_so() {
    let budget = RetryBudget::builder()
        .ratio(0.5)
        .min_per_sec(1)
        .ttl(Duration::from_secs(1))
        .build()
        .unwrap();
    let retry = policy("a")
        .max_attempts(10)
        .budget(Arc::clone(&budget))
        .build()
        .unwrap();
    let err = retry.run(async |_| Err::<(), _>("down")).await.unwrap_err();
    assert_eq!(
        (err.attempts(), err.reason()),
        (2, StopReason::BudgetExhausted)
    );
    assert!(err.is_budget_exhausted());
    assert!(err.to_string().contains("retry budget spent"), "{err}");

    // Successes refill it: two of them earn one retry at a ratio of 0.5.
    for _ in 0..2 {
        retry.run(async |_| Ok::<_, &str>(())).await.unwrap();
    }
    let err = retry.run(async |_| Err::<(), _>("down")).await.unwrap_err();
    assert_eq!(
        (err.attempts(), err.reason()),
        (2, StopReason::BudgetExhausted)
    );

    // A second later the window has moved on and the floor is back.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(budget.balance(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_budget_is_on_by_default() {
    let retry = Retry::builder("a")
        .backoff(Backoff::none())
        .build()
        .unwrap();
    assert!(retry.budget().is_some());
    let retry = Retry::builder("a").no_budget().build().unwrap();
    assert!(retry.budget().is_none());
}

/// A request that cannot be cloned: it must be built afresh for each attempt.
struct Request {
    body: Vec<u8>,
}

async fn send(request: Request, connection: &mut Vec<usize>) -> Result<usize, String> {
    connection.push(request.body.len());
    if connection.len() < 3 {
        Err("reset".into())
    } else {
        Ok(request.body.len())
    }
}

#[tokio::test(start_paused = true)]
async fn non_clone_requests_and_mutable_state_work_through_the_attempt_factory() {
    let retry = policy("a").max_attempts(3).build().unwrap();
    let mut connection = Vec::new();
    let sent = retry
        .run(async |attempt| {
            let request = Request {
                body: vec![0; attempt.number() as usize],
            };
            send(request, &mut connection).await
        })
        .await
        .unwrap();
    assert_eq!(sent, 3);
    assert_eq!(connection, [1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn a_retried_call_can_be_spawned() {
    // Timed, so the spawned future includes the general loop and its timers.
    let retry = policy("a")
        .max_attempts(2)
        .attempt_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let handle = tokio::spawn(async move {
        retry
            .run(async |attempt| {
                tokio::time::sleep(MS(1)).await;
                if attempt.is_retry() {
                    Ok(1)
                } else {
                    Err(ApiError::BadRequest)
                }
            })
            .await
    });
    assert_eq!(handle.await.unwrap().unwrap(), 1);
}

/// What a `tower` middleware does: box the retried call as `dyn Future + Send`, generic over
/// the call. It compiles only if `run_fn`'s future is provably `Send` in generic code (with
/// `run`, whose attempts borrow the factory, it does not: "implementation of `Send` is not
/// general enough").
fn boxed_send<M, Fut>(
    retry: Retry,
    mut make: M,
) -> std::pin::Pin<Box<dyn Future<Output = Result<u32, RetryError<ApiError>>> + Send>>
where
    M: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<u32, ApiError>> + Send + 'static,
{
    Box::pin(async move { retry.run_fn(|_| make()).await })
}

#[tokio::test(start_paused = true)]
async fn owned_attempt_futures_are_retried_like_borrowed_ones_and_stay_send() {
    let (retry, events) = with_events(policy("a").max_attempts(4));
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let handle = tokio::spawn(boxed_send(retry.clone(), move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            tokio::time::sleep(MS(1)).await;
            if n < 3 {
                Err(ApiError::Unavailable(None))
            } else {
                Ok(n)
            }
        }
    }));
    assert_eq!(handle.await.unwrap().unwrap(), 3);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        events.lock().unwrap().last(),
        Some(&RetryEventKind::Succeeded { attempts: 3 })
    );

    // A rejection is never retried; the factory sees each attempt's number.
    let mut seen = Vec::new();
    let err = retry
        .run_fn(|attempt| {
            seen.push(attempt.number());
            std::future::ready(Err::<(), _>(ApiError::CircuitOpen))
        })
        .await
        .unwrap_err();
    assert_eq!((err.attempts(), err.reason()), (1, StopReason::Rejected));
    assert_eq!(seen, [1]);

    // The classifier decides, as with `run_if`.
    let err = retry
        .run_fn_if(
            RetryOn::errors_with_hints().errors(|e: &ApiError| *e != ApiError::BadRequest),
            |_| std::future::ready(Err::<(), _>(ApiError::BadRequest)),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.attempts(), err.reason()),
        (1, StopReason::NotRetryable)
    );
}

#[tokio::test(start_paused = true)]
async fn owned_attempt_futures_are_cut_by_the_attempt_timeout() {
    let retry = policy("a")
        .max_attempts(2)
        .attempt_timeout(MS(100))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = retry
        .run_fn(|_| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok::<_, ApiError>(())
        })
        .await
        .unwrap_err();
    assert_eq!(err.reason(), StopReason::AttemptsExhausted);
    assert!(matches!(err.last(), Failure::TimedOut(_)));
    assert_eq!(start.elapsed(), MS(200));
}

#[test]
fn the_policy_reports_its_time_limits() {
    let untimed = Retry::builder("a").build().unwrap();
    assert_eq!(
        (untimed.deadline(), untimed.attempt_timeout()),
        (None, None)
    );
    let timed = Retry::builder("a")
        .deadline(Duration::from_secs(2))
        .attempt_timeout(MS(300))
        .build()
        .unwrap();
    assert_eq!(timed.deadline(), Some(Duration::from_secs(2)));
    assert_eq!(timed.attempt_timeout(), Some(MS(300)));
}

#[test]
fn the_blocking_variant_retries_on_the_policy_clock() {
    let clock = ManualClock::new();
    let retry = Retry::builder("sync")
        .max_attempts(10)
        .backoff(Backoff::constant(MS(300)))
        .deadline(Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut seen = Vec::new();
    let err = retry
        .run_blocking(|attempt| {
            seen.push((attempt.number(), clock.elapsed()));
            Err::<(), _>(ApiError::Unavailable(None))
        })
        .unwrap_err();
    assert_eq!(err.reason(), StopReason::Deadline);
    assert_eq!(seen, [(1, MS(0)), (2, MS(300)), (3, MS(600)), (4, MS(900))]);

    let value = retry
        .run_blocking(|attempt| {
            if attempt.number() == 2 {
                Ok("up")
            } else {
                Err("down")
            }
        })
        .unwrap();
    assert_eq!(value, "up");

    let err = retry
        .run_blocking(|_| Err::<(), _>(ApiError::CircuitOpen))
        .unwrap_err();
    assert_eq!((err.attempts(), err.reason()), (1, StopReason::Rejected));
}

#[test]
fn the_blocking_variant_ends_when_an_attempt_overruns_the_deadline() {
    let clock = ManualClock::new();
    let retry = Retry::builder("sync")
        .no_budget()
        .max_attempts(10)
        .backoff(Backoff::none())
        .deadline(Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    let err = retry
        .run_blocking(|_| {
            clock.advance(Duration::from_secs(2));
            Err::<(), _>("slow")
        })
        .unwrap_err();
    assert_eq!((err.attempts(), err.reason()), (1, StopReason::Deadline));
}

#[test]
fn the_builder_rejects_bad_settings_naming_the_field() {
    let field = |b: hardening_recovery::RetryBuilder| b.build().unwrap_err().field().to_string();
    assert_eq!(field(Retry::builder("a").max_attempts(0)), "max_attempts");
    assert_eq!(
        field(Retry::builder("a").deadline(Duration::ZERO)),
        "deadline"
    );
    assert_eq!(
        field(Retry::builder("a").attempt_timeout(Duration::ZERO)),
        "attempt_timeout"
    );
    assert_eq!(
        field(Retry::builder("a").backoff(Backoff::exponential(MS(0), 2.0, MS(10)))),
        "backoff.initial"
    );
    assert_eq!(
        field(Retry::builder("a").backoff(Backoff::exponential(MS(20), 2.0, MS(10)))),
        "backoff.initial"
    );
    assert_eq!(
        field(Retry::builder("a").backoff(Backoff::exponential(MS(1), f64::INFINITY, MS(10)))),
        "backoff.multiplier"
    );
    assert_eq!(
        field(Retry::builder("a").backoff(Backoff::decorrelated_jitter(MS(20), MS(10)))),
        "backoff.base"
    );
    assert_eq!(
        field(Retry::builder("a").backoff(Backoff::constant(Duration::MAX))),
        "backoff.delay"
    );
    let err = Retry::builder("a").max_attempts(0).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "max_attempts: 0 is not accepted; expected at least 1"
    );
}
