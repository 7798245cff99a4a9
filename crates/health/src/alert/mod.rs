//! Alerts: rules that turn conditions into alerts, and Alertmanager's routing in-process:
//! grouping, inhibition, silences, rate limits and sinks.
//!
//! The model is Prometheus alerting rules plus Alertmanager, without the network between them:
//!
//! ```text
//!  Rule (condition every interval, `for`, `keep_firing_for`) ─┐
//!  AlertManager::raise / resolve (other crates' events) ──────┴─▶ active alerts
//!  active alerts ──routes (matchers, group_by)──▶ groups
//!  groups ──group_wait, group_interval, repeat_interval; silences; inhibition──▶ notifications
//!  notifications ──per sink: rate limit, bounded queue, timeout──▶ log / webhook / channel
//! ```
//!
//! [`AlertManager`] owns the state behind a short lock; [`AlertManager::raise`] and
//! [`AlertManager::resolve`] never wait on anything else, and a background task evaluates the
//! rules and flushes the groups on tokio time, so tests run under `tokio::time::pause()`. Each
//! sink has its own task and bounded queue: a failing or hanging sink only loses its own
//! notifications, and those are counted ([`SinkStats`], and the `metrics` module).
//!
//! See `docs/alerts.md` for the Alertmanager concept each setting matches.

mod manager;
mod matcher;
mod route;
mod rule;
mod silence;
pub(crate) mod sink;
mod store;
#[cfg(feature = "webhook")]
mod webhook;

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize, Serializer};

use crate::ConfigError;

pub use manager::{
    ActiveAlert, AlertCounts, AlertError, AlertManager, AlertManagerBuilder, AlertsStatus,
    DEFAULT_HISTORY_LIMIT, DEFAULT_MAX_ALERTS, DEFAULT_MAX_SILENCES, GroupView,
};
pub use matcher::{MatchOp, Matcher};
pub use route::{InhibitRule, Route, RouteBuilder};
pub use rule::{Condition, Rule, RuleBuilder};
pub use silence::{Silence, SilenceBuilder, SilenceId, SilenceView};
pub use sink::{
    AlertSink, ChannelSink, LogSink, Notification, SinkOptions, SinkOptionsBuilder, SinkStats,
};
#[cfg(feature = "webhook")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhook")))]
pub use webhook::{WebhookSink, WebhookSinkBuilder};

/// The longest duration any alert setting accepts: 365 days. It bounds silences, group
/// waits and intervals, repeat intervals, rule intervals, `for`, `keep_firing_for` and rate
/// limit periods: longer is a mistake (`Duration::MAX` for "never"), and tokio's clock cannot
/// count that far ahead.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The shortest rule interval: 10 ms. Conditions run one after another on the manager's
/// task, so a shorter interval only burns CPU (tokio's timer ticks in milliseconds anyway).
pub const MIN_RULE_INTERVAL: Duration = Duration::from_millis(10);

/// Checks a duration setting against `[min, MAX_DURATION]` (`min` zero: zero allowed;
/// `above_zero`: zero refused).
pub(crate) fn check_duration(
    field: &'static str,
    value: Duration,
    min: Duration,
    above_zero: bool,
) -> Result<(), ConfigError> {
    let accepted = if !min.is_zero() {
        format!(
            "a duration of at least {} and at most 365 days",
            crate::error::human(min)
        )
    } else if above_zero {
        "a duration above zero and at most 365 days".to_string()
    } else {
        "a duration of at most 365 days".to_string()
    };
    if value < min || (above_zero && value.is_zero()) || value > MAX_DURATION {
        return Err(ConfigError::new(
            field,
            crate::error::human(value),
            accepted,
        ));
    }
    Ok(())
}

/// An alert's labels: a sorted map, so that equal sets compare, print and hash the same.
pub type Labels = BTreeMap<String, String>;

