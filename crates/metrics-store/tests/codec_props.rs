//! Encode then decode gives back every timestamp and every value, bit for bit: NaN payloads,
//! infinities, negative zero, and irregular and out-of-order timestamps included.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use hardening_metrics_store::{Chunk, Sample};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        // Any bit pattern at all: every NaN payload, subnormals, both zeros, both infinities.
        any::<u64>().prop_map(f64::from_bits),
        Just(f64::NAN),
        Just(-0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        // Realistic: small integers (counters) and rounded decimals (gauges).
        (0u32..10_000).prop_map(f64::from),
        (0i64..100_000).prop_map(|v| v as f64 / 100.0),
    ]
}

fn timestamps() -> impl Strategy<Value = Vec<i64>> {
    prop_oneof![
        // Anything: out of order, huge jumps, both ends of i64.
        proptest::collection::vec(any::<i64>(), 1..300),
        // Regular with jitter, as a sampler produces.
        (any::<i32>(), proptest::collection::vec(-50i64..50, 1..300)).prop_map(
            |(start, jitter)| {
                jitter
                    .iter()
                    .enumerate()
                    .map(|(i, j)| i64::from(start) + i as i64 * 10_000 + j)
                    .collect()
            }
        ),
        // Out of order by small amounts.
        proptest::collection::vec(-5_000i64..5_000, 1..300),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_sample_round_trips_exactly(
        times in timestamps(),
        values in proptest::collection::vec(value(), 300),
    ) {
        let samples: Vec<Sample> = times
            .iter()
            .zip(&values)
            .map(|(&timestamp, &value)| Sample { timestamp, value })
            .collect();
        let mut chunk = Chunk::new();
        for s in &samples {
            chunk.push(*s);
        }
        prop_assert_eq!(chunk.len(), samples.len());
        let back: Vec<Sample> = chunk.iter().collect();
        prop_assert_eq!(&back, &samples);
        let (lo, hi) = chunk.time_range().unwrap();
        prop_assert_eq!(lo, *times.iter().min().unwrap());
        prop_assert_eq!(hi, *times.iter().max().unwrap());
    }
}
