//! The background runner and the cached snapshot readers see.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::aggregate::health_of;
use crate::error::human;
use crate::judge::Judge;
use crate::system::{MemoryUsage, SystemStatus};
use crate::{
    CheckName, CheckOptions, CheckReport, CheckResult, ConfigError, Group, Health, HealthCheck,
    HealthEvent, Observation, SeverityOrder, Snapshot, Status,
};

macro_rules! metric {
    ($shared:expr, $($call:tt)*) => {{
        #[cfg(feature = "metrics")]
        $shared.metrics.$($call)*;
    }};
}

/// The default bound on checks running at once.
pub const DEFAULT_MAX_CONCURRENT: usize = 32;

/// How many events a slow subscriber may fall behind before it misses some.
const EVENT_CAPACITY: usize = 256;

/// Indices of the probes' groups in `State::groups`.
const LIVENESS: usize = 0;
const READINESS: usize = 1;
const STARTUP: usize = 2;

struct Registration {
    name: String,
    check: Arc<dyn HealthCheck>,
    options: CheckOptions,
}

/// Registers checks and settings, then starts the monitor with [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use hardening_health::{check_fn, CheckOptions, Group, HealthMonitor, Observation};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), hardening_health::ConfigError> {
/// let monitor = HealthMonitor::builder()
///     .check("app:alive", check_fn(|| async { Ok(Observation::pass()) }),
///         CheckOptions::builder().groups([Group::Liveness]).build()?)
///     .max_concurrent(8)
///     .jitter_seed(7)
///     .build()?;
/// # monitor.shutdown(Duration::ZERO).await;
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct HealthMonitorBuilder {
    checks: Vec<Registration>,
    max_concurrent: usize,
    seed: Option<u64>,
    order: SeverityOrder,
    group_orders: Vec<(Group, SeverityOrder)>,
}

impl fmt::Debug for HealthMonitorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthMonitorBuilder")
            .field(
                "checks",
                &self.checks.iter().map(|c| &c.name).collect::<Vec<_>>(),
            )
            .field("max_concurrent", &self.max_concurrent)
            .field("seed", &self.seed)
            .field("order", &self.order)
            .field("group_orders", &self.group_orders)
            .finish()
    }
}

impl HealthMonitorBuilder {
    /// Registers a check under `name` (`component` or `component:measurement`, checked by
    /// [`build`](Self::build)).
    pub fn check(
        mut self,
        name: impl Into<String>,
        check: impl HealthCheck + 'static,
        options: CheckOptions,
    ) -> Self {
        self.checks.push(Registration {
            name: name.into(),
            check: Arc::new(check),
            options,
        });
        self
    }

    /// Registers a check that is already shared.
    pub fn check_arc(
        mut self,
        name: impl Into<String>,
        check: Arc<dyn HealthCheck>,
        options: CheckOptions,
    ) -> Self {
        self.checks.push(Registration {
            name: name.into(),
            check,
            options,
        });
        self
    }

    /// At most this many checks run at once (at least 1); the others wait their turn.
    /// Default [`DEFAULT_MAX_CONCURRENT`].
    pub fn max_concurrent(mut self, checks: usize) -> Self {
        self.max_concurrent = checks;
        self
    }

    /// Seeds the jitter, so that a run replays the same waits. Default: a random seed.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The severity order for the whole service and for every group without its own.
    pub fn severity_order(mut self, order: SeverityOrder) -> Self {
        self.order = order;
        self
    }

    /// A severity order for one group.
    pub fn group_severity_order(mut self, group: Group, order: SeverityOrder) -> Self {
        self.group_orders.retain(|(g, _)| *g != group);
        self.group_orders.push((group, order));
        self
    }

