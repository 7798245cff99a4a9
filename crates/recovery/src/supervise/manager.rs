//! The recovery manager: escalation ladder, limits, learning and history.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::backoff::{Backoff, Fields};
use crate::config::ConfigError;
use crate::rng::SeedSource;
use crate::supervise::event::{
    ActionOutcome, ActionRecord, AlertReason, RecoveryEvent, RecoveryEventKind, RecoveryListener,
    RecoveryOutcome, RecoveryRecord,
};
use crate::supervise::ladder::{Action, Ladder, Level};
use crate::supervise::registry::{Lifecycle, ServiceRegistry};
use crate::supervise::service::Recoverable;

/// Why the manager refused to recover a service.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryError {
    /// No service of this name is registered as recoverable.
    UnknownService(String),
    /// The manager is shutting down and starts no more recoveries.
    ShuttingDown,
    /// `report_failure` was called outside a tokio runtime, so there is nowhere to run the
    /// recovery.
    NoRuntime,
}

impl fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecoveryError::UnknownService(name) => write!(
                f,
                "'{name}' is not a recoverable service: register it in the service registry first"
            ),
            RecoveryError::ShuttingDown => {
                f.write_str("the recovery manager is shutting down and starts no recoveries")
            }
            RecoveryError::NoRuntime => {
                f.write_str("recoveries run on tokio: report failures from within a tokio runtime")
            }
        }
    }
}

impl std::error::Error for RecoveryError {}

/// What became of a failure report.
#[derive(Debug)]
#[must_use = "a ticket tells how the recovery ended; drop it if that does not matter"]
#[non_exhaustive]
pub enum Reported {
    /// A recovery was scheduled; the ticket resolves when it ends.
    Started(RecoveryTicket),
    /// A recovery of this service is already pending or running; the report joins it.
    AlreadyRecovering,
    /// The service is given up (past the restart intensity, now or before): no recovery.
    GivenUp,
}

/// Resolves to the record of a recovery when it ends.
#[derive(Debug)]
pub struct RecoveryTicket {
    rx: oneshot::Receiver<RecoveryRecord>,
}

impl RecoveryTicket {
    /// Waits for the recovery to end and returns its record (`None` only if its task
    /// vanished without a trace, which the manager does not do).
    pub async fn wait(self) -> Option<RecoveryRecord> {
        self.rx.await.ok()
    }
}

/// What a graceful shutdown found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Recoveries that ended within the bound (recoveries still waiting for their backoff or
    /// for a free slot end at once, as cancelled).
    pub finished: usize,
    /// Recoveries still running at the bound, which were aborted.
    pub aborted: usize,
}

/// An action's record for one failure kind, and the score it is ordered by.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ActionStats {
    /// The action's name.
    pub action: String,
    /// Times it brought the service back.
    pub successes: u32,
    /// Times it was tried.
    pub attempts: u32,
    /// `(successes + 1) / (attempts + 2)`: the success rate with a uniform (Laplace) prior,
    /// 0.5 for an action never tried.
    pub score: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Score {
    successes: u32,
    attempts: u32,
}

impl Score {
    /// Compares `(s+1)/(a+2)` exactly, by cross-multiplying.
    fn cmp_rate(&self, other: &Score) -> std::cmp::Ordering {
        let mine = (u64::from(self.successes) + 1) * (u64::from(other.attempts) + 2);
        let theirs = (u64::from(other.successes) + 1) * (u64::from(self.attempts) + 2);
        mine.cmp(&theirs)
    }
}

#[derive(Debug, Default)]
struct ServiceBook {
    running: bool,
    given_up: bool,
    /// Start times of the recent recoveries, for the restart intensity.
    starts: VecDeque<Instant>,
    /// Recoveries since the service was last stable, for the backoff.
    consecutive: u32,
    last_recovered: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    services: HashMap<String, ServiceBook>,
    /// Keyed by failure kind, then action name.
    scores: HashMap<String, HashMap<String, Score>>,
    history: VecDeque<RecoveryRecord>,
}