/// The pseudo-label that matchers and `group_by` read an alert's name from, as in
/// Alertmanager.
pub const ALERTNAME: &str = "alertname";
/// The pseudo-label that matchers and `group_by` read an alert's severity from.
pub const SEVERITY: &str = "severity";

/// How urgent an alert is, from least to most: `Info < Warning < Critical < Emergency`.
///
/// ```
/// use hardening_health::alert::Severity;
/// assert!(Severity::Warning < Severity::Critical);
/// assert_eq!(Severity::Emergency.as_str(), "emergency");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nobody needs to act.
    Info,
    /// Someone should look during working hours.
    Warning,
    /// Someone should act now.
    Critical,
    /// The service is down or about to be: wake the operator.
    Emergency,
}

impl Severity {
    /// Every severity, from least to most urgent.
    pub const ALL: [Severity; 4] = [
        Severity::Info,
        Severity::Warning,
        Severity::Critical,
        Severity::Emergency,
    ];

    /// The lower-case name, which is also the `severity` pseudo-label's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
            Severity::Emergency => "emergency",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an alert is in its life, as in Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// A rule's condition holds but has not held for the rule's `for` yet. Pending alerts are
    /// shown, never notified.
    Pending,
    /// Active: notified through the routes.
    Firing,
    /// Over: a resolve notice goes to the sinks that were told it fired.
    Resolved,
}

impl AlertState {
    /// The lower-case name: `pending`, `firing` or `resolved`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stable 64-bit hash of an alert's name and labels (not its severity or summary), as
/// Alertmanager fingerprints its alerts, for display and for receivers. Raising an alert with
/// the same name and labels again updates the one alert. The manager finds alerts by this
/// hash but compares names and labels in full, so two alerts whose fingerprints collide stay
/// two alerts.
///
/// ```
/// use hardening_health::alert::{Alert, Severity};
/// let a = Alert::new("DiskFull", Severity::Critical).with_label("disk", "/data");
/// let b = Alert::new("DiskFull", Severity::Warning).with_label("disk", "/data");
/// assert_eq!(a.fingerprint(), b.fingerprint());
/// assert_eq!(a.fingerprint().to_string().len(), 16);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub(crate) u64);

impl Fingerprint {
    /// The fingerprint of the alert with this name and these labels.
    pub fn of(name: &str, labels: &Labels) -> Fingerprint {
        let mut hash = Fnv::new();
        hash.write(name.as_bytes());
        hash.write(&[0xff]);
        for (key, value) in labels {
            hash.write(key.as_bytes());
            hash.write(&[0xfe]);
            hash.write(value.as_bytes());
            hash.write(&[0xff]);
        }
        Fingerprint(hash.finish())
    }

    /// The hash as a number.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// FNV-1a: stable across processes and releases (unlike std's `RandomState`), so a
/// fingerprint sent to a webhook today matches tomorrow's.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) const fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub(crate) const fn finish(&self) -> u64 {
        self.0
    }
}

/// One alert: a name, labels, a severity and a summary, with when it started and where it is
/// in its life.
///
/// Build one with [`Alert::new`] and hand it to [`AlertManager::raise`]; the manager sets the
/// state and the start time. Serializes with its timestamps in RFC 3339.
///
/// ```
/// use hardening_health::alert::{Alert, AlertState, Severity};
///
/// let alert = Alert::new("RecoveryExhausted", Severity::Emergency)
///     .with_label("service", "payments")
///     .with_summary("every rung of the recovery ladder failed");
/// assert_eq!(alert.label("service"), Some("payments"));
/// assert_eq!(alert.label("alertname"), Some("RecoveryExhausted"));
/// assert_eq!(alert.state(), AlertState::Firing);
/// let json = serde_json::to_value(&alert)?;
/// assert_eq!(json["severity"], "emergency");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    name: String,
    labels: Labels,
    severity: Severity,
    summary: String,
    #[serde(serialize_with = "serialize_time")]
    started_at: SystemTime,
    #[serde(
        serialize_with = "serialize_optional_time",
        skip_serializing_if = "Option::is_none"
    )]
    ended_at: Option<SystemTime>,
    state: AlertState,
    #[serde(skip)]
    fingerprint: Fingerprint,
}

