//! The resource manager: typed pools, a priority queue of waiters with aging, RAII leases,
//! release by id with an owner check, and the cleanup that keeps pools healthy.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{broadcast, oneshot};
use tokio::time::Instant;

use crate::ByteSize;
use crate::config::{ManagerConfig, PoolConfig};
use crate::stats::{PoolStats, WaitTimes};
use crate::types::{
    Metadata, ReleaseError, RequestError, Requirements, ResourceEvent, ResourceId, ResourceInfo,
    ResourceStatus,
};

/// Makes resources for a pool that may grow, and replaces the ones taken out of service.
#[async_trait]
pub trait ResourceFactory<R>: Send + Sync + 'static {
    /// Makes one resource of type `kind` that satisfies `requirements`.
    async fn create(
        &self,
        kind: &str,
        requirements: &Requirements,
    ) -> Result<NewResource<R>, Box<dyn std::error::Error + Send + Sync>>;
}

/// A resource handed to the manager: its value, metadata and memory cost.
#[derive(Debug)]
pub struct NewResource<R> {
    /// The resource itself.
    pub value: R,
    /// What requests match against.
    pub metadata: Metadata,
    /// What it counts against the memory budget.
    pub memory: ByteSize,
}

impl<R> NewResource<R> {
    /// A resource with no metadata and no memory cost.
    pub fn new(value: R) -> Self {
        NewResource {
            value,
            metadata: Metadata::new(),
            memory: ByteSize::new(0),
        }
    }

    /// Adds a metadata entry.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the memory cost.
    #[must_use]
    pub fn memory(mut self, memory: ByteSize) -> Self {
        self.memory = memory;
        self
    }
}

/// Why a resource could not be added.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddError {
    /// No pool has this type.
    UnknownType(String),
    /// The pool is at its maximum size.
    PoolFull {
        /// The type.
        kind: String,
        /// The pool's maximum.
        max: usize,
    },
    /// The resource is larger than the pool allows one resource to be.
    TooLarge {
        /// Its memory.
        memory: ByteSize,
        /// The per-resource limit.
        limit: ByteSize,
    },
    /// Adding it would exceed the memory budget.
    MemoryBudget {
        /// Its memory.
        memory: ByteSize,
        /// What resources take now.
        in_use: ByteSize,
        /// The budget.
        budget: ByteSize,
    },
}

impl fmt::Display for AddError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddError::UnknownType(kind) => write!(f, "no resource type '{kind}'"),
            AddError::PoolFull { kind, max } => {
                write!(f, "the '{kind}' pool already holds its maximum of {max}")
            }
            AddError::TooLarge { memory, limit } => {
                write!(
                    f,
                    "the resource takes {memory}, over the per-resource limit of {limit}"
                )
            }
            AddError::MemoryBudget {
                memory,
                in_use,
                budget,
            } => write!(
                f,
                "the resource takes {memory} but {in_use} of the {budget} memory budget is in use"
            ),
        }
    }
}

impl std::error::Error for AddError {}

/// Hands out typed resources by priority, on RAII leases.
///
/// ```
/// use std::time::Duration;
/// use hardening_resources::{NewResource, PoolConfig, Requirements, ResourceManager};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let manager = ResourceManager::<String>::builder().memory_budget("1GB".parse()?).build()?;
/// manager.add_pool("gpu", PoolConfig::builder().max(4).build()?, None)?;
/// manager.add_resource("gpu", NewResource::new("gpu-0".to_string()).with("model", "a100"))?;
///
/// let lease = manager
///     .request("gpu", "inference-worker", 10, Requirements::new().with("model", "a100"))
///     .await?;
/// assert_eq!(*lease, "gpu-0");
/// // A stranger cannot release it.
/// assert!(manager.release(lease.id(), "someone-else").is_err());
/// drop(lease); // back in the pool
/// assert_eq!(manager.stats()[0].ready, 1);
/// # Ok(()) }
/// ```
pub struct ResourceManager<R> {
    shared: Arc<Shared<R>>,
}

