//! The `HealthCheck` trait and what a check reports.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde_json::Value;

use crate::{ConfigError, Status};

/// Any error a check may return; the runner turns it into a [`Status::Fail`] whose message is
/// the error's text.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A health check: one async call that says how one component is doing.
///
/// The trait is object-safe (the runner keeps checks as `Arc<dyn HealthCheck>`), so write
/// implementations with [`async_trait`](macro@async_trait::async_trait), which this crate
/// re-exports. The runner times each call, stamps it, enforces the timeout and turns an error
/// or a panic into a failure, so a check only has to say what it saw.
///
/// Each run is a tokio task of its own. It must not block its thread: put blocking calls in
/// `tokio::task::spawn_blocking`. A run past its timeout is aborted at its next `.await`.
///
/// ```
/// use hardening_health::{async_trait, BoxError, HealthCheck, Observation};
///
/// struct QueueDepth;
///
/// #[async_trait]
/// impl HealthCheck for QueueDepth {
///     async fn check(&self) -> Result<Observation, BoxError> {
///         let depth = 42_u64; // ask the queue
///         let observation = if depth < 1000 {
///             Observation::pass()
///         } else {
///             Observation::warn("queue is backing up")
///         };
///         Ok(observation.with_value(depth, "messages"))
///     }
/// }
/// # let _ = QueueDepth;
/// ```
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// Looks at the component once. An `Err` counts as a failure with the error's text.
    async fn check(&self) -> Result<Observation, BoxError>;
}

#[async_trait]
impl<T: HealthCheck + ?Sized> HealthCheck for &T {
    async fn check(&self) -> Result<Observation, BoxError> {
        (**self).check().await
    }
}

#[async_trait]
impl<T: HealthCheck + ?Sized> HealthCheck for Box<T> {
    async fn check(&self) -> Result<Observation, BoxError> {
        (**self).check().await
    }
}

#[async_trait]
impl<T: HealthCheck + ?Sized> HealthCheck for Arc<T> {
    async fn check(&self) -> Result<Observation, BoxError> {
        (**self).check().await
    }
}

/// What a check saw: a status, and optionally an observed value with its unit and a message.
///
/// ```
/// use hardening_health::{Observation, Status};
///
/// let seen = Observation::warn("pool nearly exhausted").with_value(95.5, "percent");
/// assert_eq!(seen.status, Status::Warn);
/// assert_eq!(seen.unit.as_deref(), Some("percent"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Observation {
    /// The verdict.
    pub status: Status,
    /// The value observed (`observedValue`): a number, a string, anything JSON holds.
    pub value: Option<Value>,
    /// The value's unit (`observedUnit`): `ms`, `bytes`, `percent`, …
    pub unit: Option<String>,
    /// A human-readable note (`output`), typically why it warns or fails.
    pub message: Option<String>,
}

impl Observation {
    /// A pass with nothing attached.
    pub fn pass() -> Self {
        Observation::new(Status::Pass)
    }

    /// A warning with a message.
    pub fn warn(message: impl Into<String>) -> Self {
        Observation::new(Status::Warn).with_message(message)
    }

    /// A failure with a message.
    pub fn fail(message: impl Into<String>) -> Self {
        Observation::new(Status::Fail).with_message(message)
    }

    /// An observation with this status and nothing attached.
    pub fn new(status: Status) -> Self {
        Observation {
            status,
            value: None,
            unit: None,
            message: None,
        }
    }

    /// Attaches the observed value and its unit.
    #[must_use]
    pub fn with_value(mut self, value: impl Into<Value>, unit: impl Into<String>) -> Self {
        self.value = Some(value.into());
        self.unit = Some(unit.into());
        self
    }

    /// Attaches a message.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
}

