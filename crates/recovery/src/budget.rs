//! The retry budget: retries may add only a fraction of the recent successful load.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};
use crate::config::ConfigError;

/// Slots the window is cut into; it forgets a slot's worth at a time.
const SLOTS: usize = 10;
/// The budget counts retries in thousandths so that ratios like 0.2 stay exact.
const MILLI: u64 = 1000;
/// A thread's deposits read the clock at least once in this many, to mark where a new slot
/// begins; the threads without a stripe of their own always read it this often.
const MIN_LOOK_EVERY: u64 = 32;
/// ... and at most this many deposits apart, however fast the thread deposits.
const MAX_LOOK_EVERY: u64 = 4096;
/// Threads that get a deposit counter of their own in each budget; later threads share one
/// atomic counter.
const STRIPES: usize = 32;

/// A mark packs a slot's tag (the slot number's low 24 bits) over a success total (the
/// lifetime total's low 40 bits). Tags repeat after 2^24 slots (19 days at the smallest slot,
/// 100 ms), and totals are only ever subtracted from later totals of the same window, which
/// wrapping arithmetic keeps exact below 2^40 successes a window.
const TOTAL_BITS: u32 = 40;
const TOTAL_MASK: u64 = (1 << TOTAL_BITS) - 1;
const TAG_MASK: u32 = (1 << (64 - TOTAL_BITS)) - 1;

/// A thread's own success counter and the schedule of its clock reads, written only by the
/// thread it belongs to (atomics only so that others may read the total), on a cache line of
/// its own.
#[repr(align(64))]
#[derive(Debug)]
struct Stripe {
    /// Lifetime successes.
    total: AtomicU64,
    /// The total at which the thread next reads the clock.
    next_look: AtomicU64,
    /// Deposits between two clock reads, adapted to the thread's rate.
    look_every: AtomicU64,
    /// When the thread last read the clock, in nanoseconds since the budget's start.
    last_look: AtomicU64,
}

impl Stripe {
    fn new() -> Self {
        Stripe {
            total: AtomicU64::new(0),
            next_look: AtomicU64::new(MIN_LOOK_EVERY),
            look_every: AtomicU64::new(MIN_LOOK_EVERY),
            last_look: AtomicU64::new(0),
        }
    }
}

/// This thread's stripe index, the same in every budget: handed out when a thread first
/// deposits and given back when it exits, so no two live threads share one and a process
/// whose threads come and go (a blocking pool) does not run out of stripes.
#[inline(always)]
fn thread_index() -> usize {
    let index = THREAD_INDEX.get();
    if index != UNASSIGNED {
        return index;
    }
    assign_thread_index()
}

/// No index yet; [`SHARED`] is what an exiting thread leaves behind.
const UNASSIGNED: usize = usize::MAX;
/// An index past every stripe: deposits go to the shared counter.
const SHARED: usize = usize::MAX - 1;

thread_local! {
    // Const-initialised and without a destructor: reading it is one thread-relative load.
    static THREAD_INDEX: Cell<usize> = const { Cell::new(UNASSIGNED) };
    // Holds the index only to give it back when the thread exits.
    static RELEASE: IndexRelease = const { IndexRelease(Cell::new(UNASSIGNED)) };
}

/// Indices given back by exited threads.
static FREE_INDICES: Mutex<Vec<usize>> = Mutex::new(Vec::new());

#[cold]
#[inline(never)]
fn assign_thread_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let reused = FREE_INDICES.lock().map_or(None, |mut free| free.pop());
    let index = reused.unwrap_or_else(|| NEXT.fetch_add(1, Ordering::Relaxed));
    let index = if index < STRIPES { index } else { SHARED };
    THREAD_INDEX.set(index);
    if index < STRIPES {
        // `try_with`: a thread already exiting cannot register a destructor; it keeps the
        // index to the end, which only means one stripe fewer for later threads.
        let _ = RELEASE.try_with(|release| release.0.set(index));
    }
    index
}

