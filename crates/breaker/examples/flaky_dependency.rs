//! A breaker protecting a flaky simulated dependency, printing every state change.
//!
//! ```text
//! cargo run -p hardening-breaker --example flaky_dependency
//! ```
//!
//! The dependency is healthy, then fails most calls, then turns slow, then recovers. Watch the
//! breaker open, probe, back off for longer each time the probes fail, and close again once
//! the dependency is well.

use std::time::{Duration, Instant};

use hardening_breaker::{
    Breaker, BreakerConfig, BreakerEvent, EventKind, OpenDuration, SlidingWindow, State,
};

/// What the simulated dependency does at a given moment of the run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Healthy,
    Failing,
    Slow,
    Recovered,
}

fn phase(elapsed: Duration) -> Phase {
    match elapsed.as_millis() {
        0..1_500 => Phase::Healthy,
        1_500..4_500 => Phase::Failing,
        4_500..6_000 => Phase::Slow,
        _ => Phase::Recovered,
    }
}

/// The dependency: fails 4 calls in 5 while failing, takes 30 ms while slow.
fn dependency(phase: Phase, n: u64) -> Result<u64, String> {
    match phase {
        Phase::Failing if !n.is_multiple_of(5) => Err("connection reset".to_string()),
        Phase::Slow => {
            std::thread::sleep(Duration::from_millis(30));
            Ok(n)
        }
        _ => Ok(n),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let config = BreakerConfig::builder()
        .sliding_window(SlidingWindow::count(20))
        .minimum_calls(10)
        .failure_rate_threshold(50.0)
        .slow_call_duration_threshold(Duration::from_millis(20))
        .slow_call_rate_threshold(80.0)
        .open_duration(OpenDuration::exponential(
            Duration::from_millis(250),
            2.0,
            Duration::from_secs(2),
        ))
        .permitted_calls_in_half_open(3)
        .build()?;
    let breaker = Breaker::builder("inventory-db")
        .config(config)
        .on_event(move |event: &BreakerEvent<'_>| match event.kind {
            EventKind::StateTransition { from, to } => println!(
                "{:>6} ms  {}: {from} -> {to}",
                start.elapsed().as_millis(),
                event.breaker
            ),
            EventKind::FailureRateExceeded { rate } => println!(
                "{:>6} ms  {}: failure rate {rate:.0}% reached the threshold",
                start.elapsed().as_millis(),
                event.breaker
            ),
            EventKind::SlowCallRateExceeded { rate } => println!(
                "{:>6} ms  {}: slow-call rate {rate:.0}% reached the threshold",
                start.elapsed().as_millis(),
                event.breaker
            ),
            _ => {}
        })
        .build();

    println!("protecting a flaky dependency for 8 s (healthy, failing, slow, recovered)\n");
    let (mut ok, mut failed, mut rejected) = (0u64, 0u64, 0u64);
    let mut last_phase = None;
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(8) {
        let now = phase(start.elapsed());
        if last_phase != Some(now) {
            println!(
                "{:>6} ms  -- dependency is now {now:?}",
                start.elapsed().as_millis()
            );
            last_phase = Some(now);
        }
        n += 1;
        match breaker.call(|| dependency(now, n)) {
            Ok(_) => ok += 1,
            Err(e) if e.is_not_permitted() => rejected += 1,
            Err(_) => failed += 1,
        }
        std::thread::sleep(Duration::from_millis(5));
    }

    let metrics = breaker.metrics();
    println!(
        "\n{n} calls: {ok} succeeded, {failed} failed, {rejected} rejected fast by the breaker"
    );
    println!(
        "final state {}, window failure rate {:?}, slow calls in total {}",
        metrics.state, metrics.failure_rate, metrics.slow_total
    );
    if metrics.state != State::Closed {
        return Err("the breaker should have closed once the dependency recovered".into());
    }
    Ok(())
}
