//! Rules: a condition evaluated on an interval that must hold `for` a while before its alert
//! fires, and that keeps firing for `keep_firing_for` after it stops holding.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::{Alert, MAX_DURATION, MIN_RULE_INTERVAL, Severity, check_duration};
use crate::{ConfigError, Group, Health, HealthMonitor, Observation, Status};

/// What a [`Rule`] evaluates: a closure, or health read from a [`HealthMonitor`].
///
/// Conditions run on the manager's background task, one after another, so they must be
/// quick and must not block: read a value, compare it. A condition that panics is logged and
/// skipped for that evaluation (its rule keeps the state it had).
pub struct Condition {
    inner: Inner,
}

enum Inner {
    When(Box<dyn Fn() -> bool + Send + Sync>),
    Observe(Box<dyn Fn() -> Observation + Send + Sync>, Status),
    Overall(HealthMonitor, Vec<Health>),
    Group(HealthMonitor, Group, Vec<Health>),
    Check(HealthMonitor, String, Status),
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::When(_) => f.write_str("Condition::when(..)"),
            Inner::Observe(_, at_least) => write!(f, "Condition::observation(.., {at_least})"),
            Inner::Overall(_, healths) => write!(f, "Condition::overall_health({healths:?})"),
            Inner::Group(_, group, healths) => {
                write!(f, "Condition::group_health({group}, {healths:?})")
            }
            Inner::Check(_, key, at_least) => {
                write!(f, "Condition::check_status({key:?}, {at_least})")
            }
        }
    }
}

impl Condition {
    /// Holds while the closure returns true.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use hardening_health::alert::Condition;
    ///
    /// let queue_depth = Arc::new(AtomicU64::new(0));
    /// let depth = Arc::clone(&queue_depth);
    /// let backlog = Condition::when(move || depth.load(Ordering::Relaxed) > 1_000);
    /// # let _ = backlog;
    /// ```
    pub fn when(condition: impl Fn() -> bool + Send + Sync + 'static) -> Condition {
        Condition {
            inner: Inner::When(Box::new(condition)),
        }
    }

    /// Holds while the closure's observation has at least this status (`Warn` holds for
    /// warn and fail; `Fail` for fail only): a [`HealthCheck`](crate::HealthCheck)'s verdict
    /// without the check runner.
    pub fn observation(
        observe: impl Fn() -> Observation + Send + Sync + 'static,
        at_least: Status,
    ) -> Condition {
        Condition {
            inner: Inner::Observe(Box::new(observe), at_least),
        }
    }

    /// Holds while the monitor's overall health is one of `healths`.
    pub fn overall_health(
        monitor: &HealthMonitor,
        healths: impl IntoIterator<Item = Health>,
    ) -> Condition {
        Condition {
            inner: Inner::Overall(monitor.clone(), healths.into_iter().collect()),
        }
    }

    /// Holds while a group's health, as its probe reports it, is one of `healths`.
    ///
    /// ```
    /// use hardening_health::alert::Condition;
    /// use hardening_health::{Group, Health, HealthMonitor};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), hardening_health::ConfigError> {
    /// let monitor = HealthMonitor::builder().build()?;
    /// let not_ready = Condition::group_health(&monitor, Group::Readiness, [Health::Unhealthy]);
    /// # let _ = not_ready;
    /// # Ok(())
    /// # }
    /// ```
    pub fn group_health(
        monitor: &HealthMonitor,
        group: Group,
        healths: impl IntoIterator<Item = Health>,
    ) -> Condition {
        Condition {
            inner: Inner::Group(monitor.clone(), group, healths.into_iter().collect()),
        }
    }

    /// Holds while a check's judged status (after its thresholds) is at least `at_least`.
    pub fn check_status(
        monitor: &HealthMonitor,
        check: impl Into<String>,
        at_least: Status,
    ) -> Condition {
        Condition {
            inner: Inner::Check(monitor.clone(), check.into(), at_least),
        }
    }

