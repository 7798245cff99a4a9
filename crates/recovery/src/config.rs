//! The error of a setting that cannot work.

use std::fmt;
use std::time::Duration;

/// A setting that cannot work, named with the value given and what is accepted.
///
/// Every builder in this crate checks its settings once, in `build`, and returns the first
/// bad one as a `ConfigError`; nothing is clamped or ignored silently.
///
/// ```
/// use hardening_recovery::Retry;
///
/// let err = Retry::builder("payments").max_attempts(0).build().unwrap_err();
/// assert_eq!(err.field(), "max_attempts");
/// assert_eq!(err.to_string(), "max_attempts: 0 is not accepted; expected at least 1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    value: String,
    expected: String,
}

impl ConfigError {
    pub(crate) fn new(
        field: &'static str,
        value: impl fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        ConfigError {
            field,
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    pub(crate) fn duration(
        field: &'static str,
        value: Duration,
        expected: impl Into<String>,
    ) -> Self {
        ConfigError::new(field, format!("{value:?}"), expected)
    }

    /// The setting's path, as in the builder method that sets it (`backoff.multiplier`).
    pub fn field(&self) -> &'static str {
        self.field
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
