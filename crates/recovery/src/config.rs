//! The error of a setting that cannot work.

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
#[doc(inline)]
pub use hardening_core::ConfigError;
