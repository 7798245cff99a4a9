//! The simulated services and the faults injected into them.
//!
//! A fault is something wrong with a service for a while. Two kinds pass by themselves (an
//! error burst and a latency spike: the trouble is upstream, and the schedule ends it); two
//! stay until the recovery ladder cures them (a hang, cured by `reconnect`; a crash, cured by
//! `reinitialize`, or only by `restart` when the crash left corrupt state behind).
//!
//! The [`FaultLog`] keeps the fault windows: when each fault was injected, when its cause was
//! gone (and by what), and when the service served a call again. Calls that start inside a
//! window, or within the grace period after it, do not count towards availability outside
//! faults.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use hardening::recovery::{Recoverable, ServiceError, ServiceStatus, async_trait};
use serde::Serialize;
use tokio::time::Instant;

/// The simulated services, named as in the seeds. A service's index in this list is its
/// index everywhere in the demo.
pub(crate) const SERVICES: [&str; 2] = ["audio-processing", "model-inference"];

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FaultKind {
    /// The upstream answers errors; ends by itself.
    ErrorBurst,
    /// Every call takes 150 to 250 ms (slow, under the 300 ms timeout); ends by itself.
    LatencySpike,
    /// Calls are never answered (the pipeline's timeout cuts them) until a `reconnect`.
    Hang,
    /// The process is gone; calls are refused until the ladder brings it back.
    Crash,
}

impl FaultKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FaultKind::ErrorBurst => "error burst",
            FaultKind::LatencySpike => "latency spike",
            FaultKind::Hang => "hang",
            FaultKind::Crash => "crash",
        }
    }

    /// Whether the fault ends by itself (the schedule ends it) rather than by recovery.
    pub(crate) fn is_transient(self) -> bool {
        matches!(self, FaultKind::ErrorBurst | FaultKind::LatencySpike)
    }
}

/// The `i`th fault of the schedule: services alternate, and each service meets every kind
/// within eight faults (the first four are one of each kind). Every other crash leaves corrupt
/// state behind, so that only a restart cures it and the whole ladder is climbed.
pub(crate) fn planned_fault(i: usize) -> (usize, FaultKind, bool) {
    const CYCLE: [FaultKind; 4] = [
        FaultKind::ErrorBurst,
        FaultKind::LatencySpike,
        FaultKind::Hang,
        FaultKind::Crash,
    ];
    let service = i % 2;
    let kind = CYCLE[(i / 2 + service * 2) % 4];
    // Crashes are faults 3, 6, 11, 14, ...: number them by their position among crashes.
    let crash_number = (0..i)
        .filter(|j| CYCLE[(j / 2 + (j % 2) * 2) % 4] == FaultKind::Crash)
        .count();
    (service, kind, crash_number % 2 == 0)
}

/// A fault the schedule will inject.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Planned {
    /// When, from the start of the run.
    pub(crate) at: Duration,
    pub(crate) service: usize,
    pub(crate) kind: FaultKind,
    pub(crate) needs_restart: bool,
}

/// The fault schedule: one fault every `60 / rate` seconds, from 5 s (or one spacing, if
/// shorter), and none in the last 15 s (or 10%) of the run, so that the last one is over and
/// recovered before the end.
pub(crate) fn schedule(duration: Duration, rate: f64) -> Vec<Planned> {
    if rate <= 0.0 {
        return Vec::new();
    }
    let quiet = (duration / 10).max(Duration::from_secs(15));
    let Some(last) = duration.checked_sub(quiet) else {
        return Vec::new();
    };
    let spacing = Duration::from_secs_f64(60.0 / rate);
    let first = spacing.min(Duration::from_secs(5));
    (0..)
        .map(|i| (i, first + spacing * i as u32))
        .take_while(|(_, at)| *at <= last)
        .map(|(i, at)| {
            let (service, kind, needs_restart) = planned_fault(i);
            Planned {
                at,
                service,
                kind,
                needs_restart,
            }
        })
        .collect()
}

/// One injected fault, as the log keeps it. Times are milliseconds since the run started.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FaultRecord {
    pub(crate) service: &'static str,
    pub(crate) kind: FaultKind,
    pub(crate) injected_ms: u64,
    /// When the fault's cause was gone.
    pub(crate) cleared_ms: Option<u64>,
    /// What ended it: `schedule` (a transient fault's time was up), the recovery action that
    /// cured it, `stop` (the run ended first) or `forced` (it outlived its cap).
    pub(crate) cleared_by: Option<String>,
    /// When a call that started after the fault cleared first succeeded: the service serving
    /// again.
    pub(crate) recovered_ms: Option<u64>,
}