impl Alert {
    /// A firing alert with no labels and an empty summary, started now.
    pub fn new(name: impl Into<String>, severity: Severity) -> Alert {
        let name = name.into();
        let labels = Labels::new();
        Alert {
            fingerprint: Fingerprint::of(&name, &labels),
            name,
            labels,
            severity,
            summary: String::new(),
            started_at: SystemTime::now(),
            ended_at: None,
            state: AlertState::Firing,
        }
    }

    /// Adds or replaces a label. The names `alertname` and `severity` are taken by the
    /// pseudo-labels: [`AlertManager::raise`] refuses them, as it refuses an empty value.
    #[must_use]
    pub fn with_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Alert {
        self.labels.insert(name.into(), value.into());
        self.fingerprint = Fingerprint::of(&self.name, &self.labels);
        self
    }

    /// Adds or replaces several labels.
    #[must_use]
    pub fn with_labels<K: Into<String>, V: Into<String>>(
        mut self,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Alert {
        self.labels
            .extend(labels.into_iter().map(|(k, v)| (k.into(), v.into())));
        self.fingerprint = Fingerprint::of(&self.name, &self.labels);
        self
    }

    /// A one-line description for a person (Alertmanager's `summary` annotation).
    #[must_use]
    pub fn with_summary(mut self, summary: impl Into<String>) -> Alert {
        self.summary = summary.into();
        self
    }

    /// The alert's name (the `alertname` pseudo-label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The labels, without the pseudo-labels.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// A label's value, including the pseudo-labels `alertname` and `severity`; `None` when
    /// the alert has no such label.
    pub fn label(&self, name: &str) -> Option<&str> {
        match name {
            ALERTNAME => Some(&self.name),
            SEVERITY => Some(self.severity.as_str()),
            _ => self.labels.get(name).map(String::as_str),
        }
    }

    /// How urgent it is.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The one-line description.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// When it started firing (or, while pending, when its condition began to hold).
    pub fn started_at(&self) -> SystemTime {
        self.started_at
    }

    /// When it was resolved, once it has been.
    pub fn ended_at(&self) -> Option<SystemTime> {
        self.ended_at
    }

    /// Where it is in its life.
    pub fn state(&self) -> AlertState {
        self.state
    }

    /// Its identity (name and labels).
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Every label including the pseudo-labels, as Alertmanager sends them.
    pub(crate) fn wire_labels(&self) -> BTreeMap<&str, &str> {
        let mut labels: BTreeMap<&str, &str> = self
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        labels.insert(ALERTNAME, &self.name);
        labels.insert(SEVERITY, self.severity.as_str());
        labels
    }

    /// Checks what a caller can get wrong: the name and the labels.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::new("name", "\"\"", "a non-empty alert name"));
        }
        for (name, value) in &self.labels {
            validate_label(name, value)?;
        }
        Ok(())
    }

    pub(crate) fn set_firing(&mut self, at: SystemTime) {
        self.state = AlertState::Firing;
        self.started_at = at;
        self.ended_at = None;
    }

    pub(crate) fn set_pending(&mut self, since: SystemTime) {
        self.state = AlertState::Pending;
        self.started_at = since;
        self.ended_at = None;
    }

    pub(crate) fn set_resolved(&mut self, at: SystemTime) {
        self.state = AlertState::Resolved;
        self.ended_at = Some(at);
    }

    /// Takes the severity and summary of a newer raise of the same alert.
    pub(crate) fn update_from(&mut self, newer: Alert) {
        self.severity = newer.severity;
        if self.summary != newer.summary {
            self.summary = newer.summary;
        }
    }
}