impl<R> Clone for ResourceManager<R> {
    fn clone(&self) -> Self {
        ResourceManager {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<R> fmt::Debug for ResourceManager<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceManager")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

struct Shared<R> {
    config: ManagerConfig,
    state: Mutex<State<R>>,
    events: broadcast::Sender<ResourceEvent>,
}

/// A map hashed with FNV-1a instead of SipHash: its keys are pool type names and the
/// manager's own sequential ids, never input an attacker chooses, and SipHash was a quarter of
/// an uncontended request's cost.
type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// FNV-1a, 64-bit.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        // One multiply for a whole id: ids are sequential, so this spreads them well enough.
        self.0 = (self.0 ^ n).wrapping_mul(0x0000_0100_0000_01b3);
    }
}

/// The pools, by type name and by position: a lease keeps its pool's position, so returning
/// it needs neither the name nor a hash.
struct Pools<R> {
    list: Vec<(Arc<str>, Pool<R>)>,
    by_name: FastMap<Arc<str>, usize>,
}

impl<R> Default for Pools<R> {
    fn default() -> Self {
        Pools {
            list: Vec::new(),
            by_name: FastMap::default(),
        }
    }
}

impl<R> Pools<R> {
    fn index(&self, kind: &str) -> Option<usize> {
        self.by_name.get(kind).copied()
    }
    fn contains_key(&self, kind: &str) -> bool {
        self.by_name.contains_key(kind)
    }
    fn insert(&mut self, kind: Arc<str>, pool: Pool<R>) {
        self.by_name.insert(Arc::clone(&kind), self.list.len());
        self.list.push((kind, pool));
    }
    fn get(&self, kind: &str) -> Option<&Pool<R>> {
        self.index(kind).map(|i| &self.list[i].1)
    }
    fn get_mut(&mut self, kind: &str) -> Option<&mut Pool<R>> {
        let i = self.index(kind)?;
        Some(&mut self.list[i].1)
    }
    fn at_mut(&mut self, index: usize) -> Option<&mut Pool<R>> {
        self.list.get_mut(index).map(|(_, pool)| pool)
    }
    fn keys(&self) -> impl Iterator<Item = &Arc<str>> {
        self.list.iter().map(|(kind, _)| kind)
    }
    fn values(&self) -> impl Iterator<Item = &Pool<R>> {
        self.list.iter().map(|(_, pool)| pool)
    }
    fn values_mut(&mut self) -> impl Iterator<Item = &mut Pool<R>> {
        self.list.iter_mut().map(|(_, pool)| pool)
    }
    fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Pool<R>)> {
        self.list.iter().map(|(kind, pool)| (kind, pool))
    }
}

struct State<R> {
    pools: Pools<R>,
    next_id: u64,
    memory_in_use: u64,
    closed: bool,
}

struct Pool<R> {
    kind: Arc<str>,
    /// Its position in [`Pools`], kept by leases.
    index: usize,
    config: PoolConfig,
    factory: Option<Arc<dyn ResourceFactory<R>>>,
    entries: FastMap<ResourceId, Entry<R>>,
    /// Ready resources, most recently returned last (handed out first: warm caches).
    ready: Vec<ResourceId>,
    waiters: Vec<Waiter<R>>,
    /// Resources the factory is making now.
    creating: usize,
    next_seq: u64,
    waits: WaitTimes,
}

struct Entry<R> {
    value: Arc<R>,
    metadata: Metadata,
    memory: u64,
    created_at: Instant,
    last_used: Instant,
    status: ResourceStatus,
    lease: Option<LeaseRecord>,
    /// Marked unavailable while leased: taken out of service when returned.
    retire_on_return: bool,
}

struct LeaseRecord {
    lease_id: u64,
    owner: Arc<str>,
    expires_at: Option<Instant>,
}

struct Waiter<R> {
    id: u64,
    priority: i32,
    seq: u64,
    since: Instant,
    owner: Arc<str>,
    requirements: Requirements,
    tx: oneshot::Sender<Lease<R>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Builds a [`ResourceManager`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct ManagerBuilder<R> {
    config: ManagerConfig,
    _resource: std::marker::PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for ManagerBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerBuilder")
            .field("config", &self.config)
            .finish()
    }
}

impl<R: Send + Sync + 'static> ManagerBuilder<R> {
    /// The total memory all resources may take (`maxResourceMemory`). Default: no budget.
    pub fn memory_budget(mut self, budget: ByteSize) -> Self {
        self.config.memory_budget = Some(budget);
        self
    }

    /// How long a waiter waits to gain one priority level, so that a low priority is never
    /// starved forever. Default 1 s.
    pub fn aging_step(mut self, step: Duration) -> Self {
        self.config.aging_step = step;
        self
    }

    /// Checks the settings and builds the manager.
    pub fn build(self) -> Result<ResourceManager<R>, crate::ConfigError> {
        self.config.validate()?;
        let (events, _) = broadcast::channel(256);
        Ok(ResourceManager {
            shared: Arc::new(Shared {
                config: self.config,
                state: Mutex::new(State {
                    pools: Pools::default(),
                    next_id: 1,
                    memory_in_use: 0,
                    closed: false,
                }),
                events,
            }),
        })
    }
}

