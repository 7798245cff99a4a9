//! Where notifications go: the [`AlertSink`] trait, the log and channel sinks, and the
//! per-sink task, queue and rate limit that keep one sink from holding up another.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::num::NonZeroU32;
use std::ops::Add;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use serde::{Serialize, Serializer};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Alert, AlertState, Fingerprint, Labels, MAX_DURATION};
use crate::error::human;
use crate::monitor::{AbortOnDrop, panic_message};
use crate::{BoxError, ConfigError};

/// Where notifications go: a log, a webhook, a channel, a pager.
///
/// The trait is object-safe (the manager keeps sinks as `Arc<dyn AlertSink>`); implement it
/// with [`async_trait`](macro@crate::async_trait). Each sink runs on a task of its own and
/// gets notifications one at a time from a bounded queue, each under the sink's timeout
/// ([`SinkOptions`]), so a slow, failing or hanging sink delays only itself. An `Err` or a
/// panic counts as a failure ([`SinkStats::failed`]); retrying is the sink's own business
/// (the webhook sink retries).
///
/// ```
/// use hardening_health::alert::{AlertSink, Notification};
/// use hardening_health::{async_trait, BoxError};
///
/// struct Pager;
///
/// #[async_trait]
/// impl AlertSink for Pager {
///     async fn send(&self, notification: &Notification) -> Result<(), BoxError> {
///         for alert in notification.alerts() {
///             println!("{} {}: {}", notification.status(), alert.name(), alert.summary());
///         }
///         Ok(())
///     }
/// }
/// # let _ = Pager;
/// ```
#[async_trait]
pub trait AlertSink: Send + Sync {
    /// Delivers one notification.
    async fn send(&self, notification: &Notification) -> Result<(), BoxError>;
}

#[async_trait]
impl<T: AlertSink + ?Sized> AlertSink for &T {
    async fn send(&self, notification: &Notification) -> Result<(), BoxError> {
        (**self).send(notification).await
    }
}

#[async_trait]
impl<T: AlertSink + ?Sized> AlertSink for Box<T> {
    async fn send(&self, notification: &Notification) -> Result<(), BoxError> {
        (**self).send(notification).await
    }
}

#[async_trait]
impl<T: AlertSink + ?Sized> AlertSink for Arc<T> {
    async fn send(&self, notification: &Notification) -> Result<(), BoxError> {
        (**self).send(notification).await
    }
}

/// One message about one group: its firing alerts, and its resolved ones when the route sends
/// resolve notices.
///
/// It serializes as Alertmanager's webhook payload (version 4), so a receiver written for
/// Alertmanager reads it: `status`, `receiver`, `groupKey`, `groupLabels`, `commonLabels`,
/// `commonAnnotations`, and `alerts[]` with `status`, `labels` (with `alertname` and
/// `severity`), `annotations` (`summary`), `startsAt`, `endsAt` and `fingerprint`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub(crate) receiver: Arc<str>,
    pub(crate) group_key: String,
    pub(crate) group_labels: Labels,
    pub(crate) alerts: Vec<Alert>,
}

impl Notification {
    /// The route's receiver name.
    pub fn receiver(&self) -> &str {
        &self.receiver
    }

    /// The group's identity: the receiver and the group labels, as in Alertmanager
    /// (`default:{service="db"}`).
    pub fn group_key(&self) -> &str {
        &self.group_key
    }

    /// `Firing` if any alert in it fires, else `Resolved`.
    pub fn status(&self) -> AlertState {
        if self.alerts.iter().any(|a| a.state() == AlertState::Firing) {
            AlertState::Firing
        } else {
            AlertState::Resolved
        }
    }

    /// The values of the route's `group_by` labels that this group shares.
    pub fn group_labels(&self) -> &Labels {
        &self.group_labels
    }

