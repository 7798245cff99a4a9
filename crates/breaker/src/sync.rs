//! The synchronisation primitives the breaker is built on, swapped for loom's models when the
//! crate is compiled with `--cfg loom`, so the permit protocol can be checked exhaustively.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicU64, Ordering},
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicU64, Ordering},
};

/// Locks `mutex`, recovering the data if a previous holder panicked.
///
/// The breaker's core is left consistent between statements (every update is a plain field
/// write), so a panic in a listener while the lock was held must not turn every later call into
/// a panic too.
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

/// Pads and aligns a value to 128 bytes, so that two values never share a cache line (and
/// adjacent-line prefetching on x86 does not pair them either).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
