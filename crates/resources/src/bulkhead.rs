//! A bulkhead: at most N calls at once, a bounded queue with a maximum wait, and shedding of the
//! lowest priority first when the queue is full.
//!
//! The permit protocol: a call takes a slot with one compare-and-swap while the queue is empty,
//! and a finished call gives its slot back with one atomic decrement. Only when calls queue does
//! the lock come in: a finished call then hands its slot straight to the best waiter. A caller
//! about to queue and a caller about to give a slot back can cross; each publishes its move
//! before looking at the other's (`SeqCst` on both counters), so at least one of them sees the
//! other and no waiter is stranded while a slot is free. `tests/loom.rs` checks this under every
//! interleaving.

use std::fmt;
use std::sync::Arc;
#[cfg(not(loom))]
use std::time::Duration;

use crate::sync::{AtomicUsize, Mutex, Ordering, dekker_fence, lock};

/// Why a call was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkheadError {
    /// The queue was full of calls of the same or higher priority.
    Full,
    /// A call of higher priority took this call's place in the queue.
    Shed,
    /// The call waited the maximum wait.
    Timeout,
}

impl fmt::Display for BulkheadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BulkheadError::Full => "bulkhead full: every slot and queue place is taken",
            BulkheadError::Shed => "shed from the bulkhead queue by a call of higher priority",
            BulkheadError::Timeout => "waited the bulkhead's maximum wait without a slot",
        })
    }
}

impl std::error::Error for BulkheadError {}

/// What a queued call learns: admitted (it now holds a slot) or turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pending,
    Admitted,
    Refused(BulkheadError),
}

/// One queued call. The async layer waits on `notify`; the verdict is the truth.
#[cfg_attr(
    not(loom),
    allow(unreachable_pub, reason = "public only to the loom model")
)]
#[derive(Debug)]
pub struct Ticket {
    pub(crate) verdict: Mutex<Verdict>,
    #[cfg(not(loom))]
    pub(crate) notify: tokio::sync::Notify,
}

impl Ticket {
    fn new() -> Self {
        Ticket {
            verdict: Mutex::new(Verdict::Pending),
            #[cfg(not(loom))]
            notify: tokio::sync::Notify::new(),
        }
    }

    fn decide(&self, verdict: Verdict) {
        *lock(&self.verdict) = verdict;
        #[cfg(not(loom))]
        self.notify.notify_one();
    }

    pub(crate) fn verdict(&self) -> Verdict {
        *lock(&self.verdict)
    }
}

struct Queued {
    priority: i32,
    seq: u64,
    ticket: Arc<Ticket>,
}

struct Queue {
    entries: Vec<Queued>,
    next_seq: u64,
}

/// The synchronous core of a bulkhead: slots, the queue, and handing slots to waiters.
pub(crate) struct Core {
    limit: AtomicUsize,
    in_flight: AtomicUsize,
    queued: AtomicUsize,
    capacity: usize,
    queue: Mutex<Queue>,
}

/// What [`Core::admit`] decided.
pub(crate) enum Admission {
    Now,
    Queued(Arc<Ticket>),
    Refused(
        #[cfg_attr(loom, allow(dead_code, reason = "the loom model only asks whether"))]
        BulkheadError,
    ),
}

impl Core {
    pub(crate) fn new(limit: usize, capacity: usize) -> Self {
        Core {
            limit: AtomicUsize::new(limit),
            in_flight: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            capacity,
            queue: Mutex::new(Queue {
                entries: Vec::new(),
                next_seq: 0,
            }),
        }
    }