struct Inner {
    registry: Arc<ServiceRegistry>,
    ladder: Ladder,
    ladders: HashMap<String, Ladder>,
    max_recoveries: u32,
    within: Duration,
    backoff: Backoff,
    seeds: SeedSource,
    stable_period: Duration,
    action_timeout: Duration,
    history_capacity: usize,
    slots: Arc<Semaphore>,
    slots_total: usize,
    closed: AtomicBool,
    state: Mutex<State>,
    tasks: Mutex<JoinSet<()>>,
    listener: Option<Arc<dyn RecoveryListener>>,
}

/// Brings failed services back by an escalation ladder of actions, within limits.
///
/// When told that a service failed ([`report_failure`](Self::report_failure), called by the
/// umbrella from a failing health check or an opened breaker), the manager schedules a
/// recovery on tokio:
///
/// 1. **Restart intensity** (OTP's): if the service already had `max_recoveries` recoveries
///    within `within`, it is **given up**: marked [`Lifecycle::GivenUp`], an
///    [`OperatorAlert`](RecoveryEventKind::OperatorAlert) is sent, and no recovery runs until
///    [`reset`](Self::reset).
/// 2. **Backoff**: the first recovery starts at once; each further one waits the next delay
///    of the backoff (capped exponential by default). The count starts over once the service
///    has stayed up for the stable period after a successful recovery (that is: no failure was
///    reported for that long).
/// 3. **Concurrency**: at most `max_concurrent` recoveries run at once, across services;
///    the others wait for a slot.
/// 4. **The ladder**: level by level, soft to emergency, each action is run under the action
///    timeout and followed by a status check; the first that leaves the service up ends the
///    recovery. When every action of a level fails, the next level is tried. When the ladder
///    is exhausted, the service is marked [`Lifecycle::Failed`] and an operator alert is sent.
///
/// **Learned ordering.** Within a level, actions are tried in order of their success rate for
/// the reported failure kind, estimated with a uniform prior: `(successes + 1) / (attempts + 2)`
/// (Laplace's rule of succession, so an untried action scores 0.5, above one that failed once
/// and below one that worked once). Ties keep the configured order. The rule is deterministic:
/// the same history gives the same order. Levels are never reordered: learning never makes a
/// restart come before a reconnect.
///
/// Every recovery is kept in a bounded history ([`history`](Self::history)), from which
/// [`mean_time_to_recovery`](Self::mean_time_to_recovery) is computed; the `metrics` module
/// lists what is recorded.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
/// use hardening_recovery::{
///     Action, Ladder, Level, RecoveryManager, RecoveryOutcome, Recoverable, Reported,
///     ServiceError, ServiceRegistry, ServiceStatus, async_trait,
/// };
///
/// /// A connection that a reconnect cannot fix, but a restart can.
/// #[derive(Default)]
/// struct Conn { up: AtomicBool }
///
/// #[async_trait]
/// impl Recoverable for Conn {
///     async fn initialize(&self) -> Result<(), ServiceError> {
///         self.up.store(true, Ordering::SeqCst);
///         Ok(())
///     }
///     async fn shutdown(&self) -> Result<(), ServiceError> {
///         self.up.store(false, Ordering::SeqCst);
///         Ok(())
///     }
///     async fn status(&self) -> ServiceStatus {
///         if self.up.load(Ordering::SeqCst) { ServiceStatus::Healthy } else { ServiceStatus::Unhealthy }
///     }
///     async fn recover(&self, action: &str) -> Result<(), ServiceError> {
///         Err(ServiceError::new(format!("{action}: peer unreachable")))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let registry = ServiceRegistry::new();
/// registry.register("orders-db", Conn::default())?;
/// let manager = RecoveryManager::builder(Arc::clone(&registry))
///     .ladder(
///         Ladder::new()
///             .level(Level::Soft, ["reconnect"])
///             .level(Level::Emergency, [Action::Restart]),
///     )
///     .action_timeout(Duration::from_secs(5))
///     .build()?;
///
/// let Reported::Started(ticket) = manager.report_failure("orders-db", "connection_lost")? else {
///     unreachable!("the first report starts a recovery");
/// };
/// let record = ticket.wait().await.expect("a record");
/// assert_eq!(
///     record.outcome,
///     RecoveryOutcome::Recovered { level: Level::Emergency, action: "restart".into() },
/// );
/// assert_eq!(record.actions.len(), 2); // reconnect failed, restart worked
///
/// assert!(manager.report_failure("billing", "timeout").is_err()); // not registered
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RecoveryManager {
    inner: Arc<Inner>,
}

