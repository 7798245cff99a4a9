//! The error for a setting that cannot work.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// A setting that cannot work: which one (its field, as the builder method or config key that
/// sets it), the value given, and what is accepted.
///
/// Every builder of the family returns it, and checks every setting when it builds: bad input
/// is an error naming the field, never a panic and never silently accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: Cow<'static, str>,
    value: String,
    expected: Cow<'static, str>,
}

impl ConfigError {
    /// `field` was given `value`, which is not accepted; `expected` says what is.
    pub fn new(
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

    /// A duration that is not accepted, shown as Rust shows it (`1.5s`, `0ns`).
    pub fn duration(
        field: impl Into<Cow<'static, str>>,
        value: Duration,
        expected: impl Into<Cow<'static, str>>,
    ) -> Self {
        ConfigError::new(field, format!("{value:?}"), expected)
    }

    /// The same error under another field name: what a layer above uses to point at the key
    /// a user wrote (`breaker.slidingWindowSize` for a breaker's `sliding_window`).
    #[must_use]
    pub fn with_field(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.field = field.into();
        self
    }

    /// The same error with the path of what holds the field in front of it
    /// (`checks["db"].interval` for a check's `interval`).
    #[must_use]
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field).into();
        self
    }

    /// The setting's name (with its path, when it sits inside another).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_field_value_and_accepted_forms() {
        let err = ConfigError::duration("interval", Duration::ZERO, "a duration above zero");
        assert_eq!(
            err.to_string(),
            "interval: 0ns is not accepted; expected a duration above zero"
        );
        assert_eq!(
            err.clone().within("checks[\"db\"]").field(),
            "checks[\"db\"].interval"
        );
        let moved = err.with_field("healthCheckIntervalMs");
        assert_eq!(moved.field(), "healthCheckIntervalMs");
        assert_eq!(
            (moved.value(), moved.expected()),
            ("0ns", "a duration above zero")
        );
    }
}
