//! Routes (which alerts go together to which sinks, and how often) and inhibition rules.

use std::time::Duration;

use super::matcher::all_match;
use super::{ALERTNAME, Alert, Fnv, Labels, Matcher, SEVERITY, check_duration, is_label_name};
use crate::ConfigError;

/// The `group_by` value that groups by every label, as in Alertmanager.
const ALL_LABELS: &str = "...";

/// Where alerts go and how they are batched: Alertmanager's route and receiver in one.
///
/// An alert goes to the first route whose matchers it passes (and on to later ones while a
/// matched route says [`continue_matching`](RouteBuilder::continue_matching)); an alert no route
/// takes goes to the default route ([`AlertManagerBuilder::default_route`](crate::alert::AlertManagerBuilder::default_route)).
/// Within a route, alerts with the same values of the `group_by` labels form a group, and a
/// group is notified as one message:
///
/// - a new group waits `group_wait` so that alerts arriving together go out together;
/// - after that, the group is looked at every `group_interval`, and notified when an alert
///   started firing or (with `send_resolved`) resolved since the last notice;
/// - a group with nothing new is notified again once `repeat_interval` has passed.
///
/// | setting | default | Alertmanager |
/// |---|---|---|
/// | receiver | `default` | `receiver` (the name sinks see) |
/// | matchers | none (every alert) | `matchers` |
/// | group_by | none (one group per route) | `group_by` (`...` for every label) |
/// | group_wait | 30 s | `group_wait` |
/// | group_interval | 5 min | `group_interval` |
/// | repeat_interval | 4 h | `repeat_interval` |
/// | send_resolved | true | `send_resolved` |
/// | sinks | every sink | the receiver's integrations |
/// | continue_matching | false | `continue` |
///
/// ```
/// use std::time::Duration;
/// use hardening_health::alert::{Matcher, Route};
///
/// let pager = Route::builder("pager")
///     .matcher(Matcher::regex("severity", "critical|emergency")?)
///     .group_by(["alertname", "service"])
///     .group_wait(Duration::from_secs(10))
///     .sinks(["webhook"])
///     .build()?;
/// assert_eq!(pager.receiver(), "pager");
///
/// let err = Route::builder("x").group_interval(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.field(), "group_interval");
/// # Ok::<(), hardening_health::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub(crate) receiver: String,
    pub(crate) matchers: Vec<Matcher>,
    pub(crate) group_by: Vec<String>,
    pub(crate) group_by_all: bool,
    pub(crate) group_wait: Duration,
    pub(crate) group_interval: Duration,
    pub(crate) repeat_interval: Duration,
    pub(crate) send_resolved: bool,
    pub(crate) sinks: Vec<String>,
    pub(crate) continue_matching: bool,
}

impl Default for Route {
    fn default() -> Self {
        Route {
            receiver: "default".to_string(),
            matchers: Vec::new(),
            group_by: Vec::new(),
            group_by_all: false,
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(5 * 60),
            repeat_interval: Duration::from_secs(4 * 60 * 60),
            send_resolved: true,
            sinks: Vec::new(),
            continue_matching: false,
        }
    }
}

impl Route {
    /// A builder for a route whose notifications carry `receiver` as their receiver name.
    pub fn builder(receiver: impl Into<String>) -> RouteBuilder {
        RouteBuilder {
            route: Route {
                receiver: receiver.into(),
                ..Route::default()
            },
        }
    }

    /// The receiver name notifications carry.
    pub fn receiver(&self) -> &str {
        &self.receiver
    }

    /// The labels alerts are grouped by (`["..."]` for every label).
    pub fn group_by(&self) -> &[String] {
        &self.group_by
    }

    /// How long a new group waits before its first notice.
    pub fn group_wait(&self) -> Duration {
        self.group_wait
    }

    /// How often a group is looked at after its first notice.
    pub fn group_interval(&self) -> Duration {
        self.group_interval
    }

    /// How long before a group with nothing new is notified again.
    pub fn repeat_interval(&self) -> Duration {
        self.repeat_interval
    }

    /// Whether resolve notices are sent.
    pub fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    pub(crate) fn takes(&self, alert: &Alert) -> bool {
        all_match(&self.matchers, alert)
    }

