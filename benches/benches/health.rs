//! Health checks: what reading health costs while checks run, and what running them costs;
//! and alerts: what raising and resolving one costs.
//!
//! Group names are scenarios; function ids are implementations (`hardening` is ours), which is
//! how `cargo xtask bench` builds its ratio tables. No peer crate runs checks in the
//! background with cached reads, so the groups hold our own variants side by side. Nor is
//! there an in-process Rust peer to Alertmanager (it is a Go server reached over HTTP), so the
//! alerts group has no peer either.
#![allow(
    clippy::expect_used,
    reason = "a bench whose setup is broken should stop loudly"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hardening_health::alert::{
    Alert, AlertManager, AlertSink, Labels, Notification, Route, Severity, SinkOptions,
};
use hardening_health::{
    CheckOptions, Group, HealthJson, HealthMonitor, HealthMonitorBuilder, Observation, Scope,
    check_fn,
};

const CHECKS: u64 = 1_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

fn options(interval: Duration, jitter: f64) -> CheckOptions {
    CheckOptions::builder()
        .interval(interval)
        .jitter(jitter)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("valid options")
}

/// `CHECKS` trivial checks that count their runs into `runs`.
fn trivial_checks(runs: &Arc<AtomicU64>, interval: Duration, jitter: f64) -> HealthMonitorBuilder {
    let mut builder = HealthMonitor::builder();
    for i in 0..CHECKS {
        let runs = Arc::clone(runs);
        builder = builder.check(
            format!("component{i}:ping"),
            check_fn(move || {
                runs.fetch_add(1, Ordering::Relaxed);
                async { Ok(Observation::pass().with_value(1, "ms")) }
            }),
            options(interval, jitter),
        );
    }
    builder
}

/// A monitor whose checks run on a runtime driven by a thread of its own, as in a service
/// whose probe handler runs beside the checks.
struct Background {
    monitor: HealthMonitor,
    stop: Arc<AtomicBool>,
    driver: Option<JoinHandle<()>>,
}

impl Background {
    fn start(builder: HealthMonitorBuilder) -> Self {
        let rt = runtime();
        let monitor = rt.block_on(async { builder.build().expect("valid monitor") });
        let stop = Arc::new(AtomicBool::new(false));
        let driver = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                rt.block_on(async {
                    while !stop.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                })
            }
        });
        // Let the first round finish.
        std::thread::sleep(Duration::from_millis(200));
        Background {
            monitor,
            stop,
            driver: Some(driver),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(driver) = self.driver.take() {
            let _ = driver.join();
        }
    }
}

/// Reading health while 1,000 checks run every second (with the default 10 % jitter, so runs
/// land all the time and the snapshot is rebuilt often).
fn snapshot_read(c: &mut Criterion) {
    let mut group = c.benchmark_group("health_snapshot_read");
    let runs = Arc::new(AtomicU64::new(0));
    let background = Background::start(trivial_checks(&runs, Duration::from_secs(1), 0.1));
    assert!(
        runs.load(Ordering::Relaxed) >= CHECKS,
        "the first round ran"
    );
    let monitor = &background.monitor;
    group.bench_function("hardening", |b| b.iter(|| black_box(monitor.snapshot())));
    group.bench_function("hardening_group_only", |b| {
        b.iter(|| black_box(monitor.group(&Group::Readiness)))
    });
    drop(background);
    // The checks back to back (every 1 ms: more than one thread can run, so the runtime
    // finishes a run about every microsecond and the snapshot is invalidated that often).
    let busy = Background::start(trivial_checks(&runs, Duration::from_millis(1), 0.1));
    group.bench_function("hardening_checks_back_to_back", |b| {
        b.iter(|| black_box(busy.monitor.snapshot()))
    });
    group.finish();
}

