//! The alert manager: the public handle, its builder, and the background task that evaluates
//! rules and flushes groups.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::rule::{RuleRuntime, Step};
use super::sink::SinkSlot;
use super::store::{Full, Raised, Store};
use super::{
    Alert, AlertSink, Fingerprint, InhibitRule, Labels, Route, Rule, Silence, SilenceId,
    SilenceView, SinkOptions, SinkStats,
};
use crate::ConfigError;
use crate::monitor::stopped;

/// The default bound on distinct alerts held at once (firing, or resolved and waiting for
/// their resolve notice).
pub const DEFAULT_MAX_ALERTS: usize = 10_000;

/// The default bound on silences held at once (in force or yet to start).
pub const DEFAULT_MAX_SILENCES: usize = 1_000;

/// The default number of resolved alerts kept for [`AlertManager::history`].
pub const DEFAULT_HISTORY_LIMIT: usize = 256;

/// Why [`AlertManager::raise`] refused an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertError {
    /// The alert's name or a label is not accepted; the error names the field.
    Invalid(ConfigError),
    /// The manager already holds its limit of distinct alerts
    /// ([`AlertManagerBuilder::max_alerts`]), every one of them firing (resolved alerts
    /// make room first); the refusal is counted in the metrics.
    TooManyAlerts {
        /// The limit.
        limit: usize,
    },
    /// The manager already holds its limit of silences
    /// ([`AlertManagerBuilder::max_silences`]); silences that have ended do not count.
    TooManySilences {
        /// The limit.
        limit: usize,
    },
    /// The manager was shut down ([`AlertManager::shutdown`]): nothing would ever notify
    /// the alert.
    ShutDown,
}

impl AlertError {
    /// The field at fault, for [`AlertError::Invalid`].
    pub fn field(&self) -> Option<&str> {
        match self {
            AlertError::Invalid(error) => Some(error.field()),
            AlertError::TooManyAlerts { .. }
            | AlertError::TooManySilences { .. }
            | AlertError::ShutDown => None,
        }
    }
}

impl fmt::Display for AlertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertError::Invalid(error) => error.fmt(f),
            AlertError::TooManyAlerts { limit } => write!(
                f,
                "the alert manager already holds its limit of {limit} alerts, all firing; resolve some, or raise the limit"
            ),
            AlertError::TooManySilences { limit } => write!(
                f,
                "the alert manager already holds its limit of {limit} silences; expire some, or raise the limit"
            ),
            AlertError::ShutDown => f.write_str("the alert manager was shut down"),
        }
    }
}

impl std::error::Error for AlertError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AlertError::Invalid(error) => Some(error),
            AlertError::TooManyAlerts { .. }
            | AlertError::TooManySilences { .. }
            | AlertError::ShutDown => None,
        }
    }
}

impl From<ConfigError> for AlertError {
    fn from(error: ConfigError) -> Self {
        AlertError::Invalid(error)
    }
}

/// A firing or pending alert as [`AlertManager::active`] shows it, with what mutes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ActiveAlert {
    /// The alert.
    #[serde(flatten)]
    pub alert: Alert,
    /// Its identity.
    pub fingerprint: Fingerprint,
    /// The silences muting it now.
    pub silenced_by: Vec<SilenceId>,
    /// Whether a firing alert muting it through an inhibition rule exists.
    pub inhibited: bool,
}

/// One group of alerts as [`AlertManager::groups`] shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GroupView {
    /// The route's receiver.
    pub receiver: String,
    /// The values of the route's `group_by` labels.
    pub labels: Labels,
    /// How many alerts it holds (firing, or resolved and waiting for their notice).
    pub alerts: usize,
    /// Whether it has sent a notice yet (false while in its `group_wait`).
    pub notified: bool,
}