    /// Evaluates once. `None` when the condition panicked.
    pub(crate) fn holds(&self) -> Option<bool> {
        catch_unwind(AssertUnwindSafe(|| match &self.inner {
            Inner::When(condition) => condition(),
            Inner::Observe(observe, at_least) => observe().status >= *at_least,
            Inner::Overall(monitor, healths) => healths.contains(&monitor.overall()),
            Inner::Group(monitor, group, healths) => monitor
                .group(group)
                .is_some_and(|health| healths.contains(&health)),
            Inner::Check(monitor, key, at_least) => monitor
                .snapshot()
                .check(key)
                .is_some_and(|report| report.status >= *at_least),
        }))
        .ok()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let no_health = || {
            ConfigError::new(
                "condition.health",
                "[]",
                "at least one health (healthy, degraded, unhealthy, starting)",
            )
        };
        match &self.inner {
            Inner::When(_) | Inner::Observe(..) => Ok(()),
            Inner::Overall(_, healths) if healths.is_empty() => Err(no_health()),
            Inner::Overall(..) => Ok(()),
            Inner::Group(_, _, healths) if healths.is_empty() => Err(no_health()),
            Inner::Group(monitor, group, _) => match monitor.group(group) {
                Some(_) => Ok(()),
                None => Err(ConfigError::new(
                    "condition.group",
                    group,
                    "a group that one of the monitor's checks belongs to",
                )),
            },
            Inner::Check(monitor, key, _) => match monitor.snapshot().check(key) {
                Some(_) => Ok(()),
                None => Err(ConfigError::new(
                    "condition.check",
                    format!("{key:?}"),
                    "the name of a check registered with the monitor",
                )),
            },
        }
    }
}

/// A condition that turns into an alert: Prometheus' alerting rule, in-process.
///
/// Every `interval` the condition is evaluated. While it holds, the alert is pending; once it
/// has held for `for_duration` (at an evaluation at least that long after the first that
/// held), it fires. When it stops holding, a firing alert keeps firing for `keep_firing_for`
/// (so a flapping condition does not send a resolve and a new alert on every flap), then
/// resolves. A pending alert whose condition stops holding is dropped without a notice.
///
/// | setting | default | Prometheus |
/// |---|---|---|
/// | interval | 15 s (10 ms to a year) | `evaluation_interval` |
/// | for_duration | 0 (fire at the first evaluation that holds) | `for` |
/// | keep_firing_for | 0 (resolve at the first that does not) | `keep_firing_for` |
/// | severity | warning | the `severity` label |
/// | summary | empty | the `summary` annotation |
///
/// ```
/// use std::time::Duration;
/// use hardening_health::alert::{Condition, Rule, Severity};
///
/// let rule = Rule::builder("QueueBacklog", Condition::when(|| false))
///     .severity(Severity::Critical)
///     .summary("the work queue is over 1,000 deep")
///     .label("queue", "ingest")
///     .interval(Duration::from_secs(10))
///     .for_duration(Duration::from_secs(60))
///     .keep_firing_for(Duration::from_secs(120))
///     .build()?;
/// assert_eq!(rule.for_duration(), Duration::from_secs(60));
///
/// let err = Rule::builder("", Condition::when(|| true)).build().unwrap_err();
/// assert_eq!(err.field(), "name");
/// # Ok::<(), hardening_health::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct Rule {
    pub(crate) alert: Alert,
    pub(crate) condition: Condition,
    pub(crate) interval: Duration,
    pub(crate) for_duration: Duration,
    pub(crate) keep_firing_for: Duration,
}

impl Rule {
    /// A builder for a rule whose alert is called `name`.
    pub fn builder(name: impl Into<String>, condition: Condition) -> RuleBuilder {
        RuleBuilder {
            rule: Rule {
                alert: Alert::new(name, Severity::Warning),
                condition,
                interval: Duration::from_secs(15),
                for_duration: Duration::ZERO,
                keep_firing_for: Duration::ZERO,
            },
        }
    }

    /// The alert's name.
    pub fn name(&self) -> &str {
        self.alert.name()
    }

    /// The alert the rule raises (name, labels, severity, summary).
    pub fn alert(&self) -> &Alert {
        &self.alert
    }

