//! Aggregation is a function of the set of healths, and monotone in each of them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use hardening_health::{Health, SeverityOrder};
use proptest::prelude::*;

fn health() -> impl Strategy<Value = Health> {
    prop_oneof![
        Just(Health::Healthy),
        Just(Health::Degraded),
        Just(Health::Unhealthy)
    ]
}

/// Every valid order: the six permutations of the three aggregates.
fn order() -> impl Strategy<Value = SeverityOrder> {
    Just(Health::AGGREGATES)
        .prop_shuffle()
        .prop_map(|o| SeverityOrder::new(o).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_order_of_checks_does_not_matter(
        order in order(),
        (healths, shuffled) in prop::collection::vec(health(), 0..40)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
    ) {
        prop_assert_eq!(order.aggregate(healths.iter().copied()), order.aggregate(shuffled));
    }

    #[test]
    fn a_worse_check_never_makes_the_aggregate_better(
        order in order(),
        healths in prop::collection::vec(health(), 1..40),
        index in any::<prop::sample::Index>(),
        replacement in health(),
    ) {
        let i = index.index(healths.len());
        // "Worse" is by the order in force: nearer the front is more severe.
        prop_assume!(order.rank(replacement) <= order.rank(healths[i]));
        let before = order.aggregate(healths.iter().copied());
        let mut worse = healths.clone();
        worse[i] = replacement;
        let after = order.aggregate(worse);
        prop_assert!(order.rank(after) <= order.rank(before), "{:?} -> {:?}", before, after);
    }

    #[test]
    fn the_aggregate_is_one_of_the_checks_or_healthy_when_none(
        order in order(),
        healths in prop::collection::vec(health(), 0..40),
    ) {
        let aggregate = order.aggregate(healths.iter().copied());
        if healths.is_empty() {
            prop_assert_eq!(aggregate, Health::Healthy);
        } else {
            prop_assert!(healths.contains(&aggregate));
            prop_assert!(healths.iter().all(|h| order.rank(*h) >= order.rank(aggregate)));
        }
    }
}