    /// The alerts: the firing ones, then the resolved ones, each ordered by fingerprint.
    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }

    /// The firing alerts.
    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts
            .iter()
            .filter(|a| a.state() == AlertState::Firing)
    }

    /// The resolved alerts.
    pub fn resolved(&self) -> impl Iterator<Item = &Alert> {
        self.alerts
            .iter()
            .filter(|a| a.state() == AlertState::Resolved)
    }

    /// The labels (pseudo-labels included) every alert has with the same value.
    pub fn common_labels(&self) -> Labels {
        self.common_wire_labels()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn common_wire_labels(&self) -> BTreeMap<&str, &str> {
        let mut alerts = self.alerts.iter();
        let Some(first) = alerts.next() else {
            return BTreeMap::new();
        };
        let mut common = first.wire_labels();
        for alert in alerts {
            let labels = alert.wire_labels();
            common.retain(|k, v| labels.get(k) == Some(v));
        }
        common
    }
}

/// Go's zero time, which Alertmanager sends as `endsAt` of an alert still firing.
const NOT_ENDED: &str = "0001-01-01T00:00:00Z";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireNotification<'a> {
    version: &'static str,
    group_key: &'a str,
    truncated_alerts: u32,
    status: AlertState,
    receiver: &'a str,
    group_labels: &'a Labels,
    common_labels: BTreeMap<&'a str, &'a str>,
    common_annotations: BTreeMap<&'static str, &'a str>,
    #[serde(rename = "externalURL")]
    external_url: &'static str,
    alerts: Vec<WireAlert<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireAlert<'a> {
    status: AlertState,
    labels: BTreeMap<&'a str, &'a str>,
    annotations: BTreeMap<&'static str, &'a str>,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'static str,
    fingerprint: Fingerprint,
}

fn annotations(alert: &Alert) -> BTreeMap<&'static str, &str> {
    let mut annotations = BTreeMap::new();
    if !alert.summary().is_empty() {
        annotations.insert("summary", alert.summary());
    }
    annotations
}

impl Serialize for Notification {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut common_annotations = self.alerts.first().map(annotations).unwrap_or_default();
        for alert in self.alerts.iter().skip(1) {
            let other = annotations(alert);
            common_annotations.retain(|k, v| other.get(k) == Some(v));
        }
        WireNotification {
            version: "4",
            group_key: &self.group_key,
            truncated_alerts: 0,
            status: self.status(),
            receiver: &self.receiver,
            group_labels: &self.group_labels,
            common_labels: self.common_wire_labels(),
            common_annotations,
            external_url: "",
            alerts: self
                .alerts
                .iter()
                .map(|alert| WireAlert {
                    status: alert.state(),
                    labels: alert.wire_labels(),
                    annotations: annotations(alert),
                    starts_at: crate::render::rfc3339(alert.started_at()),
                    ends_at: alert
                        .ended_at()
                        .map_or_else(|| NOT_ENDED.to_string(), crate::render::rfc3339),
                    generator_url: "",
                    fingerprint: alert.fingerprint(),
                })
                .collect(),
        }
        .serialize(serializer)
    }
}

/// Labels as Prometheus prints them: `{a="1", b="2"}`.
pub(crate) fn labels_text(labels: &Labels) -> String {
    let mut text = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "{name}={value:?}");
    }
    text.push('}');
    text
}

/// Writes every alert of a notification as a `tracing` event with target
/// `hardening_health::alert`: firing alerts at INFO (info), WARN (warning) or ERROR (critical,
/// emergency); resolved alerts at INFO. Fields: `receiver`, `status`, `alertname`,
/// `severity`, `labels`, `summary`, `fingerprint`.
///
/// ```
/// use hardening_health::alert::{AlertManager, LogSink, SinkOptions};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), hardening_health::ConfigError> {
/// let alerts = AlertManager::builder()
///     .sink("log", LogSink::new(), SinkOptions::default())
///     .build()?;
/// # let _ = alerts;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSink {
    _private: (),
}

impl LogSink {
    /// A sink that logs through `tracing`.
    pub fn new() -> LogSink {
        LogSink { _private: () }
    }
}

macro_rules! log_alert {
    ($level:expr, $notification:expr, $alert:expr, $message:literal) => {
        tracing::event!(
            target: "hardening_health::alert",
            $level,
            receiver = $notification.receiver(),
            status = $alert.state().as_str(),
            alertname = $alert.name(),
            severity = $alert.severity().as_str(),
            labels = %labels_text($alert.labels()),
            summary = $alert.summary(),
            fingerprint = %$alert.fingerprint(),
            $message
        )
    };
}

