//! Random waiting requests (with priorities and timeouts), releases, drops, lease expiries and
//! clock advances, in virtual time, against a model of the queue: no resource is ever held by
//! two owners, none is lost, and no request is served while another that outranks it (by
//! priority plus one level per `aging_step` waited, then by arrival) waits for the same pool.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardening_resources::{NewResource, PoolConfig, Requirements, ResourceManager};
use proptest::prelude::*;
use tokio::sync::oneshot;
use tokio::time::Instant;

const AGING: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
enum Op {
    /// A request of this priority, waiting at most this many seconds (or for ever).
    Request { priority: i32, timeout: Option<u64> },
    /// The i-th holder (modulo their number) gives its resource back.
    Release(usize),
    /// Time passes.
    Advance { millis: u64 },
    /// The reaper runs (leases live 5 s).
    Maintain,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0i32..4, proptest::option::of(1u64..6)).prop_map(|(priority, timeout)| Op::Request { priority, timeout }),
        4 => any::<usize>().prop_map(Op::Release),
        3 => prop_oneof![0u64..500, 500u64..3_000].prop_map(|millis| Op::Advance { millis }),
        1 => Just(Op::Maintain),
    ]
}

/// What the requests report back.
#[derive(Debug, Default)]
struct Log {
    /// Request number → resource it holds now.
    holding: BTreeMap<usize, u64>,
    /// Requests still waiting: number → (priority, since).
    waiting: BTreeMap<usize, (i32, Instant)>,
    /// Requests served, in order, with the moment and their rank then.
    violations: Vec<String>,
    finished: BTreeSet<usize>,
}

fn rank(priority: i32, since: Instant, now: Instant) -> i64 {
    i64::from(priority)
        + (now.saturating_duration_since(since).as_nanos() / AGING.as_nanos()) as i64
}

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

async fn check(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let manager: ResourceManager<u64> = ResourceManager::builder()
        .aging_step(AGING)
        .build()
        .unwrap();
    manager
        .add_pool(
            "r",
            PoolConfig::builder()
                .max(3)
                .lease_ttl(Duration::from_secs(5))
                .request_timeout(None)
                .build()
                .unwrap(),
            None,
        )
        .unwrap();
    for i in 0..3 {
        manager.add_resource("r", NewResource::new(i)).unwrap();
    }
    let log = Arc::new(Mutex::new(Log::default()));
    let mut release: BTreeMap<usize, oneshot::Sender<()>> = BTreeMap::new();
    let mut next = 0usize;

    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Request { priority, timeout } => {
                let number = next;
                next += 1;
                let (tx, rx) = oneshot::channel::<()>();
                release.insert(number, tx);
                log.lock()
                    .unwrap()
                    .waiting
                    .insert(number, (priority, Instant::now()));
                let manager = manager.clone();
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let got = manager
                        .request_within(
                            "r",
                            format!("req-{number}"),
                            priority,
                            Requirements::new(),
                            timeout.map(Duration::from_secs),
                        )
                        .await;
                    let now = Instant::now();
                    let Ok(lease) = got else {
                        let mut log = log.lock().unwrap();
                        log.waiting.remove(&number);
                        log.finished.insert(number);
                        return;
                    };
                    {
                        let mut log = log.lock().unwrap();
                        let (mine, since) = log.waiting.remove(&number).unwrap();
                        let my_rank = rank(mine, since, now);
                        // Nobody still waiting may outrank the request just served.
                        let passed: Vec<String> = log
                            .waiting
                            .iter()
                            .filter_map(|(other, (p, s))| {
                                let their = rank(*p, *s, now);
                                (their > my_rank || (their == my_rank && *other < number)).then(|| {
                                    format!(
                                        "request {number} (rank {my_rank}) served before request {other} (rank {their})"
                                    )
                                })
                            })
                            .collect();
                        log.violations.extend(passed);
                        let resource = *lease;
                        if let Some((holder, _)) = log.holding.iter().find(|(_, r)| **r == resource)
                        {
                            let message =
                                format!("resource {resource} held by {holder} and {number}");
                            log.violations.push(message);
                        }
                        log.holding.insert(number, resource);
                    }
                    let _ = rx.await;
                    let mut log = log.lock().unwrap();
                    log.holding.remove(&number);
                    log.finished.insert(number);
                    drop(log);
                    drop(lease);
                });
            }
            Op::Release(i) => {
                let holders: Vec<usize> = log.lock().unwrap().holding.keys().copied().collect();
                if !holders.is_empty() {
                    let number = holders[i % holders.len()];
                    if let Some(tx) = release.remove(&number) {
                        let _ = tx.send(());
                    }
                }
            }
            Op::Advance { millis } => tokio::time::advance(Duration::from_millis(millis)).await,
            Op::Maintain => {
                // A reclaimed lease's holder no longer holds the resource.
                manager.maintain();
                let owners: BTreeSet<String> = manager
                    .resources("r")
                    .into_iter()
                    .filter_map(|r| r.owner.map(|o| o.to_string()))
                    .collect();
                let mut log = log.lock().unwrap();
                let expired: Vec<usize> = log
                    .holding
                    .keys()
                    .copied()
                    .filter(|n| !owners.contains(&format!("req-{n}")))
                    .collect();
                for n in expired {
                    log.holding.remove(&n);
                }
            }
        }
        settle().await;
        let log = log.lock().unwrap();
        prop_assert!(
            log.violations.is_empty(),
            "step {}: {:?}",
            step,
            log.violations
        );
        // Every resource is either held by a live lease in the manager or ready: none lost.
        let stats = &manager.stats()[0];
        prop_assert_eq!(stats.ready + stats.busy, 3, "step {}", step);
        prop_assert_eq!(stats.waiters, log.waiting.len(), "step {}", step);
        // A ready resource with someone waiting would be a stranded waiter.
        prop_assert!(
            stats.ready == 0 || log.waiting.is_empty(),
            "step {}: {:?}",
            step,
            stats
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn priority_aging_timeouts_and_expiry_never_double_grant_or_strand(
        ops in proptest::collection::vec(op(), 1..80)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(check(ops))?;
    }
}
