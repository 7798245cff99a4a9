//! The errors of this crate: a setting that cannot work, and a query that cannot run.

use std::borrow::Cow;
use std::fmt;

/// A setting that cannot work, named with the value given and what is accepted.
///
/// ```
/// use hardening_metrics_store::{Retention, Store};
///
/// let err = Store::new(Retention { chunk_samples: 0, ..Retention::default() }).unwrap_err();
/// assert_eq!(err.field(), "chunk_samples");
/// assert_eq!(err.to_string(), "chunk_samples: 0 is not accepted; expected 1 to 65536 samples");
/// ```
#[doc(inline)]
pub use hardening_core::ConfigError;

/// A query that cannot run, naming the part that is wrong and what is accepted there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    field: Cow<'static, str>,
    message: String,
}

impl QueryError {
    pub(crate) fn new(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        QueryError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The part of the query that is wrong: `selector`, `step`, `function`, ….
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it, and what is accepted.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for QueryError {}
