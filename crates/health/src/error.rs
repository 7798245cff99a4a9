//! The error for a setting that cannot work.

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
#[doc(inline)]
pub use hardening_core::ConfigError;

/// A duration as a person writes it: `0s`, `250ms`, `1.5s`.
pub(crate) fn human(duration: std::time::Duration) -> String {
    if duration.is_zero() {
        "0s".to_string()
    } else {
        format!("{duration:?}")
    }
}