    /// A group's identity within the manager: the route's index and the values of the
    /// `group_by` labels, hashed without allocating.
    pub(crate) fn group_id(&self, route_index: usize, alert: &Alert) -> u64 {
        let mut hash = Fnv::new();
        hash.write(&(route_index as u64).to_le_bytes());
        if self.group_by_all {
            hash.write(alert.name().as_bytes());
            hash.write(&[0xff]);
            for (name, value) in alert.labels() {
                hash.write(name.as_bytes());
                hash.write(&[0xfe]);
                hash.write(value.as_bytes());
                hash.write(&[0xff]);
            }
            hash.write(alert.severity().as_str().as_bytes());
        } else {
            for name in &self.group_by {
                match alert.label(name) {
                    Some(value) => {
                        hash.write(&[1]);
                        hash.write(value.as_bytes());
                    }
                    None => hash.write(&[0]),
                }
                hash.write(&[0xff]);
            }
        }
        hash.finish()
    }

    /// Whether `labels`, a group's labels in this route, are the alert's group (compared in
    /// full: the group's hash only finds candidates).
    pub(crate) fn is_group_of(&self, labels: &Labels, alert: &Alert) -> bool {
        if self.group_by_all {
            return labels.len() == alert.labels().len() + 2
                && labels.get(ALERTNAME).map(String::as_str) == Some(alert.name())
                && labels.get(SEVERITY).map(String::as_str) == Some(alert.severity().as_str())
                && alert
                    .labels()
                    .iter()
                    .all(|(name, value)| labels.get(name) == Some(value));
        }
        self.group_by
            .iter()
            .all(|name| labels.get(name).map(String::as_str) == alert.label(name))
    }

    /// The group's labels: the `group_by` labels the alert has.
    pub(crate) fn group_labels(&self, alert: &Alert) -> Labels {
        if self.group_by_all {
            return alert
                .wire_labels()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
        self.group_by
            .iter()
            .filter_map(|name| {
                alert
                    .label(name)
                    .map(|value| (name.clone(), value.to_string()))
            })
            .collect()
    }
}

/// Builds a [`Route`]; [`build`](Self::build) checks every setting.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RouteBuilder {
    route: Route,
}

impl RouteBuilder {
    /// Takes only alerts that pass this matcher too. Default: every alert.
    pub fn matcher(mut self, matcher: Matcher) -> Self {
        self.route.matchers.push(matcher);
        self
    }

    /// Takes only alerts that pass every one of these matchers.
    pub fn matchers(mut self, matchers: impl IntoIterator<Item = Matcher>) -> Self {
        self.route.matchers.extend(matchers);
        self
    }

    /// Groups alerts by these labels (`alertname` and `severity` included; `"..."` alone for
    /// every label). Default: none, so the route's alerts form one group.
    pub fn group_by<S: Into<String>>(mut self, labels: impl IntoIterator<Item = S>) -> Self {
        self.route.group_by.clear();
        for label in labels {
            let label = label.into();
            if !self.route.group_by.contains(&label) {
                self.route.group_by.push(label);
            }
        }
        self
    }

    /// How long a new group waits for more alerts before its first notice (at most
    /// [`MAX_DURATION`](crate::alert::MAX_DURATION), a year). Default 30 s; zero sends at the
    /// next flush, right away.
    pub fn group_wait(mut self, wait: Duration) -> Self {
        self.route.group_wait = wait;
        self
    }

    /// How often a group is looked at for changes after its first notice (above zero, at
    /// most a year). Default 5 min.
    pub fn group_interval(mut self, interval: Duration) -> Self {
        self.route.group_interval = interval;
        self
    }

    /// How long before a group with nothing new is notified again (above zero, at most a
    /// year). Default 4 h.
    /// It is checked at group flushes, so the repeat goes out at the first flush at least
    /// this long after the last notice.
    pub fn repeat_interval(mut self, interval: Duration) -> Self {
        self.route.repeat_interval = interval;
        self
    }

    /// Whether alerts that resolve are notified as resolved. Default true.
    pub fn send_resolved(mut self, send: bool) -> Self {
        self.route.send_resolved = send;
        self
    }

