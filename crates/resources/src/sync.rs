//! The synchronisation primitives the bulkhead is built on, swapped for loom's models when the
//! crate is compiled with `--cfg loom`, so the permit protocol can be checked exhaustively.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicUsize, Ordering},
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicUsize, Ordering},
};

/// Orders a `SeqCst` write before a later `SeqCst` read of another atomic (one side of a Dekker
/// pair). In the C++ memory model `SeqCst` operations already do that, so outside loom this is
/// nothing; loom models `SeqCst` accesses as acquire/release, so under loom an explicit fence
/// stands in for the guarantee the real program has.
#[inline]
pub(crate) fn dekker_fence() {
    #[cfg(loom)]
    loom::sync::atomic::fence(Ordering::SeqCst);
}

/// Locks `mutex`, recovering the data if a previous holder panicked.
///
/// The bulkhead's queue is left consistent between statements, so a panic elsewhere while the
/// lock was held must not turn every later call into a panic too.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(loom)]
    {
        mutex
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
    #[cfg(not(loom))]
    {
        mutex
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
