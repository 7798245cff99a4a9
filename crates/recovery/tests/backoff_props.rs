//! Every backoff the builder accepts produces delays within its bounds, without overflow, for
//! any retry count; every backoff it refuses is refused with the field named.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::time::Duration;

use hardening_recovery::{Backoff, Jitter, MAX_DELAY, Retry};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Shape {
    Constant(Duration),
    Exponential(Duration, f64, Duration),
    Decorrelated(Duration, Duration),
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        3 => (0u64..10_000_000_000).prop_map(Duration::from_nanos),
        1 => any::<u64>().prop_map(Duration::from_nanos),
        1 => Just(Duration::ZERO),
        1 => Just(MAX_DELAY),
        1 => Just(Duration::MAX),
        1 => (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

fn multiplier() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 1.0f64..10.0,
        1 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::MAX),
        1 => Just(1.0),
        1 => -2.0f64..1.0,
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        duration().prop_map(Shape::Constant),
        (duration(), multiplier(), duration()).prop_map(|(i, m, x)| Shape::Exponential(i, m, x)),
        (duration(), duration()).prop_map(|(b, x)| Shape::Decorrelated(b, x)),
    ]
}

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal)]
}

fn backoff(shape: Shape, jitter: Jitter) -> Backoff {
    match shape {
        Shape::Constant(d) => Backoff::constant(d),
        Shape::Exponential(i, m, x) => Backoff::exponential(i, m, x),
        Shape::Decorrelated(b, x) => Backoff::decorrelated_jitter(b, x),
    }
    .with_jitter(jitter)
}

/// The rules, written out again independently of the crate: `None` when valid, else the
/// field that must be named.
fn refusal(shape: Shape) -> Option<&'static str> {
    match shape {
        Shape::Constant(d) => (d > MAX_DELAY).then_some("backoff.delay"),
        Shape::Exponential(initial, m, max) => {
            if max > MAX_DELAY {
                Some("backoff.max")
            } else if initial.is_zero() || initial > max {
                Some("backoff.initial")
            } else if !(m.is_finite() && m >= 1.0) {
                Some("backoff.multiplier")
            } else {
                None
            }
        }
        Shape::Decorrelated(base, max) => {
            if max > MAX_DELAY {
                Some("backoff.max")
            } else if base.is_zero() || base > max {
                Some("backoff.base")
            } else {
                None
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn accepted_backoffs_stay_in_bounds_and_refused_ones_name_the_field(
        shape in shape(),
        jitter in jitter(),
        seed in any::<u64>(),
        skip in prop_oneof![Just(0usize), 0usize..200],
    ) {
        let b = backoff(shape, jitter);
        let built = Retry::builder("p").backoff(b).build();
        match (refusal(shape), built) {
            (Some(field), Err(err)) => {
                prop_assert_eq!(err.field(), field);
                prop_assert!(err.to_string().starts_with(field));
                prop_assert!(err.to_string().contains("is not accepted; expected"));
            }
            (Some(field), Ok(_)) => prop_assert!(false, "accepted; expected a refusal of {}", field),
            (None, Err(err)) => prop_assert!(false, "refused a valid backoff: {}", err),
            (None, Ok(_)) => {
                let (lo, hi) = b.bounds();
                prop_assert!(lo <= hi && hi <= MAX_DELAY);
                // The unjittered schedule bounds each jittered delay step by step.
                let plain: Vec<_> = backoff(shape, Jitter::None).delays(seed).skip(skip).take(40).collect();
                let drawn: Vec<_> = b.delays(seed).skip(skip).take(40).collect();
                for (i, (d, p)) in drawn.iter().zip(&plain).enumerate() {
                    prop_assert!(*d >= lo && *d <= hi, "delay {} = {:?} outside {:?}..={:?}", i, d, lo, hi);
                    if let Shape::Decorrelated(..) = shape {
                        continue;
                    }
                    let (step_lo, step_hi) = match jitter {
                        Jitter::Full => (Duration::ZERO, *p),
                        Jitter::Equal => (*p / 2, *p),
                        _ => (*p, *p),
                    };
                    prop_assert!(*d >= step_lo && *d <= step_hi, "delay {} = {:?} outside {:?}..={:?}", i, d, step_lo, step_hi);
                }
                if let Shape::Exponential(..) = shape {
                    prop_assert!(plain.windows(2).all(|w| w[0] <= w[1]), "not monotone: {:?}", plain);
                }
            }
        }
    }
}

#[test]
fn a_very_long_run_of_retries_stays_at_the_cap() {
    let b = Backoff::exponential(Duration::from_nanos(1), 1.0000001, MAX_DELAY);
    let mut delays = b.delays(0);
    let last = (0..100_000).map(|_| delays.next_delay()).last().unwrap();
    assert!(last <= MAX_DELAY);
}