    /// Checks the settings and starts every check in the background on the current tokio
    /// runtime.
    ///
    /// Fails with a [`ConfigError`] for a bad or repeated check name, a bound of zero, or
    /// when called outside a tokio runtime (field `runtime`).
    pub fn build(self) -> Result<HealthMonitor, ConfigError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            ConfigError::new(
                "runtime",
                "no tokio runtime",
                "HealthMonitorBuilder::build to be called inside a tokio runtime",
            )
        })?;
        if self.max_concurrent == 0 || self.max_concurrent > Semaphore::MAX_PERMITS {
            return Err(ConfigError::new(
                "max_concurrent",
                self.max_concurrent,
                format!(
                    "at least 1 check at a time and at most {}",
                    Semaphore::MAX_PERMITS
                ),
            ));
        }
        let mut groups: Vec<GroupState> = [Group::Liveness, Group::Readiness, Group::Startup]
            .into_iter()
            .map(|g| GroupState::new(g, &self.order, &self.group_orders))
            .collect();
        let mut entries = Vec::with_capacity(self.checks.len());
        let mut reports = Vec::with_capacity(self.checks.len());
        let mut judges = Vec::with_capacity(self.checks.len());
        let mut overall_counts = [0_u32; 4];
        let mut names = std::collections::HashSet::with_capacity(self.checks.len());
        for registration in self.checks {
            let name = CheckName::parse(&registration.name)
                .map_err(|e| e.within(&format!("checks[{:?}]", registration.name)))?;
            if !names.insert(name.clone()) {
                return Err(ConfigError::new(
                    format!("checks[{:?}]", registration.name),
                    format!("{:?}", registration.name),
                    "a name no other check has (it keys the health+json body)",
                ));
            }
            let options = registration.options;
            let mut indices = Vec::with_capacity(options.groups.len());
            for group in &options.groups {
                let index = match groups.iter().position(|g| &g.group == group) {
                    Some(index) => index,
                    None => {
                        groups.push(GroupState::new(
                            group.clone(),
                            &self.order,
                            &self.group_orders,
                        ));
                        groups.len() - 1
                    }
                };
                indices.push(index);
            }
            // Kubernetes starts a liveness probe as passing and the others as failing.
            let initial = if options.groups.iter().all(|g| *g == Group::Liveness) {
                Status::Pass
            } else {
                Status::Fail
            };
            let health = health_of(initial, options.criticality);
            for &index in &indices {
                groups[index].counts[counted(health, 0, index).index()] += 1;
            }
            overall_counts[health.index()] += 1;
            judges.push(Judge::new(initial));
            reports.push(Arc::new(CheckReport {
                name: name.clone(),
                status: initial,
                health,
                last: None,
                consecutive: 0,
                runs: 0,
                groups: options.groups.clone().into(),
                criticality: options.criticality,
            }));
            entries.push(Entry {
                name,
                check: registration.check,
                options,
                groups: indices,
            });
        }
        if let Some((group, _)) = self
            .group_orders
            .iter()
            .find(|(g, _)| !groups.iter().any(|state| &state.group == g))
        {
            return Err(ConfigError::new(
                "group_severity_order",
                group,
                "a group that at least one check belongs to",
            ));
        }
        let mut state = State {
            reports,
            judges,
            groups,
            order: self.order,
            overall_counts,
            overall: Health::Starting,
            started: false,
            shutting_down: false,
            cached: None,
            last_healthy: None,
        };
        let _ = state.recompute();
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (overall_tx, _) = watch::channel(state.overall);
        let (stop_tx, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            #[cfg(feature = "metrics")]
            metrics: crate::metrics::Handles::new(&entries, &state.groups),
            entries,
            state: Mutex::new(state),
            semaphore: Semaphore::new(self.max_concurrent),
            events,
            overall_tx,
            stop_tx,
            tasks: Mutex::new(Vec::new()),
            started_at: Instant::now(),
            system: Mutex::new(sysinfo::System::new()),
        });
        #[cfg(feature = "metrics")]
        {
            let state = shared.lock();
            shared.metrics.groups(&state.groups);
            for (index, report) in state.reports.iter().enumerate() {
                shared.metrics.status(index, report.status);
            }
        }
        let tasks = (0..shared.entries.len())
            .map(|index| {
                let shared = Arc::clone(&shared);
                let rng = jitter_rng(self.seed, index);
                runtime.spawn(run_loop(shared, index, rng))
            })
            .collect();
        *lock(&shared.tasks) = tasks;
        Ok(HealthMonitor {
            _owner: Arc::new(Owner {
                shared: Arc::clone(&shared),
            }),
            shared,
        })
    }
}

