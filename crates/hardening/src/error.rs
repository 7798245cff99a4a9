//! Errors in settings: one setting that cannot work, and every such setting found at once.

use std::fmt;

#[doc(inline)]
pub use hardening_core::ConfigError;

/// Every setting found wrong in one pass, so a config file is fixed in one round.
///
/// ```
/// # #[cfg(feature = "error-recovery")] {
/// use hardening::config::{Format, SystemHardeningConfig};
///
/// let errors = SystemHardeningConfig::from_text(
///     "healthCheckIntervalMs: fast\nmaxResourceMemory: 1 Gigaflop\n",
///     Format::Yaml,
/// )
/// .unwrap_err();
/// let fields: Vec<&str> = errors.iter().map(|e| e.field()).collect();
/// assert_eq!(fields, ["healthCheckIntervalMs", "maxResourceMemory"]);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    errors: Vec<ConfigError>,
}

impl ConfigErrors {
    pub(crate) fn new(errors: Vec<ConfigError>) -> Self {
        debug_assert!(!errors.is_empty(), "an error list holds at least one error");
        ConfigErrors { errors }
    }

    /// The errors, in the order the settings were read.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }

    /// How many settings are wrong.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always `false`: a [`ConfigErrors`] holds at least one error.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The error for `field`, if that setting is among the wrong ones.
    pub fn get(&self, field: &str) -> Option<&ConfigError> {
        self.errors.iter().find(|e| e.field() == field)
    }

    /// The errors, owned.
    pub fn into_vec(self) -> Vec<ConfigError> {
        self.errors
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors {
            errors: vec![error],
        }
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} settings cannot work:", many.len())?;
                for error in many {
                    write!(f, "\n  - {error}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigErrors {}
