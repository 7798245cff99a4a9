//! Transitions that time alone makes due (an automatic move to half-open, the end of the
//! half-open wait), made without waiting for a call.
//!
//! The crate needs no async runtime, so one background thread serves every breaker in the
//! process. It starts on first use, sleeps until the earliest deadline, and holds breakers only
//! weakly: a dropped breaker leaves nothing running on its behalf.

use crate::breaker::Shared;

#[cfg(not(loom))]
mod thread {
    use std::cmp::{Ordering, Reverse};
    use std::collections::BinaryHeap;
    use std::sync::{Condvar, Mutex, OnceLock, PoisonError, Weak};
    use std::time::Instant;

    use crate::breaker::Shared;

    struct Entry {
        at: Instant,
        target: Weak<Shared>,
    }

    impl PartialEq for Entry {
        fn eq(&self, other: &Self) -> bool {
            self.at == other.at
        }
    }
    impl Eq for Entry {}
    impl PartialOrd for Entry {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Entry {
        fn cmp(&self, other: &Self) -> Ordering {
            self.at.cmp(&other.at)
        }
    }

    struct Timer {
        queue: Mutex<BinaryHeap<Reverse<Entry>>>,
        wake: Condvar,
    }

    fn timer() -> Option<&'static Timer> {
        static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();
        *TIMER.get_or_init(|| {
            let timer: &'static Timer = Box::leak(Box::new(Timer {
                queue: Mutex::new(BinaryHeap::new()),
                wake: Condvar::new(),
            }));
            std::thread::Builder::new()
                .name("hardening-breaker-timer".into())
                .spawn(move || run(timer))
                .ok()
                .map(|_| timer)
        })
    }

    fn run(timer: &'static Timer) {
        let mut queue = timer.queue.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = Instant::now();
            let next = queue.peek().map(|Reverse(entry)| entry.at);
            match next {
                Some(at) if at <= now => {
                    let Some(Reverse(entry)) = queue.pop() else {
                        continue;
                    };
                    drop(queue);
                    if let Some(shared) = entry.target.upgrade() {
                        shared.poll_due();
                    }
                    queue = timer.queue.lock().unwrap_or_else(PoisonError::into_inner);
                }
                Some(at) => {
                    queue = timer
                        .wake
                        .wait_timeout(queue, at - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                None => {
                    queue = timer
                        .wake
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }

    /// Asks the timer thread to poll `target` at `at` (by the system clock). If the thread
    /// could not be started, the transition still happens on the next call or state read.
    pub(super) fn schedule(at: Instant, target: Weak<Shared>) {
        if let Some(timer) = timer() {
            timer
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Reverse(Entry { at, target }));
            timer.wake.notify_one();
        }
    }
}

/// Schedules a poll of `shared` for when the state it is in falls due, if it does and its clock
/// keeps pace with the system's.
pub(crate) fn schedule_if_due(shared: &Shared) {
    #[cfg(not(loom))]
    {
        if !shared.clock.follows_system_time() {
            return;
        }
        if let Some(due) = shared.next_due() {
            let at = std::time::Instant::now() + shared.until(due);
            thread::schedule(at, shared.me.clone());
        }
    }
    #[cfg(loom)]
    {
        let _ = shared;
    }
}