/// How much the manager holds, as [`AlertManager::counts`] and [`AlertsStatus`] show it:
/// every number here is bounded by a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct AlertCounts {
    /// Firing alerts (at most [`AlertManagerBuilder::max_alerts`], with `resolved_waiting`).
    pub firing: usize,
    /// Resolved alerts still held until their groups' next flush sends their resolve notice.
    pub resolved_waiting: usize,
    /// Groups.
    pub groups: usize,
    /// Alerts in groups, once per group (an alert two routes take counts twice), plus
    /// resolved copies kept for a group's resolve notice after a severity change moved an
    /// alert elsewhere.
    pub group_members: usize,
    /// Silences in force or yet to start (at most [`AlertManagerBuilder::max_silences`]).
    pub silences: usize,
    /// Resolved alerts kept for [`AlertManager::history`] (at most its limit).
    pub history: usize,
    /// Resolved alerts dropped before their groups' next flush, to make room under
    /// `max_alerts` for a new firing alert (a resolve notice they were due is lost); counted
    /// since the manager started.
    pub evicted: u64,
    /// Entries in the flush schedule (stale ones included): a bound for benches and tests.
    #[doc(hidden)]
    #[serde(skip)]
    pub scheduled_flushes: usize,
    /// Places in the eviction queue (stale ones included).
    #[doc(hidden)]
    #[serde(skip)]
    pub resolved_queue: usize,
    /// Hashes in the alert and group indexes.
    #[doc(hidden)]
    #[serde(skip)]
    pub index_entries: usize,
}

/// Everything the manager can show, in one serializable value (for a status endpoint).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AlertsStatus {
    /// Firing and pending alerts.
    pub active: Vec<ActiveAlert>,
    /// Recently resolved alerts, oldest first.
    pub history: Vec<Alert>,
    /// Silences in force or yet to start.
    pub silences: Vec<SilenceView>,
    /// The groups.
    pub groups: Vec<GroupView>,
    /// What each sink did.
    pub sinks: Vec<SinkStats>,
    /// How much the manager holds.
    pub counts: AlertCounts,
}

struct SinkRegistration {
    name: String,
    sink: Arc<dyn AlertSink>,
    options: SinkOptions,
}

/// Registers sinks, routes, inhibition rules and rules, then starts the manager with
/// [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use hardening_health::alert::{AlertManager, InhibitRule, LogSink, Matcher, Route, SinkOptions};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), hardening_health::ConfigError> {
/// let alerts = AlertManager::builder()
///     .sink("log", LogSink::new(), SinkOptions::default())
///     .default_route(Route::builder("ops").group_by(["alertname", "service"]).build()?)
///     .inhibit(InhibitRule::new(
///         [Matcher::equal("alertname", "ServiceDown")?],
///         [Matcher::equal("alertname", "ServiceSlow")?],
///         ["service"],
///     )?)
///     .build()?;
/// # let _ = alerts;
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct AlertManagerBuilder {
    sinks: Vec<SinkRegistration>,
    routes: Vec<Route>,
    default_route: Route,
    inhibit: Vec<InhibitRule>,
    rules: Vec<Rule>,
    max_alerts: usize,
    max_silences: usize,
    history_limit: usize,
}

impl fmt::Debug for AlertManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertManagerBuilder")
            .field(
                "sinks",
                &self.sinks.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .field("routes", &self.routes)
            .field("default_route", &self.default_route)
            .field("inhibit", &self.inhibit)
            .field("rules", &self.rules)
            .field("max_alerts", &self.max_alerts)
            .field("max_silences", &self.max_silences)
            .field("history_limit", &self.history_limit)
            .finish()
    }
}

impl AlertManagerBuilder {
    /// Adds a sink under `name` (unique; routes refer to it by name).
    pub fn sink(
        self,
        name: impl Into<String>,
        sink: impl AlertSink + 'static,
        options: SinkOptions,
    ) -> Self {
        self.sink_arc(name, Arc::new(sink), options)
    }

    /// Adds a sink that is already shared.
    pub fn sink_arc(
        mut self,
        name: impl Into<String>,
        sink: Arc<dyn AlertSink>,
        options: SinkOptions,
    ) -> Self {
        self.sinks.push(SinkRegistration {
            name: name.into(),
            sink,
            options,
        });
        self
    }

    /// Adds a route, tried in the order added (Alertmanager's child routes).
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    /// The route for alerts no other route takes (Alertmanager's root route); it must have no
    /// matchers. Default: [`Route::default`], receiver `default`, every sink, one group.
    pub fn default_route(mut self, route: Route) -> Self {
        self.default_route = route;
        self
    }

    /// Adds an inhibition rule.
    pub fn inhibit(mut self, rule: InhibitRule) -> Self {
        self.inhibit.push(rule);
        self
    }

