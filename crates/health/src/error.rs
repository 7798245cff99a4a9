//! The error for a setting that cannot work.

use std::borrow::Cow;
use std::fmt;

/// A setting that cannot work, named with the value given and what is accepted.
///
/// Every builder in this crate checks its settings once, when it builds, and returns the first
/// one that is wrong.
///
/// ```
/// use std::time::Duration;
/// use hardening_health::CheckOptions;
///
/// let err = CheckOptions::builder().interval(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.field(), "interval");
/// assert_eq!(
///     err.to_string(),
///     "interval: 0s is not accepted; expected a duration above zero"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: Cow<'static, str>,
    value: String,
    expected: Cow<'static, str>,
}

impl ConfigError {
    pub(crate) fn new(
        field: impl Into<Cow<'static, str>>,
        value: impl fmt::Display,
        expected: impl Into<Cow<'static, str>>,
    ) -> Self {
        ConfigError {
            field: field.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// Puts the path of the thing that holds the field in front of it
    /// (`checks["db"].interval`).
    pub(crate) fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field).into();
        self
    }

    /// The setting's name, with its path when it sits inside another
    /// (`checks["db:ping"].timeout`).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The value that was given, as text.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What the setting accepts.
    pub fn expected(&self) -> &str {
        &self.expected
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} is not accepted; expected {}",
            self.field, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

/// A duration as a person writes it: `0s`, `250ms`, `1.5s`.
pub(crate) fn human(duration: std::time::Duration) -> String {
    if duration.is_zero() {
        "0s".to_string()
    } else {
        format!("{duration:?}")
    }
}
