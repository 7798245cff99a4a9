//! The load generator: tasks calling both services through `Hardening::call` at a steady
//! rate, and tasks leasing `cpu` and `gpu` resources at random priorities.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use hardening::perf::Histogram;
use hardening::pipeline::StageError;
use hardening::resources::{RequestError, Requirements};
use hardening::{Hardening, HardeningError, ServiceCallError};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::sim::{FaultLog, SERVICES, SimService};

/// Priorities run from 0 (lowest) to 9.
pub(crate) const PRIORITIES: usize = 10;

/// A small xorshift generator: the demo needs variety, not cryptography.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        // SplitMix64 of the seed, so that seeds 1, 2, 3 give unrelated streams (never zero).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Cumulative counts of one service's calls.
#[derive(Debug, Default)]
pub(crate) struct CallCounters {
    /// Calls finished.
    pub(crate) calls: AtomicU64,
    pub(crate) ok: AtomicU64,
    /// Refused by the breaker (open, or half-open with its probes taken).
    pub(crate) refused: AtomicU64,
    /// Cut by the pipeline's timeout on the last attempt.
    pub(crate) timed_out: AtomicU64,
    /// The service's own error on the last attempt.
    pub(crate) failed: AtomicU64,
    /// Calls that started outside every fault window (and its grace period).
    pub(crate) counted: AtomicU64,
    pub(crate) counted_ok: AtomicU64,
}

/// A copy of [`CallCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Calls {
    pub(crate) calls: u64,
    pub(crate) ok: u64,
    pub(crate) refused: u64,
    pub(crate) timed_out: u64,
    pub(crate) failed: u64,
    pub(crate) counted: u64,
    pub(crate) counted_ok: u64,
}

impl Calls {
    pub(crate) fn minus(self, earlier: Calls) -> Calls {
        Calls {
            calls: self.calls - earlier.calls,
            ok: self.ok - earlier.ok,
            refused: self.refused - earlier.refused,
            timed_out: self.timed_out - earlier.timed_out,
            failed: self.failed - earlier.failed,
            counted: self.counted - earlier.counted,
            counted_ok: self.counted_ok - earlier.counted_ok,
        }
    }

    pub(crate) fn plus(self, other: Calls) -> Calls {
        Calls {
            calls: self.calls + other.calls,
            ok: self.ok + other.ok,
            refused: self.refused + other.refused,
            timed_out: self.timed_out + other.timed_out,
            failed: self.failed + other.failed,
            counted: self.counted + other.counted,
            counted_ok: self.counted_ok + other.counted_ok,
        }
    }
}

impl CallCounters {
    pub(crate) fn read(&self) -> Calls {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Calls {
            calls: get(&self.calls),
            ok: get(&self.ok),
            refused: get(&self.refused),
            timed_out: get(&self.timed_out),
            failed: get(&self.failed),
            counted: get(&self.counted),
            counted_ok: get(&self.counted_ok),
        }
    }
}

/// Resource requests of one priority.
#[derive(Debug, Default)]
pub(crate) struct PriorityCounters {
    pub(crate) granted: AtomicU64,
    /// Total wait of the granted requests, in microseconds.
    pub(crate) waited_us: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    /// Shed under memory pressure.
    pub(crate) shed: AtomicU64,
}

/// Everything the load generator counts.
#[derive(Debug, Default)]
pub(crate) struct Load {
    pub(crate) services: [CallCounters; 2],
    /// Every call's duration, emptied by the sampler each second.
    pub(crate) latency: Histogram,
    pub(crate) priorities: [PriorityCounters; PRIORITIES],
    /// Leases the resource tasks hold now, by their own count.
    pub(crate) leases_held: AtomicI64,
    pub(crate) release_errors: AtomicU64,
    pub(crate) request_errors: AtomicU64,
    stop: AtomicBool,
}

impl Load {
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub(crate) fn calls(&self) -> [Calls; 2] {
        [self.services[0].read(), self.services[1].read()]
    }

    pub(crate) fn granted(&self) -> [u64; PRIORITIES] {
        std::array::from_fn(|p| self.priorities[p].granted.load(Ordering::Relaxed))
    }
}

