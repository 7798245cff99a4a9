//! The windows that outcomes are judged over. They live behind the breaker's lock and are
//! touched only on the slow path: failures, slow calls, and batches of fast successes.

use crate::config::SlidingWindow;

/// Counts of the calls a window holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

impl Tally {
    pub(crate) fn add(&mut self, failure: bool, slow: bool, count: u64) {
        self.calls += count;
        if failure {
            self.failures += count;
        }
        if slow {
            self.slow += count;
        }
    }

    /// The failure rate in percent, or `None` with no calls.
    pub(crate) fn failure_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.failures as f64 * 100.0 / self.calls as f64)
    }

    /// The slow-call rate in percent, or `None` with no calls.
    pub(crate) fn slow_call_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.slow as f64 * 100.0 / self.calls as f64)
    }
}

/// The last `size` outcomes, two bits each (failed, slow), in a ring.
#[derive(Debug)]
pub(crate) struct CountWindow {
    failed: Vec<u64>,
    slow: Vec<u64>,
    size: u64,
    /// The slot the next outcome goes into; once the ring is full, also the oldest outcome.
    head: u64,
    tally: Tally,
}

impl CountWindow {
    fn new(size: u32) -> Self {
        let words = (size as usize).div_ceil(64);
        CountWindow {
            failed: vec![0; words],
            slow: vec![0; words],
            size: u64::from(size),
            head: 0,
            tally: Tally::default(),
        }
    }

    fn reset(&mut self) {
        self.failed.fill(0);
        self.slow.fill(0);
        self.head = 0;
        self.tally = Tally::default();
    }

    /// Appends `count` identical outcomes, evicting the oldest ones once the ring is full.
    fn push(&mut self, failure: bool, slow: bool, count: u64) {
        let mut remaining = count;
        if remaining >= self.size {
            // The new outcomes replace the whole ring.
            self.failed.fill(if failure { u64::MAX } else { 0 });
            self.slow.fill(if slow { u64::MAX } else { 0 });
            self.head = 0;
            self.tally = Tally::default();
            self.tally.add(failure, slow, self.size);
            return;
        }
        while remaining > 0 {
            // Work a run that stays inside one word and does not wrap the ring.
            let bit = self.head % 64;
            let run = remaining.min(64 - bit).min(self.size - self.head);
            let word = (self.head / 64) as usize;
            let mask = if run == 64 {
                u64::MAX
            } else {
                ((1u64 << run) - 1) << bit
            };
            if self.tally.calls == self.size {
                // Full ring: the slots being written hold the oldest outcomes.
                let evicted_failed = u64::from((self.failed[word] & mask).count_ones());
                let evicted_slow = u64::from((self.slow[word] & mask).count_ones());
                self.tally.calls -= run;
                self.tally.failures -= evicted_failed;
                self.tally.slow -= evicted_slow;
            } else {
                // Filling: the calls are appended at the end, which is empty. A ring that is
                // not yet full never wraps, so `head + run` stays within the free part.
                let free = self.size - self.tally.calls;
                debug_assert!(run <= free);
            }
            set_bits(&mut self.failed[word], mask, failure);
            set_bits(&mut self.slow[word], mask, slow);
            self.tally.add(failure, slow, run);
            self.head = (self.head + run) % self.size;
            remaining -= run;
        }
    }
}

fn set_bits(word: &mut u64, mask: u64, on: bool) {
    if on {
        *word |= mask;
    } else {
        *word &= !mask;
    }
}

/// The calls of the last `size` seconds, in one bucket a second.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    buckets: Vec<Bucket>,
    /// The newest second the window has been moved to.
    newest: u64,
    tally: Tally,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    second: u64,
    tally: Tally,
}

impl TimeWindow {
    fn new(seconds: u64) -> Self {
        TimeWindow {
            buckets: vec![Bucket::default(); seconds as usize],
            newest: 0,
            tally: Tally::default(),
        }
    }

    fn reset(&mut self) {
        self.buckets.fill(Bucket::default());
        self.newest = 0;
        self.tally = Tally::default();
    }

    fn size(&self) -> u64 {
        self.buckets.len() as u64
    }

    /// Moves the window so that it ends at `now`, dropping the buckets that fell out.
    fn advance(&mut self, now: u64) {
        if now <= self.newest {
            return;
        }
        let size = self.size();
        // Only the buckets of the seconds skipped over can hold stale calls; past a whole
        // window's worth, every bucket is stale.
        let steps = (now - self.newest).min(size);
        for second in (now - steps + 1)..=now {
            let bucket = &mut self.buckets[(second % size) as usize];
            self.tally.calls -= bucket.tally.calls;
            self.tally.failures -= bucket.tally.failures;
            self.tally.slow -= bucket.tally.slow;
            *bucket = Bucket {
                second,
                tally: Tally::default(),
            };
        }
        self.newest = now;
    }

    /// Records `count` outcomes made at `second`; outcomes older than the window are dropped.
    fn record(&mut self, second: u64, failure: bool, slow: bool, count: u64) {
        self.advance(second);
        let size = self.size();
        if second + size <= self.newest {
            return;
        }
        let bucket = &mut self.buckets[(second % size) as usize];
        debug_assert_eq!(bucket.second, second);
        bucket.tally.add(failure, slow, count);
        self.tally.add(failure, slow, count);
    }
}

/// Whichever window the config asked for.
#[derive(Debug)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
    Consecutive { failures: u64, limit: u64 },
}