/// The fault windows of the run.
#[derive(Debug)]
pub(crate) struct FaultLog {
    /// When the load started: every time is counted from it.
    epoch: OnceLock<Instant>,
    grace_ms: u64,
    records: Mutex<Vec<FaultRecord>>,
    /// Per service, the record of the fault active now.
    active: [Mutex<Option<usize>>; 2],
    /// Per service: calls starting before this (ms since the epoch) are in a fault window
    /// (u64::MAX while a fault is active).
    excluded_until: [AtomicU64; 2],
    /// Per service: a fault cleared and no call has succeeded since.
    awaiting_success: [AtomicBool; 2],
}

impl FaultLog {
    pub(crate) fn new(grace: Duration) -> Self {
        FaultLog {
            epoch: OnceLock::new(),
            grace_ms: grace.as_millis() as u64,
            records: Mutex::new(Vec::new()),
            active: [Mutex::new(None), Mutex::new(None)],
            excluded_until: [AtomicU64::new(0), AtomicU64::new(0)],
            awaiting_success: [AtomicBool::new(false), AtomicBool::new(false)],
        }
    }

    /// Starts the clock (once; later calls return the first start).
    pub(crate) fn start(&self) -> Instant {
        *self.epoch.get_or_init(Instant::now)
    }

    /// Milliseconds since the load started.
    pub(crate) fn now_ms(&self) -> u64 {
        self.start().elapsed().as_millis() as u64
    }

    /// Whether a call to `service` starting at `at_ms` starts inside a fault window (or its
    /// grace period).
    pub(crate) fn is_excluded(&self, service: usize, at_ms: u64) -> bool {
        at_ms < self.excluded_until[service].load(Ordering::Acquire)
    }

    /// A call to `service` that started at `started_ms` succeeded: if it is the first since a
    /// fault cleared, the service is serving again.
    pub(crate) fn note_success(&self, service: usize, started_ms: u64) {
        if !self.awaiting_success[service].load(Ordering::Relaxed) {
            return;
        }
        let mut records = lock(&self.records);
        let name = SERVICES[service];
        let Some(record) = records
            .iter_mut()
            .rev()
            .find(|r| r.service == name && r.cleared_ms.is_some())
        else {
            return;
        };
        if record.recovered_ms.is_none() && record.cleared_ms.is_some_and(|c| started_ms >= c) {
            record.recovered_ms = Some(self.now_ms());
            self.awaiting_success[service].store(false, Ordering::Relaxed);
        }
    }

    /// Opens a fault window; `None` if `service` already has an active fault.
    fn open(&self, service: usize, kind: FaultKind) -> Option<usize> {
        let mut active = lock(&self.active[service]);
        if active.is_some() {
            return None;
        }
        let mut records = lock(&self.records);
        records.push(FaultRecord {
            service: SERVICES[service],
            kind,
            injected_ms: self.now_ms(),
            cleared_ms: None,
            cleared_by: None,
            recovered_ms: None,
        });
        let index = records.len() - 1;
        *active = Some(index);
        self.excluded_until[service].store(u64::MAX, Ordering::Release);
        self.awaiting_success[service].store(false, Ordering::Relaxed);
        Some(index)
    }

    /// Closes `service`'s fault window: its cause is gone, by `by`.
    fn close(&self, service: usize, by: &str) {
        let Some(index) = lock(&self.active[service]).take() else {
            return;
        };
        let now = self.now_ms();
        if let Some(record) = lock(&self.records).get_mut(index) {
            record.cleared_ms = Some(now);
            record.cleared_by = Some(by.to_string());
        }
        self.excluded_until[service].store(now + self.grace_ms, Ordering::Release);
        self.awaiting_success[service].store(true, Ordering::Relaxed);
    }

    /// The index of `service`'s active fault.
    pub(crate) fn active(&self, service: usize) -> Option<usize> {
        *lock(&self.active[service])
    }

    /// Every fault so far.
    pub(crate) fn records(&self) -> Vec<FaultRecord> {
        lock(&self.records).clone()
    }

    /// The active faults, as `service: kind`.
    pub(crate) fn describe_active(&self) -> Vec<String> {
        let records = lock(&self.records);
        (0..SERVICES.len())
            .filter_map(|s| {
                let index = (*lock(&self.active[s]))?;
                let r = records.get(index)?;
                Some(format!("{}: {}", r.service, r.kind.as_str()))
            })
            .collect()
    }
}

/// What is wrong with a service now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trouble {
    None,
    Errors,
    Slow,
    Hung,
    Crashed { needs_restart: bool },
}

#[derive(Debug)]
struct SimState {
    running: bool,
    trouble: Trouble,
    /// Set by `shutdown`, so that the `initialize` after it is known to be a restart.
    restarting: bool,
}

/// A simulated service: answers in 0.5 to 3 ms when well.
#[derive(Debug)]
pub(crate) struct SimService {
    index: usize,
    log: std::sync::Arc<FaultLog>,
    state: Mutex<SimState>,
}

impl SimService {
    pub(crate) fn new(index: usize, log: std::sync::Arc<FaultLog>) -> Self {
        SimService {
            index,
            log,
            state: Mutex::new(SimState {
                running: false,
                trouble: Trouble::None,
                restarting: false,
            }),
        }
    }