    /// Takes a slot if one is free.
    fn try_take(&self) -> bool {
        let limit = self.limit.load(Ordering::SeqCst);
        let mut current = self.in_flight.load(Ordering::SeqCst);
        while current < limit {
            match self.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
        false
    }

    /// Admits a call now, queues it, or refuses it.
    pub(crate) fn admit(&self, priority: i32) -> Admission {
        if self.queued.load(Ordering::SeqCst) == 0 && self.try_take() {
            return Admission::Now;
        }
        let mut queue = lock(&self.queue);
        if queue.entries.len() >= self.capacity {
            // Shed the lowest priority (the latest among equals) if this call outranks it.
            let lowest = queue
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, q)| (q.priority, std::cmp::Reverse(q.seq)))
                .map(|(i, q)| (i, q.priority));
            match lowest {
                Some((i, p)) if p < priority => {
                    let shed = queue.entries.swap_remove(i);
                    self.queued.fetch_sub(1, Ordering::SeqCst);
                    shed.ticket.decide(Verdict::Refused(BulkheadError::Shed));
                }
                _ => return Admission::Refused(BulkheadError::Full),
            }
        }
        // Publish the queueing before looking at the slots again: a finished call that gave its
        // slot back without seeing us is seen by this second look.
        self.queued.fetch_add(1, Ordering::SeqCst);
        dekker_fence();
        if queue.entries.is_empty() && self.try_take() {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Admission::Now;
        }
        let ticket = Arc::new(Ticket::new());
        let seq = queue.next_seq;
        queue.next_seq += 1;
        queue.entries.push(Queued {
            priority,
            seq,
            ticket: Arc::clone(&ticket),
        });
        drop(queue);
        // A slot may have come free between the look above and the push.
        self.hand_off();
        Admission::Queued(ticket)
    }

    /// A finished call gives its slot back.
    pub(crate) fn release(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        dekker_fence();
        if self.queued.load(Ordering::SeqCst) > 0 {
            self.hand_off();
        }
    }

    /// Gives free slots to the best waiters: highest priority, then earliest.
    pub(crate) fn hand_off(&self) {
        let mut queue = lock(&self.queue);
        while !queue.entries.is_empty() {
            if !self.try_take() {
                return;
            }
            let best = queue
                .entries
                .iter()
                .enumerate()
                .max_by_key(|(_, q)| (q.priority, std::cmp::Reverse(q.seq)))
                .map(|(i, _)| i);
            let Some(best) = best else {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                return;
            };
            let next = queue.entries.remove(best);
            self.queued.fetch_sub(1, Ordering::SeqCst);
            next.ticket.decide(Verdict::Admitted);
        }
    }

    #[cfg_attr(
        loom,
        allow(dead_code, reason = "the loom model drives only admit and release")
    )]
    /// Withdraws a queued call (it timed out or was cancelled). If it was admitted meanwhile,
    /// the caller now holds a slot and must release it.
    pub(crate) fn withdraw(&self, ticket: &Arc<Ticket>, why: BulkheadError) -> Verdict {
        let mut queue = lock(&self.queue);
        if let Some(i) = queue
            .entries
            .iter()
            .position(|q| Arc::ptr_eq(&q.ticket, ticket))
        {
            queue.entries.remove(i);
            self.queued.fetch_sub(1, Ordering::SeqCst);
            *lock(&ticket.verdict) = Verdict::Refused(why);
        }
        ticket.verdict()
    }

    #[cfg_attr(
        loom,
        allow(dead_code, reason = "the loom model drives only admit and release")
    )]
    pub(crate) fn set_limit(&self, limit: usize) {
        self.limit.store(limit.max(1), Ordering::SeqCst);
        self.hand_off();
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::SeqCst)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }
}

/// A bulkhead: at most `max_concurrent` calls at once, up to `queue` more waiting at most
/// `max_wait`, the lowest priority shed first when the queue is full. Cheap to clone: clones
/// share the bulkhead.
///
/// ```
/// use std::time::Duration;
/// use hardening_resources::{Bulkhead, BulkheadError};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let bulkhead = Bulkhead::new(2, 0, Duration::from_millis(10));
/// let a = bulkhead.acquire(0).await.unwrap();
/// let b = bulkhead.acquire(0).await.unwrap();
/// assert_eq!(bulkhead.acquire(0).await.unwrap_err(), BulkheadError::Full);
/// drop(a);
/// assert!(bulkhead.acquire(0).await.is_ok());
/// # drop(b); }
/// ```
#[cfg(not(loom))]
#[derive(Clone)]
pub struct Bulkhead {
    core: Arc<Core>,
    max_wait: Duration,
}