    /// The sinks, by the names given to
    /// [`AlertManagerBuilder::sink`](crate::alert::AlertManagerBuilder::sink), that get this
    /// route's notifications. Default: every sink.
    pub fn sinks<S: Into<String>>(mut self, sinks: impl IntoIterator<Item = S>) -> Self {
        self.route.sinks = sinks.into_iter().map(Into::into).collect();
        self
    }

    /// Whether an alert this route takes is also offered to the routes after it. Default
    /// false.
    pub fn continue_matching(mut self, go_on: bool) -> Self {
        self.route.continue_matching = go_on;
        self
    }

    /// Checks every setting and returns the route, or the first setting that is wrong.
    pub fn build(mut self) -> Result<Route, ConfigError> {
        let r = &mut self.route;
        if r.receiver.is_empty() {
            return Err(ConfigError::new("receiver", "\"\"", "a non-empty name"));
        }
        check_duration("group_wait", r.group_wait, Duration::ZERO, false)?;
        check_duration("group_interval", r.group_interval, Duration::ZERO, true)?;
        check_duration("repeat_interval", r.repeat_interval, Duration::ZERO, true)?;
        r.group_by_all = r.group_by.iter().any(|l| l == ALL_LABELS);
        if r.group_by_all && r.group_by.len() > 1 {
            return Err(ConfigError::new(
                "group_by",
                format!("{:?}", r.group_by),
                "\"...\" alone (every label), or label names without it",
            ));
        }
        if let Some(bad) = r
            .group_by
            .iter()
            .find(|l| l.as_str() != ALL_LABELS && !is_label_name(l))
        {
            return Err(ConfigError::new(
                "group_by",
                format!("{bad:?}"),
                "label names of letters, digits and '_', or \"...\" for every label",
            ));
        }
        if let Some(bad) = r.sinks.iter().find(|s| s.is_empty()) {
            return Err(ConfigError::new(
                "sinks",
                format!("{bad:?}"),
                "the names of sinks given to AlertManagerBuilder::sink",
            ));
        }
        Ok(self.route)
    }
}

/// While an alert matching `source` fires, alerts matching `target` with the same values of
/// the `equal` labels are not notified: Alertmanager's inhibition rule.
///
/// The classic use: "service down" makes "service slow" for the same service noise.
///
/// ```
/// use hardening_health::alert::{InhibitRule, Matcher};
///
/// let down_mutes_slow = InhibitRule::new(
///     [Matcher::equal("alertname", "ServiceDown")?],
///     [Matcher::equal("alertname", "ServiceSlow")?],
///     ["service"],
/// )?;
/// # let _ = down_mutes_slow;
/// let err = InhibitRule::new([], [Matcher::equal("a", "b")?], ["service"]).unwrap_err();
/// assert_eq!(err.field(), "source_matchers");
/// # Ok::<(), hardening_health::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct InhibitRule {
    pub(crate) source: Vec<Matcher>,
    pub(crate) target: Vec<Matcher>,
    pub(crate) equal: Vec<String>,
}

impl InhibitRule {
    /// A rule: firing alerts passing every `source` matcher mute alerts passing every
    /// `target` matcher whose `equal` labels have the same values (a label both lack counts as
    /// equal). An alert never mutes itself. Both matcher lists must be non-empty: an empty
    /// one would match every alert, muting everything.
    pub fn new<S: Into<String>>(
        source: impl IntoIterator<Item = Matcher>,
        target: impl IntoIterator<Item = Matcher>,
        equal: impl IntoIterator<Item = S>,
    ) -> Result<InhibitRule, ConfigError> {
        let source: Vec<Matcher> = source.into_iter().collect();
        let target: Vec<Matcher> = target.into_iter().collect();
        let equal: Vec<String> = equal.into_iter().map(Into::into).collect();
        if source.is_empty() {
            return Err(ConfigError::new(
                "source_matchers",
                "[]",
                "at least one matcher (an empty list would let any alert mute others)",
            ));
        }
        if target.is_empty() {
            return Err(ConfigError::new(
                "target_matchers",
                "[]",
                "at least one matcher (an empty list would mute every alert)",
            ));
        }
        if let Some(bad) = equal.iter().find(|l| !is_label_name(l)) {
            return Err(ConfigError::new(
                "equal",
                format!("{bad:?}"),
                "label names of letters, digits and '_'",
            ));
        }
        Ok(InhibitRule {
            source,
            target,
            equal,
        })
    }