/// One finished run of a check: what it saw, when, and how long it took.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CheckResult {
    /// The verdict of this run alone (before thresholds).
    pub status: Status,
    /// The value observed, if any.
    pub value: Option<Value>,
    /// The value's unit, if any.
    pub unit: Option<String>,
    /// Why it warned or failed, or the check's own note. A timeout, a panic or an error
    /// returned by the check ends up here.
    pub message: Option<String>,
    /// When the run finished, by the wall clock.
    pub time: SystemTime,
    /// How long the run took (up to the timeout).
    pub duration: Duration,
}

impl CheckResult {
    pub(crate) fn from_observation(
        observation: Observation,
        time: SystemTime,
        duration: Duration,
    ) -> Self {
        CheckResult {
            status: observation.status,
            value: observation.value,
            unit: observation.unit,
            message: observation.message,
            time,
            duration,
        }
    }
}

/// A check's name: the component it looks at and, optionally, what it measures. Rendered as
/// the `component:measurement` key of `application/health+json`.
///
/// ```
/// use hardening_health::CheckName;
///
/// let name = CheckName::parse("postgres:connections")?;
/// assert_eq!(name.component(), "postgres");
/// assert_eq!(name.measurement(), Some("connections"));
/// assert_eq!(name.to_string(), "postgres:connections");
/// assert_eq!(CheckName::parse("uptime")?.to_string(), "uptime");
/// assert!(CheckName::parse(":x").is_err());
/// # Ok::<(), hardening_health::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckName {
    key: Arc<str>,
    colon: Option<usize>,
}

impl CheckName {
    /// A name from its parts. Neither part may be empty or hold a `:`; the component may
    /// hold no control characters.
    pub fn new(component: &str, measurement: Option<&str>) -> Result<Self, ConfigError> {
        check_part("check name component", component)?;
        match measurement {
            None => Ok(CheckName {
                key: component.into(),
                colon: None,
            }),
            Some(measurement) => {
                check_part("check name measurement", measurement)?;
                Ok(CheckName {
                    key: format!("{component}:{measurement}").into(),
                    colon: Some(component.len()),
                })
            }
        }
    }

    /// A name from its key: `component` or `component:measurement`.
    pub fn parse(key: &str) -> Result<Self, ConfigError> {
        match key.split_once(':') {
            Some((component, measurement)) => CheckName::new(component, Some(measurement)),
            None => CheckName::new(key, None),
        }
    }

    /// The component (`postgres` in `postgres:connections`).
    pub fn component(&self) -> &str {
        match self.colon {
            Some(at) => &self.key[..at],
            None => &self.key,
        }
    }

    /// The measurement (`connections` in `postgres:connections`), if any.
    pub fn measurement(&self) -> Option<&str> {
        self.colon.map(|at| &self.key[at + 1..])
    }

    /// The whole key, as rendered.
    pub fn as_str(&self) -> &str {
        &self.key
    }
}

fn check_part(field: &'static str, part: &str) -> Result<(), ConfigError> {
    if part.is_empty() || part.contains(':') || part.chars().any(char::is_control) {
        Err(ConfigError::new(
            field,
            format!("{part:?}"),
            "a non-empty name without ':' or control characters",
        ))
    } else {
        Ok(())
    }
}

impl fmt::Display for CheckName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

/// A check made of an async closure; see [`check_fn`].
pub struct FnCheck<F> {
    f: F,
}

impl<F> fmt::Debug for FnCheck<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnCheck").finish_non_exhaustive()
    }
}

/// A check from an async closure, for the one-off checks that need no type of their own.
///
/// ```
/// use hardening_health::{check_fn, HealthCheck, Observation, Status};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let ping = check_fn(|| async { Ok(Observation::pass().with_value(3, "ms")) });
/// assert_eq!(ping.check().await.unwrap().status, Status::Pass);
/// # });
/// ```
pub fn check_fn<F, Fut>(f: F) -> FnCheck<F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<Observation, BoxError>> + Send,
{
    FnCheck { f }
}

#[async_trait]
impl<F, Fut> HealthCheck for FnCheck<F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<Observation, BoxError>> + Send,
{
    async fn check(&self) -> Result<Observation, BoxError> {
        (self.f)().await
    }
}