    /// Adds an alerting rule, evaluated from the moment the manager starts.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// At most this many distinct alerts are held at once (at least 1), so a label with
    /// unbounded values cannot grow memory without end. Resolved alerts still waiting for
    /// their resolve notice count too, but never crowd out a firing one: a new alert beyond
    /// the limit first drops the oldest of them (its resolve notice is lost, and counted in
    /// [`AlertCounts::evicted`]); only when every held alert fires is it refused with
    /// [`AlertError::TooManyAlerts`]. Default [`DEFAULT_MAX_ALERTS`].
    pub fn max_alerts(mut self, alerts: usize) -> Self {
        self.max_alerts = alerts;
        self
    }

    /// At most this many silences are held at once (at least 1), in force or yet to start;
    /// [`AlertManager::silence`] refuses more with [`AlertError::TooManySilences`]. Silences
    /// that have ended are dropped whenever silences are added, read or applied. Default
    /// [`DEFAULT_MAX_SILENCES`].
    pub fn max_silences(mut self, silences: usize) -> Self {
        self.max_silences = silences;
        self
    }

    /// How many resolved alerts [`AlertManager::history`] keeps (0 keeps none). Default
    /// [`DEFAULT_HISTORY_LIMIT`].
    pub fn history_limit(mut self, alerts: usize) -> Self {
        self.history_limit = alerts;
        self
    }

    /// Checks the settings and starts the manager on the current tokio runtime: one task that
    /// evaluates rules and flushes groups, and one task per sink.
    ///
    /// Fails with a [`ConfigError`] for a sink name that is empty or repeated, a route naming
    /// a sink that does not exist, a default route with matchers, two rules for the same
    /// alert, a limit of zero (`max_alerts`, `max_silences`), or when called outside a tokio
    /// runtime (field `runtime`).
    pub fn build(self) -> Result<AlertManager, ConfigError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            ConfigError::new(
                "runtime",
                "no tokio runtime",
                "AlertManagerBuilder::build to be called inside a tokio runtime",
            )
        })?;
        if self.max_alerts == 0 {
            return Err(ConfigError::new("max_alerts", 0, "at least 1 alert"));
        }
        if self.max_silences == 0 {
            return Err(ConfigError::new("max_silences", 0, "at least 1 silence"));
        }
        let mut names = HashSet::with_capacity(self.sinks.len());
        for (index, sink) in self.sinks.iter().enumerate() {
            if sink.name.is_empty() {
                return Err(ConfigError::new(
                    format!("sinks[{index}].name"),
                    "\"\"",
                    "a non-empty name",
                ));
            }
            if !names.insert(sink.name.as_str()) {
                return Err(ConfigError::new(
                    format!("sinks[{:?}]", sink.name),
                    format!("{:?}", sink.name),
                    "a name no other sink has (routes refer to sinks by name)",
                ));
            }
        }
        if !self.default_route.matchers.is_empty() {
            return Err(ConfigError::new(
                "default_route.matchers",
                format!("{} matchers", self.default_route.matchers.len()),
                "none: the default route takes every alert no other route takes",
            ));
        }
        let mut routes = self.routes;
        routes.push(self.default_route);
        let last = routes.len() - 1;
        let mut route_sinks = Vec::with_capacity(routes.len());
        for (index, route) in routes.iter().enumerate() {
            let field = || {
                if index == last {
                    "default_route.sinks".to_string()
                } else {
                    format!("routes[{:?}].sinks", route.receiver)
                }
            };
            let sinks = if route.sinks.is_empty() {
                (0..self.sinks.len()).collect()
            } else {
                route
                    .sinks
                    .iter()
                    .map(|name| {
                        self.sinks
                            .iter()
                            .position(|s| &s.name == name)
                            .ok_or_else(|| {
                                ConfigError::new(
                                    field(),
                                    format!("{name:?}"),
                                    "the name of a sink added with AlertManagerBuilder::sink",
                                )
                            })
                    })
                    .collect::<Result<Vec<usize>, ConfigError>>()?
            };
            route_sinks.push(sinks);
        }
        let mut identities = HashSet::with_capacity(self.rules.len());
        for rule in &self.rules {
            if !identities.insert(rule.alert.fingerprint()) {
                return Err(ConfigError::new(
                    format!("rules[{:?}]", rule.name()),
                    format!("{:?} with labels {:?}", rule.name(), rule.alert.labels()),
                    "a name and labels no other rule has (two rules would fight over one alert)",
                ));
            }
        }
        let now = Instant::now();
        let receivers = routes
            .iter()
            .map(|r| Arc::<str>::from(r.receiver.as_str()))
            .collect();
        let mut tasks = Vec::with_capacity(self.sinks.len() + 1);
        let sinks = self
            .sinks
            .into_iter()
            .map(|registration| {
                let (slot, task) = SinkSlot::start(
                    &runtime,
                    registration.name,
                    registration.sink,
                    &registration.options,
                );
                tasks.push(task);
                slot
            })
            .collect();
        let (stop, _) = watch::channel(false);
        let state = State {
            store: Store::new(self.max_alerts, self.history_limit, self.max_silences),
            rules: self.rules.iter().map(|_| RuleRuntime::new(now)).collect(),
            scheduled: None,
        };
        let shared = Arc::new(Shared {
            routes,
            route_sinks,
            receivers,
            inhibit: self.inhibit,
            rules: self.rules,
            max_alerts: self.max_alerts,
            state: Mutex::new(state),
            wake: Notify::new(),
            sinks,
            stop,
            tasks: Mutex::new(Vec::new()),
            #[cfg(feature = "metrics")]
            metrics: crate::metrics::AlertHandles::new(),
        });
        tasks.insert(0, runtime.spawn(drive(Arc::clone(&shared))));
        *lock(&shared.tasks) = tasks;
        Ok(AlertManager {
            _owner: Arc::new(Owner {
                shared: Arc::clone(&shared),
            }),
            shared,
        })
    }
}