    /// An alert's `equal` label values (absent and empty read the same): sources and targets
    /// with equal values go together.
    pub(crate) fn equal_values(&self, alert: &Alert) -> Vec<String> {
        self.equal
            .iter()
            .map(|name| alert.label(name).unwrap_or("").to_string())
            .collect()
    }

    pub(crate) fn is_source(&self, alert: &Alert) -> bool {
        all_match(&self.source, alert)
    }

    pub(crate) fn is_target(&self, alert: &Alert) -> bool {
        all_match(&self.target, alert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;

    #[test]
    fn every_bad_setting_names_its_field() {
        let cases = [
            (Route::builder(""), "receiver"),
            (
                Route::builder("r").group_interval(Duration::ZERO),
                "group_interval",
            ),
            (
                Route::builder("r").repeat_interval(Duration::ZERO),
                "repeat_interval",
            ),
            (Route::builder("r").group_by(["a-b"]), "group_by"),
            (Route::builder("r").group_by(["...", "a"]), "group_by"),
            (Route::builder("r").sinks([""]), "sinks"),
            (Route::builder("r").group_wait(Duration::MAX), "group_wait"),
            (
                Route::builder("r")
                    .group_interval(crate::alert::MAX_DURATION + Duration::from_nanos(1)),
                "group_interval",
            ),
            (
                Route::builder("r").repeat_interval(Duration::MAX),
                "repeat_interval",
            ),
        ];
        for (builder, field) in cases {
            let err = builder.build().unwrap_err();
            assert_eq!(err.field(), field, "{err}");
        }
        let m = || Matcher::equal("a", "b").unwrap();
        assert_eq!(
            InhibitRule::new([m()], [], ["x"]).unwrap_err().field(),
            "target_matchers"
        );
        assert_eq!(
            InhibitRule::new([m()], [m()], ["x y"]).unwrap_err().field(),
            "equal"
        );
    }

    #[test]
    fn groups_follow_the_group_by_labels() {
        let route = Route::builder("r")
            .group_by(["service", "alertname"])
            .build()
            .unwrap();
        let a = Alert::new("Down", Severity::Critical).with_label("service", "db");
        let b = Alert::new("Down", Severity::Warning)
            .with_label("service", "db")
            .with_label("zone", "x");
        let c = Alert::new("Down", Severity::Critical).with_label("service", "api");
        let d = Alert::new("Down", Severity::Critical);
        assert_eq!(route.group_id(0, &a), route.group_id(0, &b));
        assert!(route.is_group_of(&route.group_labels(&a), &b));
        assert!(!route.is_group_of(&route.group_labels(&a), &c));
        assert!(!route.is_group_of(&route.group_labels(&a), &d));
        assert!(!route.is_group_of(&route.group_labels(&d), &a));
        assert_ne!(route.group_id(0, &a), route.group_id(1, &a));
        assert_ne!(route.group_id(0, &a), route.group_id(0, &c));
        assert_ne!(route.group_id(0, &d), route.group_id(0, &a));
        assert_eq!(
            route.group_labels(&b),
            Labels::from([
                ("alertname".into(), "Down".into()),
                ("service".into(), "db".into())
            ])
        );
        assert_eq!(route.group_labels(&d).len(), 1);
        let all = Route::builder("r").group_by(["..."]).build().unwrap();
        assert_ne!(all.group_id(0, &a), all.group_id(0, &b));
        assert_eq!(all.group_labels(&b).len(), 4);
        assert!(all.is_group_of(&all.group_labels(&b), &b));
        assert!(!all.is_group_of(&all.group_labels(&a), &b));
        let mut louder = b.clone();
        louder.severity = Severity::Critical;
        assert!(!all.is_group_of(&all.group_labels(&b), &louder));
    }
}