#[cfg(not(loom))]
impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("limit", &self.core.limit())
            .field("in_flight", &self.core.in_flight())
            .field("queued", &self.core.queued())
            .field("max_wait", &self.max_wait)
            .finish()
    }
}

#[cfg(not(loom))]
impl Bulkhead {
    /// At most `max_concurrent` (at least 1) calls at once; `queue` more may wait up to
    /// `max_wait`.
    pub fn new(max_concurrent: usize, queue: usize, max_wait: Duration) -> Self {
        Bulkhead {
            core: Arc::new(Core::new(max_concurrent.max(1), queue)),
            max_wait,
        }
    }

    /// Waits for a slot; higher `priority` is served (and kept) first.
    pub async fn acquire(&self, priority: i32) -> Result<BulkheadPermit, BulkheadError> {
        match self.core.admit(priority) {
            Admission::Now => Ok(self.permit()),
            Admission::Refused(e) => Err(e),
            Admission::Queued(ticket) => {
                // Withdraws the ticket if this future is dropped while waiting.
                let mut guard = Withdraw {
                    core: &self.core,
                    ticket: Some(Arc::clone(&ticket)),
                };
                let waited = tokio::time::timeout(self.max_wait, async {
                    loop {
                        let notified = ticket.notify.notified();
                        match ticket.verdict() {
                            Verdict::Pending => notified.await,
                            decided => return decided,
                        }
                    }
                })
                .await;
                let verdict = match waited {
                    Ok(v) => v,
                    Err(_) => self.core.withdraw(&ticket, BulkheadError::Timeout),
                };
                guard.ticket = None;
                match verdict {
                    Verdict::Admitted => Ok(self.permit()),
                    Verdict::Refused(e) => Err(e),
                    Verdict::Pending => Err(BulkheadError::Timeout),
                }
            }
        }
    }

    /// Takes a slot only if one is free now and nobody is queued.
    pub fn try_acquire(&self) -> Result<BulkheadPermit, BulkheadError> {
        if self.core.queued() == 0 && self.core.try_take() {
            Ok(self.permit())
        } else {
            Err(BulkheadError::Full)
        }
    }

    fn permit(&self) -> BulkheadPermit {
        BulkheadPermit {
            core: Arc::clone(&self.core),
        }
    }

    /// Changes the concurrency limit (an adaptive limiter's output); queued calls get the new
    /// slots at once.
    pub fn set_limit(&self, limit: usize) {
        self.core.set_limit(limit);
    }

    /// The concurrency limit.
    pub fn limit(&self) -> usize {
        self.core.limit()
    }

    /// Calls holding a slot.
    pub fn in_flight(&self) -> usize {
        self.core.in_flight()
    }

    /// Calls waiting.
    pub fn queued(&self) -> usize {
        self.core.queued()
    }
}

/// A slot in a [`Bulkhead`]; dropping it frees the slot (or hands it to the best waiter).
#[cfg(not(loom))]
#[derive(Debug)]
pub struct BulkheadPermit {
    core: Arc<Core>,
}

#[cfg(not(loom))]
impl Drop for BulkheadPermit {
    fn drop(&mut self) {
        self.core.release();
    }
}

#[cfg(not(loom))]
struct Withdraw<'a> {
    core: &'a Arc<Core>,
    ticket: Option<Arc<Ticket>>,
}

#[cfg(not(loom))]
impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take()
            && self.core.withdraw(&ticket, BulkheadError::Timeout) == Verdict::Admitted
        {
            // Admitted just as the caller went away: the slot goes back.
            self.core.release();
        }
    }
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("limit", &self.limit())
            .field("in_flight", &self.in_flight())
            .field("queued", &self.queued())
            .finish_non_exhaustive()
    }
}