#[async_trait]
impl AlertSink for LogSink {
    async fn send(&self, notification: &Notification) -> Result<(), BoxError> {
        use super::Severity;
        use tracing::Level;
        for alert in notification.alerts() {
            match (alert.state(), alert.severity()) {
                (AlertState::Resolved, _) => {
                    log_alert!(Level::INFO, notification, alert, "alert resolved")
                }
                (_, Severity::Info) => log_alert!(Level::INFO, notification, alert, "alert firing"),
                (_, Severity::Warning) => {
                    log_alert!(Level::WARN, notification, alert, "alert firing")
                }
                (_, Severity::Critical | Severity::Emergency) => {
                    log_alert!(Level::ERROR, notification, alert, "alert firing")
                }
            }
        }
        Ok(())
    }
}

/// Hands notifications to a `tokio::sync::mpsc` receiver in the same process: for a status
/// page, an escalation task, or a test.
///
/// The channel is bounded; while the receiver is not reading, sending waits (up to the sink's
/// timeout) and the sink's own queue takes the rest, then counts what overflows. A dropped
/// receiver makes every send a failure.
///
/// ```
/// use hardening_health::alert::ChannelSink;
///
/// let (sink, mut notifications) = ChannelSink::new(16)?;
/// # let _ = (sink, notifications.try_recv());
/// assert_eq!(ChannelSink::new(0).unwrap_err().field(), "capacity");
/// # Ok::<(), hardening_health::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ChannelSink {
    sender: mpsc::Sender<Notification>,
}

impl ChannelSink {
    /// A sink and the receiver its notifications arrive on; `capacity` (at least 1) is how
    /// many may wait unread.
    pub fn new(
        capacity: usize,
    ) -> Result<(ChannelSink, mpsc::Receiver<Notification>), ConfigError> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(ConfigError::new(
                "capacity",
                capacity,
                "at least 1 notification (and at most usize::MAX >> 3)",
            ));
        }
        let (sender, receiver) = mpsc::channel(capacity);
        Ok((ChannelSink { sender }, receiver))
    }
}

/// tokio's bound on a channel's capacity (its semaphore's `MAX_PERMITS`).
const MAX_CAPACITY: usize = usize::MAX >> 3;

#[async_trait]
impl AlertSink for ChannelSink {
    async fn send(&self, notification: &Notification) -> Result<(), BoxError> {
        self.sender
            .send(notification.clone())
            .await
            .map_err(|_| "the channel's receiver was dropped".into())
    }
}

/// How the manager feeds one sink. Build with [`SinkOptions::builder`];
/// `SinkOptions::default()` is the defaults below.
///
/// | setting | default | why |
/// |---|---|---|
/// | buffer | 64 notifications | a sink that stalls holds a few minutes of busy grouping, then overflow is counted |
/// | timeout | 30 s | above the webhook sink's own retries (3 tries of 5 s with backoff), so its retries finish |
/// | rate_limit | none | |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkOptions {
    pub(crate) buffer: usize,
    pub(crate) timeout: Duration,
    pub(crate) rate_limit: Option<(u32, Duration)>,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            buffer: 64,
            timeout: Duration::from_secs(30),
            rate_limit: None,
        }
    }
}

impl SinkOptions {
    /// A builder starting from the defaults.
    pub fn builder() -> SinkOptionsBuilder {
        SinkOptionsBuilder {
            options: SinkOptions::default(),
        }
    }

    /// How many notifications may wait for the sink.
    pub fn buffer(&self) -> usize {
        self.buffer
    }

    /// How long one send may take before it is abandoned and counted as failed.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// At most this many notifications per this period, if limited.
    pub fn rate_limit(&self) -> Option<(u32, Duration)> {
        self.rate_limit
    }
}

/// Builds [`SinkOptions`]; [`build`](Self::build) checks every setting.
///
/// ```
/// use std::time::Duration;
/// use hardening_health::alert::SinkOptions;
///
/// let pager = SinkOptions::builder()
///     .rate_limit(10, Duration::from_secs(60)) // at most 10 pages a minute
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(pager.rate_limit(), Some((10, Duration::from_secs(60))));
/// assert_eq!(SinkOptions::builder().buffer(0).build().unwrap_err().field(), "buffer");
/// # Ok::<(), hardening_health::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct SinkOptionsBuilder {
    options: SinkOptions,
}