/// Alerts in-process, as Prometheus rules plus Alertmanager: raise and resolve them, or let
/// rules do it; routes group them and send notices to sinks; silences and inhibition mute
/// them.
///
/// An `AlertManager` is a cheap handle: clones share one manager. [`raise`](Self::raise) and
/// [`resolve`](Self::resolve) take a short lock and return; they never wait on a sink or a
/// rule. When the last handle is dropped the background tasks stop at once, sinks included
/// (a notice still queued or being sent is lost); [`shutdown`](Self::shutdown) stops them
/// gracefully, letting the sinks drain.
///
/// ```
/// use std::time::Duration;
/// use hardening_health::alert::{Alert, AlertManager, ChannelSink, Labels, Route, Severity, SinkOptions};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (sink, mut notices) = ChannelSink::new(16)?;
/// let alerts = AlertManager::builder()
///     .sink("channel", sink, SinkOptions::default())
///     .default_route(Route::builder("ops").group_wait(Duration::from_secs(5)).build()?)
///     .build()?;
///
/// let labels = Labels::from([("ladder".to_string(), "payments".to_string())]);
/// alerts.raise(Alert::new("RecoveryExhausted", Severity::Emergency).with_labels(labels.clone()))?;
/// let notice = notices.recv().await.ok_or("closed")?; // after the 5 s group wait
/// assert_eq!(notice.alerts()[0].name(), "RecoveryExhausted");
///
/// assert!(alerts.resolve("RecoveryExhausted", &labels));
/// assert_eq!(alerts.active().len(), 0);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AlertManager {
    shared: Arc<Shared>,
    /// Stops the background tasks when the last handle is dropped.
    _owner: Arc<Owner>,
}

impl fmt::Debug for AlertManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertManager")
            .field("routes", &self.shared.routes.len())
            .field("sinks", &self.shared.sinks)
            .field("rules", &self.shared.rules.len())
            .finish_non_exhaustive()
    }
}

struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.stop.send_replace(true);
        for sink in &self.shared.sinks {
            sink.close();
        }
        // No handle is left to call `shutdown`, so nothing would bound how long a hung sink's
        // task lives on (its queue times its timeout). After a shutdown this is empty: the
        // shutdown drained the sinks within its grace.
        for task in lock(&self.shared.tasks).drain(..) {
            task.abort();
        }
    }
}