struct IndexRelease(Cell<usize>);

impl Drop for IndexRelease {
    fn drop(&mut self) {
        let index = self.0.get();
        if index >= STRIPES {
            return;
        }
        // A deposit from a later destructor of this thread goes to the shared counter, not
        // to a stripe another thread may own by then.
        let _ = THREAD_INDEX.try_with(|own| own.set(SHARED));
        if let Ok(mut free) = FREE_INDICES.lock() {
            free.push(index);
        }
    }
}

/// A budget that lets retries add at most a fraction of the recent successful load, plus a
/// small floor, and refuses them once spent.
///
/// This is the model of Finagle's `RetryBudget` and tower's `TpsBudget`: every successful call
/// deposits `ratio` of a retry; every retry withdraws one; over any `ttl` window the balance
/// also holds `min_per_sec × ttl` retries of floor, so a client with little traffic can still
/// retry. When a dependency fails outright no successes come in, so across **all** the callers
/// sharing the budget at most the floor's worth of retries is sent per window: a retry storm
/// cannot multiply the load on a struggling dependency.
///
/// A budget is shared by cloning its `Arc` into each [`Retry`](crate::Retry) that
/// calls the same dependency. Each policy gets its own default budget unless given one.
///
/// Deposits and withdrawals are lock-free. A withdrawal checks the balance and spends in one
/// compare-and-swap, so callers racing for the last retry cannot both take it.
///
/// ```
/// use std::time::Duration;
/// use hardening_recovery::{ManualClock, RetryBudget};
///
/// let budget = RetryBudget::builder()
///     .ratio(0.5)
///     .min_per_sec(0)
///     .ttl(Duration::from_secs(10))
///     .clock(ManualClock::new())
///     .build()?;
/// budget.deposit();
/// budget.deposit();
/// assert!(budget.try_withdraw()); // two successes earn one retry
/// assert!(!budget.try_withdraw());
/// # Ok::<(), hardening_recovery::ConfigError>(())
/// ```
pub struct RetryBudget {
    slot_nanos: u64,
    /// Thousandths of a retry a success deposits.
    deposit: u64,
    /// Thousandths of a retry always available in a window.
    reserve: u64,
    start: Instant,
    clock: Arc<dyn Clock>,
    /// Lifetime successes, one counter a thread: a deposit is a plain load and store here.
    stripes: [Stripe; STRIPES],
    /// Lifetime successes of the threads without a stripe.
    shared: Stripe,
    /// Per slot, the lifetime success total when the slot was first seen (see [`TOTAL_BITS`]):
    /// the successes in the window are the total now less the mark of its oldest seen slot.
    marks: [AtomicU64; SLOTS],
    /// Retries per slot, packed as `slot number (high 32 bits) | count (low 32 bits)`.
    retries: [AtomicU64; SLOTS],
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("ratio", &(self.deposit as f64 / MILLI as f64))
            .field("reserve_retries", &(self.reserve / MILLI))
            .field("ttl", &Duration::from_nanos(self.slot_nanos * SLOTS as u64))
            .field("balance", &self.balance())
            .finish()
    }
}

const COUNT_MASK: u64 = u32::MAX as u64;

fn pack(slot: u32, count: u32) -> u64 {
    (u64::from(slot) << 32) | u64::from(count)
}

fn unpack(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, (v & COUNT_MASK) as u32)
}

fn mark(slot: u32, total: u64) -> u64 {
    (u64::from(slot & TAG_MASK) << TOTAL_BITS) | (total & TOTAL_MASK)
}

fn unmark(v: u64) -> (u32, u64) {
    ((v >> TOTAL_BITS) as u32, v & TOTAL_MASK)
}

impl RetryBudget {
    /// A builder with the defaults of tower and Finagle: a 10 s window, a ratio of 0.2 and a
    /// floor of 10 retries a second.
    pub fn builder() -> RetryBudgetBuilder {
        RetryBudgetBuilder {
            ttl: Duration::from_secs(10),
            min_per_sec: 10,
            ratio: 0.2,
            clock: None,
        }
    }