/// A readiness probe's whole answer (snapshot and health+json body, no details) with one check
/// that takes 10 s always in flight, and without it: the two must match.
fn probe_read(c: &mut Criterion) {
    let mut group = c.benchmark_group("health_probe_read");
    let json = HealthJson::new();
    let scope = Scope::Group(Group::Readiness);
    let fast = || {
        let runs = Arc::new(AtomicU64::new(0));
        let mut builder = HealthMonitor::builder();
        for i in 0..10 {
            let runs = Arc::clone(&runs);
            builder = builder.check(
                format!("fast{i}"),
                check_fn(move || {
                    runs.fetch_add(1, Ordering::Relaxed);
                    async { Ok(Observation::pass()) }
                }),
                options(Duration::from_secs(1), 0.1),
            );
        }
        builder
    };
    let slow = Background::start(fast().check(
        "slow",
        check_fn(|| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(Observation::pass())
        }),
        options(Duration::from_millis(1), 0.0),
    ));
    group.bench_function("hardening", |b| {
        b.iter(|| black_box(json.render(&slow.monitor.snapshot(), &scope, false)))
    });
    drop(slow);
    let quick = Background::start(fast());
    group.bench_function("hardening_all_fast", |b| {
        b.iter(|| black_box(json.render(&quick.monitor.snapshot(), &scope, false)))
    });
    group.finish();
}