impl<R: Send + Sync + 'static> ResourceManager<R> {
    /// A builder with the defaults: no memory budget, one priority level per second of
    /// waiting.
    pub fn builder() -> ManagerBuilder<R> {
        ManagerBuilder {
            config: ManagerConfig::default(),
            _resource: std::marker::PhantomData,
        }
    }

    /// Adds a pool for resources of type `kind`, growing through `factory` if given.
    pub fn add_pool(
        &self,
        kind: &str,
        config: PoolConfig,
        factory: Option<Arc<dyn ResourceFactory<R>>>,
    ) -> Result<(), crate::ConfigError> {
        let mut state = lock(&self.shared.state);
        if state.pools.contains_key(kind) {
            return Err(crate::ConfigError::new(
                "kind",
                kind,
                "a type name not used by another pool",
            ));
        }
        let kind: Arc<str> = Arc::from(kind);
        let index = state.pools.list.len();
        state.pools.insert(
            Arc::clone(&kind),
            Pool {
                index,
                kind,
                config,
                factory,
                entries: FastMap::default(),
                ready: Vec::new(),
                waiters: Vec::new(),
                creating: 0,
                next_seq: 0,
                waits: WaitTimes::default(),
            },
        );
        Ok(())
    }

    /// Adds a ready resource to the pool of `kind`; it goes at once to the best waiter it
    /// matches, if any.
    pub fn add_resource(
        &self,
        kind: &str,
        resource: NewResource<R>,
    ) -> Result<ResourceId, AddError> {
        let mut state = lock(&self.shared.state);
        let now = Instant::now();
        let budget = self.shared.config.memory_budget;
        let memory_in_use = state.memory_in_use;
        let next_id = state.next_id;
        let pool = state
            .pools
            .get_mut(kind)
            .ok_or_else(|| AddError::UnknownType(kind.to_string()))?;
        if pool.in_service() >= pool.config.max {
            return Err(AddError::PoolFull {
                kind: kind.to_string(),
                max: pool.config.max,
            });
        }
        if let Some(limit) = pool.config.max_resource_memory
            && resource.memory > limit
        {
            return Err(AddError::TooLarge {
                memory: resource.memory,
                limit,
            });
        }
        if let Some(budget) = budget
            && memory_in_use.saturating_add(resource.memory.bytes()) > budget.bytes()
        {
            return Err(AddError::MemoryBudget {
                memory: resource.memory,
                in_use: ByteSize::new(memory_in_use),
                budget,
            });
        }
        let id = ResourceId(next_id);
        pool.entries.insert(
            id,
            Entry {
                value: Arc::new(resource.value),
                metadata: resource.metadata,
                memory: resource.memory.bytes(),
                created_at: now,
                last_used: now,
                status: ResourceStatus::Ready,
                lease: None,
                retire_on_return: false,
            },
        );
        pool.ready.push(id);
        state.next_id += 1;
        state.memory_in_use += resource.memory.bytes();
        if let Some(pool) = state.pools.get_mut(kind) {
            self.dispatch(pool, now);
        }
        Ok(id)
    }

    /// Waits for a ready resource of type `kind` matching `requirements`, for at most the
    /// pool's request timeout. Higher `priority` is served first; among equals, earlier
    /// requests first; every `aging_step` of waiting adds one to a request's priority.
    ///
    /// Dropping the returned future before it finishes leaves nothing behind: the request
    /// leaves the queue, and a resource granted at that moment goes straight back.
    pub async fn request(
        &self,
        kind: &str,
        owner: impl Into<Arc<str>>,
        priority: i32,
        requirements: Requirements,
    ) -> Result<Lease<R>, RequestError> {
        let timeout = lock(&self.shared.state)
            .pools
            .get(kind)
            .and_then(|p| p.config.request_timeout);
        self.request_within(kind, owner, priority, requirements, timeout)
            .await
    }

    /// Like [`request`](Self::request) with an explicit timeout (`None` waits for ever).
    pub async fn request_within(
        &self,
        kind: &str,
        owner: impl Into<Arc<str>>,
        priority: i32,
        requirements: Requirements,
        timeout: Option<Duration>,
    ) -> Result<Lease<R>, RequestError> {
        let owner = owner.into();
        let started = Instant::now();
        let (rx, waiter_id) = match self.enqueue(kind, owner, priority, requirements, started)? {
            Enqueued::Granted(lease) => return Ok(lease),
            Enqueued::Waiting(rx, id) => (rx, id),
        };
        // Leaves the queue if this future is dropped, or times out, before it is served.
        let guard = WaiterGuard {
            manager: self,
            kind,
            waiter_id,
        };
        let received = match timeout {
            Some(limit) => match tokio::time::timeout(limit, rx).await {
                Ok(received) => received,
                Err(_) => {
                    return Err(RequestError::Timeout {
                        kind: kind.to_string(),
                        waited: started.elapsed(),
                    });
                }
            },
            None => rx.await,
        };
        drop(guard);
        received.map_err(|_| RequestError::Closed)
    }

    /// Takes a ready matching resource now, or says why not, without waiting.
    ///
    /// A ready resource is never one a waiting request could use (every release hands it to
    /// such a request first), so taking it passes nobody and no priority is needed.
    pub fn try_request(
        &self,
        kind: &str,
        owner: impl Into<Arc<str>>,
        requirements: &Requirements,
    ) -> Result<Option<Lease<R>>, RequestError> {
        let owner = owner.into();
        let mut state = lock(&self.shared.state);
        if !state.closed
            && let Some(pool) = state.pools.get_mut(kind)
            && let Ok(lease) = self.grant_ready(pool, owner, requirements)
        {
            return Ok(Some(lease));
        }
        // Nothing ready: say whether waiting could ever help.
        self.check_request(&mut state, kind, requirements)?;
        Ok(None)
    }

    fn enqueue(
        &self,
        kind: &str,
        owner: Arc<str>,
        priority: i32,
        requirements: Requirements,
        now: Instant,
    ) -> Result<Enqueued<R>, RequestError> {
        let mut state = lock(&self.shared.state);
        let grow = self.check_request(&mut state, kind, &requirements)?;
        let pool = state.pools.get_mut(kind).ok_or(RequestError::Closed)?;
        // Every dispatch leaves no ready resource that a waiter matches, so a ready match
        // here is one no earlier waiter wants: taking it passes nobody.
        let owner = match self.grant_ready(pool, owner, &requirements) {
            Ok(lease) => {
                pool.waits.record(Duration::ZERO);
                return Ok(Enqueued::Granted(lease));
            }
            Err(owner) => owner,
        };
        let (tx, rx) = oneshot::channel();
        let id = pool.next_seq;
        pool.next_seq += 1;
        if grow && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            pool.creating += 1;
            self.spawn_create(
                &runtime,
                Arc::clone(&pool.kind),
                pool.factory.clone(),
                requirements.clone(),
            );
        }
        pool.waiters.push(Waiter {
            id,
            priority,
            seq: id,
            since: now,
            owner,
            requirements,
            tx,
        });
        Ok(Enqueued::Waiting(rx, id))
    }

    /// Checks that a request can ever be served; says whether the pool should grow for it.
    fn check_request(
        &self,
        state: &mut State<R>,
        kind: &str,
        requirements: &Requirements,
    ) -> Result<bool, RequestError> {
        if state.closed {
            return Err(RequestError::Closed);
        }
        let memory_in_use = state.memory_in_use;
        let budget = self.shared.config.memory_budget;
        let Some(pool) = state.pools.get(kind) else {
            let mut known: Vec<String> = state.pools.keys().map(|k| k.to_string()).collect();
            known.sort();
            return Err(RequestError::UnknownType {
                kind: kind.to_string(),
                known,
            });
        };
        let ready_match = pool.ready.iter().any(|id| {
            pool.entries
                .get(id)
                .is_some_and(|e| requirements.matches(&e.metadata))
        });
        if ready_match {
            return Ok(false);
        }
        let some_match = pool.entries.values().any(|e| {
            e.status != ResourceStatus::Unavailable
                && !e.retire_on_return
                && requirements.matches(&e.metadata)
        });
        let can_grow_by_count =
            pool.factory.is_some() && pool.in_service() + pool.creating < pool.config.max;
        let needed = pool.config.new_resource_memory.bytes();
        let fits_budget = budget.is_none_or(|b| memory_in_use.saturating_add(needed) <= b.bytes());
        let waiting_for_match = pool
            .waiters
            .iter()
            .filter(|w| w.requirements == *requirements)
            .count();
        // Grow when nothing matching is free and the pool may grow; one creation per waiter
        // already queued for the same thing keeps a burst from over-creating.
        if can_grow_by_count && fits_budget && pool.creating <= waiting_for_match {
            return Ok(true);
        }
        if some_match || (pool.factory.is_some() && pool.creating > 0) {
            return Ok(false);
        }
        if can_grow_by_count && !fits_budget {
            return Err(RequestError::MemoryBudget {
                kind: kind.to_string(),
                needed: ByteSize::new(needed),
                in_use: ByteSize::new(memory_in_use),
                budget: budget.unwrap_or_default(),
            });
        }
        let reason = if pool.factory.is_none() {
            "the pool has no factory to make one".to_string()
        } else {
            format!("the pool is at its maximum of {}", pool.config.max)
        };
        Err(RequestError::NoMatch {
            kind: kind.to_string(),
            reason,
        })
    }

    /// Leases the most recently returned ready resource that matches, if any; otherwise hands
    /// the owner back for the waiting queue.
    fn grant_ready(
        &self,
        pool: &mut Pool<R>,
        owner: Arc<str>,
        requirements: &Requirements,
    ) -> Result<Lease<R>, Arc<str>> {
        // Any resource will do for a request without requirements: the last one returned.
        let found = if requirements.is_empty() {
            pool.ready.pop()
        } else {
            pool.ready
                .iter()
                .rposition(|id| {
                    pool.entries
                        .get(id)
                        .is_some_and(|e| requirements.matches(&e.metadata))
                })
                .map(|position| pool.ready.remove(position))
        };
        match found {
            Some(id) => self.lease(pool, id, owner),
            None => Err(owner),
        }
    }

    /// Releases the lease on `resource` if `owner` holds it. Anyone else gets an error and
    /// nothing changes.
    pub fn release(&self, resource: ResourceId, owner: &str) -> Result<(), ReleaseError> {
        let mut state = lock(&self.shared.state);
        let now = Instant::now();
        let (kind, lease_id) = {
            let (kind, entry) = state
                .pools
                .iter()
                .find_map(|(k, p)| p.entries.get(&resource).map(|e| (Arc::clone(k), e)))
                .ok_or(ReleaseError::UnknownResource(resource))?;
            let record = entry
                .lease
                .as_ref()
                .ok_or(ReleaseError::NotLeased(resource))?;
            if &*record.owner != owner {
                return Err(ReleaseError::NotOwner {
                    resource,
                    caller: owner.to_string(),
                });
            }
            (kind, record.lease_id)
        };
        if let Some(pool) = state.pools.get_mut(&kind) {
            Self::return_entry(pool, resource, lease_id, Some(now));
        }
        if let Some(pool) = state.pools.get_mut(&kind) {
            self.dispatch(pool, now);
        }
        Ok(())
    }

    /// Takes `resource` out of service (failed validation, failed health): a ready one at once,
    /// a leased one when it is returned. A pool with a factory makes a replacement.
    pub fn mark_unavailable(&self, resource: ResourceId, reason: &str) -> Result<(), ReleaseError> {
        let mut state = lock(&self.shared.state);
        let kind = state
            .pools
            .iter()
            .find(|(_, p)| p.entries.contains_key(&resource))
            .map(|(k, _)| Arc::clone(k))
            .ok_or(ReleaseError::UnknownResource(resource))?;
        let Some(pool) = state.pools.get_mut(&kind) else {
            return Err(ReleaseError::UnknownResource(resource));
        };
        if let Some(entry) = pool.entries.get_mut(&resource) {
            if entry.lease.is_some() {
                entry.retire_on_return = true;
            } else {
                entry.status = ResourceStatus::Unavailable;
                pool.ready.retain(|id| *id != resource);
            }
        }
        let _ = self.shared.events.send(ResourceEvent::MarkedUnavailable {
            resource,
            kind: Arc::clone(&kind),
            reason: reason.to_string(),
        });
        // A replacement keeps the pool at its size. Outside a runtime (a synchronous caller)
        // the next request grows the pool instead.
        if pool.factory.is_some()
            && pool.in_service() + pool.creating < pool.config.max
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            pool.creating += 1;
            self.spawn_create(
                &runtime,
                Arc::clone(&kind),
                pool.factory.clone(),
                Requirements::new(),
            );
        }
        Ok(())
    }

    /// Makes a resource through the factory on `runtime`; the caller has counted it in
    /// `creating`.
    fn spawn_create(
        &self,
        runtime: &tokio::runtime::Handle,
        kind: Arc<str>,
        factory: Option<Arc<dyn ResourceFactory<R>>>,
        requirements: Requirements,
    ) {
        let Some(factory) = factory else { return };
        let manager = self.clone();
        runtime.spawn(async move {
            let made = factory.create(&kind, &requirements).await;
            let mut state = lock(&manager.shared.state);
            if let Some(pool) = state.pools.get_mut(&kind) {
                pool.creating = pool.creating.saturating_sub(1);
            }
            drop(state);
            match made {
                Ok(resource) => match manager.add_resource(&kind, resource) {
                    Ok(id) => {
                        let _ = manager
                            .shared
                            .events
                            .send(ResourceEvent::Created { resource: id, kind });
                    }
                    Err(e) => {
                        let _ = manager.shared.events.send(ResourceEvent::CreateFailed {
                            kind,
                            error: e.to_string(),
                        });
                    }
                },
                Err(e) => {
                    let _ = manager.shared.events.send(ResourceEvent::CreateFailed {
                        kind,
                        error: e.to_string(),
                    });
                }
            }
        });
    }

    /// One round of cleanup: reclaims leases past their time to live, drops resources taken
    /// out of service, and shrinks pools whose resources sat idle past the idle timeout down
    /// to their minimum. [`spawn_maintenance`](Self::spawn_maintenance) runs it on a schedule.
    pub fn maintain(&self) {
        let mut state = lock(&self.shared.state);
        let now = Instant::now();
        let kinds: Vec<Arc<str>> = state.pools.keys().cloned().collect();
        let mut freed = 0u64;
        for kind in &kinds {
            let Some(pool) = state.pools.get_mut(kind) else {
                continue;
            };
            // Leases past their time to live.
            let expired: Vec<(ResourceId, u64, Arc<str>)> = pool
                .entries
                .iter()
                .filter_map(|(id, e)| {
                    let record = e.lease.as_ref()?;
                    record
                        .expires_at
                        .is_some_and(|t| t <= now)
                        .then(|| (*id, record.lease_id, Arc::clone(&record.owner)))
                })
                .collect();
            for (id, lease_id, owner) in expired {
                Self::return_entry(pool, id, lease_id, Some(now));
                let _ = self.shared.events.send(ResourceEvent::LeaseExpired {
                    resource: id,
                    kind: Arc::clone(kind),
                    owner,
                });
            }
            // Resources out of service.
            let retired: Vec<ResourceId> = pool
                .entries
                .iter()
                .filter(|(_, e)| e.status == ResourceStatus::Unavailable)
                .map(|(id, _)| *id)
                .collect();
            for id in retired {
                if let Some(e) = pool.entries.remove(&id) {
                    freed += e.memory;
                }
            }
            // Idle resources above the minimum, oldest use first.
            if let Some(idle) = pool.config.idle_timeout {
                let mut idle_ready: Vec<(Instant, ResourceId)> = pool
                    .ready
                    .iter()
                    .filter_map(|id| pool.entries.get(id).map(|e| (e.last_used, *id)))
                    .filter(|(used, _)| now.saturating_duration_since(*used) >= idle)
                    .collect();
                idle_ready.sort();
                for (_, id) in idle_ready {
                    if pool.in_service() <= pool.config.min {
                        break;
                    }
                    pool.ready.retain(|r| *r != id);
                    if let Some(e) = pool.entries.remove(&id) {
                        freed += e.memory;
                    }
                    let _ = self.shared.events.send(ResourceEvent::Evicted {
                        resource: id,
                        kind: Arc::clone(kind),
                    });
                }
            }
        }
        state.memory_in_use = state.memory_in_use.saturating_sub(freed);
        for kind in &kinds {
            if let Some(pool) = state.pools.get_mut(kind) {
                self.dispatch(pool, now);
            }
        }
    }

    /// Runs [`maintain`](Self::maintain) every `every` on the current tokio runtime until the
    /// returned handle is aborted or the manager is shut down. With the `metrics` feature,
    /// each pass also publishes the pools' [`stats`](Self::stats), so the gauges stay current
    /// when nothing else reads them.
    pub fn spawn_maintenance(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let manager = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if lock(&manager.shared.state).closed {
                    break;
                }
                manager.maintain();
                #[cfg(feature = "metrics")]
                manager.stats();
            }
        })
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ResourceEvent> {
        self.shared.events.subscribe()
    }

    /// Every resource of `kind`, by id.
    pub fn resources(&self, kind: &str) -> Vec<ResourceInfo> {
        let state = lock(&self.shared.state);
        let Some(pool) = state.pools.get(kind) else {
            return Vec::new();
        };
        let mut all: Vec<ResourceInfo> = pool
            .entries
            .iter()
            .map(|(id, e)| ResourceInfo {
                id: *id,
                kind: Arc::clone(&pool.kind),
                status: e.status,
                metadata: e.metadata.clone(),
                created_at: e.created_at,
                last_used: pool.config.tracks_last_use().then_some(e.last_used),
                memory: ByteSize::new(e.memory),
                owner: e.lease.as_ref().map(|l| Arc::clone(&l.owner)),
            })
            .collect();
        all.sort_by_key(|r| r.id);
        all
    }

    /// Per type: ready, busy, unavailable, waiters and wait-time percentiles (the seeds'
    /// `getResourceStats()`), sorted by type.
    pub fn stats(&self) -> Vec<PoolStats> {
        let state = lock(&self.shared.state);
        let mut stats: Vec<PoolStats> = state
            .pools
            .values()
            .map(|pool| {
                let count = |s| pool.entries.values().filter(|e| e.status == s).count();
                PoolStats {
                    kind: pool.kind.to_string(),
                    ready: count(ResourceStatus::Ready),
                    busy: count(ResourceStatus::Busy),
                    unavailable: count(ResourceStatus::Unavailable),
                    waiters: pool.waiters.len(),
                    creating: pool.creating,
                    memory: ByteSize::new(pool.entries.values().map(|e| e.memory).sum()),
                    wait: pool.waits.summary(),
                }
            })
            .collect();
        stats.sort_by(|a, b| a.kind.cmp(&b.kind));
        #[cfg(feature = "metrics")]
        crate::stats::publish(&stats);
        stats
    }

    /// The memory all resources take now.
    pub fn memory_in_use(&self) -> ByteSize {
        ByteSize::new(lock(&self.shared.state).memory_in_use)
    }

    /// Stops serving: waiting requests end with [`RequestError::Closed`], new ones are refused.
    /// Leases already out stay valid until dropped.
    pub fn shutdown(&self) {
        let mut state = lock(&self.shared.state);
        state.closed = true;
        for pool in state.pools.values_mut() {
            pool.waiters.clear();
        }
    }

    fn remove_waiter(&self, kind: &str, waiter_id: u64) {
        let mut state = lock(&self.shared.state);
        if let Some(pool) = state.pools.get_mut(kind) {
            pool.waiters.retain(|w| w.id != waiter_id);
        }
    }
}

