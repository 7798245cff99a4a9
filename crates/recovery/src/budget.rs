//! The retry budget: retries may add only a fraction of the recent successful load.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};
use crate::config::ConfigError;

/// Slots the window is cut into; it forgets a slot's worth at a time.
const SLOTS: usize = 10;
/// The budget counts retries in thousandths so that ratios like 0.2 stay exact.
const MILLI: u64 = 1000;
/// A deposit reads the clock once in this many (and whenever its slot looks stale).
const REFRESH: u32 = 32;
/// Threads that get a deposit counter of their own in each budget; later threads share the
/// slots directly.
const STRIPES: usize = 32;

/// A thread's own deposit counter: `slot (high 32 bits) | count (low 32 bits)`, written only by
/// the thread it belongs to, on a cache line of its own.
#[repr(align(64))]
#[derive(Debug, Default)]
struct Stripe(AtomicU64);

/// This thread's stripe index, the same in every budget: handed out once per thread, in
/// order, so no two threads share one.
fn thread_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|index| {
        if index.get() == usize::MAX {
            index.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        index.get()
    })
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
    /// The slot the clock was last seen in: where deposits go without reading the clock.
    current: AtomicU32,
    /// Successes per slot, each packed as `slot number (high 32 bits) | count (low 32 bits)`.
    successes: [AtomicU64; SLOTS],
    /// Successes of the current slot not yet folded into `successes`, one counter a thread.
    stripes: [Stripe; STRIPES],
    /// Retries per slot, packed the same way.
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
            current: AtomicU32::new(0),
            successes: Default::default(),
            stripes: std::array::from_fn(|_| Stripe::default()),
            retries: Default::default(),
        }
    }

    fn current_slot(&self) -> u32 {
        let elapsed = self.clock.now().saturating_duration_since(self.start);
        let slot = elapsed.as_nanos() / u128::from(self.slot_nanos);
        // Slot numbers wrap after 2^32 slots (over a year at the smallest window); only their
        // distance within the last `SLOTS` matters, which wrapping arithmetic keeps.
        let slot = slot as u32;
        self.current.store(slot, Ordering::Relaxed);
        slot
    }

    /// Records a successful call: it earns `ratio` of a retry for the next `ttl`.
    ///
    /// This is on every successful call's path, so it neither reads the clock each time nor
    /// makes threads contend: each thread counts in a counter of its own (a plain load and
    /// store, no atomic read-modify-write), for the slot the clock was last seen in, reading
    /// the clock once every 32 deposits. When the slot has moved on, the thread folds its
    /// count into the shared window. A deposit may so land in a slot up to 31 deposits stale,
    /// which can only make it expire early: the budget errs towards fewer retries, and only
    /// while traffic is so low that the floor dominates anyway.
    #[inline(always)]
    pub fn deposit(&self) {
        if self.deposit == 0 {
            return;
        }
        if let Some(stripe) = self.stripes.get(thread_index()) {
            let slot = self.current.load(Ordering::Relaxed);
            let (at, count) = unpack(stripe.0.load(Ordering::Relaxed));
            if at == slot && count % REFRESH != REFRESH - 1 && count < u32::MAX {
                // Only this thread writes this stripe, so a load and a store cannot lose a
                // count.
                stripe.0.store(pack(slot, count + 1), Ordering::Relaxed);
                return;
            }
        }
        self.deposit_slow();
    }

    /// A deposit that reads the clock: every 32nd, the first in a new slot, or one from a
    /// thread without a stripe.
    #[cold]
    #[inline(never)]
    fn deposit_slow(&self) {
        let Some(stripe) = self.stripes.get(thread_index()) else {
            return self.deposit_shared();
        };
        let (at, count) = unpack(stripe.0.load(Ordering::Relaxed));
        let now = self.current_slot();
        if at == now && count < u32::MAX {
            stripe.0.store(pack(now, count + 1), Ordering::Relaxed);
            return;
        }
        // The slot moved on: start the new one here first, then fold the old count into the
        // window, so that a reader in between sees too little (never counted twice).
        stripe.0.store(pack(now, 1), Ordering::Relaxed);
        add(&self.successes, at, count);
    }

    /// The deposit of a thread without a stripe: straight into the shared window.
    fn deposit_shared(&self) {
        let slot = self.current.load(Ordering::Relaxed);
        let cell = &self.successes[slot as usize % SLOTS];
        let seen = cell.load(Ordering::Relaxed);
        let (at, count) = unpack(seen);
        if at == slot
            && count % REFRESH != REFRESH - 1
            && count < u32::MAX
            && cell
                .compare_exchange_weak(
                    seen,
                    pack(slot, count + 1),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return;
        }
        add(&self.successes, self.current_slot(), 1);
    }

    /// Successes in the window ending at `now`: the shared slots and every thread's stripe.
    fn successes_in_window(&self, now: u32) -> u64 {
        let striped: u64 = self
            .stripes
            .iter()
            .map(|stripe| {
                let (slot, count) = unpack(stripe.0.load(Ordering::Acquire));
                if (now.wrapping_sub(slot) as usize) < SLOTS {
                    u64::from(count)
                } else {
                    0
                }
            })
            .sum();
        window_sum(&self.successes, now, None) + striped
    }

    /// Spends one retry if the balance allows it; `false` means the budget is spent and the
    /// caller must not retry.
    pub fn try_withdraw(&self) -> bool {
        let now = self.current_slot();
        let cell = &self.retries[now as usize % SLOTS];
        let mut current = cell.load(Ordering::Acquire);
        loop {
            let (slot, count) = unpack(current);
            let here = if slot == now { count } else { 0 };
            let others = window_sum(&self.retries, now, Some(now));
            let spent = (u64::from(here) + others) * MILLI;
            let earned = self.successes_in_window(now) * self.deposit + self.reserve;
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

/// Adds `n` to slot `slot`: to its cell if the cell holds that slot, in place of the cell's
/// content if that is older, and nowhere if the cell already holds a newer slot (then `slot`
/// has left the window).
fn add(cells: &[AtomicU64; SLOTS], slot: u32, n: u32) {
    if n == 0 {
        return;
    }
    let cell = &cells[slot as usize % SLOTS];
    let mut current = cell.load(Ordering::Relaxed);
    loop {
        let (held, count) = unpack(current);
        let next = if held == slot {
            pack(slot, count.saturating_add(n))
        } else if (held.wrapping_sub(slot) as i32) > 0 {
            return;
        } else {
            pack(slot, n)
        };
        if next == current {
            return;
        }
        match cell.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return,
            Err(seen) => current = seen,
        }
    }
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
        for _ in 0..REFRESH {
            b.deposit();
        }
        let counted = b.balance();
        assert!(counted <= u64::from(REFRESH), "{counted}");
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

    #[test]
    fn a_threads_count_is_folded_into_the_window_when_the_slot_moves_on() {
        let clock = ManualClock::new();
        let b = budget(1.0, 0, &clock);
        for _ in 0..5 {
            b.deposit();
        }
        assert_eq!(b.balance(), 5);
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.balance(), 5); // reads the clock: deposits now go to slot 1
        b.deposit(); // folds the five of slot 0 into the window
        assert_eq!(b.balance(), 6);
        clock.advance(Duration::from_millis(9500));
        assert_eq!(b.balance(), 1, "slot 0 has left the window, slot 1 has not");
    }

    #[test]
    fn deposits_from_many_threads_are_all_counted() {
        let clock = ManualClock::new();
        let b = budget(1.0, 0, &clock);
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
    fn bad_settings_name_their_field() {
        let field = |b: RetryBudgetBuilder| b.build().err().map(|e| e.field());
        assert_eq!(
            field(RetryBudget::builder().ttl(Duration::ZERO)),
            Some("budget.ttl")
        );
        assert_eq!(
            field(RetryBudget::builder().ratio(-0.1)),
            Some("budget.ratio")
        );
        assert_eq!(
            field(RetryBudget::builder().ratio(f64::NAN)),
            Some("budget.ratio")
        );
        assert_eq!(
            field(RetryBudget::builder().ratio(0.0).min_per_sec(0)),
            Some("budget.ratio")
        );
        assert_eq!(
            field(RetryBudget::builder().min_per_sec(2_000_000)),
            Some("budget.min_per_sec")
        );
    }
}