impl fmt::Debug for RecoveryManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("RecoveryManager")
            .field("ladder", &i.ladder)
            .field("ladders", &i.ladders)
            .field("max_recoveries", &i.max_recoveries)
            .field("within", &i.within)
            .field("backoff", &i.backoff)
            .field("stable_period", &i.stable_period)
            .field("action_timeout", &i.action_timeout)
            .field("running", &self.running())
            .finish_non_exhaustive()
    }
}

impl RecoveryManager {
    /// A builder for a manager of the services in `registry`.
    ///
    /// The defaults: a ladder of [`Action::Reinitialize`] (hard) then [`Action::Restart`]
    /// (emergency); at most 3 recoveries per service within 60 s; a backoff from 1 s doubling
    /// to 60 s; a stable period of 60 s; 4 recoveries at once; 30 s per action; 1,000
    /// recoveries of history.
    pub fn builder(registry: Arc<ServiceRegistry>) -> RecoveryManagerBuilder {
        RecoveryManagerBuilder {
            registry,
            ladder: Ladder::new()
                .level(Level::Hard, [Action::Reinitialize])
                .level(Level::Emergency, [Action::Restart]),
            ladders: HashMap::new(),
            max_recoveries: 3,
            within: Duration::from_secs(60),
            backoff: Backoff::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(60)),
            seed: None,
            stable_period: Duration::from_secs(60),
            max_concurrent: 4,
            action_timeout: Duration::from_secs(30),
            history_capacity: 1000,
            listener: None,
        }
    }

    /// The registry of recoverable services.
    pub fn registry(&self) -> &Arc<ServiceRegistry> {
        &self.inner.registry
    }

    /// Reports that `service` failed with a failure of kind `failure` (free text, such as
    /// `"timeout"` or `"breaker_open"`; learning keys on it) and schedules its recovery.
    ///
    /// Errors if the service is not registered, if the manager is shutting down, or if
    /// called outside a tokio runtime.
    pub fn report_failure(&self, service: &str, failure: &str) -> Result<Reported, RecoveryError> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(RecoveryError::ShuttingDown);
        }
        let target = inner
            .registry
            .get(service)
            .ok_or_else(|| RecoveryError::UnknownService(service.to_string()))?;
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| RecoveryError::NoRuntime)?;
        let now = Instant::now();
        let delay = {
            let mut state = inner.lock();
            let book = state.services.entry(service.to_string()).or_default();
            if book.given_up {
                return Ok(Reported::GivenUp);
            }
            if book.running {
                return Ok(Reported::AlreadyRecovering);
            }
            while book
                .starts
                .front()
                .is_some_and(|start| now.saturating_duration_since(*start) >= inner.within)
            {
                book.starts.pop_front();
            }
            if book.starts.len() >= inner.max_recoveries as usize {
                book.given_up = true;
                let record = RecoveryRecord {
                    service: service.to_string(),
                    failure: failure.to_string(),
                    reported_at: now.into_std(),
                    started_at: None,
                    duration: Duration::ZERO,
                    outcome: RecoveryOutcome::GivenUp,
                    actions: Vec::new(),
                };
                inner.remember(&mut state, record);
                drop(state);
                inner.registry.set_lifecycle(service, Lifecycle::GivenUp);
                inner.count_recovery(service, &RecoveryOutcome::GivenUp);
                inner.emit(
                    service,
                    failure,
                    RecoveryEventKind::OperatorAlert {
                        reason: AlertReason::IntensityExceeded {
                            max_recoveries: inner.max_recoveries,
                            within: inner.within,
                        },
                    },
                );
                return Ok(Reported::GivenUp);
            }
            if book
                .last_recovered
                .is_some_and(|at| now.saturating_duration_since(at) >= inner.stable_period)
            {
                book.consecutive = 0;
            }
            let delay = match book.consecutive {
                0 => Duration::ZERO,
                n => inner
                    .backoff
                    .start(inner.seeds.next_rng())
                    .nth(n as usize - 1)
                    .unwrap_or_default(),
            };
            book.consecutive = book.consecutive.saturating_add(1);
            book.starts.push_back(now);
            book.running = true;
            delay
        };
        inner.registry.set_lifecycle(service, Lifecycle::Recovering);
        inner.emit(service, failure, RecoveryEventKind::Started { delay });

        let (tx, rx) = oneshot::channel();
        let guard = RunGuard {
            inner: Arc::clone(inner),
            record: Some(RecoveryRecord {
                service: service.to_string(),
                failure: failure.to_string(),
                reported_at: now.into_std(),
                started_at: None,
                duration: Duration::ZERO,
                outcome: RecoveryOutcome::Cancelled,
                actions: Vec::new(),
            }),
            reported_at: now,
            tx: Some(tx),
            holds_slot: false,
        };
        let task = recover(guard, target, delay);
        let mut tasks = inner.lock_tasks();
        // Reap the recoveries that ended, so the set holds only live ones.
        while tasks.try_join_next().is_some() {}
        tasks.spawn_on(task, &runtime);
        Ok(Reported::Started(RecoveryTicket { rx }))
    }

    /// Lets a given-up or failed service be recovered again, with its intensity and backoff
    /// counts cleared (an operator's action). Errors if the service is not registered.
    pub fn reset(&self, service: &str) -> Result<(), RecoveryError> {
        if !self.inner.registry.contains(service) {
            return Err(RecoveryError::UnknownService(service.to_string()));
        }
        let mut state = self.inner.lock();
        if let Some(book) = state.services.get_mut(service) {
            let running = book.running;
            *book = ServiceBook {
                running,
                ..ServiceBook::default()
            };
        }
        Ok(())
    }

    /// The actions the manager would try for a failure of kind `failure` of a service on the
    /// default ladder, level by level, in the order it would try them now.
    pub fn plan(&self, failure: &str) -> Vec<(Level, Vec<Action>)> {
        self.inner.plan(&self.inner.ladder, failure)
    }

    /// The same for `service`, on its own ladder if it has one.
    pub fn plan_for(&self, service: &str, failure: &str) -> Vec<(Level, Vec<Action>)> {
        self.inner.plan(self.inner.ladder_of(service), failure)
    }

    /// Each action's record and score for failures of kind `failure`: the default ladder's
    /// actions in ladder order, then any other action tried (from a service's own ladder) by
    /// name.
    pub fn action_stats(&self, failure: &str) -> Vec<ActionStats> {
        let state = self.inner.lock();
        let scores = state.scores.get(failure);
        let mut names: Vec<&str> = Level::ALL
            .iter()
            .flat_map(|level| self.inner.ladder.actions(*level))
            .map(Action::name)
            .collect();
        let mut others: Vec<&str> = scores
            .into_iter()
            .flat_map(|m| m.keys())
            .map(String::as_str)
            .filter(|name| !names.contains(name))
            .collect();
        others.sort_unstable();
        names.extend(others);
        names
            .into_iter()
            .map(|name| {
                let s = scores
                    .and_then(|m| m.get(name))
                    .copied()
                    .unwrap_or_default();
                ActionStats {
                    action: name.to_string(),
                    successes: s.successes,
                    attempts: s.attempts,
                    score: (f64::from(s.successes) + 1.0) / (f64::from(s.attempts) + 2.0),
                }
            })
            .collect()
    }

    /// The kept recoveries, oldest first (at most the history capacity; the oldest go first).
    pub fn history(&self) -> Vec<RecoveryRecord> {
        self.inner.lock().history.iter().cloned().collect()
    }

    /// The kept recoveries of `service`, oldest first.
    pub fn history_of(&self, service: &str) -> Vec<RecoveryRecord> {
        self.inner
            .lock()
            .history
            .iter()
            .filter(|r| r.service == service)
            .cloned()
            .collect()
    }

    /// The mean time from failure report to recovery over the kept recoveries that
    /// succeeded, of `service` or (with `None`) of all services; `None` when there is none.
    pub fn mean_time_to_recovery(&self, service: Option<&str>) -> Option<Duration> {
        let state = self.inner.lock();
        let (total, count) = state
            .history
            .iter()
            .filter(|r| matches!(r.outcome, RecoveryOutcome::Recovered { .. }))
            .filter(|r| service.is_none_or(|s| r.service == s))
            .fold((Duration::ZERO, 0u32), |(t, n), r| {
                (t.saturating_add(r.duration), n.saturating_add(1))
            });
        (count > 0).then(|| total / count)
    }

    /// Recoveries running now (holding a slot).
    pub fn running(&self) -> usize {
        self.inner.max_concurrent() - self.inner.slots.available_permits()
    }

    /// Stops taking reports, cancels the recoveries still waiting to start, waits up to
    /// `bound` for the running ones to end, and aborts those still running then. Services are
    /// left as they are; shut them down with
    /// [`ServiceRegistry::shutdown_all`](crate::ServiceRegistry::shutdown_all).
    pub async fn shutdown(&self, bound: Duration) -> ShutdownReport {
        let inner = &self.inner;
        inner.closed.store(true, Ordering::Release);
        inner.slots.close();
        let mut tasks = std::mem::take(&mut *inner.lock_tasks());
        let deadline = Instant::now().checked_add(bound);
        let mut finished = 0;
        loop {
            let next = match deadline {
                Some(at) => match tokio::time::timeout_at(at, tasks.join_next()).await {
                    Ok(next) => next,
                    Err(_) => break,
                },
                None => tasks.join_next().await,
            };
            match next {
                Some(_) => finished += 1,
                None => break,
            }
        }
        let aborted = tasks.len();
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        ShutdownReport { finished, aborted }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it (listeners are called outside), so a poisoned
        // lock still guards consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_tasks(&self) -> MutexGuard<'_, JoinSet<()>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn max_concurrent(&self) -> usize {
        // Kept as the semaphore's size; `running` needs it back.
        self.slots_total
    }

    fn ladder_of(&self, service: &str) -> &Ladder {
        self.ladders.get(service).unwrap_or(&self.ladder)
    }

    fn plan(&self, ladder: &Ladder, failure: &str) -> Vec<(Level, Vec<Action>)> {
        let state = self.lock();
        let scores = state.scores.get(failure);
        Level::ALL
            .iter()
            .filter(|level| !ladder.actions(**level).is_empty())
            .map(|level| {
                let mut actions = ladder.actions(*level).to_vec();
                if let Some(scores) = scores {
                    let score = |a: &Action| scores.get(a.name()).copied().unwrap_or_default();
                    // A stable sort: equal scores keep the configured order.
                    actions.sort_by(|a, b| score(b).cmp_rate(&score(a)));
                }
                (*level, actions)
            })
            .collect()
    }

    fn learn(&self, failure: &str, action: &str, success: bool) {
        let mut state = self.lock();
        let score = state
            .scores
            .entry(failure.to_string())
            .or_default()
            .entry(action.to_string())
            .or_default();
        score.attempts = score.attempts.saturating_add(1);
        if success {
            score.successes = score.successes.saturating_add(1);
        }
    }

    fn remember(&self, state: &mut State, record: RecoveryRecord) {
        if state.history.len() >= self.history_capacity {
            state.history.pop_front();
        }
        state.history.push_back(record);
    }

    fn emit(&self, service: &str, failure: &str, kind: RecoveryEventKind<'_>) {
        if let Some(listener) = &self.listener {
            listener.on_event(&RecoveryEvent {
                service,
                failure,
                kind,
            });
        }
    }

    #[allow(unused_variables, reason = "used only with the metrics feature")]
    fn count_recovery(&self, service: &str, outcome: &RecoveryOutcome) {
        #[cfg(feature = "metrics")]
        crate::metrics::recovery(service, outcome);
    }
}