/// The parts of the manager a lease's drop needs, which ask nothing of `R`.
impl<R> ResourceManager<R> {
    /// Leases the ready resource `id` to `owner`, or hands the owner back if there is no such
    /// resource. The clock is read only for a lease with a time to live: `last_used` is stamped
    /// when the resource comes back.
    fn lease(
        &self,
        pool: &mut Pool<R>,
        id: ResourceId,
        owner: Arc<str>,
    ) -> Result<Lease<R>, Arc<str>> {
        let Some(entry) = pool.entries.get_mut(&id) else {
            return Err(owner);
        };
        let lease_id = pool.next_seq;
        pool.next_seq += 1;
        entry.status = ResourceStatus::Busy;
        entry.lease = Some(LeaseRecord {
            lease_id,
            owner,
            expires_at: pool.config.lease_ttl.map(|ttl| Instant::now() + ttl),
        });
        Ok(Lease {
            shared: Arc::clone(&self.shared),
            pool: pool.index,
            id,
            lease_id,
            value: Arc::clone(&entry.value),
            armed: true,
        })
    }

    /// Hands every ready resource of `pool` to the best waiter it matches.
    fn dispatch(&self, pool: &mut Pool<R>, now: Instant) {
        let aging_step = self.shared.config.aging_step;
        let mut i = pool.ready.len();
        while i > 0 {
            i -= 1;
            let id = pool.ready[i];
            loop {
                let best = pool
                    .waiters
                    .iter()
                    .enumerate()
                    .filter(|(_, w)| {
                        pool.entries
                            .get(&id)
                            .is_some_and(|e| w.requirements.matches(&e.metadata))
                    })
                    .max_by_key(|(_, w)| {
                        (
                            effective_priority(w, now, aging_step),
                            std::cmp::Reverse(w.seq),
                        )
                    })
                    .map(|(index, _)| index);
                let Some(index) = best else { break };
                let waiter = pool.waiters.swap_remove(index);
                if waiter.tx.is_closed() {
                    continue;
                }
                pool.ready.remove(i);
                let Ok(lease) = self.lease(pool, id, waiter.owner) else {
                    break;
                };
                match waiter.tx.send(lease) {
                    Ok(()) => {
                        pool.waits
                            .record(now.saturating_duration_since(waiter.since));
                    }
                    Err(mut lease) => {
                        // The requester went away between the check and the send: take the
                        // resource back here, and disarm the lease so that its drop does not
                        // take the lock we hold.
                        lease.armed = false;
                        Self::return_entry(pool, lease.id, lease.lease_id, Some(now));
                        if pool
                            .entries
                            .get(&id)
                            .is_some_and(|e| e.status == ResourceStatus::Ready)
                        {
                            pool.ready.insert(i, id);
                            continue;
                        }
                    }
                }
                break;
            }
        }
    }

