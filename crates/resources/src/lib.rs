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

mod config;
mod manager;
mod size;
mod stats;
mod types;

pub use config::{ConfigError, ManagerConfig, PoolConfig, PoolConfigBuilder};
pub use manager::{AddError, Lease, ManagerBuilder, NewResource, ResourceFactory, ResourceManager};
pub use size::{ByteSize, ParseSizeError};
pub use stats::{PoolStats, WaitSummary};
pub use types::{
    Metadata, ReleaseError, RequestError, Requirements, ResourceEvent, ResourceId, ResourceInfo,
    ResourceStatus,
};