/// Owns a recovery's record while it runs; finishing it (or dropping it, when the task is
/// aborted) writes the history, frees the service and resolves the ticket.
struct RunGuard {
    inner: Arc<Inner>,
    record: Option<RecoveryRecord>,
    reported_at: Instant,
    tx: Option<oneshot::Sender<RecoveryRecord>>,
    holds_slot: bool,
}

impl RunGuard {
    fn finish(&mut self, outcome: RecoveryOutcome) {
        let Some(mut record) = self.record.take() else {
            return;
        };
        let inner = &self.inner;
        let now = Instant::now();
        record.duration = now.saturating_duration_since(self.reported_at);
        record.outcome = outcome;
        {
            let mut state = inner.lock();
            if let Some(book) = state.services.get_mut(&record.service) {
                book.running = false;
                if matches!(record.outcome, RecoveryOutcome::Recovered { .. }) {
                    book.last_recovered = Some(now);
                }
            }
            inner.remember(&mut state, record.clone());
        }
        let lifecycle = match record.outcome {
            RecoveryOutcome::Recovered { .. } => Some(Lifecycle::Running),
            RecoveryOutcome::Exhausted => Some(Lifecycle::Failed),
            _ => None,
        };
        if let Some(lifecycle) = lifecycle {
            inner.registry.set_lifecycle(&record.service, lifecycle);
        }
        inner.count_recovery(&record.service, &record.outcome);
        match &record.outcome {
            RecoveryOutcome::Recovered { level, action } => {
                #[cfg(feature = "metrics")]
                crate::metrics::time_to_recover(&record.service, record.duration);
                inner.emit(
                    &record.service,
                    &record.failure,
                    RecoveryEventKind::Recovered {
                        level: *level,
                        action,
                        time_to_recover: record.duration,
                    },
                );
            }
            RecoveryOutcome::Exhausted => inner.emit(
                &record.service,
                &record.failure,
                RecoveryEventKind::OperatorAlert {
                    reason: AlertReason::LadderExhausted,
                },
            ),
            _ => {}
        }
        if self.holds_slot {
            self.holds_slot = false;
            #[cfg(feature = "metrics")]
            crate::metrics::running(-1.0);
        }
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(record);
        }
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.finish(RecoveryOutcome::Cancelled);
    }
}