    /// Marks a leased entry returned; the caller re-dispatches. Returns whether it changed.
    /// `now` is `None` when the caller skipped the clock (a pool that does not track use,
    /// with nobody waiting): `last_used` then keeps its previous value.
    fn return_entry(
        pool: &mut Pool<R>,
        id: ResourceId,
        lease_id: u64,
        now: Option<Instant>,
    ) -> bool {
        let Some(entry) = pool.entries.get_mut(&id) else {
            return false;
        };
        if entry.lease.as_ref().is_none_or(|l| l.lease_id != lease_id) {
            return false;
        }
        entry.lease = None;
        if let Some(now) = now {
            entry.last_used = now;
        }
        if entry.retire_on_return {
            entry.status = ResourceStatus::Unavailable;
        } else {
            entry.status = ResourceStatus::Ready;
            pool.ready.push(id);
        }
        true
    }
}

impl<R> Pool<R> {
    /// Resources counted toward the pool's size: all but those out of service.
    fn in_service(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.status != ResourceStatus::Unavailable && !e.retire_on_return)
            .count()
    }
}

fn effective_priority<R>(waiter: &Waiter<R>, now: Instant, aging_step: Duration) -> i64 {
    let waited = now.saturating_duration_since(waiter.since);
    let steps = waited.as_nanos() / aging_step.as_nanos().max(1);
    i64::from(waiter.priority).saturating_add(i64::try_from(steps).unwrap_or(i64::MAX))
}

