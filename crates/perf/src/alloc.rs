//! A counting global allocator: heap bytes in use and allocations, the Rust counterpart of a
//! garbage-collected runtime's `heapUsed`.
//!
//! Install it in your binary; the monitor then reports heap figures and tracks heap drift.
//!
//! ```
//! use hardening_perf::alloc::CountingAllocator;
//!
//! #[global_allocator]
//! static GLOBAL: CountingAllocator = CountingAllocator::system();
//!
//! let v = vec![0u8; 4096];
//! let stats = hardening_perf::alloc::heap_stats().expect("installed");
//! assert!(stats.bytes_in_use >= 4096);
//! drop(v);
//! ```
//!
//! Each allocation and deallocation adds two relaxed atomic operations on counters shared by
//! every thread; allocation-heavy programs on many cores pay for that contention.

// A global allocator can only be written with `unsafe`: this one forwards every call unchanged
// to the wrapped allocator and only counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

static BYTES_IN_USE: AtomicU64 = AtomicU64::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// A global allocator that counts what passes through it to `A`.
#[derive(Debug, Default)]
pub struct CountingAllocator<A = System> {
    inner: A,
}

impl CountingAllocator<System> {
    /// Counts what goes to the system allocator.
    pub const fn system() -> Self {
        CountingAllocator { inner: System }
    }
}

impl<A> CountingAllocator<A> {
    /// Counts what goes to `inner` (for example jemalloc's or mimalloc's allocator).
    pub const fn new(inner: A) -> Self {
        CountingAllocator { inner }
    }
}

fn counted(size: usize) {
    BYTES_IN_USE.fetch_add(size as u64, Ordering::Relaxed);
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    if !INSTALLED.load(Ordering::Relaxed) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards its arguments unchanged to the wrapped allocator, which upholds
// `GlobalAlloc`'s contract; the counting touches only atomics and never allocates.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAllocator<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let ptr = unsafe { self.inner.alloc(layout) };
        if !ptr.is_null() {
            counted(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        if !ptr.is_null() {
            counted(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { self.inner.dealloc(ptr, layout) };
        BYTES_IN_USE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // The old block is gone and a new one of `new_size` is in use.
            BYTES_IN_USE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
            counted(new_size);
        }
        new
    }
}

/// Heap figures from the counting allocator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeapStats {
    /// Bytes allocated and not yet freed.
    pub bytes_in_use: u64,
    /// Allocations since the process started (reallocations count as one each).
    pub allocations: u64,
}

/// The heap figures, or `None` when [`CountingAllocator`] is not the global allocator.
pub fn heap_stats() -> Option<HeapStats> {
    INSTALLED.load(Ordering::Relaxed).then(|| HeapStats {
        bytes_in_use: BYTES_IN_USE.load(Ordering::Relaxed),
        allocations: ALLOCATIONS.load(Ordering::Relaxed),
    })
}
