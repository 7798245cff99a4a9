//! Each behaviour the breaker promises, one test apiece, on a manual clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardening_breaker::{
    Breaker, BreakerConfig, BreakerConfigBuilder, BreakerEvent, CallError, EventKind, ManualClock,
    OpenDuration, Outcome, Registry, SlidingWindow, State,
};

/// A breaker on a manual clock, and the events it emits.
struct Rig {
    breaker: Breaker,
    clock: ManualClock,
    events: Arc<Mutex<Vec<EventKind>>>,
}

impl Rig {
    fn new(config: BreakerConfigBuilder) -> Rig {
        let clock = ManualClock::new();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let breaker = Breaker::builder("dep")
            .config(config.build().unwrap())
            .clock(clock.clone())
            .on_event(move |event: &BreakerEvent<'_>| {
                assert_eq!(event.breaker, "dep");
                sink.lock().unwrap().push(event.kind);
            })
            .build();
        Rig {
            breaker,
            clock,
            events,
        }
    }

    fn ok(&self) -> Result<(), CallError<&'static str>> {
        self.breaker.call(|| Ok(()))
    }

    fn fail(&self) -> Result<(), CallError<&'static str>> {
        self.breaker.call(|| Err("boom"))
    }

    /// A call that takes `d` on the manual clock.
    fn slow(&self, d: Duration, outcome: Outcome) {
        let permit = self.breaker.try_acquire().unwrap();
        self.clock.advance(d);
        permit.record(outcome);
    }

    fn transitions(&self) -> Vec<(State, State)> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                EventKind::StateTransition { from, to } => Some((*from, *to)),
                _ => None,
            })
            .collect()
    }

    fn count(&self, pred: impl Fn(&EventKind) -> bool) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| pred(e))
            .count()
    }
}

fn count_window(size: u32, min: u32) -> BreakerConfigBuilder {
    BreakerConfig::builder()
        .sliding_window(SlidingWindow::count(size))
        .minimum_calls(min)
        .open_duration(Duration::from_secs(10))
        .permitted_calls_in_half_open(2)
}

#[test]
fn opens_when_the_failure_rate_reaches_the_threshold_after_the_minimum_calls() {
    let rig = Rig::new(count_window(10, 4).failure_rate_threshold(50.0));
    rig.fail().unwrap_err();
    rig.fail().unwrap_err();
    rig.fail().unwrap_err();
    // Three failures, but fewer than the minimum number of calls: not judged yet.
    assert_eq!(rig.breaker.state(), State::Closed);
    rig.ok().unwrap();
    // 3 of 4 failed: 75% ≥ 50%.
    assert_eq!(rig.breaker.state(), State::Open);
    assert_eq!(rig.transitions(), [(State::Closed, State::Open)]);
    assert_eq!(
        rig.count(|e| matches!(e, EventKind::FailureRateExceeded { rate } if *rate == 75.0)),
        1
    );
}

#[test]
fn stays_closed_below_the_threshold() {
    let rig = Rig::new(count_window(10, 10).failure_rate_threshold(50.0));
    for i in 0..100 {
        if i % 5 == 0 {
            rig.fail().unwrap_err();
        } else {
            rig.ok().unwrap();
        }
    }
    assert_eq!(rig.breaker.state(), State::Closed);
    let metrics = rig.breaker.metrics();
    assert_eq!(metrics.failure_rate, Some(20.0));
    assert_eq!(metrics.buffered_calls, 10);
    assert_eq!(metrics.failed_calls, 2);
    assert_eq!(metrics.successful_total, 80);
    assert_eq!(metrics.failed_total, 20);
}

#[test]
fn a_rejection_names_the_breaker_and_the_time_until_a_probe() {
    let rig = Rig::new(count_window(2, 2).failure_rate_threshold(50.0));
    rig.fail().unwrap_err();
    rig.fail().unwrap_err();
    rig.clock.advance(Duration::from_secs(4));
    let err = rig.ok().unwrap_err();
    let rejection = err.not_permitted().expect("rejected");
    assert_eq!(rejection.breaker(), "dep");
    assert_eq!(rejection.state(), State::Open);
    assert_eq!(rejection.retry_after(), Some(Duration::from_secs(6)));
    assert_eq!(
        rejection.to_string(),
        "circuit breaker 'dep' is open; it may admit a probe in 6s"
    );
    assert_eq!(rig.count(|e| *e == EventKind::NotPermitted), 1);
    assert_eq!(rig.breaker.metrics().not_permitted_total, 1);
}