    /// How often the condition is evaluated.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long the condition must hold before the alert fires.
    pub fn for_duration(&self) -> Duration {
        self.for_duration
    }

    /// How long a firing alert keeps firing after the condition stops holding.
    pub fn keep_firing_for(&self) -> Duration {
        self.keep_firing_for
    }
}

/// Builds a [`Rule`]; [`build`](Self::build) checks every setting.
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RuleBuilder {
    rule: Rule,
}

impl RuleBuilder {
    /// The alert's severity. Default warning.
    pub fn severity(mut self, severity: Severity) -> Self {
        self.rule.alert.severity = severity;
        self
    }

    /// The alert's one-line description.
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.rule.alert = self.rule.alert.with_summary(summary);
        self
    }

    /// Adds a label to the alert.
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.rule.alert = self.rule.alert.with_label(name, value);
        self
    }

    /// How often the condition is evaluated: at least
    /// [`MIN_RULE_INTERVAL`](crate::alert::MIN_RULE_INTERVAL) (10 ms), at most
    /// [`MAX_DURATION`](crate::alert::MAX_DURATION) (a year). Default 15 s.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.rule.interval = interval;
        self
    }

    /// How long the condition must hold before the alert fires (Prometheus' `for`; at most
    /// a year). Default 0.
    pub fn for_duration(mut self, duration: Duration) -> Self {
        self.rule.for_duration = duration;
        self
    }

    /// How long a firing alert keeps firing after the condition stops holding (at most a
    /// year). Default 0.
    pub fn keep_firing_for(mut self, duration: Duration) -> Self {
        self.rule.keep_firing_for = duration;
        self
    }

    /// Checks every setting and returns the rule, or the first setting that is wrong.
    pub fn build(self) -> Result<Rule, ConfigError> {
        self.rule.alert.validate()?;
        check_duration("interval", self.rule.interval, MIN_RULE_INTERVAL, true)?;
        check_duration(
            "for_duration",
            self.rule.for_duration,
            Duration::ZERO,
            false,
        )?;
        check_duration(
            "keep_firing_for",
            self.rule.keep_firing_for,
            Duration::ZERO,
            false,
        )?;
        self.rule.condition.validate()?;
        Ok(self.rule)
    }
}

/// What a rule's evaluation asks the manager to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Nothing,
    Fire,
    Resolve,
}

/// A rule's state between evaluations.
#[derive(Debug)]
pub(crate) struct RuleRuntime {
    pub(crate) next_eval: Instant,
    /// When the condition began to hold, while the alert is pending (tokio time for the
    /// logic, wall time for display).
    pub(crate) pending_since: Option<(Instant, SystemTime)>,
    /// When the condition stopped holding, while the alert keeps firing.
    keep_since: Option<Instant>,
}

impl RuleRuntime {
    pub(crate) fn new(first_eval: Instant) -> Self {
        RuleRuntime {
            next_eval: first_eval,
            pending_since: None,
            keep_since: None,
        }
    }

    /// One evaluation: `holds` is the condition, `firing` whether the rule's alert is firing
    /// in the manager (a caller may have resolved it by hand).
    pub(crate) fn step(&mut self, rule: &Rule, holds: bool, firing: bool, now: Instant) -> Step {
        if firing {
            self.pending_since = None;
            if holds {
                self.keep_since = None;
                return Step::Nothing;
            }
            let since = *self.keep_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= rule.keep_firing_for {
                self.keep_since = None;
                return Step::Resolve;
            }
            return Step::Nothing;
        }
        self.keep_since = None;
        if !holds {
            self.pending_since = None;
            return Step::Nothing;
        }
        let (since, _) = *self
            .pending_since
            .get_or_insert_with(|| (now, SystemTime::now()));
        if now.saturating_duration_since(since) >= rule.for_duration {
            self.pending_since = None;
            return Step::Fire;
        }
        Step::Nothing
    }