struct Shared {
    /// The routes in the order they are tried; the default route is last.
    routes: Vec<Route>,
    /// For each route, the indices of its sinks.
    route_sinks: Vec<Vec<usize>>,
    receivers: Vec<Arc<str>>,
    inhibit: Vec<InhibitRule>,
    rules: Vec<Rule>,
    max_alerts: usize,
    state: Mutex<State>,
    /// Wakes the driver when a raise creates a group due before its next wake.
    wake: Notify,
    sinks: Vec<SinkSlot>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    #[cfg(feature = "metrics")]
    metrics: crate::metrics::AlertHandles,
}

struct State {
    store: Store,
    rules: Vec<RuleRuntime>,
    /// When the driver will next wake on its own.
    scheduled: Option<Instant>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; if something did, the data is still whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Raises under the lock; returns whether the driver must wake sooner than planned.
    fn raise_locked(
        &self,
        state: &mut State,
        alert: Alert,
        now: Instant,
    ) -> Result<bool, AlertError> {
        match state.store.raise(&self.routes, alert, now) {
            Ok(Raised { fired, new_flush }) => {
                #[cfg(feature = "metrics")]
                if let Some(severity) = fired {
                    self.metrics.raised(severity);
                }
                let _ = fired;
                let sooner = new_flush.filter(|at| state.scheduled.is_none_or(|s| *at < s));
                if let Some(at) = sooner {
                    state.scheduled = Some(at);
                }
                Ok(sooner.is_some())
            }
            Err(Full) => {
                #[cfg(feature = "metrics")]
                self.metrics.refused();
                Err(AlertError::TooManyAlerts {
                    limit: self.max_alerts,
                })
            }
        }
    }

    fn resolve_locked(&self, state: &mut State, name: &str, labels: &Labels) -> bool {
        let resolved = state.store.resolve(name, labels);
        #[cfg(feature = "metrics")]
        if let Some(severity) = resolved {
            self.metrics.resolved(severity);
        }
        resolved.is_some()
    }

    /// When the driver should next wake: the next group flush or rule evaluation.
    fn next_deadline(&self, state: &State) -> Option<Instant> {
        let rules = state.rules.iter().map(|r| r.next_eval).min();
        match (state.store.next_flush(), rules) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Evaluates the rules that are due, then flushes the groups that are due and hands the
    /// notices to the sinks.
    fn tick(&self, now: Instant) {
        let due: Vec<usize> = {
            let mut state = self.lock();
            state
                .rules
                .iter_mut()
                .enumerate()
                .filter(|(_, runtime)| runtime.next_eval <= now)
                .map(|(index, runtime)| {
                    runtime.schedule_after(now, self.rules[index].interval);
                    index
                })
                .collect()
        };
        // Conditions run outside the lock: they may read other locks (a monitor's snapshot),
        // and raise and resolve must never wait for them.
        let results: Vec<(usize, Option<bool>)> = due
            .into_iter()
            .map(|index| (index, self.rules[index].condition.holds()))
            .collect();
        let notices = {
            let mut state = self.lock();
            for (index, holds) in results {
                let rule = &self.rules[index];
                let Some(holds) = holds else {
                    tracing::error!(
                        target: "hardening_health::alert",
                        rule = rule.name(),
                        "an alerting rule's condition panicked; its state is kept until the next evaluation"
                    );
                    continue;
                };
                let firing = state.store.is_firing(&rule.alert);
                match state.rules[index].step(rule, holds, firing, now) {
                    Step::Nothing => {}
                    Step::Fire => {
                        if let Err(error) = self.raise_locked(&mut state, rule.alert.clone(), now) {
                            tracing::warn!(
                                target: "hardening_health::alert",
                                rule = rule.name(),
                                %error,
                                "an alerting rule could not fire"
                            );
                        }
                    }
                    Step::Resolve => {
                        self.resolve_locked(&mut state, rule.alert.name(), rule.alert.labels());
                    }
                }
            }
            let notices = state
                .store
                .flush(&self.routes, &self.receivers, &self.inhibit, now);
            #[cfg(feature = "metrics")]
            self.metrics.active(
                state
                    .rules
                    .iter()
                    .filter(|r| r.pending_since.is_some())
                    .count(),
                state.store.firing_count(),
            );
            notices
        };
        for (route, notice) in notices {
            for &sink in &self.route_sinks[route] {
                self.sinks[sink].offer(&notice);
            }
        }
    }
}

/// The background task: sleeps until the next flush or evaluation (or until a raise needs it
/// sooner), then ticks.
async fn drive(shared: Arc<Shared>) {
    let mut stop = shared.stop.subscribe();
    loop {
        let deadline = {
            let mut state = shared.lock();
            let deadline = shared.next_deadline(&state);
            state.scheduled = deadline;
            deadline
        };
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            () = shared.wake.notified() => {}
            () = sleep => {}
        }
        shared.tick(Instant::now());
    }
}

