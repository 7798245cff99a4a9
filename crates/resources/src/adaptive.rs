//! A bulkhead whose limit follows an adaptive algorithm.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

use crate::bulkhead::{Bulkhead, BulkheadError, BulkheadPermit};
use crate::limits::{LimitAlgorithm, Sample};

/// A [`Bulkhead`] whose concurrency limit an algorithm ([`Aimd`](crate::Aimd),
/// [`Gradient2`](crate::Gradient2), [`Vegas`](crate::Vegas)) adjusts from every finished call.
///
/// ```
/// use std::time::Duration;
/// use hardening_resources::{AdaptiveBulkhead, Aimd};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let bulkhead = AdaptiveBulkhead::new(Aimd::default(), 100, Duration::from_secs(1));
/// let permit = bulkhead.acquire(0).await.unwrap();
/// permit.dropped(); // the call timed out downstream: the limit backs off
/// assert_eq!(bulkhead.limit(), 20);
/// # }
/// ```
#[derive(Clone)]
pub struct AdaptiveBulkhead {
    bulkhead: Bulkhead,
    algorithm: Arc<Mutex<dyn LimitAlgorithm>>,
}

impl fmt::Debug for AdaptiveBulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveBulkhead")
            .field("bulkhead", &self.bulkhead)
            .finish_non_exhaustive()
    }
}

impl AdaptiveBulkhead {
    /// A bulkhead starting at the algorithm's limit, with a queue of `queue` waiting up to
    /// `max_wait`.
    pub fn new(
        algorithm: impl LimitAlgorithm,
        queue: usize,
        max_wait: std::time::Duration,
    ) -> Self {
        let bulkhead = Bulkhead::new(algorithm.limit(), queue, max_wait);
        AdaptiveBulkhead {
            bulkhead,
            algorithm: Arc::new(Mutex::new(algorithm)),
        }
    }

    /// Waits for a slot, as [`Bulkhead::acquire`].
    pub async fn acquire(&self, priority: i32) -> Result<AdaptivePermit, BulkheadError> {
        let permit = self.bulkhead.acquire(priority).await?;
        Ok(AdaptivePermit {
            owner: self.clone(),
            in_flight: self.bulkhead.in_flight(),
            started: Instant::now(),
            permit: Some(permit),
        })
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.bulkhead.limit()
    }

    fn learn(&self, sample: Sample) {
        let limit = self
            .algorithm
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .update(sample);
        self.bulkhead.set_limit(limit);
    }
}

/// A slot of an [`AdaptiveBulkhead`]. Report how the call went; dropping it unreported counts
/// as a success.
#[derive(Debug)]
pub struct AdaptivePermit {
    owner: AdaptiveBulkhead,
    in_flight: usize,
    started: Instant,
    permit: Option<BulkheadPermit>,
}

impl AdaptivePermit {
    /// The call finished normally.
    pub fn success(mut self) {
        self.finish(false);
    }

    /// The call was dropped (timed out, refused downstream): a sign of overload.
    pub fn dropped(mut self) {
        self.finish(true);
    }

    fn finish(&mut self, dropped: bool) {
        if let Some(permit) = self.permit.take() {
            drop(permit);
            self.owner.learn(Sample {
                rtt: self.started.elapsed(),
                in_flight: self.in_flight,
                dropped,
            });
        }
    }
}

impl Drop for AdaptivePermit {
    fn drop(&mut self) {
        self.finish(false);
    }
}
