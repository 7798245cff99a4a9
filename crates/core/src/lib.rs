//! What every `hardening` crate shares, and nothing else: [`ConfigError`], the error for a
//! setting that cannot work; [`ByteSize`] and [`HumanDuration`], sizes and durations written
//! as people write them; and [`Rfc3339`], wall-clock times as the reports and protocols write
//! them.
//!
//! The crates of the family never depend on each other; they all depend on this one, which
//! has no dependency of its own (`serde` is optional), in the manner of `tower-service` and
//! `tracing-core`. So an error from the breaker's builder and one from a config file read by
//! the umbrella are the same type, read the same way:
//!
//! ```
//! use hardening_core::{ByteSize, ConfigError};
//!
//! let err = ConfigError::new("max_memory", "\"1 Gigaflop\"", "a size such as \"512MiB\"");
//! assert_eq!(err.field(), "max_memory");
//! assert_eq!(
//!     err.to_string(),
//!     "max_memory: \"1 Gigaflop\" is not accepted; expected a size such as \"512MiB\""
//! );
//! assert_eq!("1GB".parse::<ByteSize>().map(ByteSize::bytes), Ok(1_000_000_000));
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod duration;
mod error;
mod size;
mod time;

pub use duration::{DURATION_FORMS, HumanDuration, ParseDurationError};
pub use error::ConfigError;
pub use size::{ByteSize, ParseSizeError, SIZE_FORMS};
pub use time::Rfc3339;