#[test]
fn slow_calls_open_the_breaker_by_their_own_rate() {
    let rig = Rig::new(
        count_window(4, 4)
            .failure_rate_threshold(100.0)
            .slow_call_duration_threshold(Duration::from_millis(500))
            .slow_call_rate_threshold(50.0),
    );
    rig.slow(Duration::from_millis(100), Outcome::Success);
    rig.slow(Duration::from_millis(600), Outcome::Success);
    rig.slow(Duration::from_millis(499), Outcome::Success);
    assert_eq!(rig.breaker.state(), State::Closed);
    rig.slow(Duration::from_millis(500), Outcome::Success);
    // 2 of 4 at or above 500 ms.
    assert_eq!(rig.breaker.state(), State::Open);
    assert_eq!(
        rig.count(|e| matches!(e, EventKind::SlowCallRateExceeded { rate } if *rate == 50.0)),
        1
    );
    assert_eq!(rig.breaker.metrics().slow_total, 2);
}

#[test]
fn a_caller_measured_duration_is_judged_for_slowness() {
    let rig = Rig::new(
        count_window(1, 1)
            .slow_call_duration_threshold(Duration::from_millis(10))
            .slow_call_rate_threshold(100.0),
    );
    rig.breaker
        .try_acquire()
        .unwrap()
        .record_with_duration(Outcome::Success, Duration::from_millis(11));
    assert_eq!(rig.breaker.state(), State::Open);
}

#[test]
fn consecutive_failures_mode_opens_on_a_run_and_a_success_breaks_it() {
    let rig =
        Rig::new(BreakerConfig::builder().sliding_window(SlidingWindow::consecutive_failures(3)));
    rig.fail().unwrap_err();
    rig.fail().unwrap_err();
    rig.ok().unwrap();
    rig.fail().unwrap_err();
    rig.fail().unwrap_err();
    assert_eq!(rig.breaker.state(), State::Closed);
    rig.fail().unwrap_err();
    assert_eq!(rig.breaker.state(), State::Open);
}

#[test]
fn time_window_forgets_failures_older_than_its_span() {
    let rig = Rig::new(
        BreakerConfig::builder()
            .sliding_window(SlidingWindow::seconds(10))
            .minimum_calls(4)
            .failure_rate_threshold(50.0),
    );
    rig.fail().unwrap_err();
    rig.fail().unwrap_err();
    rig.fail().unwrap_err();
    rig.clock.advance(Duration::from_secs(11));
    // The three failures fell out of the window: 1 failure in 4 calls is 25%.
    rig.ok().unwrap();
    rig.ok().unwrap();
    rig.ok().unwrap();
    rig.fail().unwrap_err();
    assert_eq!(rig.breaker.state(), State::Closed);
    assert_eq!(rig.breaker.metrics().buffered_calls, 4);
    rig.fail().unwrap_err();
    rig.fail().unwrap_err();
    // 3 of 6 in the last ten seconds.
    assert_eq!(rig.breaker.state(), State::Open);
}

#[test]
fn half_open_admits_exactly_n_probes_and_closes_when_they_pass() {
    let rig = Rig::new(count_window(2, 2));
    rig.fail().unwrap_err();
    rig.fail().unwrap_err();
    rig.clock.advance(Duration::from_secs(10));
    let first = rig.breaker.try_acquire().unwrap();
    let second = rig.breaker.try_acquire().unwrap();
    assert!(first.is_probe() && second.is_probe());
    let third = rig.breaker.try_acquire().unwrap_err();
    assert_eq!(third.state(), State::HalfOpen);
    assert_eq!(third.retry_after(), None);
    first.success();
    second.success();
    assert_eq!(rig.breaker.state(), State::Closed);
    assert_eq!(
        rig.transitions(),
        [
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed)
        ]
    );
}