    /// One request. `u` is a random number from the caller (it picks the latency). What the
    /// request meets is decided when it starts: a fault injected while it runs does not
    /// change it.
    pub(crate) async fn handle(&self, u: u64) -> Result<u64, ServiceError> {
        let (running, trouble) = {
            let state = lock(&self.state);
            (state.running, state.trouble)
        };
        if !running {
            return Err(ServiceError::new("the service is stopped"));
        }
        match trouble {
            Trouble::None => {
                tokio::time::sleep(Duration::from_micros(500 + u % 2_500)).await;
                Ok(u)
            }
            Trouble::Errors => {
                tokio::time::sleep(Duration::from_millis(1)).await;
                Err(ServiceError::new(
                    "upstream answered 503 Service Unavailable",
                ))
            }
            Trouble::Slow => {
                tokio::time::sleep(Duration::from_millis(150 + u % 100)).await;
                Ok(u)
            }
            // Never answers: only the pipeline's timeout ends the call.
            Trouble::Hung => std::future::pending().await,
            Trouble::Crashed { .. } => {
                Err(ServiceError::new("connection refused: the process is gone"))
            }
        }
    }

    /// Injects a fault; `false` if the service already has one (or is mid-restart).
    pub(crate) fn inject(&self, kind: FaultKind, needs_restart: bool) -> bool {
        let mut state = lock(&self.state);
        if state.trouble != Trouble::None || !state.running {
            return false;
        }
        if self.log.open(self.index, kind).is_none() {
            return false;
        }
        state.trouble = match kind {
            FaultKind::ErrorBurst => Trouble::Errors,
            FaultKind::LatencySpike => Trouble::Slow,
            FaultKind::Hang => Trouble::Hung,
            FaultKind::Crash => Trouble::Crashed { needs_restart },
        };
        true
    }

    /// Ends a transient fault (its time is up); a hang or crash is left to recovery.
    pub(crate) fn end_transient(&self, by: &str) {
        let mut state = lock(&self.state);
        if matches!(state.trouble, Trouble::Errors | Trouble::Slow) {
            self.cure(&mut state, by);
        }
    }

    /// Ends the fault whatever it is, if it is still fault `index` (the last resort for a
    /// fault that outlived its cap, and the end of the run).
    pub(crate) fn force_clear(&self, index: Option<usize>, by: &str) {
        let mut state = lock(&self.state);
        if state.trouble != Trouble::None
            && (index.is_none() || self.log.active(self.index) == index)
        {
            state.running = true;
            self.cure(&mut state, by);
        }
    }

    fn cure(&self, state: &mut SimState, by: &str) {
        state.trouble = Trouble::None;
        self.log.close(self.index, by);
    }
}

#[async_trait]
impl Recoverable for SimService {
    async fn initialize(&self) -> Result<(), ServiceError> {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let mut state = lock(&self.state);
        if state.trouble
            == (Trouble::Crashed {
                needs_restart: true,
            })
        {
            return Err(ServiceError::new(
                "the state on disk is corrupt: only a clean restart helps",
            ));
        }
        state.running = true;
        let by = if std::mem::take(&mut state.restarting) {
            "restart"
        } else {
            "reinitialize"
        };
        if matches!(state.trouble, Trouble::Hung | Trouble::Crashed { .. }) {
            self.cure(&mut state, by);
        }
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ServiceError> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut state = lock(&self.state);
        state.running = false;
        state.restarting = true;
        // A clean stop discards the corrupt state: the next start works.
        if let Trouble::Crashed { needs_restart } = &mut state.trouble {
            *needs_restart = false;
        }
        Ok(())
    }

    async fn status(&self) -> ServiceStatus {
        let state = lock(&self.state);
        if !state.running {
            return ServiceStatus::Stopped;
        }
        match state.trouble {
            Trouble::None => ServiceStatus::Healthy,
            // It runs; its upstream is the trouble.
            Trouble::Errors | Trouble::Slow => ServiceStatus::Degraded,
            Trouble::Hung | Trouble::Crashed { .. } => ServiceStatus::Unhealthy,
        }
    }

    async fn recover(&self, action: &str) -> Result<(), ServiceError> {
        match action {
            "reconnect" => {
                tokio::time::sleep(Duration::from_millis(80)).await;
                let mut state = lock(&self.state);
                match state.trouble {
                    Trouble::Crashed { .. } => Err(ServiceError::new(
                        "nothing to reconnect to: the process is gone",
                    )),
                    Trouble::Hung => {
                        self.cure(&mut state, "reconnect");
                        Ok(())
                    }
                    // A new connection to an upstream that is itself in trouble: connected,
                    // and the breaker's probes will tell whether calls work.
                    Trouble::None | Trouble::Errors | Trouble::Slow => Ok(()),
                }
            }
            other => Err(ServiceError::new(format!("no recovery action {other:?}"))),
        }
    }
}