/// Runs the registered checks in the background and keeps the snapshot readers see.
///
/// A `HealthMonitor` is a cheap handle: clones share one monitor. Reading health
/// ([`snapshot`](Self::snapshot), [`overall`](Self::overall), [`group`](Self::group)) takes a
/// short lock and never waits on a check. When the last handle is dropped the checks stop;
/// [`shutdown`](Self::shutdown) stops them gracefully.
///
/// ```
/// use std::time::Duration;
/// use hardening_health::{check_fn, CheckOptions, Group, Health, HealthMonitor, Observation};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), hardening_health::ConfigError> {
/// let monitor = HealthMonitor::builder()
///     .check("cache:ping", check_fn(|| async { Ok(Observation::warn("slow")) }), CheckOptions::default())
///     .build()?;
/// tokio::time::sleep(Duration::from_millis(1)).await; // let the first run finish
/// assert_eq!(monitor.group(&Group::Readiness), Some(Health::Degraded));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct HealthMonitor {
    shared: Arc<Shared>,
    /// Stops the checks when the last handle is dropped.
    _owner: Arc<Owner>,
}

impl fmt::Debug for HealthMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthMonitor")
            .field("checks", &self.shared.entries.len())
            .field("overall", &self.overall())
            .finish_non_exhaustive()
    }
}

/// Stops the checks when the last handle goes.
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.stop_tx.send_replace(true);
    }
}

struct Shared {
    entries: Vec<Entry>,
    state: Mutex<State>,
    semaphore: Semaphore,
    events: broadcast::Sender<HealthEvent>,
    overall_tx: watch::Sender<Health>,
    stop_tx: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    started_at: Instant,
    system: Mutex<sysinfo::System>,
    #[cfg(feature = "metrics")]
    metrics: crate::metrics::Handles,
}

pub(crate) struct Entry {
    pub(crate) name: CheckName,
    check: Arc<dyn HealthCheck>,
    options: CheckOptions,
    groups: Vec<usize>,
}

pub(crate) struct GroupState {
    pub(crate) group: Group,
    order: SeverityOrder,
    counts: [u32; 4],
    pub(crate) effective: Health,
}

impl GroupState {
    fn new(group: Group, order: &SeverityOrder, orders: &[(Group, SeverityOrder)]) -> Self {
        let order = orders
            .iter()
            .find(|(g, _)| *g == group)
            .map_or(*order, |(_, o)| *o);
        GroupState {
            group,
            order,
            counts: [0; 4],
            effective: Health::Starting,
        }
    }

    fn raw(&self) -> Health {
        self.order.aggregate_counts(&self.counts)
    }
}

struct State {
    reports: Vec<Arc<CheckReport>>,
    judges: Vec<Judge>,
    groups: Vec<GroupState>,
    order: SeverityOrder,
    overall_counts: [u32; 4],
    overall: Health,
    started: bool,
    shutting_down: bool,
    cached: Option<Arc<Snapshot>>,
    last_healthy: Option<SystemTime>,
}