    /// Moves the next evaluation past `now`, on the rule's grid so evaluations do not drift:
    /// the first grid point after `now`, computed in one step however many were missed.
    pub(crate) fn schedule_after(&mut self, now: Instant, interval: Duration) {
        if self.next_eval > now {
            return;
        }
        let step = interval.as_nanos().max(1);
        let missed = (now - self.next_eval).as_nanos() / step + 1;
        let ahead = u64::try_from(missed * step)
            .ok()
            .map(Duration::from_nanos)
            .and_then(|ahead| self.next_eval.checked_add(ahead));
        // Only a rule interval past any the builder accepts gets here without a grid point:
        // evaluate again a year on, never in a busy loop, never by overflowing the clock.
        self.next_eval = ahead
            .or_else(|| now.checked_add(interval.min(MAX_DURATION)))
            .unwrap_or(now + Duration::from_millis(1));
    }

    /// The pending alert to show, if the rule is pending.
    pub(crate) fn pending(&self, rule: &Rule) -> Option<Alert> {
        self.pending_since.map(|(_, wall)| {
            let mut alert = rule.alert.clone();
            alert.set_pending(wall);
            alert
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(for_secs: u64, keep_secs: u64) -> Rule {
        Rule::builder("R", Condition::when(|| true))
            .interval(Duration::from_secs(10))
            .for_duration(Duration::from_secs(for_secs))
            .keep_firing_for(Duration::from_secs(keep_secs))
            .build()
            .unwrap()
    }

    /// Plays evaluations every 10 s; `holds[i]` is the condition at the i-th. Returns the
    /// firing state after each.
    fn play(rule: &Rule, holds: &[bool]) -> Vec<bool> {
        let start = Instant::now();
        let mut runtime = RuleRuntime::new(start);
        let mut firing = false;
        holds
            .iter()
            .enumerate()
            .map(|(i, &holds)| {
                let now = start + Duration::from_secs(10 * i as u64);
                match runtime.step(rule, holds, firing, now) {
                    Step::Fire => firing = true,
                    Step::Resolve => firing = false,
                    Step::Nothing => {}
                }
                firing
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn for_and_keep_firing_for_follow_prometheus() {
        let (t, f) = (true, false);
        // No `for`: fires at the first evaluation that holds, resolves at the first that does not.
        assert_eq!(play(&rule(0, 0), &[f, t, t, f]), [f, t, t, f]);
        // `for` 20 s: pending at 10 s, still at 20 s, fires at 30 s (20 s after the first).
        assert_eq!(play(&rule(20, 0), &[f, t, t, t, t]), [f, f, f, t, t]);
        // A break while pending starts the wait again.
        assert_eq!(play(&rule(20, 0), &[t, t, f, t, t, t]), [f, f, f, f, f, t]);
        // keep_firing_for 20 s: stops holding at 20 s, keeps firing at 30 s, resolves at 40 s.
        assert_eq!(play(&rule(0, 20), &[t, t, f, f, f]), [t, t, t, t, f]);
        // Holding again inside the window keeps it firing, and the window starts over.
        assert_eq!(play(&rule(0, 20), &[t, f, t, f, f, f]), [t, t, t, t, t, f]);
    }

    #[tokio::test(start_paused = true)]
    async fn pending_shows_the_alert_and_schedules_stay_on_the_grid() {
        let rule = rule(20, 0);
        let start = Instant::now();
        let mut runtime = RuleRuntime::new(start);
        assert_eq!(runtime.step(&rule, true, false, start), Step::Nothing);
        let pending = runtime.pending(&rule).unwrap();
        assert_eq!(pending.state(), super::super::AlertState::Pending);
        runtime.schedule_after(start + Duration::from_secs(25), rule.interval);
        assert_eq!(runtime.next_eval, start + Duration::from_secs(30));
        // On a grid point exactly: the next one.
        runtime.schedule_after(start + Duration::from_secs(30), rule.interval);
        assert_eq!(runtime.next_eval, start + Duration::from_secs(40));
        // Not yet due: unchanged.
        runtime.schedule_after(start + Duration::from_secs(35), rule.interval);
        assert_eq!(runtime.next_eval, start + Duration::from_secs(40));
    }

    #[tokio::test(start_paused = true)]
    async fn schedule_after_skips_missed_evaluations_in_one_step_and_never_overflows() {
        let start = Instant::now();
        // An hour late with a 1 ns interval: 3.6e12 missed points, which a loop over them
        // would not finish.
        let mut runtime = RuleRuntime::new(start);
        let late = start + Duration::from_secs(3600) + Duration::from_nanos(1);
        runtime.schedule_after(late, Duration::from_nanos(1));
        assert_eq!(runtime.next_eval, late + Duration::from_nanos(1));
        // Seven seconds late with a 3 s interval: the grid point at 9 s.
        let mut runtime = RuleRuntime::new(start);
        runtime.schedule_after(start + Duration::from_secs(7), Duration::from_secs(3));
        assert_eq!(runtime.next_eval, start + Duration::from_secs(9));
        // An interval no builder accepts: no panic, and a point in the future.
        let mut runtime = RuleRuntime::new(start);
        runtime.schedule_after(start, Duration::MAX);
        assert_eq!(runtime.next_eval, start + MAX_DURATION);
    }

    #[test]
    fn a_panicking_condition_is_skipped() {
        let condition = Condition::when(|| panic!("bad condition"));
        assert_eq!(condition.holds(), None);
        let observed = Condition::observation(|| Observation::warn("close"), Status::Warn);
        assert_eq!(observed.holds(), Some(true));
        let strict = Condition::observation(|| Observation::warn("close"), Status::Fail);
        assert_eq!(strict.holds(), Some(false));
    }

    #[test]
    fn every_bad_setting_names_its_field() {
        let when = || Condition::when(|| true);
        assert_eq!(
            Rule::builder("", when()).build().unwrap_err().field(),
            "name"
        );
        assert_eq!(
            Rule::builder("R", when())
                .interval(Duration::ZERO)
                .build()
                .unwrap_err()
                .field(),
            "interval"
        );
        for interval in [
            Duration::from_millis(9),
            MAX_DURATION + Duration::from_nanos(1),
            Duration::MAX,
        ] {
            let err = Rule::builder("R", when())
                .interval(interval)
                .build()
                .unwrap_err();
            assert_eq!(err.field(), "interval");
            assert!(err.to_string().contains("at least 10ms"), "{err}");
        }
        assert!(
            Rule::builder("R", when())
                .interval(MIN_RULE_INTERVAL)
                .build()
                .is_ok()
        );
        for (builder, field) in [
            (
                Rule::builder("R", when()).for_duration(Duration::MAX),
                "for_duration",
            ),
            (
                Rule::builder("R", when()).keep_firing_for(Duration::MAX),
                "keep_firing_for",
            ),
        ] {
            assert_eq!(builder.build().unwrap_err().field(), field);
        }
        assert_eq!(
            Rule::builder("R", when())
                .label("a b", "x")
                .build()
                .unwrap_err()
                .field(),
            "labels[\"a b\"]"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn health_conditions_are_checked_against_the_monitor() {
        let monitor = HealthMonitor::builder()
            .check(
                "db:ping",
                crate::check_fn(|| async { Ok(Observation::fail("down")) }),
                crate::CheckOptions::default(),
            )
            .build()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        let build = |c| {
            Rule::builder("R", c)
                .build()
                .map(|_| ())
                .map_err(|e| e.field().to_string())
        };
        assert_eq!(
            build(Condition::check_status(&monitor, "nope", Status::Fail)),
            Err("condition.check".to_string())
        );
        assert_eq!(
            build(Condition::group_health(
                &monitor,
                Group::custom("x").unwrap(),
                [Health::Unhealthy]
            )),
            Err("condition.group".to_string())
        );
        assert_eq!(
            build(Condition::overall_health(&monitor, [])),
            Err("condition.health".to_string())
        );
        let failing = Condition::check_status(&monitor, "db:ping", Status::Fail);
        assert_eq!(failing.holds(), Some(true));
        let unready = Condition::group_health(&monitor, Group::Readiness, [Health::Unhealthy]);
        assert_eq!(unready.holds(), Some(true));
        let overall = Condition::overall_health(&monitor, [Health::Healthy]);
        assert_eq!(overall.holds(), Some(false));
    }
}
