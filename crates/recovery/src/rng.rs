//! Seeds for jitter: the random numbers themselves come from `fastrand`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Where the generators of successive calls come from: a base seed (given, or random) and a
/// counter, so that concurrent calls get different jitter and a seeded policy replays the same
/// sequence call for call.
#[derive(Debug)]
pub(crate) struct SeedSource {
    base: u64,
    calls: AtomicU64,
}

impl SeedSource {
    pub(crate) fn new(seed: Option<u64>) -> Self {
        SeedSource {
            base: seed.unwrap_or_else(|| fastrand::u64(..)),
            calls: AtomicU64::new(0),
        }
    }

    pub(crate) fn next_rng(&self) -> fastrand::Rng {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        // Spread consecutive calls apart (the golden-ratio increment) before seeding.
        fastrand::Rng::with_seed(self.base ^ call.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}

/// A number in `lo..=hi`; `lo` when the range is empty.
pub(crate) fn between(rng: &mut fastrand::Rng, lo: u64, hi: u64) -> u64 {
    if hi <= lo { lo } else { rng.u64(lo..=hi) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_sources_replay_and_calls_differ() {
        let a = SeedSource::new(Some(3));
        let b = SeedSource::new(Some(3));
        let (mut a1, mut b1) = (a.next_rng(), b.next_rng());
        assert_eq!(a1.u64(..), b1.u64(..));
        let (mut a2, mut a3) = (a.next_rng(), a.next_rng());
        assert_ne!(a2.u64(..), a3.u64(..));
    }

    #[test]
    fn between_stays_inclusive_and_handles_empty_ranges() {
        let mut rng = fastrand::Rng::with_seed(1);
        for _ in 0..1000 {
            assert!((10..=13).contains(&between(&mut rng, 10, 13)));
        }
        assert_eq!(between(&mut rng, 5, 5), 5);
        assert_eq!(between(&mut rng, 9, 3), 9);
        let _ = between(&mut rng, 0, u64::MAX);
    }
}