async fn recover(mut guard: RunGuard, service: Arc<dyn Recoverable>, delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let Ok(_slot) = Arc::clone(&guard.inner.slots).acquire_owned().await else {
        // The semaphore closes only on shutdown: the guard records a cancellation.
        return;
    };
    guard.holds_slot = true;
    #[cfg(feature = "metrics")]
    crate::metrics::running(1.0);
    let inner = Arc::clone(&guard.inner);
    let (service_name, failure) = match &mut guard.record {
        Some(record) => {
            record.started_at = Some(Instant::now().into_std());
            (record.service.clone(), record.failure.clone())
        }
        None => return,
    };
    for (level, actions) in inner.plan(inner.ladder_of(&service_name), &failure) {
        for action in actions {
            let started = Instant::now();
            let (outcome, message) =
                match tokio::time::timeout(inner.action_timeout, run_action(&*service, &action))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => (ActionOutcome::TimedOut, None),
                };
            let elapsed = started.elapsed();
            let succeeded = outcome == ActionOutcome::Succeeded;
            inner.learn(&failure, action.name(), succeeded);
            #[cfg(feature = "metrics")]
            crate::metrics::action(&service_name, action.name(), outcome);
            inner.emit(
                &service_name,
                &failure,
                RecoveryEventKind::ActionFinished {
                    level,
                    action: action.name(),
                    outcome,
                    elapsed,
                },
            );
            if let Some(record) = &mut guard.record {
                record.actions.push(ActionRecord {
                    level,
                    action: action.name().to_string(),
                    outcome,
                    message,
                    started_at: started.into_std(),
                    duration: elapsed,
                });
            }
            if succeeded {
                guard.finish(RecoveryOutcome::Recovered {
                    level,
                    action: action.name().to_string(),
                });
                return;
            }
        }
    }
    guard.finish(RecoveryOutcome::Exhausted);
}