enum Enqueued<R> {
    Granted(Lease<R>),
    Waiting(oneshot::Receiver<Lease<R>>, u64),
}

struct WaiterGuard<'a, R: Send + Sync + 'static> {
    manager: &'a ResourceManager<R>,
    kind: &'a str,
    waiter_id: u64,
}

impl<R: Send + Sync + 'static> Drop for WaiterGuard<'_, R> {
    fn drop(&mut self) {
        self.manager.remove_waiter(self.kind, self.waiter_id);
    }
}

/// A resource on loan. Dereferences to the resource; dropping it returns the resource to its
/// pool (unless the lease was reclaimed or released by id in the meantime).
pub struct Lease<R> {
    shared: Arc<Shared<R>>,
    /// The pool's position: returning needs no name and no hash.
    pool: usize,
    id: ResourceId,
    lease_id: u64,
    value: Arc<R>,
    /// Whether dropping the lease returns the resource (false once the manager has taken it
    /// back itself).
    armed: bool,
}

impl<R> Lease<R> {
    /// The leased resource's id.
    pub fn id(&self) -> ResourceId {
        self.id
    }
}

impl<R: Send + Sync + 'static> Lease<R> {
    /// Returns the resource but takes it out of service (it failed while in use).
    pub fn fail(self, reason: &str) {
        let manager = ResourceManager {
            shared: Arc::clone(&self.shared),
        };
        let _ = manager.mark_unavailable(self.id, reason);
        drop(self);
    }
}

impl<R> Deref for Lease<R> {
    type Target = R;

    fn deref(&self) -> &R {
        &self.value
    }
}

impl<R> fmt::Debug for Lease<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("pool", &self.pool)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<R> Drop for Lease<R> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = lock(&self.shared.state);
        let Some(pool) = state.pools.at_mut(self.pool) else {
            return;
        };
        // The clock costs as much as the rest of a return: read it only when the return time
        // is tracked or a waiter's wait is about to be measured.
        let now = (pool.config.tracks_last_use() || !pool.waiters.is_empty()).then(Instant::now);
        let returned = ResourceManager::<R>::return_entry(pool, self.id, self.lease_id, now);
        if let Some(now) = now
            && returned
            && !pool.waiters.is_empty()
        {
            let manager = ResourceManager {
                shared: Arc::clone(&self.shared),
            };
            manager.dispatch(pool, now);
        }
    }
}