/// Starts `per_service` calling tasks for each service, `rate` calls a second in all.
pub(crate) fn spawn_callers(
    hardening: &Hardening,
    sims: &[Arc<SimService>; 2],
    log: &Arc<FaultLog>,
    load: &Arc<Load>,
    rate: u32,
    per_service: u32,
    seed: u64,
) -> Vec<JoinHandle<()>> {
    let tasks = per_service * SERVICES.len() as u32;
    let period = Duration::from_secs_f64(f64::from(tasks) / f64::from(rate.max(1)));
    let mut handles = Vec::new();
    for n in 0..tasks {
        let service = (n % 2) as usize;
        let hardening = hardening.clone();
        let sim = Arc::clone(&sims[service]);
        let log = Arc::clone(log);
        let load = Arc::clone(load);
        let mut rng = Rng::new(seed ^ (u64::from(n) << 32));
        handles.push(tokio::spawn(async move {
            let name = SERVICES[service];
            let operation = hardening.operations().operation(&format!("{name}.call"));
            let counters = &load.services[service];
            // Spread the tasks' first calls over one period.
            tokio::time::sleep(period.mul_f64(rng.below(1_000) as f64 / 1_000.0)).await;
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            while !load.stopped() {
                ticks.tick().await;
                let started_ms = log.now_ms();
                let counted = !log.is_excluded(service, started_ms);
                let started = Instant::now();
                let sim = Arc::clone(&sim);
                let u = rng.next();
                let result = operation
                    .time(hardening.call(name, async move || sim.handle(u).await))
                    .await;
                load.latency.record(started.elapsed());
                counters.calls.fetch_add(1, Ordering::Relaxed);
                if counted {
                    counters.counted.fetch_add(1, Ordering::Relaxed);
                }
                match result {
                    Ok(_) => {
                        counters.ok.fetch_add(1, Ordering::Relaxed);
                        if counted {
                            counters.counted_ok.fetch_add(1, Ordering::Relaxed);
                        }
                        log.note_success(service, started_ms);
                    }
                    Err(ServiceCallError::Pipeline(e)) => match e.last() {
                        StageError::BreakerOpen(_) => {
                            counters.refused.fetch_add(1, Ordering::Relaxed);
                        }
                        StageError::TimedOut(_) => {
                            counters.timed_out.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            counters.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                    Err(_) => {
                        counters.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    handles
}

/// Starts `workers` tasks that lease a `cpu` (two in three) or a `gpu` at a random priority,
/// hold it 10 to 40 ms, release it, and pause up to 10 ms. There are fewer resources than
/// workers want, so requests queue and are served by priority.
pub(crate) fn spawn_resource_users(
    hardening: &Hardening,
    load: &Arc<Load>,
    workers: u32,
    seed: u64,
) -> Vec<JoinHandle<()>> {
    (0..workers)
        .map(|n| {
            let hardening = hardening.clone();
            let load = Arc::clone(load);
            let mut rng = Rng::new(seed.rotate_left(17) ^ u64::from(n));
            tokio::spawn(async move {
                let owner = format!("worker-{n}");
                while !load.stopped() {
                    let kind = if rng.below(3) == 0 { "gpu" } else { "cpu" };
                    let priority = rng.below(PRIORITIES as u64) as usize;
                    let counters = &load.priorities[priority];
                    let asked = Instant::now();
                    match hardening
                        .request_resource(kind, &owner, priority as i32, Requirements::new())
                        .await
                    {
                        Ok(lease) => {
                            load.leases_held.fetch_add(1, Ordering::Relaxed);
                            counters.granted.fetch_add(1, Ordering::Relaxed);
                            counters
                                .waited_us
                                .fetch_add(asked.elapsed().as_micros() as u64, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(10 + rng.below(30))).await;
                            if hardening.release_resource(lease.id(), &owner).is_err() {
                                load.release_errors.fetch_add(1, Ordering::Relaxed);
                            }
                            load.leases_held.fetch_sub(1, Ordering::Relaxed);
                            drop(lease);
                        }
                        Err(HardeningError::Shed { .. }) => {
                            counters.shed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(HardeningError::Request(RequestError::Timeout { .. })) => {
                            counters.timed_out.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            load.request_errors.fetch_add(1, Ordering::Relaxed);
                            // Not running any more, or misconfigured: do not spin.
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(rng.below(10))).await;
                }
            })
        })
        .collect()
}