async fn run_action(service: &dyn Recoverable, action: &Action) -> (ActionOutcome, Option<String>) {
    let result = match action {
        Action::Named(name) => service.recover(name).await,
        Action::Reinitialize => service.initialize().await,
        Action::Restart => {
            // A shutdown that fails (the service is half dead) should not stop the start.
            let _ = service.shutdown().await;
            service.initialize().await
        }
    };
    match result {
        Err(e) => (ActionOutcome::Failed, Some(e.to_string())),
        Ok(()) => {
            let status = service.status().await;
            if status.is_up() {
                (ActionOutcome::Succeeded, None)
            } else {
                (
                    ActionOutcome::NotUp,
                    Some(format!("status after the action: {status:?}")),
                )
            }
        }
    }
}

/// Builds a [`RecoveryManager`]; [`build`](Self::build) checks every setting.
#[must_use = "a builder does nothing until `build` is called"]
pub struct RecoveryManagerBuilder {
    registry: Arc<ServiceRegistry>,
    ladder: Ladder,
    ladders: HashMap<String, Ladder>,
    max_recoveries: u32,
    within: Duration,
    backoff: Backoff,
    seed: Option<u64>,
    stable_period: Duration,
    max_concurrent: usize,
    action_timeout: Duration,
    history_capacity: usize,
    listener: Option<Arc<dyn RecoveryListener>>,
}

