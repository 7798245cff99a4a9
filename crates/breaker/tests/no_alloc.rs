//! The closed-state call path allocates nothing: not for a success, not for a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]
// A global allocator can only be written with `unsafe`; this one only counts and delegates.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use hardening_breaker::{Breaker, BreakerConfig, SlidingWindow, State};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Const-initialised, so reading it never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn closed_state_calls_allocate_nothing() {
    for window in [
        SlidingWindow::count(100),
        SlidingWindow::seconds(10),
        SlidingWindow::consecutive_failures(5),
    ] {
        let config = BreakerConfig::builder()
            .sliding_window(window)
            .minimum_calls(10)
            .failure_rate_threshold(50.0)
            .build()
            .unwrap();
        let breaker = Breaker::new("no-alloc", config);
        // Warm up: thread-local stripe index, lazily sized statics.
        for _ in 0..1_000 {
            breaker.call(|| Ok::<_, ()>(())).unwrap();
        }

        let allocated = allocations_during(|| {
            for i in 0..10_000u32 {
                // One failure in ten stays under the threshold but takes the slow path.
                if i % 10 == 0 {
                    let _ = breaker.call(|| Err::<(), _>(()));
                } else {
                    breaker.call(|| Ok::<_, ()>(())).unwrap();
                }
                let permit = breaker.try_acquire().unwrap();
                permit.success();
            }
        });
        assert_eq!(allocated, 0, "{window:?}: the closed-state path allocated");
        assert_eq!(breaker.state(), State::Closed);
        assert_eq!(breaker.metrics().failed_total, 1_000);
    }
}
