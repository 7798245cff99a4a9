//! Per-thread counters, so that concurrent calls on one breaker do not write the same cache
//! line.
//!
//! A breaker whose every call writes one shared counter gets slower, not faster, when a second
//! thread joins (measured in `benches/`: two threads on one `recloser` breaker get a seventh of
//! its single-thread throughput). Here each thread writes a stripe of its own, padded to a
//! cache line, and the stripes are folded into the shared window every [`BATCH`] calls, on
//! every outcome that could change a decision, and whenever someone reads the metrics.

use crate::sync::{AtomicU64, CachePadded, Ordering};

/// How many fast outcomes a stripe holds before it folds them into the breaker.
pub(crate) const BATCH: u64 = 64;

/// A pending-success word is a tag (which generation and second the successes belong to) in
/// the high bits and a count in the low [`COUNT_BITS`] bits.
pub(crate) const COUNT_BITS: u32 = 20;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const SECOND_BITS: u32 = 24;
const SECOND_MASK: u64 = (1 << SECOND_BITS) - 1;
const GENERATION_BITS: u32 = 64 - COUNT_BITS - SECOND_BITS - 1;
const GENERATION_MASK: u64 = (1 << GENERATION_BITS) - 1;
const VALID: u64 = 1 << 63;

/// Which batch a fast success belongs to: the breaker generation and the second (for time
/// windows) it was made in. Zero is never a valid tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag(pub(crate) u64);

impl Tag {
    pub(crate) const NONE: Tag = Tag(0);

    pub(crate) fn new(generation: u32, second: u64) -> Tag {
        Tag(VALID
            | ((u64::from(generation) & GENERATION_MASK) << (COUNT_BITS + SECOND_BITS))
            | ((second & SECOND_MASK) << COUNT_BITS))
    }

    /// Whether this tag was made for `generation`.
    pub(crate) fn is_generation(self, generation: u32) -> bool {
        self.0 & VALID != 0
            && (self.0 >> (COUNT_BITS + SECOND_BITS)) & GENERATION_MASK
                == u64::from(generation) & GENERATION_MASK
    }

    /// The full second this tag was made in, given the current second (tags keep only the
    /// low bits; a batch is never older than a few seconds).
    pub(crate) fn second(self, now: u64) -> u64 {
        let low = (self.0 >> COUNT_BITS) & SECOND_MASK;
        now.wrapping_sub(now.wrapping_sub(low) & SECOND_MASK)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Stripe {
    /// Fast successes not yet folded: a [`Tag`] plus a count.
    pending: AtomicU64,
    not_permitted: AtomicU64,
    ignored: AtomicU64,
}

/// Counts a stripe hands over when it is folded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Drained {
    pub(crate) successes: Option<(Tag, u64)>,
    pub(crate) not_permitted: u64,
    pub(crate) ignored: u64,
}

#[derive(Debug)]
pub(crate) struct Stripes {
    stripes: Box<[CachePadded<Stripe>]>,
}

impl Stripes {
    pub(crate) fn new() -> Self {
        let count = stripe_count();
        Stripes {
            stripes: (0..count).map(|_| CachePadded(Stripe::default())).collect(),
        }
    }

    fn mine(&self) -> &Stripe {
        // The stripe count is a power of two.
        &self.stripes[thread_index() & (self.stripes.len() - 1)]
    }

    /// Counts a fast success under `tag`. Returns a batch to fold when the stripe filled up or
    /// held successes of another tag.
    #[inline]
    pub(crate) fn add_success(&self, tag: Tag) -> Option<(Tag, u64)> {
        let pending = &self.mine().pending;
        let mut current = pending.load(Ordering::Relaxed);
        loop {
            let held_tag = Tag(current & !COUNT_MASK);
            let held = current & COUNT_MASK;
            let (next, handed_over) = if held == 0 || held_tag == tag {
                if held + 1 >= BATCH {
                    (0, Some((tag, held + 1)))
                } else {
                    (tag.0 | (held + 1), None)
                }
            } else {
                // Successes of another generation or second: hand them over, start afresh.
                (tag.0 | 1, Some((held_tag, held)))
            };
            match pending.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return handed_over,
                Err(actual) => current = actual,
            }
        }
    }