impl SinkOptionsBuilder {
    /// How many notifications may wait for the sink (at least 1); more are dropped and
    /// counted as `queue_full`. Default 64.
    pub fn buffer(mut self, notifications: usize) -> Self {
        self.options.buffer = notifications;
        self
    }

    /// How long one send may take (above zero) before it is abandoned and counted as a
    /// failure. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// At most `notifications` per `per`, with bursts of up to `notifications` (a GCRA limit
    /// through `governor`); the excess is dropped and counted as `rate_limited`. `per` is at
    /// most [`MAX_DURATION`](crate::alert::MAX_DURATION) (a year). Default: no limit.
    pub fn rate_limit(mut self, notifications: u32, per: Duration) -> Self {
        self.options.rate_limit = Some((notifications, per));
        self
    }

    /// Checks every setting and returns the options, or the first setting that is wrong.
    pub fn build(self) -> Result<SinkOptions, ConfigError> {
        let o = &self.options;
        if o.buffer == 0 || o.buffer > MAX_CAPACITY {
            return Err(ConfigError::new(
                "buffer",
                o.buffer,
                "at least 1 notification (and at most usize::MAX >> 3)",
            ));
        }
        if o.timeout.is_zero() {
            return Err(ConfigError::new(
                "timeout",
                human(o.timeout),
                "a duration above zero",
            ));
        }
        if let Some((notifications, per)) = o.rate_limit {
            if notifications == 0 {
                return Err(ConfigError::new(
                    "rate_limit.notifications",
                    0,
                    "at least 1 notification per period",
                ));
            }
            if per > MAX_DURATION {
                return Err(ConfigError::new(
                    "rate_limit.per",
                    human(per),
                    "a period of at most 365 days",
                ));
            }
            if (per / notifications).is_zero() {
                return Err(ConfigError::new(
                    "rate_limit.per",
                    human(per),
                    format!(
                        "a period of at least {notifications} ns, so each notification's share is above zero"
                    ),
                ));
            }
        }
        Ok(self.options)
    }
}

/// What one sink did, counted since the manager started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SinkStats {
    /// The sink's name.
    pub name: String,
    /// Notifications it delivered.
    pub sent: u64,
    /// Notifications it failed to deliver: an error, a panic, or past its timeout.
    pub failed: u64,
    /// Notifications dropped by its rate limit.
    pub rate_limited: u64,
    /// Notifications dropped because its queue was full (it was too slow, or hung).
    pub queue_full: u64,
}

/// Why a send failed, as the metrics label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    Error,
    Timeout,
    Panic,
}

impl Failure {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code, reason = "metrics labels"))]
    pub(crate) const ALL: [Failure; 3] = [Failure::Error, Failure::Timeout, Failure::Panic];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Failure::Error => "error",
            Failure::Timeout => "timeout",
            Failure::Panic => "panic",
        }
    }
}

/// Why a notification never reached a sink, as the metrics label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dropped {
    RateLimited,
    QueueFull,
}

impl Dropped {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code, reason = "metrics labels"))]
    pub(crate) const ALL: [Dropped; 2] = [Dropped::RateLimited, Dropped::QueueFull];

    #[cfg_attr(not(feature = "metrics"), allow(dead_code, reason = "metrics labels"))]
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Dropped::RateLimited => "rate_limited",
            Dropped::QueueFull => "queue_full",
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    rate_limited: AtomicU64,
    queue_full: AtomicU64,
    #[cfg(feature = "metrics")]
    metrics: Option<crate::metrics::SinkHandles>,
}

impl Counters {
    fn sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.sent();
        }
    }

    fn failed(&self, reason: Failure) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.failed(reason);
        }
        let _ = reason;
    }

    fn dropped(&self, reason: Dropped) {
        match reason {
            Dropped::RateLimited => &self.rate_limited,
            Dropped::QueueFull => &self.queue_full,
        }
        .fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.dropped(reason);
        }
    }
}

/// governor's clock on tokio time, so a rate limit is tested under `tokio::time::pause()`.
#[derive(Debug, Clone, Copy, Default)]
struct TokioClock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TokioInstant(Instant);

impl Add<Nanos> for TokioInstant {
    type Output = TokioInstant;