/// A label name as Prometheus accepts it: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn validate_label(name: &str, value: &str) -> Result<(), ConfigError> {
    let field = || format!("labels[{name:?}]");
    if !is_label_name(name) {
        return Err(ConfigError::new(
            field(),
            format!("{name:?}"),
            "a label name of letters, digits and '_', not starting with a digit",
        ));
    }
    if name == ALERTNAME || name == SEVERITY {
        return Err(ConfigError::new(
            field(),
            format!("{name:?}"),
            "a name other than alertname and severity (set by the alert's name and severity)",
        ));
    }
    if value.is_empty() {
        return Err(ConfigError::new(
            field(),
            "\"\"",
            "a non-empty value (a label with an empty value is the same as no label)",
        ));
    }
    Ok(())
}

fn serialize_time<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&crate::render::rfc3339(*time))
}

fn serialize_optional_time<S: Serializer>(
    time: &Option<SystemTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serialize_time(time, serializer),
        None => serializer.serialize_none(),
    }
}

/// A hasher for keys that are already hashes (fingerprints, group ids).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed with this; fold anything else in so it still works.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

pub(crate) type FastMap<V> =
    std::collections::HashMap<u64, V, std::hash::BuildHasherDefault<PassThrough>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_ignore_severity_and_summary() {
        let a = Alert::new("A", Severity::Info)
            .with_label("x", "1")
            .with_summary("s");
        let b = Alert::new("A", Severity::Critical).with_label("x", "1");
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(
            a.fingerprint(),
            Alert::new("A", Severity::Info)
                .with_label("x", "2")
                .fingerprint()
        );
        // The separators keep ("ab", {}) apart from ("a", {"b": ""})-like splits.
        assert_ne!(
            Fingerprint::of("ab", &Labels::new()),
            Fingerprint::of("a", &Labels::from([("b".into(), String::new())]))
        );
        // A constant: FNV-1a of "A\xff", so a webhook receiver can rely on it across releases.
        assert_eq!(
            Fingerprint::of("A", &Labels::new()).to_string(),
            format!("{:016x}", {
                let mut h = Fnv::new();
                h.write(b"A\xff");
                h.finish()
            })
        );
    }

    #[test]
    fn bad_names_and_labels_name_their_field() {
        let cases = [
            (Alert::new("", Severity::Info), "name"),
            (
                Alert::new("A", Severity::Info).with_label("1x", "v"),
                "labels[\"1x\"]",
            ),
            (
                Alert::new("A", Severity::Info).with_label("a-b", "v"),
                "labels[\"a-b\"]",
            ),
            (
                Alert::new("A", Severity::Info).with_label("severity", "v"),
                "labels[\"severity\"]",
            ),
            (
                Alert::new("A", Severity::Info).with_label("alertname", "v"),
                "labels[\"alertname\"]",
            ),
            (
                Alert::new("A", Severity::Info).with_label("x", ""),
                "labels[\"x\"]",
            ),
        ];
        for (alert, field) in cases {
            let err = alert.validate().unwrap_err();
            assert_eq!(err.field(), field, "{err}");
        }
        assert!(
            Alert::new("A", Severity::Info)
                .with_label("_ok9", "v")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn serializes_with_rfc3339_times_and_lowercase_enums() {
        let mut alert = Alert::new("A", Severity::Warning).with_label("x", "1");
        alert.set_firing(SystemTime::UNIX_EPOCH);
        let json = serde_json::to_value(&alert).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "name": "A", "labels": {"x": "1"}, "severity": "warning", "summary": "",
                "started_at": "1970-01-01T00:00:00.000Z", "state": "firing"
            })
        );
        alert.set_resolved(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(60));
        let json = serde_json::to_value(&alert).unwrap();
        assert_eq!(json["ended_at"], "1970-01-01T00:01:00.000Z");
        assert_eq!(json["state"], "resolved");
    }
}