#[test]
fn half_open_reopens_when_the_probes_fail() {
    let rig = Rig::new(count_window(2, 2).failure_rate_threshold(50.0));
    rig.fail().unwrap_err();
    rig.fail().unwrap_err();
    rig.clock.advance(Duration::from_secs(10));
    rig.ok().unwrap();
    assert_eq!(rig.breaker.state(), State::HalfOpen);
    rig.fail().unwrap_err();
    // One of two probes failed: 50% ≥ 50%.
    assert_eq!(rig.breaker.state(), State::Open);
}

#[test]
fn a_dropped_probe_gives_its_slot_back_and_counts_as_ignored() {
    let rig = Rig::new(count_window(2, 2).permitted_calls_in_half_open(1));
    rig.fail().unwrap_err();
    rig.fail().unwrap_err();
    rig.clock.advance(Duration::from_secs(10));
    let probe = rig.breaker.try_acquire().unwrap();
    assert!(rig.breaker.try_acquire().is_err());
    drop(probe);
    assert_eq!(rig.count(|e| *e == EventKind::Ignored), 1);
    let probe = rig.breaker.try_acquire().expect("the slot came back");
    probe.success();
    assert_eq!(rig.breaker.state(), State::Closed);
    assert_eq!(rig.breaker.metrics().ignored_total, 1);
}

#[test]
fn a_cancelled_future_releases_its_probe() {
    let rig = Rig::new(count_window(2, 2).permitted_calls_in_half_open(1));
    rig.breaker.transition_to(State::HalfOpen);
    {
        let call = rig
            .breaker
            .call_async(std::future::pending::<Result<(), ()>>());
        let mut call = std::pin::pin!(call);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(call.as_mut().poll(&mut cx).is_pending());
        assert!(rig.breaker.try_acquire().is_err(), "the probe is held");
        // Dropped here, unfinished.
    }
    assert!(
        rig.breaker.try_acquire().is_ok(),
        "the probe was given back"
    );
}

#[test]
fn the_open_duration_backs_off_and_restarts_once_closed() {
    let rig = Rig::new(
        count_window(1, 1)
            .permitted_calls_in_half_open(1)
            .open_duration(OpenDuration::exponential(
                Duration::from_secs(1),
                2.0,
                Duration::from_secs(5),
            )),
    );
    let retry_after = |rig: &Rig| rig.ok().unwrap_err().not_permitted().unwrap().retry_after();
    rig.fail().unwrap_err();
    assert_eq!(retry_after(&rig), Some(Duration::from_secs(1)));
    for expected in [2, 4, 5, 5] {
        rig.clock.advance(Duration::from_secs(5));
        rig.fail().unwrap_err(); // the probe fails: open again, longer
        assert_eq!(retry_after(&rig), Some(Duration::from_secs(expected)));
    }
    rig.clock.advance(Duration::from_secs(5));
    rig.ok().unwrap(); // the probe passes: closed
    assert_eq!(rig.breaker.state(), State::Closed);
    rig.fail().unwrap_err();
    assert_eq!(retry_after(&rig), Some(Duration::from_secs(1)));
}

#[test]
fn half_open_gives_up_after_the_maximum_wait() {
    let rig = Rig::new(count_window(1, 1).max_wait_in_half_open(Duration::from_secs(3)));
    rig.breaker.transition_to(State::HalfOpen);
    let _held = rig.breaker.try_acquire().unwrap();
    rig.clock.advance(Duration::from_secs(3));
    assert_eq!(rig.breaker.state(), State::Open);
    assert_eq!(
        rig.transitions().last(),
        Some(&(State::HalfOpen, State::Open))
    );
}

#[test]
fn automatic_half_open_needs_no_call() {
    let rig = Rig::new(count_window(1, 1).automatic_half_open(true));
    rig.fail().unwrap_err();
    let due = rig
        .breaker
        .next_due()
        .expect("an automatic transition is due");
    rig.clock.advance(Duration::from_secs(10));
    assert!(due <= hardening_breaker::Clock::now(&rig.clock));
    assert_eq!(rig.breaker.state(), State::HalfOpen);
    // Without the option an open breaker waits for a call.
    let manual = Rig::new(count_window(1, 1));
    manual.fail().unwrap_err();
    manual.clock.advance(Duration::from_secs(10));
    assert_eq!(manual.breaker.state(), State::Open);
    assert_eq!(manual.breaker.next_due(), None);
}