    /// The default budget: a 10 s window, a ratio of 0.2 and a floor of 10 retries a second.
    pub fn new() -> Arc<RetryBudget> {
        RetryBudget::with_clock(Arc::new(SystemClock))
    }

    pub(crate) fn with_clock(clock: Arc<dyn Clock>) -> Arc<RetryBudget> {
        Arc::new(RetryBudget::with_settings(
            Duration::from_secs(10),
            10,
            0.2,
            clock,
        ))
    }

    fn with_settings(ttl: Duration, min_per_sec: u32, ratio: f64, clock: Arc<dyn Clock>) -> Self {
        let slot_nanos = u64::try_from(ttl.as_nanos() / SLOTS as u128)
            .unwrap_or(u64::MAX)
            .max(1);
        let ttl_secs = ttl.as_secs_f64();
        RetryBudget {
            slot_nanos,
            deposit: (ratio * MILLI as f64).round() as u64,
            reserve: (f64::from(min_per_sec) * ttl_secs * MILLI as f64).round() as u64,
            start: clock.now(),
            clock,
            stripes: std::array::from_fn(|_| Stripe::new()),
            shared: Stripe::new(),
            // Slot 0 is seen at creation, with nothing deposited yet.
            marks: Default::default(),
            retries: Default::default(),
        }
    }

    fn current_slot(&self) -> u32 {
        self.slot_at(self.elapsed_nanos())
    }