    fn add(self, nanos: Nanos) -> TokioInstant {
        TokioInstant(self.0 + Duration::from(nanos))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        Nanos::from(self.0.saturating_duration_since(earlier.0))
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        self.0
            .checked_sub(Duration::from(duration))
            .map_or(*self, TokioInstant)
    }
}

impl Clock for TokioClock {
    type Instant = TokioInstant;

    fn now(&self) -> TokioInstant {
        TokioInstant(Instant::now())
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>;

/// The manager's side of one sink: its queue, its rate limit and its counts.
pub(crate) struct SinkSlot {
    name: String,
    /// `None` once the manager has shut down, which closes the queue.
    queue: Mutex<Option<mpsc::Sender<Arc<Notification>>>>,
    limiter: Option<Limiter>,
    counters: Arc<Counters>,
}

impl fmt::Debug for SinkSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkSlot")
            .field("name", &self.name)
            .field("rate_limited", &self.limiter.is_some())
            .finish_non_exhaustive()
    }
}

impl SinkSlot {
    /// Starts the sink's task on `runtime` and returns the slot that feeds it.
    pub(crate) fn start(
        runtime: &tokio::runtime::Handle,
        name: String,
        sink: Arc<dyn AlertSink>,
        options: &SinkOptions,
    ) -> (SinkSlot, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(options.buffer);
        let counters = Arc::new(Counters {
            #[cfg(feature = "metrics")]
            metrics: Some(crate::metrics::SinkHandles::new(&name)),
            ..Counters::default()
        });
        let limiter = options.rate_limit.and_then(|(notifications, per)| {
            let burst = NonZeroU32::new(notifications)?;
            let quota = Quota::with_period(per / notifications)?.allow_burst(burst);
            Some(RateLimiter::direct_with_clock(quota, TokioClock))
        });
        let task = runtime.spawn(deliver(
            sink,
            receiver,
            options.timeout,
            Arc::clone(&counters),
            name.clone(),
        ));
        let slot = SinkSlot {
            name,
            queue: Mutex::new(Some(sender)),
            limiter,
            counters,
        };
        (slot, task)
    }

    /// Queues a notification without waiting: a full queue or the rate limit drops it, and
    /// the drop is counted.
    pub(crate) fn offer(&self, notification: &Arc<Notification>) {
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(queue) = queue.as_ref() else {
            return;
        };
        // Reserve first, so a notification the queue cannot take does not use up the rate.
        let Ok(permit) = queue.try_reserve() else {
            self.counters.dropped(Dropped::QueueFull);
            return;
        };
        if self.limiter.as_ref().is_some_and(|l| l.check().is_err()) {
            self.counters.dropped(Dropped::RateLimited);
            return;
        }
        permit.send(Arc::clone(notification));
    }

    /// Closes the queue: the task delivers what is queued, then ends.
    pub(crate) fn close(&self) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    pub(crate) fn stats(&self) -> SinkStats {
        let c = &self.counters;
        SinkStats {
            name: self.name.clone(),
            sent: c.sent.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            rate_limited: c.rate_limited.load(Ordering::Relaxed),
            queue_full: c.queue_full.load(Ordering::Relaxed),
        }
    }
}