impl Window {
    pub(crate) fn new(kind: SlidingWindow) -> Self {
        match kind {
            SlidingWindow::Count(n) => Window::Count(CountWindow::new(n)),
            SlidingWindow::Time(d) => Window::Time(TimeWindow::new(d.as_secs())),
            SlidingWindow::ConsecutiveFailures(n) => Window::Consecutive {
                failures: 0,
                limit: u64::from(n),
            },
        }
    }

    pub(crate) fn reset(&mut self) {
        match self {
            Window::Count(w) => w.reset(),
            Window::Time(w) => w.reset(),
            Window::Consecutive { failures, .. } => *failures = 0,
        }
    }

    /// Whether outcomes must be placed by the second they were made in.
    pub(crate) fn is_time_based(&self) -> bool {
        matches!(self, Window::Time(_))
    }

    /// Records `count` identical outcomes made at `second` (ignored by count windows).
    pub(crate) fn record(&mut self, second: u64, failure: bool, slow: bool, count: u64) {
        match self {
            Window::Count(w) => w.push(failure, slow, count),
            Window::Time(w) => w.record(second, failure, slow, count),
            Window::Consecutive { failures, .. } => {
                if failure {
                    *failures += count;
                } else {
                    *failures = 0;
                }
            }
        }
    }

    /// Moves a time window up to `second`; no-op for the others.
    pub(crate) fn advance(&mut self, second: u64) {
        if let Window::Time(w) = self {
            w.advance(second);
        }
    }

    /// The calls currently in the window. A consecutive-failures window holds only its run
    /// of failures.
    pub(crate) fn tally(&self) -> Tally {
        match self {
            Window::Count(w) => w.tally,
            Window::Time(w) => w.tally,
            Window::Consecutive { failures, .. } => Tally {
                calls: *failures,
                failures: *failures,
                slow: 0,
            },
        }
    }

    /// Whether a fast success, recorded now, could change any decision. When it cannot, fast
    /// successes may be counted in per-thread batches and folded in later.
    ///
    /// In a rate window, once the minimum number of calls is reached, a success only lowers
    /// the rates (or keeps them, when it evicts another success). In a consecutive window, a
    /// success matters only when it breaks a run of failures.
    pub(crate) fn success_is_inert(&self, minimum_calls: u32) -> bool {
        match self {
            Window::Count(w) => w.tally.calls >= u64::from(minimum_calls),
            Window::Time(w) => w.tally.calls >= u64::from(minimum_calls),
            Window::Consecutive { failures, .. } => *failures == 0,
        }
    }

    /// Whether the window's outcomes cross a threshold, and which.
    pub(crate) fn verdict(&self, config: &crate::BreakerConfig) -> Verdict {
        match self {
            Window::Consecutive { failures, limit } => Verdict {
                failure_rate_exceeded: failures >= limit,
                slow_call_rate_exceeded: false,
            },
            _ => {
                let tally = self.tally();
                if tally.calls < u64::from(config.minimum_calls) {
                    return Verdict::default();
                }
                Verdict::of(&tally, config)
            }
        }
    }
}

/// Which thresholds a set of outcomes crosses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) failure_rate_exceeded: bool,
    pub(crate) slow_call_rate_exceeded: bool,
}

impl Verdict {
    pub(crate) fn of(tally: &Tally, config: &crate::BreakerConfig) -> Verdict {
        Verdict {
            failure_rate_exceeded: tally
                .failure_rate()
                .is_some_and(|rate| rate >= config.failure_rate_threshold),
            slow_call_rate_exceeded: config.slow_call_duration_threshold.is_some()
                && tally
                    .slow_call_rate()
                    .is_some_and(|rate| rate >= config.slow_call_rate_threshold),
        }
    }

    pub(crate) fn exceeded(self) -> bool {
        self.failure_rate_exceeded || self.slow_call_rate_exceeded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plainest possible model of a count window: a queue of outcomes.
    fn model_tally(outcomes: &[(bool, bool)], size: usize) -> Tally {
        let mut tally = Tally::default();
        for &(failure, slow) in outcomes.iter().rev().take(size) {
            tally.add(failure, slow, 1);
        }
        tally
    }

    #[test]
    fn count_window_matches_a_queue_for_batches_across_word_and_ring_edges() {
        for size in [1u32, 3, 63, 64, 65, 130] {
            let mut window = CountWindow::new(size);
            let mut outcomes = Vec::new();
            let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(size);
            for _ in 0..400 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let failure = seed & 1 == 1;
                let slow = seed & 2 == 2;
                let count = (seed >> 8) % 150 + 1;
                window.push(failure, slow, count);
                outcomes.extend(std::iter::repeat_n((failure, slow), count as usize));
                assert_eq!(
                    window.tally,
                    model_tally(&outcomes, size as usize),
                    "size {size}"
                );
            }
        }
    }

    #[test]
    fn time_window_forgets_old_seconds() {
        let mut window = TimeWindow::new(3);
        window.record(10, true, false, 2);
        window.record(11, false, false, 5);
        window.record(12, false, true, 1);
        assert_eq!(window.tally.calls, 8);
        window.advance(13);
        assert_eq!(
            window.tally,
            Tally {
                calls: 6,
                failures: 0,
                slow: 1
            }
        );
        window.record(11, true, false, 1);
        assert_eq!(window.tally.failures, 1);
        // Older than the window: dropped.
        window.record(10, true, false, 1);
        assert_eq!(window.tally.failures, 1);
        window.advance(100);
        assert_eq!(window.tally, Tally::default());
    }
}