impl State {
    /// Recomputes every group and the whole from the counts; returns what changed.
    fn recompute(&mut self) -> Vec<HealthEvent> {
        let mut events = Vec::new();
        if !self.started
            && matches!(
                self.groups[STARTUP].raw(),
                Health::Healthy | Health::Degraded
            )
        {
            self.started = true;
        }
        for (index, group) in self.groups.iter_mut().enumerate() {
            let raw = group.raw();
            let effective = match index {
                READINESS if self.shutting_down => Health::Unhealthy,
                LIVENESS | READINESS if !self.started => Health::Starting,
                _ => raw,
            };
            if effective != group.effective {
                events.push(HealthEvent::Group {
                    group: group.group.clone(),
                    from: group.effective,
                    to: effective,
                });
                group.effective = effective;
            }
        }
        let overall = if self.started {
            self.order.aggregate_counts(&self.overall_counts)
        } else {
            Health::Starting
        };
        if overall == Health::Healthy {
            self.last_healthy = Some(SystemTime::now());
        }
        if overall != self.overall {
            events.push(HealthEvent::Overall {
                from: self.overall,
                to: overall,
            });
            self.overall = overall;
        }
        self.cached = None;
        events
    }

    fn snapshot(&mut self) -> Arc<Snapshot> {
        if let Some(cached) = &self.cached {
            return Arc::clone(cached);
        }
        let snapshot = Arc::new(Snapshot {
            overall: self.overall,
            groups: self
                .groups
                .iter()
                .map(|g| (g.group.clone(), g.effective))
                .collect(),
            checks: self.reports.clone(),
            started: self.started,
            shutting_down: self.shutting_down,
        });
        self.cached = Some(Arc::clone(&snapshot));
        snapshot
    }
}