/// The sink's task: one notification at a time, each on a task of its own (so a panic is a
/// counted failure, not the end of the sink) under the timeout.
async fn deliver(
    sink: Arc<dyn AlertSink>,
    mut queue: mpsc::Receiver<Arc<Notification>>,
    timeout: Duration,
    counters: Arc<Counters>,
    name: String,
) {
    while let Some(notification) = queue.recv().await {
        let sink = Arc::clone(&sink);
        let mut run = AbortOnDrop(tokio::spawn(async move { sink.send(&notification).await }));
        let failure = match tokio::time::timeout(timeout, &mut run.0).await {
            Ok(Ok(Ok(()))) => {
                counters.sent();
                continue;
            }
            Ok(Ok(Err(error))) => (Failure::Error, error.to_string()),
            Ok(Err(join)) if join.is_panic() => (Failure::Panic, panic_message(join.into_panic())),
            Ok(Err(_)) => (Failure::Error, "the send was cancelled".to_string()),
            Err(_) => (
                Failure::Timeout,
                format!("no answer within {}", human(timeout)),
            ),
        };
        counters.failed(failure.0);
        tracing::warn!(
            target: "hardening_health::alert",
            sink = %name,
            reason = failure.0.as_str(),
            error = %failure.1,
            "an alert notification was not delivered"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;
    use std::time::SystemTime;

    fn notification() -> Notification {
        let mut db = Alert::new("ServiceDown", Severity::Critical)
            .with_label("service", "db")
            .with_label("zone", "a")
            .with_summary("db is down");
        db.set_firing(SystemTime::UNIX_EPOCH);
        let mut api = Alert::new("ServiceDown", Severity::Critical)
            .with_label("service", "api")
            .with_label("zone", "a")
            .with_summary("api is down");
        api.set_firing(SystemTime::UNIX_EPOCH);
        api.set_resolved(SystemTime::UNIX_EPOCH + Duration::from_secs(90));
        Notification {
            receiver: "default".into(),
            group_key: "default:{alertname=\"ServiceDown\"}".into(),
            group_labels: Labels::from([("alertname".into(), "ServiceDown".into())]),
            alerts: vec![db, api],
        }
    }

    #[test]
    fn serializes_as_alertmanagers_webhook_payload() {
        let n = notification();
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(json["version"], "4");
        assert_eq!(json["status"], "firing");
        assert_eq!(json["receiver"], "default");
        assert_eq!(json["groupKey"], "default:{alertname=\"ServiceDown\"}");
        assert_eq!(
            json["groupLabels"],
            serde_json::json!({"alertname": "ServiceDown"})
        );
        assert_eq!(
            json["commonLabels"],
            serde_json::json!({"alertname": "ServiceDown", "severity": "critical", "zone": "a"})
        );
        assert_eq!(json["commonAnnotations"], serde_json::json!({}));
        let first = &json["alerts"][0];
        assert_eq!(first["status"], "firing");
        assert_eq!(first["labels"]["service"], "db");
        assert_eq!(first["annotations"]["summary"], "db is down");
        assert_eq!(first["startsAt"], "1970-01-01T00:00:00.000Z");
        assert_eq!(first["endsAt"], NOT_ENDED);
        assert_eq!(
            first["fingerprint"],
            n.alerts()[0].fingerprint().to_string()
        );
        assert_eq!(json["alerts"][1]["status"], "resolved");
        assert_eq!(json["alerts"][1]["endsAt"], "1970-01-01T00:01:30.000Z");
        assert_eq!(n.firing().count(), 1);
        assert_eq!(n.resolved().count(), 1);
        assert_eq!(n.common_labels().get("zone").map(String::as_str), Some("a"));
        assert_eq!(
            labels_text(n.alerts()[0].labels()),
            "{service=\"db\", zone=\"a\"}"
        );
    }

    #[test]
    fn every_bad_option_names_its_field() {
        let cases = [
            (SinkOptions::builder().buffer(0), "buffer"),
            (SinkOptions::builder().timeout(Duration::ZERO), "timeout"),
            (
                SinkOptions::builder().rate_limit(0, Duration::from_secs(1)),
                "rate_limit.notifications",
            ),
            (
                SinkOptions::builder().rate_limit(10, Duration::ZERO),
                "rate_limit.per",
            ),
            (
                SinkOptions::builder().rate_limit(1, MAX_DURATION + Duration::from_nanos(1)),
                "rate_limit.per",
            ),
            (
                SinkOptions::builder().rate_limit(1, Duration::MAX),
                "rate_limit.per",
            ),
        ];
        for (builder, field) in cases {
            assert_eq!(builder.build().unwrap_err().field(), field);
        }
        assert_eq!(
            SinkOptions::builder().build().unwrap(),
            SinkOptions::default()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_limit_runs_on_tokio_time() {
        let quota = Quota::with_period(Duration::from_secs(30))
            .unwrap()
            .allow_burst(NonZeroU32::new(2).unwrap());
        let limiter: Limiter = RateLimiter::direct_with_clock(quota, TokioClock);
        assert!(limiter.check().is_ok());
        assert!(limiter.check().is_ok());
        assert!(limiter.check().is_err());
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(limiter.check().is_ok());
        assert!(limiter.check().is_err());
    }
}