#[test]
fn automatic_half_open_happens_on_the_system_clock_with_no_call_and_no_read() {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = Mutex::new(tx);
    let breaker = Breaker::builder("auto")
        .config(
            count_window(1, 1)
                .automatic_half_open(true)
                .open_duration(Duration::from_millis(20))
                .build()
                .unwrap(),
        )
        .on_event(move |event: &BreakerEvent<'_>| {
            if let EventKind::StateTransition { to, .. } = event.kind {
                let _ = tx.lock().unwrap().send(to);
            }
        })
        .build();
    let _ = breaker.call(|| Err::<(), _>(()));
    assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(State::Open));
    // Nothing reads or calls the breaker: the timer thread moves it.
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(30)),
        Ok(State::HalfOpen)
    );
}

#[test]
fn forced_open_rejects_until_moved_and_says_so() {
    let rig = Rig::new(count_window(10, 10));
    rig.breaker.transition_to(State::ForcedOpen);
    rig.clock.advance(Duration::from_secs(3600));
    let err = rig.ok().unwrap_err();
    let rejection = err.not_permitted().unwrap();
    assert_eq!(rejection.state(), State::ForcedOpen);
    assert_eq!(rejection.retry_after(), None);
    assert!(rejection.to_string().contains("until moved by an operator"));
    rig.breaker.transition_to(State::Closed);
    rig.ok().unwrap();
}

#[test]
fn disabled_lets_everything_through_and_records_nothing() {
    let rig = Rig::new(count_window(2, 2));
    rig.breaker.transition_to(State::Disabled);
    for _ in 0..10 {
        rig.fail().unwrap_err();
    }
    assert_eq!(rig.breaker.state(), State::Disabled);
    let metrics = rig.breaker.metrics();
    assert_eq!(metrics.failed_total, 0);
    assert_eq!(metrics.buffered_calls, 0);
}

#[test]
fn metrics_only_records_and_announces_but_never_opens() {
    let rig = Rig::new(count_window(4, 4));
    rig.breaker.transition_to(State::MetricsOnly);
    for _ in 0..10 {
        rig.fail().unwrap_err();
    }
    assert_eq!(rig.breaker.state(), State::MetricsOnly);
    assert_eq!(rig.breaker.metrics().failure_rate, Some(100.0));
    assert_eq!(
        rig.count(|e| matches!(e, EventKind::FailureRateExceeded { .. })),
        1
    );
}

#[test]
fn reset_closes_and_empties_the_window() {
    let rig = Rig::new(count_window(4, 2));
    rig.fail().unwrap_err();
    rig.fail().unwrap_err();
    assert_eq!(rig.breaker.state(), State::Open);
    rig.breaker.reset();
    assert_eq!(rig.breaker.state(), State::Closed);
    assert_eq!(rig.breaker.metrics().buffered_calls, 0);
    assert_eq!(rig.count(|e| *e == EventKind::Reset), 1);
    // One failure after the reset is below the minimum again.
    rig.fail().unwrap_err();
    assert_eq!(rig.breaker.state(), State::Closed);
}

#[test]
fn late_outcomes_of_an_earlier_state_stay_out_of_the_window() {
    let rig = Rig::new(count_window(2, 2));
    let late = rig.breaker.try_acquire().unwrap();
    rig.breaker.transition_to(State::Open);
    rig.breaker.transition_to(State::Closed);
    late.failure();
    let metrics = rig.breaker.metrics();
    assert_eq!(metrics.buffered_calls, 0);
    assert_eq!(metrics.failed_total, 1, "still counted in the totals");
}

#[test]
fn classifiers_decide_failures_successes_and_ignored() {
    let rig = Rig::new(count_window(4, 4));
    let classify = |r: &Result<u16, &str>| match r {
        Ok(status) if *status >= 500 => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(e) if e.starts_with("bad request") => Outcome::Ignored,
        Err(_) => Outcome::Failure,
    };
    rig.breaker.call_with(&classify, || Ok(503)).unwrap();
    rig.breaker.call_with(&classify, || Ok(200)).unwrap();
    rig.breaker
        .call_with(&classify, || Err("bad request: no id"))
        .unwrap_err();
    let metrics = rig.breaker.metrics();
    assert_eq!(metrics.failed_total, 1);
    assert_eq!(metrics.successful_total, 1);
    assert_eq!(metrics.ignored_total, 1);
    assert_eq!(metrics.buffered_calls, 2);
}

