//! The half-open permit protocol under every interleaving loom can find.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p hardening-breaker --release --test loom`
//! (`cargo xtask ci` does).
#![cfg(loom)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::time::Duration;

use hardening_breaker::{Breaker, BreakerConfig, ManualClock, SlidingWindow, State};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// Explores interleavings with at most a few preemptions each: loom's advice for models of
/// this size, which would otherwise take hours.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

fn half_open(probes: u16) -> Breaker {
    let config = BreakerConfig::builder()
        .sliding_window(SlidingWindow::count(4))
        .minimum_calls(1)
        .permitted_calls_in_half_open(probes)
        .open_duration(Duration::from_secs(1))
        .build()
        .unwrap();
    let breaker = Breaker::builder("loom")
        .config(config)
        .clock(ManualClock::new())
        .build();
    breaker.transition_to(State::HalfOpen);
    breaker
}

#[test]
fn never_more_than_n_probes_and_dropped_permits_free_their_slot() {
    model(|| {
        const PROBES: usize = 2;
        let breaker = half_open(PROBES as u16);
        let holding = Arc::new(AtomicUsize::new(0));
        let granted = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let breaker = breaker.clone();
                let holding = Arc::clone(&holding);
                let granted = Arc::clone(&granted);
                thread::spawn(move || {
                    if let Ok(permit) = breaker.try_acquire() {
                        assert!(permit.is_probe());
                        let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(now <= PROBES, "{now} probes held at once");
                        granted.fetch_add(1, Ordering::SeqCst);
                        holding.fetch_sub(1, Ordering::SeqCst);
                        drop(permit);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // A slot is only ever freed, never lost: at least N of the three got one.
        assert!(granted.load(Ordering::SeqCst) >= PROBES);
        // Every slot came back: N fresh probes fit again.
        assert_eq!(breaker.state(), State::HalfOpen);
        let again: Vec<_> = (0..PROBES)
            .map(|_| breaker.try_acquire().unwrap())
            .collect();
        assert!(breaker.try_acquire().is_err());
        drop(again);
    });
}

#[test]
fn a_finished_probe_keeps_its_slot_while_an_abandoned_one_frees_it() {
    model(|| {
        let breaker = half_open(2);
        let finisher = {
            let breaker = breaker.clone();
            thread::spawn(move || {
                if let Ok(permit) = breaker.try_acquire() {
                    permit.success();
                }
            })
        };
        let quitter = {
            let breaker = breaker.clone();
            thread::spawn(move || drop(breaker.try_acquire()))
        };
        finisher.join().unwrap();
        quitter.join().unwrap();
        // Exactly one probe was recorded, so exactly one slot is left.
        assert_eq!(breaker.state(), State::HalfOpen);
        breaker.try_acquire().unwrap().success();
        assert_eq!(breaker.state(), State::Closed);
    });
}

#[test]
fn a_late_release_never_frees_a_slot_of_the_next_half_open_period() {
    model(|| {
        let breaker = half_open(1);
        let permit_holder = {
            let breaker = breaker.clone();
            thread::spawn(move || drop(breaker.try_acquire()))
        };
        breaker.transition_to(State::HalfOpen);
        permit_holder.join().unwrap();
        // Whatever the order, the new half-open period has exactly one slot.
        if let Ok(permit) = breaker.try_acquire() {
            assert!(breaker.try_acquire().is_err());
            drop(permit);
        } else {
            // The other thread's permit of the new period was taken and then dropped before we
            // got here, which frees it; the only way to be refused is for it to be held.
            panic!("the single slot should be free once the other thread is done");
        }
    });
}