/// CPU time of this thread, in nanoseconds, where Linux tells it.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// The CPU one round of 1,000 trivial checks costs: scheduling, the semaphore, the spawned
/// run, the timeout, judging, and updating the aggregate. The checks run every 2 ms so that
/// rounds come quickly; a round costs the same work at any interval, so at 1 s intervals the
/// CPU share is this time divided by one second. Measured as the CPU time of the runtime's
/// thread (falling back to wall time, an upper bound, where the OS does not tell).
fn checks_cpu(c: &mut Criterion) {
    let mut group = c.benchmark_group("health_checks_cpu");
    group.sample_size(20);
    let rt = runtime();
    let runs = Arc::new(AtomicU64::new(0));
    let monitor = rt.block_on(async {
        trivial_checks(&runs, Duration::from_millis(2), 0.0)
            .max_concurrent(hardening_health::DEFAULT_MAX_CONCURRENT)
            .build()
            .expect("valid monitor")
    });
    group.bench_function("hardening", |b| {
        b.iter_custom(|rounds| {
            rt.block_on(async {
                let target = runs.load(Ordering::Relaxed) + rounds * CHECKS;
                let (cpu, wall) = (thread_cpu(), Instant::now());
                while runs.load(Ordering::Relaxed) < target {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                match (cpu, thread_cpu()) {
                    (Some(before), Some(after)) => after.saturating_sub(before),
                    _ => wall.elapsed(),
                }
            })
        })
    });
    group.finish();
    rt.block_on(monitor.shutdown(Duration::ZERO));
}

/// A sink that only counts, so the bench measures the manager and not a sink.
struct Counting(AtomicU64);

#[hardening_health::async_trait]
impl AlertSink for Counting {
    async fn send(&self, _: &Notification) -> Result<(), hardening_health::BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Distinct alerts the raise/resolve bench streams through: far more than the manager may
/// hold, so every raise inserts a new alert and, once the manager is full, evicts one.
const ALERTS: usize = 100_000;

/// The manager's limit on held alerts in the raise/resolve bench.
const MAX_ALERTS: usize = 1_000;

/// The history limit in the raise/resolve bench.
const HISTORY: usize = 256;

/// The largest of each internal size seen while the bench ran.
#[derive(Debug, Default)]
struct Peaks {
    held: usize,
    groups: usize,
    group_members: usize,
    scheduled_flushes: usize,
    resolved_queue: usize,
    index_entries: usize,
    history: usize,
    samples: u64,
}

impl Peaks {
    fn sample(&mut self, alerts: &AlertManager) {
        let c = alerts.counts();
        self.held = self.held.max(c.firing + c.resolved_waiting);
        self.groups = self.groups.max(c.groups);
        self.group_members = self.group_members.max(c.group_members);
        self.scheduled_flushes = self.scheduled_flushes.max(c.scheduled_flushes);
        self.resolved_queue = self.resolved_queue.max(c.resolved_queue);
        self.index_entries = self.index_entries.max(c.index_entries);
        self.history = self.history.max(c.history);
        self.samples += 1;
    }
}

/// Raising an alert and resolving it, as another crate's events would (a threshold crossed,
/// then cleared), through a stream of 100,000 distinct alerts, each in a group of its own,
/// while the manager's task flushes the groups (wait 10 ms, interval 50 ms) on a thread of
/// its own. The manager holds at most 1,000 alerts, so each raise is a new alert: it is
/// inserted, routed into a new group, resolved, and, once the manager is full, the oldest
/// resolved alert and its group make room for the next. Each iteration is one raise and one
/// resolve (throughput: 2 operations); the caller clones a prepared alert, as a caller
/// building one per event would allocate it. Target: above 100,000 raise+resolve per second.
///
/// Memory stays bounded, and the run checks it: every 4,096 iterations it samples the
/// manager's internal sizes (held alerts, groups, group members, the flush schedule, the
/// eviction queue, the indexes, the history), and afterwards asserts that none ever passed
/// its bound, that evictions happened, and that once the groups flush nothing is left.
fn alerts_raise_resolve(c: &mut Criterion) {
    let mut group = c.benchmark_group("alerts_raise_resolve");
    group.throughput(Throughput::Elements(2));
    let rt = runtime();
    let sink = Arc::new(Counting(AtomicU64::new(0)));
    let alerts = rt.block_on(async {
        AlertManager::builder()
            .sink_arc("counting", sink.clone(), SinkOptions::default())
            .default_route(
                Route::builder("bench")
                    .group_by(["instance"])
                    .group_wait(Duration::from_millis(10))
                    .group_interval(Duration::from_millis(50))
                    .build()
                    .expect("a valid route"),
            )
            .max_alerts(MAX_ALERTS)
            .history_limit(HISTORY)
            .build()
            .expect("a valid manager")
    });
    let stop = Arc::new(AtomicBool::new(false));
    let driver = std::thread::spawn({
        let stop = Arc::clone(&stop);
        move || {
            rt.block_on(async {
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        }
    });
    let prepared: Vec<(Alert, Labels)> = (0..ALERTS)
        .map(|i| {
            let labels = Labels::from([
                (
                    "instance".to_string(),
                    format!("10.{}.{}.{}:9100", i >> 16, (i >> 8) & 255, i & 255),
                ),
                ("job".to_string(), "node".to_string()),
            ]);
            let alert = Alert::new("HighLatency", Severity::Warning)
                .with_labels(labels.clone())
                .with_summary("p99 latency above 250 ms");
            (alert, labels)
        })
        .collect();
    let mut next = 0;
    let mut peaks = Peaks::default();
    group.bench_function("hardening", |b| {
        b.iter(|| {
            let (alert, labels) = &prepared[next % ALERTS];
            next += 1;
            alerts
                .raise(alert.clone())
                .expect("resolved alerts make room: a firing one is never refused");
            black_box(alerts.resolve("HighLatency", labels));
            if next % 4096 == 0 {
                peaks.sample(&alerts);
            }
        })
    });
    group.finish();
    peaks.sample(&alerts);
    let evicted = alerts.counts().evicted;
    assert!(
        next > 10 * MAX_ALERTS,
        "the stream outgrew the limit: {next} raises"
    );
    assert!(evicted > 0, "the manager was full and evicted");
    assert!(peaks.samples > 10, "sampled while running: {peaks:?}");
    assert!(peaks.held <= MAX_ALERTS, "held alerts bounded: {peaks:?}");
    assert!(
        peaks.groups <= MAX_ALERTS,
        "one group per held alert at most: {peaks:?}"
    );
    assert!(
        peaks.group_members <= MAX_ALERTS,
        "group members bounded: {peaks:?}"
    );
    assert!(
        peaks.scheduled_flushes <= 2 * MAX_ALERTS + 64,
        "stale flushes pruned: {peaks:?}"
    );
    assert!(
        peaks.resolved_queue <= 2 * MAX_ALERTS + 64,
        "stale eviction places pruned: {peaks:?}"
    );
    assert!(
        peaks.index_entries <= 2 * MAX_ALERTS,
        "index entries bounded: {peaks:?}"
    );
    assert!(
        peaks.history <= HISTORY,
        "the history is bounded: {peaks:?}"
    );
    // Give the manager time to flush every group (wait 10 ms, then every 50 ms).
    std::thread::sleep(Duration::from_millis(150));
    let after = alerts.counts();
    assert_eq!(
        (
            after.firing,
            after.resolved_waiting,
            after.groups,
            after.index_entries
        ),
        (0, 0, 0, 0),
        "every alert was resolved and let go, every emptied group dropped: {after:?}"
    );
    stop.store(true, Ordering::Relaxed);
    let _ = driver.join();
}

criterion_group!(
    name = benches;
    config = hardening_benches::config();
    targets = snapshot_read, probe_read, checks_cpu, alerts_raise_resolve
);
criterion_main!(benches);