    /// Nanoseconds since the budget was made (saturating after 584 years).
    fn elapsed_nanos(&self) -> u64 {
        let elapsed = self.clock.now().saturating_duration_since(self.start);
        elapsed
            .as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(elapsed.subsec_nanos()))
    }

    fn slot_at(&self, elapsed_nanos: u64) -> u32 {
        // Slot numbers wrap after 2^32 slots (over a year at the smallest window); only their
        // distance within the last `SLOTS` matters, which wrapping arithmetic keeps.
        (elapsed_nanos / self.slot_nanos) as u32
    }

    /// Records a successful call: it earns `ratio` of a retry for the next `ttl`.
    ///
    /// This is on every successful call's path, so it neither reads the clock each time nor
    /// makes threads contend: each thread adds to a counter of its own (a plain load and
    /// store, no atomic read-modify-write), and the window is cut into slots by marks of the
    /// running total taken when a slot is first seen (by a withdrawal, a balance read, or a
    /// deposit that reads the clock).
    ///
    /// A thread's deposits read the clock every 32 deposits at first, and then as often as
    /// keeps the reads between an eighth and a quarter of a slot apart at the thread's rate
    /// (never more than 4,096 deposits apart): at a million successes a second a clock read
    /// (tens of nanoseconds) is then spread over thousands of deposits. A deposit made before
    /// anyone has seen its slot counts as part of the slot before, so it can only expire
    /// early: the budget errs towards fewer retries, by at most about a quarter slot's worth
    /// of a thread's deposits at its recent rate, or 31 deposits.
    #[inline(always)]
    pub fn deposit(&self) {
        match self.stripes.get(thread_index()) {
            Some(stripe) => {
                // Only this thread writes this stripe, so a load and a store cannot lose a
                // count.
                let total = stripe.total.load(Ordering::Relaxed).wrapping_add(1);
                stripe.total.store(total, Ordering::Relaxed);
                // `>=`, not `==`, so that no change to a total can step over the schedule (a
                // total never wraps: that takes 2^64 deposits).
                if total >= stripe.next_look.load(Ordering::Relaxed) {
                    self.look(stripe, total);
                }
            }
            None => {
                let total = self
                    .shared
                    .total
                    .fetch_add(1, Ordering::Relaxed)
                    .wrapping_add(1);
                if total.is_multiple_of(MIN_LOOK_EVERY) {
                    self.see(self.current_slot());
                }
            }
        }
    }

    /// Reads the clock for `stripe`'s thread, marks the slot it is in if nobody has yet, and
    /// schedules the thread's next read: twice as many deposits away if this one came
    /// sooner than an eighth of a slot after the last, half as many if later than a quarter.
    #[cold]
    #[inline(never)]
    fn look(&self, stripe: &Stripe, total: u64) {
        let now = self.elapsed_nanos();
        self.see(self.slot_at(now));
        let since = now.saturating_sub(stripe.last_look.load(Ordering::Relaxed));
        let every = stripe.look_every.load(Ordering::Relaxed);
        let every = if since < self.slot_nanos / 8 {
            (every * 2).min(MAX_LOOK_EVERY)
        } else if since > self.slot_nanos / 4 {
            (every / 2).max(MIN_LOOK_EVERY)
        } else {
            every
        };
        stripe.look_every.store(every, Ordering::Relaxed);
        stripe.last_look.store(now, Ordering::Relaxed);
        stripe
            .next_look
            .store(total.wrapping_add(every), Ordering::Relaxed);
    }

    /// Marks `now` with the running total unless it is marked already; returns the total
    /// when it had to read it.
    fn see(&self, now: u32) -> Option<u64> {
        let cell = &self.marks[now as usize % SLOTS];
        let mut held = cell.load(Ordering::Acquire);
        let tag = now & TAG_MASK;
        let mut total = None;
        loop {
            let (held_tag, _) = unmark(held);
            // Marked already, or by a slot newer than ours (a clock read that lost a race):
            // either way ours is not the first sight of this cell's slot.
            if held_tag == tag || ahead(held_tag, tag) {
                return total;
            }
            let t = *total.get_or_insert_with(|| self.total());
            match cell.compare_exchange_weak(
                held,
                mark(now, t),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return total,
                Err(seen) => held = seen,
            }
        }
    }

    /// Every success ever deposited (modulo 2^64), summed over the threads' counters.
    fn total(&self) -> u64 {
        self.stripes
            .iter()
            .chain(std::iter::once(&self.shared))
            .map(|stripe| stripe.total.load(Ordering::Acquire))
            .fold(0, u64::wrapping_add)
    }

    /// Successes in the window ending at `now`: the running total less the mark of the
    /// window's oldest marked slot. Successes before that mark, if they fell in the window,
    /// are left out: the count errs low, never high.
    fn successes_in_window(&self, now: u32) -> u64 {
        let total = self.see(now).unwrap_or_else(|| self.total());
        let oldest = (0..SLOTS as u32).rev().find_map(|age| {
            let slot = now.wrapping_sub(age);
            let (tag, marked) = unmark(self.marks[slot as usize % SLOTS].load(Ordering::Acquire));
            (tag == slot & TAG_MASK).then_some(marked)
        });
        match oldest {
            // A mark read after `total` may hold a slightly larger sum: count nothing then.
            Some(marked) => {
                let counted = total.wrapping_sub(marked) & TOTAL_MASK;
                if counted > TOTAL_MASK / 2 { 0 } else { counted }
            }
            None => 0,
        }
    }

    /// Spends one retry if the balance allows it; `false` means the budget is spent and the
    /// caller must not retry.
    pub fn try_withdraw(&self) -> bool {
        let now = self.current_slot();
        let earned = self.successes_in_window(now) * self.deposit + self.reserve;
        let cell = &self.retries[now as usize % SLOTS];
        let mut current = cell.load(Ordering::Acquire);
        loop {
            let (slot, count) = unpack(current);
            let here = if slot == now { count } else { 0 };
            let others = window_sum(&self.retries, now, Some(now));
            let spent = (u64::from(here) + others) * MILLI;
            if spent + MILLI > earned || here == u32::MAX {
                return false;
            }
            // Claiming the slot with a compare-and-swap makes the check and the spend one
            // step: two callers cannot both take the last retry.
            match cell.compare_exchange_weak(
                current,
                pack(now, here + 1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }

    /// Retries the budget would allow now, rounded down.
    pub fn balance(&self) -> u64 {
        let now = self.current_slot();
        let earned = self.successes_in_window(now) * self.deposit + self.reserve;
        let spent = window_sum(&self.retries, now, None) * MILLI;
        earned.saturating_sub(spent) / MILLI
    }
}

/// Whether 24-bit tag `a` is a later slot than `b` (within half the tag space).
fn ahead(a: u32, b: u32) -> bool {
    let distance = a.wrapping_sub(b) & TAG_MASK;
    distance != 0 && distance < TAG_MASK / 2
}

/// The counts of the slots still inside the window ending at `now`, leaving out `skip`.
fn window_sum(cells: &[AtomicU64; SLOTS], now: u32, skip: Option<u32>) -> u64 {
    cells
        .iter()
        .map(|cell| {
            let (slot, count) = unpack(cell.load(Ordering::Acquire));
            let age = now.wrapping_sub(slot);
            if (age as usize) < SLOTS && Some(slot) != skip {
                u64::from(count)
            } else {
                0
            }
        })
        .sum()
}

/// Builds a [`RetryBudget`]; [`build`](Self::build) checks every setting.
#[derive(Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RetryBudgetBuilder {
    ttl: Duration,
    min_per_sec: u32,
    ratio: f64,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for RetryBudgetBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudgetBuilder")
            .field("ttl", &self.ttl)
            .field("min_per_sec", &self.min_per_sec)
            .field("ratio", &self.ratio)
            .finish_non_exhaustive()
    }
}