impl fmt::Debug for RecoveryManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryManagerBuilder")
            .field("ladder", &self.ladder)
            .field("ladders", &self.ladders)
            .field("max_recoveries", &self.max_recoveries)
            .field("within", &self.within)
            .field("backoff", &self.backoff)
            .field("stable_period", &self.stable_period)
            .field("max_concurrent", &self.max_concurrent)
            .field("action_timeout", &self.action_timeout)
            .field("history_capacity", &self.history_capacity)
            .finish_non_exhaustive()
    }
}

/// The most recoveries that may run at once: tokio's semaphore limit, rounded down.
pub const MAX_CONCURRENT_RECOVERIES: usize = 1 << 20;

impl RecoveryManagerBuilder {
    /// The escalation ladder of every service without one of its own (at least one action;
    /// action names unique, since learning keys on them).
    pub fn ladder(mut self, ladder: Ladder) -> Self {
        self.ladder = ladder;
        self
    }

    /// A ladder of its own for `service`, checked as the default one is.
    pub fn ladder_for(mut self, service: impl Into<String>, ladder: Ladder) -> Self {
        self.ladders.insert(service.into(), ladder);
        self
    }

    /// Restart intensity: at most `max_recoveries` (at least 1) recoveries of a service within
    /// `within` (above zero); one more and the service is given up.
    pub fn intensity(mut self, max_recoveries: u32, within: Duration) -> Self {
        self.max_recoveries = max_recoveries;
        self.within = within;
        self
    }

    /// The wait before the second, third, … recovery in a row. Any [`Backoff`]; checked as
    /// `restart_backoff.*`.
    pub fn backoff(mut self, backoff: impl Into<Backoff>) -> Self {
        self.backoff = backoff.into();
        self
    }