/// How a check counts in a group: its health, except that a check that has not run yet
/// counts as healthy for liveness (Kubernetes starts a liveness probe as passing, and a
/// restart would not make the check run sooner) while it counts as it starts everywhere else
/// (a readiness probe starts as failing).
fn counted(health: Health, runs: u64, group: usize) -> Health {
    if runs == 0 && group == LIVENESS {
        Health::Healthy
    } else {
        health
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; if something did, the data is still whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Sends events in order, under the state lock, so subscribers see them as they happened.
    fn publish(&self, state: &State, events: Vec<HealthEvent>) {
        if events.is_empty() {
            return;
        }
        metric!(self, groups(&state.groups));
        self.overall_tx.send_if_modified(|current| {
            let changed = *current != state.overall;
            *current = state.overall;
            changed
        });
        for event in events {
            let _ = self.events.send(event);
        }
    }

    fn record(&self, index: usize, result: CheckResult) {
        let entry = &self.entries[index];
        let options = &entry.options;
        metric!(self, run(index, result.status, result.duration));
        let mut state = self.lock();
        let previous = Arc::clone(&state.reports[index]);
        let status = state.judges[index].observe(
            result.status,
            options.success_threshold,
            options.failure_threshold,
        );
        let consecutive = state.judges[index].run();
        let health = health_of(status, options.criticality);
        for &group in &entry.groups {
            let before = counted(previous.health, previous.runs, group);
            let after = counted(health, previous.runs + 1, group);
            if before != after {
                state.groups[group].counts[before.index()] -= 1;
                state.groups[group].counts[after.index()] += 1;
            }
        }
        if health != previous.health {
            state.overall_counts[previous.health.index()] -= 1;
            state.overall_counts[health.index()] += 1;
        }
        let mut events = Vec::new();
        if status != previous.status {
            metric!(self, status(index, status));
            events.push(HealthEvent::Check {
                name: entry.name.clone(),
                from: previous.status,
                to: status,
                message: result.message.clone(),
            });
        }
        state.reports[index] = Arc::new(CheckReport {
            name: entry.name.clone(),
            status,
            health,
            last: Some(result),
            consecutive,
            runs: previous.runs + 1,
            groups: Arc::clone(&previous.groups),
            criticality: options.criticality,
        });
        events.extend(state.recompute());
        self.publish(&state, events);
    }
}

impl HealthMonitor {
    /// A builder with no checks and the defaults.
    pub fn builder() -> HealthMonitorBuilder {
        HealthMonitorBuilder {
            checks: Vec::new(),
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            seed: None,
            order: SeverityOrder::default(),
            group_orders: Vec::new(),
        }
    }

    /// Every check and group as of the latest finished run. Never waits on a check: the
    /// snapshot is rebuilt at most once per change and shared until the next.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.lock().snapshot()
    }

    /// The whole service's health (see [`Snapshot::overall`]).
    pub fn overall(&self) -> Health {
        self.shared.lock().overall
    }

    /// A group's health, as its probe reports it (see [`Snapshot::group`]).
    pub fn group(&self, group: &Group) -> Option<Health> {
        self.shared
            .lock()
            .groups
            .iter()
            .find(|g| &g.group == group)
            .map(|g| g.effective)
    }

    /// Every change (overall, per group, per check), from now on. A subscriber more than 256
    /// events behind misses the oldest (and is told so by the receiver).
    pub fn subscribe(&self) -> broadcast::Receiver<HealthEvent> {
        self.shared.events.subscribe()
    }

    /// The whole service's health as a `watch`: always the latest value, woken on change.
    pub fn watch(&self) -> watch::Receiver<Health> {
        self.shared.overall_tx.subscribe()
    }

    /// Uptime, when it was last healthy and the machine's memory, as in the seeds'
    /// `getHealthStatus()`. Reads only the memory figures of the system, no process list.
    pub fn system_status(&self) -> SystemStatus {
        let (health, last_healthy) = {
            let state = self.shared.lock();
            (state.overall, state.last_healthy)
        };
        let memory = {
            let mut system = lock(&self.shared.system);
            system.refresh_memory();
            MemoryUsage::new(system.used_memory(), system.total_memory())
        };
        SystemStatus {
            health,
            uptime: self.shared.started_at.elapsed(),
            last_healthy: if health == Health::Healthy {
                Some(SystemTime::now())
            } else {
                last_healthy
            },
            memory,
        }
    }

    /// Stops gracefully: readiness turns unhealthy at once (so load balancers and Kubernetes
    /// stop sending traffic) while the checks keep running for `grace`; then every check
    /// stops, a run in flight is cancelled, and this returns. Calling it again, or from
    /// another handle, waits for nothing more.
    pub async fn shutdown(&self, grace: Duration) {
        {
            let mut state = self.shared.lock();
            if !state.shutting_down {
                state.shutting_down = true;
                let mut events = vec![HealthEvent::ShutdownStarted];
                events.extend(state.recompute());
                self.shared.publish(&state, events);
            }
        }
        tokio::time::sleep(grace).await;
        self.shared.stop_tx.send_replace(true);
        let tasks = std::mem::take(&mut *lock(&self.shared.tasks));
        if tasks.is_empty() {
            return;
        }
        for task in tasks {
            let _ = task.await;
        }
        let _ = self.shared.events.send(HealthEvent::Stopped);
    }

    /// How many checks are registered.
    pub fn len(&self) -> usize {
        self.shared.entries.len()
    }

    /// Whether no check is registered.
    pub fn is_empty(&self) -> bool {
        self.shared.entries.is_empty()
    }

    #[cfg(test)]
    fn owners(&self) -> usize {
        Arc::strong_count(&self._owner)
    }
}

/// Cancels a spawned task when its owner stops waiting for it (a check run or a sink's send
/// past its timeout, or a shutdown).
pub(crate) struct AbortOnDrop<T>(pub(crate) JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Returns once the stop flag is set (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Each check draws its jitter from a generator of its own: seeded from the monitor's seed and
/// the check's index when a seed is given (so a seeded monitor replays call for call), from
/// fastrand's per-thread entropy otherwise.
fn jitter_rng(seed: Option<u64>, index: usize) -> fastrand::Rng {
    match seed {
        Some(seed) => {
            fastrand::Rng::with_seed(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        }
        None => fastrand::Rng::new(),
    }
}

async fn run_loop(shared: Arc<Shared>, index: usize, mut rng: fastrand::Rng) {
    let mut stop = shared.stop_tx.subscribe();
    let options = shared.entries[index].options.clone();
    let mut wait = options.initial_delay;
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            () = tokio::time::sleep(wait) => {}
        }
        let result = tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            result = run_once(&shared, index) => result,
        };
        shared.record(index, result);
        wait = next_wait(&options, &mut rng);
    }
}

