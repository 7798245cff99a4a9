//! Allocation, in virtual time: priority and arrival order, aging, timeouts, cancellation,
//! leases and release by id, reaping, idle shrink, replacement and the memory budget.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use hardening_resources::{
    ByteSize, Lease, NewResource, PoolConfig, ReleaseError, RequestError, Requirements,
    ResourceEvent, ResourceFactory, ResourceManager,
};
use tokio::task::JoinHandle;

fn manager_with(n: usize, config: PoolConfig) -> ResourceManager<usize> {
    let manager: ResourceManager<usize> = ResourceManager::builder().build().unwrap();
    manager.add_pool("slot", config, None).unwrap();
    for i in 0..n {
        manager.add_resource("slot", NewResource::new(i)).unwrap();
    }
    manager
}

fn pool() -> PoolConfig {
    PoolConfig::builder()
        .max(8)
        .request_timeout(None)
        .build()
        .unwrap()
}

/// Spawns a request that records, when served, its name in `order`, and holds the lease until
/// told to stop.
fn waiter(
    manager: &ResourceManager<usize>,
    name: &'static str,
    priority: i32,
    order: &Arc<std::sync::Mutex<Vec<&'static str>>>,
) -> JoinHandle<()> {
    let manager = manager.clone();
    let order = Arc::clone(order);
    tokio::spawn(async move {
        let lease = manager
            .request("slot", name, priority, Requirements::new())
            .await
            .unwrap();
        order.lock().unwrap().push(name);
        drop(lease);
    })
}

/// A priority-0 lease on any slot, for `owner`.
async fn take(manager: &ResourceManager<usize>, owner: &str) -> Lease<usize> {
    manager
        .request("slot", owner, 0, Requirements::new())
        .await
        .unwrap()
}