    /// Seeds the backoff's jitter, if it has any.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// How long a recovered service must go without a failure report for the backoff to
    /// start over (above zero).
    pub fn stable_period(mut self, period: Duration) -> Self {
        self.stable_period = period;
        self
    }

    /// The most recoveries running at once, across services (1 to
    /// [`MAX_CONCURRENT_RECOVERIES`]).
    pub fn max_concurrent(mut self, recoveries: usize) -> Self {
        self.max_concurrent = recoveries;
        self
    }

    /// The longest one action, with the status check after it, may take (above zero).
    pub fn action_timeout(mut self, timeout: Duration) -> Self {
        self.action_timeout = timeout;
        self
    }

    /// How many recoveries the history keeps (at least 1); the oldest go first.
    pub fn history_capacity(mut self, recoveries: usize) -> Self {
        self.history_capacity = recoveries;
        self
    }

    /// Sends the manager's events to `listener`.
    pub fn on_event(mut self, listener: impl RecoveryListener) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Checks every setting and returns the manager, or the first setting that is wrong.
    pub fn build(self) -> Result<RecoveryManager, ConfigError> {
        check_ladder("ladder", "", &self.ladder)?;
        let mut services: Vec<_> = self.ladders.iter().collect();
        services.sort_by(|a, b| a.0.cmp(b.0));
        for (service, ladder) in services {
            check_ladder("ladder_for", &format!(" for '{service}'"), ladder)?;
        }
        if self.max_recoveries == 0 {
            return Err(ConfigError::new(
                "intensity.max_recoveries",
                0,
                "at least 1 recovery",
            ));
        }
        if self.within.is_zero() {
            return Err(ConfigError::duration(
                "intensity.within",
                self.within,
                "a duration above zero",
            ));
        }
        self.backoff.validate(Fields::RESTART)?;
        if self.stable_period.is_zero() {
            return Err(ConfigError::duration(
                "stable_period",
                self.stable_period,
                "a duration above zero",
            ));
        }
        if self.max_concurrent == 0 || self.max_concurrent > MAX_CONCURRENT_RECOVERIES {
            return Err(ConfigError::new(
                "max_concurrent",
                self.max_concurrent,
                format!("between 1 and {MAX_CONCURRENT_RECOVERIES} recoveries"),
            ));
        }
        if self.action_timeout.is_zero() {
            return Err(ConfigError::duration(
                "action_timeout",
                self.action_timeout,
                "a duration above zero",
            ));
        }
        if self.history_capacity == 0 {
            return Err(ConfigError::new(
                "history_capacity",
                0,
                "at least 1 recovery",
            ));
        }
        Ok(RecoveryManager {
            inner: Arc::new(Inner {
                registry: self.registry,
                ladder: self.ladder,
                ladders: self.ladders,
                max_recoveries: self.max_recoveries,
                within: self.within,
                backoff: self.backoff,
                seeds: SeedSource::new(self.seed),
                stable_period: self.stable_period,
                action_timeout: self.action_timeout,
                history_capacity: self.history_capacity,
                slots: Arc::new(Semaphore::new(self.max_concurrent)),
                slots_total: self.max_concurrent,
                closed: AtomicBool::new(false),
                state: Mutex::new(State::default()),
                tasks: Mutex::new(JoinSet::new()),
                listener: self.listener,
            }),
        })
    }
}

fn check_ladder(field: &'static str, whose: &str, ladder: &Ladder) -> Result<(), ConfigError> {
    if ladder.is_empty() {
        return Err(ConfigError::new(
            field,
            format!("an empty ladder{whose}"),
            "at least one action on some level",
        ));
    }
    if let Some(name) = ladder.duplicate() {
        return Err(ConfigError::new(
            field,
            format!("the action '{name}' twice{whose}"),
            "each action name once (learning keys on the name)",
        ));
    }
    Ok(())
}