/// The wait before the next run: the interval times a uniform factor in `1 ± jitter`.
pub(crate) fn next_wait(options: &CheckOptions, rng: &mut fastrand::Rng) -> Duration {
    let (lo, hi) = options.interval_bounds();
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let (lo, hi) = (nanos(lo), nanos(hi));
    Duration::from_nanos(if hi <= lo { lo } else { rng.u64(lo..=hi) })
}

async fn run_once(shared: &Shared, index: usize) -> CheckResult {
    let entry = &shared.entries[index];
    // The semaphore is never closed, so this only waits for a free slot.
    let _permit = shared.semaphore.acquire().await;
    let started = Instant::now();
    let check = Arc::clone(&entry.check);
    // A task of its own, so a panic is caught as a `JoinError` and a hang can be aborted.
    let mut run = AbortOnDrop(tokio::spawn(async move { check.check().await }));
    let timeout = entry.options.timeout;
    let observation = match tokio::time::timeout(timeout, &mut run.0).await {
        Ok(Ok(Ok(observation))) => observation,
        Ok(Ok(Err(error))) => Observation::fail(format!("check failed: {error}")),
        Ok(Err(join)) if join.is_panic() => Observation::fail(format!(
            "check panicked: {}",
            panic_message(join.into_panic())
        )),
        Ok(Err(_)) => Observation::fail("check was cancelled"),
        Err(_) => Observation::fail(format!("check timed out after {}", human(timeout))),
    };
    drop(run);
    CheckResult::from_observation(observation, SystemTime::now(), started.elapsed())
}

/// The text of a panic's payload.
pub(crate) fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_stay_within_the_jitter_bounds_and_replay_with_a_seed() {
        let options = CheckOptions::builder()
            .interval(Duration::from_secs(30))
            .jitter(0.1)
            .build()
            .unwrap_or_default();
        let (lo, hi) = options.interval_bounds();
        assert_eq!((lo, hi), (Duration::from_secs(27), Duration::from_secs(33)));
        let mut rng = fastrand::Rng::with_seed(7);
        let waits: Vec<Duration> = (0..10_000).map(|_| next_wait(&options, &mut rng)).collect();
        assert!(waits.iter().all(|w| (lo..=hi).contains(w)));
        // Spread over the range, not stuck at one end.
        assert!(waits.iter().any(|w| *w < Duration::from_secs(28)));
        assert!(waits.iter().any(|w| *w > Duration::from_secs(32)));
        let mut again = fastrand::Rng::with_seed(7);
        let replay: Vec<Duration> = (0..10_000)
            .map(|_| next_wait(&options, &mut again))
            .collect();
        assert_eq!(waits, replay);
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_last_handle_stops_the_checks() {
        let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = Arc::clone(&runs);
        let monitor = HealthMonitor::builder()
            .check(
                "x",
                crate::check_fn(move || {
                    let counter = Arc::clone(&counter);
                    async move {
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        Ok(Observation::pass())
                    }
                }),
                CheckOptions::builder()
                    .interval(Duration::from_secs(1))
                    .jitter(0.0)
                    .build()
                    .unwrap_or_default(),
            )
            .build();
        let Ok(monitor) = monitor else {
            panic!("valid monitor");
        };
        let clone = monitor.clone();
        assert_eq!(monitor.owners(), 2);
        drop(clone);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 3);
        drop(monitor);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