impl AlertManager {
    /// A builder with no sinks, no rules, and the default route.
    pub fn builder() -> AlertManagerBuilder {
        AlertManagerBuilder {
            sinks: Vec::new(),
            routes: Vec::new(),
            default_route: Route::default(),
            inhibit: Vec::new(),
            rules: Vec::new(),
            max_alerts: DEFAULT_MAX_ALERTS,
            max_silences: DEFAULT_MAX_SILENCES,
            history_limit: DEFAULT_HISTORY_LIMIT,
        }
    }

    /// Fires an alert now, or updates its severity and summary if it fires already (alerts
    /// are the same when their name and labels are). An alert that resolved and is raised
    /// again starts a new episode, and joins a group in every route that takes it again.
    ///
    /// A new severity is routed again, as Alertmanager routes an alert whose labels changed:
    /// the alert joins a group in every route that takes it now (an escalation reaches an
    /// `oncall` route matching `severity=~"critical|emergency"`), and the change is news for
    /// every group that holds it, which notifies it again at its next flush. A group whose
    /// route no longer takes it is told, at its next flush, that the alert as it knew it
    /// (the old severity) resolved, if the route sends resolve notices and had told its
    /// sinks the alert fired. A new summary alone is not news.
    ///
    /// This is how other parts of a service alert directly: a performance threshold crossed,
    /// a recovery ladder exhausted. It takes a short lock and never waits on anything else.
    ///
    /// Fails, without changing anything, for an empty name, a bad label name, a label named
    /// `alertname` or `severity`, an empty label value, a new alert beyond the manager's
    /// limit, or after [`shutdown`](Self::shutdown) ([`AlertError::ShutDown`]).
    pub fn raise(&self, alert: Alert) -> Result<(), AlertError> {
        alert.validate()?;
        self.running()?;
        let wake = {
            let mut state = self.shared.lock();
            self.shared
                .raise_locked(&mut state, alert, Instant::now())?
        };
        if wake {
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    /// Resolves the firing alert with this name and these labels; returns whether one was
    /// firing. Its resolve notice goes out at its group's next flush.
    pub fn resolve(&self, name: &str, labels: &Labels) -> bool {
        let mut state = self.shared.lock();
        self.shared.resolve_locked(&mut state, name, labels)
    }

    fn running(&self) -> Result<(), AlertError> {
        if *self.shared.stop.borrow() {
            return Err(AlertError::ShutDown);
        }
        Ok(())
    }

    /// Adds a silence; it mutes matching alerts from its start to its end, then expires.
    ///
    /// Fails when the manager holds its limit of silences already
    /// ([`AlertError::TooManySilences`]; see [`AlertManagerBuilder::max_silences`]), for a
    /// start so far ahead that its end cannot be counted (field `starts_at`), or after
    /// [`shutdown`](Self::shutdown).
    pub fn silence(&self, silence: Silence) -> Result<SilenceId, AlertError> {
        self.running()?;
        self.shared
            .lock()
            .store
            .add_silence(silence, Instant::now())
    }

    /// Ends a silence early; returns whether it existed. Alerts it muted go out at their
    /// group's next flush.
    pub fn expire_silence(&self, id: SilenceId) -> bool {
        self.shared.lock().store.expire_silence(id)
    }

    /// The silences in force or yet to start.
    pub fn silences(&self) -> Vec<SilenceView> {
        self.shared.lock().store.silences(Instant::now())
    }

    /// Firing alerts, and rules' pending alerts, ordered by name and labels.
    pub fn active(&self) -> Vec<ActiveAlert> {
        let now = Instant::now();
        let mut active = self.active_locked(&mut self.shared.lock(), now);
        sort_active(&mut active);
        active
    }

    fn active_locked(&self, state: &mut State, now: Instant) -> Vec<ActiveAlert> {
        let mut active: Vec<ActiveAlert> = state
            .store
            .active(&self.shared.inhibit, now)
            .into_iter()
            .map(|(alert, silenced_by, inhibited)| ActiveAlert {
                fingerprint: alert.fingerprint(),
                alert,
                silenced_by,
                inhibited,
            })
            .collect();
        for (rule, runtime) in self.shared.rules.iter().zip(&state.rules) {
            if let Some(alert) = runtime.pending(rule) {
                active.push(ActiveAlert {
                    fingerprint: alert.fingerprint(),
                    alert,
                    silenced_by: Vec::new(),
                    inhibited: false,
                });
            }
        }
        active
    }

    /// Recently resolved alerts, oldest first, at most the history limit.
    pub fn history(&self) -> Vec<Alert> {
        self.shared.lock().store.history()
    }

    /// The groups that hold alerts now.
    pub fn groups(&self) -> Vec<GroupView> {
        let mut groups = self.groups_locked(&self.shared.lock());
        sort_groups(&mut groups);
        groups
    }

    fn groups_locked(&self, state: &State) -> Vec<GroupView> {
        state
            .store
            .groups()
            .map(|(route, labels, alerts, notified)| GroupView {
                receiver: self.shared.receivers[route].to_string(),
                labels: labels.clone(),
                alerts,
                notified,
            })
            .collect()
    }

    /// How much the manager holds: alerts, groups, silences, history, and how many resolved
    /// alerts were dropped to make room.
    pub fn counts(&self) -> AlertCounts {
        self.shared.lock().store.sizes(Instant::now())
    }

    /// What each sink did, in the order the sinks were added.
    pub fn sink_stats(&self) -> Vec<SinkStats> {
        self.shared.sinks.iter().map(SinkSlot::stats).collect()
    }

    /// Everything at once: active alerts, history, silences, groups and counts, read under
    /// one lock so they agree with each other, and what the sinks did.
    pub fn status(&self) -> AlertsStatus {
        let now = Instant::now();
        let mut state = self.shared.lock();
        let mut active = self.active_locked(&mut state, now);
        let history = state.store.history();
        let silences = state.store.silences(now);
        let mut groups = self.groups_locked(&state);
        let counts = state.store.sizes(now);
        drop(state);
        sort_active(&mut active);
        sort_groups(&mut groups);
        AlertsStatus {
            active,
            history,
            silences,
            groups,
            sinks: self.sink_stats(),
            counts,
        }
    }

    /// Stops gracefully: rules stop and groups stop flushing at once, and
    /// [`raise`](Self::raise) fails from then on ([`AlertError::ShutDown`]); each sink gets
    /// `grace` to deliver what is already queued, then is stopped (a grace past what tokio's
    /// clock can count waits for the sinks to finish). Calling it again, or from another
    /// handle, waits for nothing more.
    pub async fn shutdown(&self, grace: Duration) {
        self.shared.stop.send_replace(true);
        let tasks = std::mem::take(&mut *lock(&self.shared.tasks));
        let mut tasks = tasks.into_iter();
        if let Some(driver) = tasks.next() {
            let _ = driver.await;
        }
        for sink in &self.shared.sinks {
            sink.close();
        }
        let sinks: Vec<JoinHandle<()>> = tasks.collect();
        // A grace too long for the clock (`Duration::MAX`) waits as long as the sinks take:
        // each send is bounded by its sink's timeout, and the queues are closed.
        let deadline = Instant::now().checked_add(grace);
        for task in sinks {
            let abort = task.abort_handle();
            match deadline {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, task).await.is_err() {
                        abort.abort();
                    }
                }
                None => {
                    let _ = task.await;
                }
            }
        }
    }
}

fn sort_active(active: &mut [ActiveAlert]) {
    active.sort_by(|a, b| {
        (a.alert.name(), a.alert.labels()).cmp(&(b.alert.name(), b.alert.labels()))
    });
}

fn sort_groups(groups: &mut [GroupView]) {
    groups.sort_by(|a, b| (&a.receiver, &a.labels).cmp(&(&b.receiver, &b.labels)));
}