impl RetryBudgetBuilder {
    /// How long a deposit counts, between 1 s and 60 s. Default 10 s.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Retries per second always allowed, whatever the successes (as `min_per_sec × ttl` per
    /// window). At most 1,000,000. Default 10.
    pub fn min_per_sec(mut self, retries: u32) -> Self {
        self.min_per_sec = retries;
        self
    }

    /// Retries each success earns, between 0 and 1000. Default 0.2: retries add at most 20 %
    /// to the successful load.
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// The clock the window runs on. Default: [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Checks the settings and returns the budget, ready to share.
    pub fn build(self) -> Result<Arc<RetryBudget>, ConfigError> {
        if self.ttl < Duration::from_secs(1) || self.ttl > Duration::from_secs(60) {
            return Err(ConfigError::duration(
                "budget.ttl",
                self.ttl,
                "a duration between 1s and 60s",
            ));
        }
        if self.min_per_sec > 1_000_000 {
            return Err(ConfigError::new(
                "budget.min_per_sec",
                self.min_per_sec,
                "at most 1000000 retries a second",
            ));
        }
        if !(self.ratio.is_finite() && (0.0..=1000.0).contains(&self.ratio)) {
            return Err(ConfigError::new(
                "budget.ratio",
                self.ratio,
                "a number between 0 and 1000 (0.2 lets retries add 20% to the load)",
            ));
        }
        if self.ratio == 0.0 && self.min_per_sec == 0 {
            return Err(ConfigError::new(
                "budget.ratio",
                0,
                "above 0 when budget.min_per_sec is 0, or no retry could ever be made (use RetryBuilder::no_budget to retry without a budget)",
            ));
        }
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        Ok(Arc::new(RetryBudget::with_settings(
            self.ttl,
            self.min_per_sec,
            self.ratio,
            clock,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    /// Held by the tests that count on how many threads hold stripes.
    static THREADS: Mutex<()> = Mutex::new(());

    fn budget(ratio: f64, floor: u32, clock: &ManualClock) -> Arc<RetryBudget> {
        RetryBudget::builder()
            .ratio(ratio)
            .min_per_sec(floor)
            .clock(clock.clone())
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn floor_alone_allows_min_per_sec_times_ttl() {
        let clock = ManualClock::new();
        let b = budget(0.2, 1, &clock);
        let granted = (0..100).filter(|_| b.try_withdraw()).count();
        assert_eq!(granted, 10);
    }

    #[test]
    fn successes_earn_their_ratio() {
        let clock = ManualClock::new();
        let b = budget(0.2, 0, &clock);
        for _ in 0..50 {
            b.deposit();
        }
        assert_eq!(b.balance(), 10);
        assert_eq!((0..100).filter(|_| b.try_withdraw()).count(), 10);
        assert_eq!(b.balance(), 0);
    }

    #[test]
    fn deposits_and_withdrawals_expire_with_the_window() {
        let clock = ManualClock::new();
        let b = budget(1.0, 0, &clock);
        for _ in 0..5 {
            b.deposit();
        }
        clock.advance(Duration::from_secs(5));
        assert_eq!(b.balance(), 5);
        assert!(b.try_withdraw());
        clock.advance(Duration::from_secs(5));
        // The deposits are now ten seconds old and gone; the withdrawal (five seconds old)
        // still counts against nothing.
        assert_eq!(b.balance(), 0);
        assert!(!b.try_withdraw());
        clock.advance(Duration::from_secs(6));
        b.deposit();
        assert_eq!(b.balance(), 1);
    }

    #[test]
    fn a_deposit_after_a_quiet_spell_never_lands_in_the_future_or_revives_the_past() {
        let clock = ManualClock::new();
        let b = budget(1.0, 0, &clock);
        b.deposit();
        assert_eq!(b.balance(), 1);
        // Nothing reads the clock for a minute: the next deposits may go to the stale slot,
        // which is out of the window, so they do not count until the clock is read again.
        clock.advance(Duration::from_secs(60));
        for _ in 0..MIN_LOOK_EVERY {
            b.deposit();
        }
        let counted = b.balance();
        assert!(counted <= MIN_LOOK_EVERY, "{counted}");
        // Once the clock has been read, every deposit counts.
        let before = b.balance();
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!(b.balance(), before + 10);
        // And the minute-old deposit is gone.
        clock.advance(Duration::from_secs(10));
        assert_eq!(b.balance(), 0);
    }

    /// A manual clock that counts how often it is read.
    #[derive(Clone)]
    struct CountingClock {
        clock: ManualClock,
        reads: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Clock for CountingClock {
        fn now(&self) -> Instant {
            self.reads.fetch_add(1, Ordering::Relaxed);
            self.clock.now()
        }
        fn sleep(&self, duration: Duration) {
            self.clock.sleep(duration)
        }
    }

    fn counting() -> (CountingClock, Arc<RetryBudget>) {
        let clock = CountingClock {
            clock: ManualClock::new(),
            reads: Arc::default(),
        };
        let b = RetryBudget::builder()
            .ratio(1.0)
            .min_per_sec(0)
            .clock(clock.clone())
            .build()
            .unwrap();
        (clock, b)
    }

    #[test]
    fn a_fast_thread_reads_the_clock_ever_more_rarely_and_a_slowed_one_often_again() {
        let (clock, b) = counting();
        let reads = || clock.reads.load(Ordering::Relaxed);
        let before = reads();
        // No time passes: every read comes well within an eighth of a slot of the last, so
        // the gap doubles from 32 up to 4,096 deposits (32 + 64 + ... + 4,096 = 8,160).
        for _ in 0..8160 + 10 * 4096 {
            b.deposit();
        }
        assert_eq!(
            reads() - before,
            8 + 10,
            "a fixed gap of 32 would read 1,530 times"
        );
        assert_eq!(b.balance(), 8160 + 10 * 4096);

        // Now a second passes between deposits, more than a quarter slot: the gap halves at
        // each read, back down to 32.
        for _ in 0..4096 + 2048 + 1024 + 512 + 256 + 128 + 64 + 32 {
            clock.clock.advance(Duration::from_secs(1));
            b.deposit();
        }
        let stripe = &b.stripes[thread_index()];
        assert_eq!(stripe.look_every.load(Ordering::Relaxed), MIN_LOOK_EVERY);
    }

    #[test]
    fn at_a_steady_rate_deposits_are_placed_within_a_quarter_slot() {
        let (clock, b) = counting();
        // 1,000 successes a second for 20 s: the 10 s window holds 9 to 10 whole slots, so
        // 9,000 to 10,000 successes if every slot were marked as it began; marks that come a
        // quarter slot (250 ms) late lose at most 250 more.
        for _ in 0..20_000 {
            clock.clock.advance(Duration::from_millis(1));
            b.deposit();
        }
        let counted = b.balance();
        assert!((8_750..=10_000).contains(&counted), "{counted}");
    }

    #[test]
    fn a_slot_is_marked_when_first_seen_and_leaves_the_window_whole() {
        let clock = ManualClock::new();
        let b = budget(1.0, 0, &clock);
        for _ in 0..5 {
            b.deposit();
        }
        assert_eq!(b.balance(), 5);
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.balance(), 5); // reads the clock: slot 1 begins after these five
        b.deposit();
        assert_eq!(b.balance(), 6);
        clock.advance(Duration::from_millis(9500));
        assert_eq!(b.balance(), 1, "slot 0 has left the window, slot 1 has not");
    }

    #[test]
    fn totals_past_the_marks_width_still_count_exactly() {
        let clock = ManualClock::new();
        let b = budget(1.0, 0, &clock);
        // This thread's counter is just below where the marks' 40-bit totals wrap.
        let start = TOTAL_MASK - 5;
        let counter = b.stripes.get(thread_index()).unwrap_or(&b.shared);
        counter.total.store(start, Ordering::Relaxed);
        b.marks[0].store(mark(0, start), Ordering::Relaxed);
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!(b.balance(), 10);
        clock.advance(Duration::from_secs(3));
        b.deposit();
        assert_eq!(b.balance(), 11);
    }

    #[test]
    fn deposits_from_many_threads_are_all_counted() {
        let clock = ManualClock::new();
        let b = budget(1.0, 0, &clock);
        let _alone = THREADS.lock();
        // More threads than stripes, so that the shared path is taken too.
        std::thread::scope(|scope| {
            for _ in 0..STRIPES + 8 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        b.deposit();
                    }
                });
            }
        });
        assert_eq!(b.balance(), (STRIPES as u64 + 8) * 1000);
    }

    #[test]
    fn an_exited_threads_stripe_is_handed_to_a_new_thread() {
        let clock = ManualClock::new();
        let b = budget(1.0, 0, &clock);
        let _alone = THREADS.lock();
        // Far more threads over the test than stripes, never more than one alive at once: each
        // deposits through a stripe, never the shared counter. (A join, unlike the end of a
        // scope, waits for the thread's destructors, which give its index back.)
        for _ in 0..STRIPES * 4 {
            let b = Arc::clone(&b);
            std::thread::spawn(move || b.deposit())
                .join()
                .unwrap_or_else(|_| panic!("the depositing thread panicked"));
        }
        assert_eq!(b.shared.total.load(Ordering::Relaxed), 0);
        assert_eq!(b.balance(), STRIPES as u64 * 4);
    }

    #[test]
    fn bad_settings_name_their_field() {
        let field = |b: RetryBudgetBuilder| b.build().err().map(|e| e.field().to_string());
        assert_eq!(
            field(RetryBudget::builder().ttl(Duration::ZERO)).as_deref(),
            Some("budget.ttl")
        );
        assert_eq!(
            field(RetryBudget::builder().ratio(-0.1)).as_deref(),
            Some("budget.ratio")
        );
        assert_eq!(
            field(RetryBudget::builder().ratio(f64::NAN)).as_deref(),
            Some("budget.ratio")
        );
        assert_eq!(
            field(RetryBudget::builder().ratio(0.0).min_per_sec(0)).as_deref(),
            Some("budget.ratio")
        );
        assert_eq!(
            field(RetryBudget::builder().min_per_sec(2_000_000)).as_deref(),
            Some("budget.min_per_sec")
        );
    }
}
