//! Priority-based resource allocation with RAII leases, cleanup and memory budgets.
//!
//! A [`ResourceManager`] keeps typed pools of resources (GPU slots, model instances,
//! connections, worker processes: anything `Send + Sync`). A request names a type, an owner, a
//! priority and [`Requirements`] on the resource's metadata, and waits for a matching ready
//! resource. Waiters are served by priority, then by arrival, and every `aging_step` of waiting
//! raises a request by one level, so a low priority is never starved for ever. A grant is a
//! [`Lease`]: dropping it returns the resource; releasing by id checks the owner.
//!
//! ```
//! use std::time::Duration;
//! use hardening_resources::{NewResource, PoolConfig, Requirements, ResourceManager};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = ResourceManager::<u32>::builder().build()?;
//! manager.add_pool("model", PoolConfig::builder().max(2).lease_ttl(Duration::from_secs(60)).build()?, None)?;
//! manager.add_resource("model", NewResource::new(7))?;
//!
//! let lease = manager.request("model", "audio-processing", 5, Requirements::new()).await?;
//! assert_eq!(*lease, 7);
//! let stats = &manager.stats()[0];
//! assert_eq!((stats.ready, stats.busy), (0, 1));
//! # Ok(()) }
//! ```
//!
//! Cleanup runs on a schedule ([`ResourceManager::spawn_maintenance`]): leases past their time
//! to live are reclaimed and reported, resources taken out of service are dropped (and
//! replaced through the pool's [`ResourceFactory`]), and idle resources shrink down to the
//! pool's minimum. A memory budget (`maxResourceMemory`, written like `"1GB"` or `"512MiB"`,
//! see [`ByteSize`]) bounds what all resources take together.

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(loom))]
mod adaptive;
mod bulkhead;
mod config;
mod limits;
mod manager;
#[cfg(not(loom))]
mod ratelimit;
mod stats;
mod sync;
mod throttle;
mod types;

#[cfg(not(loom))]
pub use adaptive::{AdaptiveBulkhead, AdaptivePermit};
pub use bulkhead::BulkheadError;
#[cfg(not(loom))]
pub use bulkhead::{Bulkhead, BulkheadPermit};
pub use limits::{Aimd, Gradient2, LimitAlgorithm, Sample, Vegas};
#[cfg(not(loom))]
pub use ratelimit::{KeyedRateLimiter, RateLimited, RateLimiter, quota};
pub use throttle::ClientThrottle;

/// The bulkhead's synchronous permit protocol, exposed only to the loom model in
/// `tests/loom.rs`.
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_bulkhead {
    use crate::bulkhead::{Admission, Core, Verdict};

    /// What `admit` decided, for the model.
    #[derive(Debug)]
    pub enum Admitted {
        /// Holds a slot now.
        Now,
        /// Queued; holds a slot once `is_admitted` says so.
        Queued(std::sync::Arc<crate::bulkhead::Ticket>),
        /// Refused.
        Refused,
    }

    /// The bulkhead core.
    #[derive(Debug)]
    pub struct LoomBulkhead(Core);

    impl LoomBulkhead {
        /// `limit` slots, `queue` places.
        pub fn new(limit: usize, queue: usize) -> Self {
            LoomBulkhead(Core::new(limit, queue))
        }
        /// Asks for a slot.
        pub fn admit(&self, priority: i32) -> Admitted {
            match self.0.admit(priority) {
                Admission::Now => Admitted::Now,
                Admission::Queued(t) => Admitted::Queued(t),
                Admission::Refused(_) => Admitted::Refused,
            }
        }
        /// Whether a queued ticket now holds a slot.
        pub fn is_admitted(ticket: &crate::bulkhead::Ticket) -> bool {
            ticket.verdict() == Verdict::Admitted
        }
        /// Gives a slot back.
        pub fn release(&self) {
            self.0.release();
        }
        /// Slots held.
        pub fn in_flight(&self) -> usize {
            self.0.in_flight()
        }
        /// Calls queued.
        pub fn queued(&self) -> usize {
            self.0.queued()
        }
    }
}

pub use config::{ConfigError, ManagerConfig, PoolConfig, PoolConfigBuilder};
#[doc(inline)]
pub use hardening_core::{ByteSize, ParseSizeError};
pub use manager::{AddError, Lease, ManagerBuilder, NewResource, ResourceFactory, ResourceManager};
pub use stats::{PoolStats, WaitSummary};
pub use types::{
    Metadata, ReleaseError, RequestError, Requirements, ResourceEvent, ResourceId, ResourceInfo,
    ResourceStatus,
};