/// Lets spawned tasks run until they block.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_by_priority_then_arrival() {
    let manager = manager_with(1, pool());
    let held = take(&manager, "holder").await;
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let tasks = [
        waiter(&manager, "low", 1, &order),
        waiter(&manager, "high", 5, &order),
        waiter(&manager, "mid-first", 3, &order),
        waiter(&manager, "mid-second", 3, &order),
    ];
    settle().await;
    assert_eq!(manager.stats()[0].waiters, 4);
    drop(held);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        *order.lock().unwrap(),
        ["high", "mid-first", "mid-second", "low"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_long_wait_ages_a_low_priority_past_newer_high_ones() {
    let manager = manager_with(1, pool());
    let held = take(&manager, "holder").await;
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let old = waiter(&manager, "old-low", 0, &order);
    settle().await;
    // Ten seconds at one level a second: the old request now counts as priority 10.
    tokio::time::advance(Duration::from_secs(10)).await;
    let new = waiter(&manager, "new-high", 8, &order);
    settle().await;
    drop(held);
    old.await.unwrap();
    new.await.unwrap();
    assert_eq!(*order.lock().unwrap(), ["old-low", "new-high"]);
}

#[tokio::test(start_paused = true)]
async fn a_request_times_out_and_leaves_the_queue() {
    let manager = manager_with(1, pool());
    let _held = take(&manager, "holder").await;
    let err = manager
        .request_within(
            "slot",
            "late",
            0,
            Requirements::new(),
            Some(Duration::from_secs(2)),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RequestError::Timeout {
            kind: "slot".into(),
            waited: Duration::from_secs(2)
        }
    );
    assert_eq!(manager.stats()[0].waiters, 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_request_leaks_nothing() {
    let manager = manager_with(1, pool());
    let held = take(&manager, "holder").await;
    let waiting = {
        let manager = manager.clone();
        tokio::spawn(async move {
            manager
                .request("slot", "quitter", 0, Requirements::new())
                .await
        })
    };
    settle().await;
    assert_eq!(manager.stats()[0].waiters, 1);
    waiting.abort();
    assert!(waiting.await.unwrap_err().is_cancelled());
    assert_eq!(manager.stats()[0].waiters, 0);
    drop(held);
    let stats = &manager.stats()[0];
    assert_eq!((stats.ready, stats.busy), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn release_by_id_checks_the_owner_and_the_lease_then_drops_harmlessly() {
    let manager = manager_with(1, pool());
    let lease = take(&manager, "alice").await;
    let id = lease.id();
    let err = manager.release(id, "mallory").unwrap_err();
    assert_eq!(
        err,
        ReleaseError::NotOwner {
            resource: id,
            caller: "mallory".into()
        }
    );
    assert_eq!(manager.stats()[0].busy, 1, "a stranger changed nothing");
    manager.release(id, "alice").unwrap();
    assert_eq!(
        manager.release(id, "alice"),
        Err(ReleaseError::NotLeased(id))
    );
    // Bob gets it; Alice's stale lease must not hand Bob's resource back when dropped.
    let bob = take(&manager, "bob").await;
    drop(lease);
    assert_eq!(manager.resources("slot")[0].owner.as_deref(), Some("bob"));
    drop(bob);
    assert_eq!(manager.stats()[0].ready, 1);
}

#[tokio::test(start_paused = true)]
async fn a_lease_past_its_ttl_is_reaped_and_reported() {
    let manager = manager_with(
        1,
        PoolConfig::builder()
            .lease_ttl(Duration::from_secs(10))
            .request_timeout(None)
            .build()
            .unwrap(),
    );
    let mut events = manager.subscribe();
    let reaper = manager.spawn_maintenance(Duration::from_secs(1));
    let stale = take(&manager, "crashed-worker").await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    let event = events.recv().await.unwrap();
    assert!(matches!(
        event,
        ResourceEvent::LeaseExpired { ref owner, .. } if &**owner == "crashed-worker"
    ));
    let fresh = take(&manager, "healthy-worker").await;
    drop(stale);
    assert_eq!(
        manager.resources("slot")[0].owner.as_deref(),
        Some("healthy-worker")
    );
    drop(fresh);
    reaper.abort();
}

#[tokio::test(start_paused = true)]
async fn idle_resources_shrink_to_the_minimum() {
    let manager = manager_with(
        4,
        PoolConfig::builder()
            .min(1)
            .idle_timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    );
    tokio::time::advance(Duration::from_secs(20)).await;
    // One is used now, so it is not idle.
    drop(take(&manager, "user").await);
    tokio::time::advance(Duration::from_secs(15)).await;
    manager.maintain();
    // Three idle for 35 s, one for 15 s: the three idle go... down to the minimum of one.
    let left = manager.resources("slot");
    assert_eq!(left.len(), 1);
    tokio::time::advance(Duration::from_secs(60)).await;
    manager.maintain();
    assert_eq!(
        manager.resources("slot").len(),
        1,
        "never below the minimum"
    );
}

/// Makes numbered resources with the requested metadata, counting calls.
struct Counter {
    made: AtomicUsize,
    memory: ByteSize,
}

#[async_trait]
impl ResourceFactory<usize> for Counter {
    async fn create(
        &self,
        _kind: &str,
        requirements: &Requirements,
    ) -> Result<NewResource<usize>, Box<dyn std::error::Error + Send + Sync>> {
        let n = self.made.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut resource = NewResource::new(100 + n).memory(self.memory);
        resource.metadata = requirements.as_metadata();
        Ok(resource)
    }
}

#[tokio::test(start_paused = true)]
async fn a_pool_grows_through_its_factory_and_replaces_failed_resources() {
    let manager: ResourceManager<usize> = ResourceManager::builder().build().unwrap();
    let factory = Arc::new(Counter {
        made: AtomicUsize::new(0),
        memory: ByteSize::new(0),
    });
    manager
        .add_pool(
            "worker",
            PoolConfig::builder().min(1).max(2).build().unwrap(),
            Some(factory.clone()),
        )
        .unwrap();
    let a = manager
        .request("worker", "x", 0, Requirements::new())
        .await
        .unwrap();
    let b = manager
        .request("worker", "y", 0, Requirements::new())
        .await
        .unwrap();
    assert_eq!(factory.made.load(Ordering::SeqCst), 2);
    assert_eq!((*a, *b), (100, 101));
    // At the maximum: a third request waits rather than growing.
    let third = manager
        .try_request("worker", "z", &Requirements::new())
        .unwrap();
    assert!(third.is_none());
    // A failed resource is taken out of service and replaced.
    let failed_id = a.id();
    a.fail("health check failed");
    let stats = &manager.stats()[0];
    assert_eq!(stats.unavailable, 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    manager.maintain();
    let resources = manager.resources("worker");
    assert!(resources.iter().all(|r| r.id != failed_id));
    assert_eq!(resources.len(), 2);
    assert_eq!(factory.made.load(Ordering::SeqCst), 3);
    drop(b);
}

#[tokio::test(start_paused = true)]
async fn the_memory_budget_refuses_growth_with_a_clear_reason() {
    let manager: ResourceManager<usize> = ResourceManager::builder()
        .memory_budget("100MB".parse().unwrap())
        .build()
        .unwrap();
    let factory = Arc::new(Counter {
        made: AtomicUsize::new(0),
        memory: "60MB".parse().unwrap(),
    });
    manager
        .add_pool(
            "model",
            PoolConfig::builder()
                .max(4)
                .new_resource_memory("60MB".parse().unwrap())
                .build()
                .unwrap(),
            Some(factory),
        )
        .unwrap();
    let small = manager
        .request("model", "a", 0, Requirements::new().with("size", "small"))
        .await
        .unwrap();
    assert_eq!(manager.memory_in_use(), "60MB".parse().unwrap());
    let err = manager
        .request("model", "b", 0, Requirements::new().with("size", "large"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "a new 'model' resource needs 60MB but 60MB of the 100MB memory budget is in use"
    );
    drop(small);
}

#[tokio::test(start_paused = true)]
async fn unknown_types_and_unmatchable_requirements_are_refused_at_once() {
    let manager = manager_with(1, pool());
    let err = manager
        .request("gpu", "x", 0, Requirements::new())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "no resource type 'gpu'; known types: slot");
    let err = manager
        .request("slot", "x", 0, Requirements::new().with("gpu", "a100"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no 'slot' resource matches the requirements and the pool has no factory to make one"
    );
}

#[tokio::test(start_paused = true)]
async fn requirements_pick_the_matching_resource_and_skip_nobody_who_could_use_it() {
    let manager: ResourceManager<&'static str> = ResourceManager::builder().build().unwrap();
    manager.add_pool("gpu", pool(), None).unwrap();
    manager
        .add_resource("gpu", NewResource::new("a100").with("model", "a100"))
        .unwrap();
    manager
        .add_resource("gpu", NewResource::new("t4").with("model", "t4"))
        .unwrap();
    let t4 = manager
        .request("gpu", "x", 0, Requirements::new().with("model", "t4"))
        .await
        .unwrap();
    assert_eq!(*t4, "t4");
    let any = manager
        .request("gpu", "y", 0, Requirements::new())
        .await
        .unwrap();
    assert_eq!(*any, "a100");
}

#[tokio::test(start_paused = true)]
async fn the_last_use_is_tracked_where_asked_for_and_said_to_be_unknown_elsewhere() {
    let untracked = manager_with(1, pool());
    drop(take(&untracked, "x").await);
    assert_eq!(untracked.resources("slot")[0].last_used, None);

    let tracked = manager_with(
        1,
        PoolConfig::builder().track_last_use(true).build().unwrap(),
    );
    let added = tracked.resources("slot")[0].last_used.unwrap();
    let lease = take(&tracked, "x").await;
    tokio::time::advance(Duration::from_secs(7)).await;
    drop(lease);
    let returned = tracked.resources("slot")[0].last_used.unwrap();
    assert_eq!(returned - added, Duration::from_secs(7));
}