#[test]
fn a_panicking_call_counts_as_a_failure() {
    let rig = Rig::new(count_window(1, 1));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = rig
            .breaker
            .call(|| -> Result<(), ()> { panic!("bug in the call") });
    }));
    assert!(result.is_err());
    assert_eq!(rig.breaker.state(), State::Open);
}

#[test]
fn call_async_runs_on_any_executor() {
    let rig = Rig::new(count_window(2, 2));
    futures_executor::block_on(async {
        assert_eq!(
            rig.breaker.call_async(async { Ok::<_, ()>(5) }).await,
            Ok(5)
        );
        assert_eq!(
            rig.breaker.call_async(async { Err::<(), _>("down") }).await,
            Err(CallError::Inner("down"))
        );
        rig.breaker
            .call_async(async { Err::<(), _>("down") })
            .await
            .unwrap_err();
        let rejected = rig.breaker.call_async(async { Ok::<_, &str>(()) }).await;
        assert!(rejected.unwrap_err().is_not_permitted());
    });
}

#[test]
fn call_async_under_tokio_with_paused_time() {
    let rig = Rig::new(
        count_window(2, 2)
            .slow_call_duration_threshold(Duration::from_secs(1))
            .slow_call_rate_threshold(100.0),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let result = rig
            .breaker
            .call_async(async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok::<_, ()>("done")
            })
            .await;
        assert_eq!(result, Ok("done"));
    });
}

#[test]
fn many_threads_lose_no_count() {
    let breaker = Breaker::new(
        "shared",
        count_window(100, 10)
            .failure_rate_threshold(90.0)
            .build()
            .unwrap(),
    );
    std::thread::scope(|scope| {
        for t in 0..4 {
            let breaker = &breaker;
            scope.spawn(move || {
                for i in 0..10_000 {
                    if (i + t) % 50 == 0 {
                        let _ = breaker.call(|| Err::<(), _>(()));
                    } else {
                        breaker.call(|| Ok::<_, ()>(())).unwrap();
                    }
                }
            });
        }
    });
    let metrics = breaker.metrics();
    assert_eq!(metrics.state, State::Closed);
    assert_eq!(metrics.successful_total + metrics.failed_total, 40_000);
    assert_eq!(metrics.failed_total, 800);
    assert_eq!(metrics.buffered_calls, 100);
}

#[test]
fn registry_shares_breakers_and_names_unknown_configs() {
    let registry = Registry::new(BreakerConfig::default()).with_clock(ManualClock::new());
    registry.add_config("strict", count_window(4, 2).build().unwrap());
    let a = registry.get_or_create("a");
    let also_a = registry.get_or_create("a");
    a.transition_to(State::ForcedOpen);
    assert_eq!(also_a.state(), State::ForcedOpen);
    let b = registry.get_or_create_with_config("b", "strict").unwrap();
    assert_eq!(b.config().minimum_calls(), 2);
    let err = registry
        .get_or_create_with_config("c", "lenient")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no breaker config is named 'lenient'; known configs: strict"
    );
    assert!(registry.get("c").is_none());
    assert_eq!(
        registry.states(),
        [
            ("a".to_string(), State::ForcedOpen),
            ("b".to_string(), State::Closed)
        ]
    );
    assert!(registry.remove("a").is_some());
    assert_eq!(registry.all().len(), 1);
}

#[test]
fn registry_listener_hears_every_breaker() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&heard);
    let registry = Registry::default().with_listener(move |e: &BreakerEvent<'_>| {
        if let EventKind::StateTransition { to, .. } = e.kind {
            sink.lock().unwrap().push((e.breaker.to_string(), to));
        }
    });
    registry.get_or_create("x").transition_to(State::Disabled);
    registry.get_or_create("y").transition_to(State::ForcedOpen);
    assert_eq!(
        *heard.lock().unwrap(),
        [
            ("x".to_string(), State::Disabled),
            ("y".to_string(), State::ForcedOpen)
        ]
    );
}