    /// Counts one event in a stripe counter; returns the count to fold once it reaches a batch.
    #[inline]
    fn bump(counter: &AtomicU64) -> u64 {
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= BATCH {
            counter.swap(0, Ordering::Relaxed)
        } else {
            0
        }
    }

    /// Counts a rejected call; returns a count to publish once a batch is full.
    #[inline]
    pub(crate) fn add_not_permitted(&self) -> u64 {
        Self::bump(&self.mine().not_permitted)
    }

    /// Counts an ignored outcome; returns a count to publish once a batch is full.
    #[inline]
    pub(crate) fn add_ignored(&self) -> u64 {
        Self::bump(&self.mine().ignored)
    }

    /// Takes everything every stripe holds.
    pub(crate) fn drain(&self) -> impl Iterator<Item = Drained> + '_ {
        self.stripes.iter().map(|stripe| {
            let pending = stripe.pending.swap(0, Ordering::Relaxed);
            let count = pending & COUNT_MASK;
            Drained {
                successes: (count > 0).then_some((Tag(pending & !COUNT_MASK), count)),
                not_permitted: stripe.not_permitted.swap(0, Ordering::Relaxed),
                ignored: stripe.ignored.swap(0, Ordering::Relaxed),
            }
        })
    }
}

/// One stripe per core (rounded up to a power of two), at most 64: enough that threads
/// running at the same time rarely share one.
fn stripe_count() -> usize {
    #[cfg(loom)]
    {
        1
    }
    #[cfg(not(loom))]
    {
        static COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *COUNT.get_or_init(|| {
            std::thread::available_parallelism()
                .map_or(4, std::num::NonZeroUsize::get)
                .next_power_of_two()
                .clamp(2, 64)
        })
    }
}

/// A small number of this thread's own, handed out round-robin, so that the first threads to
/// use any breaker land on different stripes.
fn thread_index() -> usize {
    #[cfg(loom)]
    {
        0
    }
    #[cfg(not(loom))]
    {
        use std::cell::Cell;
        use std::sync::atomic::AtomicUsize;
        const UNSET: usize = usize::MAX;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            // Const-initialised: reading it is one thread-relative load, with no lazy-init
            // check on the hot path.
            static INDEX: Cell<usize> = const { Cell::new(UNSET) };
        }
        INDEX.with(|index| {
            let mut i = index.get();
            if i == UNSET {
                i = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & (UNSET >> 1);
                index.set(i);
            }
            i
        })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn tags_keep_generation_and_second() {
        let tag = Tag::new(7, 1_000);
        assert!(tag.is_generation(7));
        assert!(!tag.is_generation(8));
        assert_eq!(tag.second(1_000), 1_000);
        assert_eq!(tag.second(1_005), 1_000);
        let late = Tag::new(1, SECOND_MASK + 3);
        assert_eq!(late.second(SECOND_MASK + 10), SECOND_MASK + 3);
        assert!(!Tag::NONE.is_generation(0));
    }

    #[test]
    fn successes_are_handed_over_per_batch_and_per_tag() {
        let stripes = Stripes::new();
        let a = Tag::new(1, 0);
        let b = Tag::new(2, 0);
        for _ in 0..BATCH - 1 {
            assert_eq!(stripes.add_success(a), None);
        }
        assert_eq!(stripes.add_success(a), Some((a, BATCH)));
        assert_eq!(stripes.add_success(a), None);
        assert_eq!(stripes.add_success(b), Some((a, 1)));
        let drained: Vec<_> = stripes.drain().filter_map(|d| d.successes).collect();
        assert_eq!(drained, [(b, 1)]);
    }
}
