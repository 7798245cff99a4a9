//! Ready-made checks.
//!
//! | check | looks at | observed value |
//! |---|---|---|
//! | [`ProcessMemory`] | this process's resident memory | bytes |
//! | [`SystemMemory`] | the machine's memory in use | percent |
//! | [`DiskSpace`] | free space on the disk holding a path | percent free |
//! | [`TcpConnect`] | whether a TCP connection opens | ms |
//! | [`Heartbeat`] | whether a component checked in within its TTL | seconds since |
//! | `HttpGet` (feature `http`) | an HTTP/1.1 GET's status and latency | ms |
//! | `CommandCheck` (feature `command`) | a program's exit status | exit code |
//!
//! For anything else, [`check_fn`](crate::check_fn) or your own
//! [`HealthCheck`](crate::HealthCheck).

#[cfg(feature = "command")]
#[cfg_attr(docsrs, doc(cfg(feature = "command")))]
mod command;
mod disk;
mod heartbeat;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
mod http;
mod memory;
mod tcp;

#[cfg(feature = "command")]
pub use command::CommandCheck;
pub use disk::DiskSpace;
pub use heartbeat::{Heartbeat, HeartbeatHandle};
#[cfg(feature = "http")]
pub use http::HttpGet;
pub use memory::{ProcessMemory, SystemMemory};
pub use tcp::TcpConnect;

use crate::{ConfigError, Status};

/// Where a measured value turns a check to warn and to fail.
///
/// ```
/// use hardening_health::{checks::Threshold, Status};
///
/// let used = Threshold::above(80.0, 90.0)?;
/// assert_eq!(used.judge(50.0), Status::Pass);
/// assert_eq!(used.judge(85.0), Status::Warn);
/// assert_eq!(used.judge(90.0), Status::Fail);
///
/// let free = Threshold::below(20.0, 10.0)?;
/// assert_eq!(free.judge(15.0), Status::Warn);
/// assert!(Threshold::above(90.0, 80.0).is_err());
/// # Ok::<(), hardening_health::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    warn: f64,
    fail: f64,
    above: bool,
}

impl Threshold {
    /// Warn at or above `warn`, fail at or above `fail` (`warn ≤ fail`, both finite).
    pub fn above(warn: f64, fail: f64) -> Result<Self, ConfigError> {
        Threshold::checked(warn, fail, true)
    }

    /// Warn at or below `warn`, fail at or below `fail` (`warn ≥ fail`, both finite).
    pub fn below(warn: f64, fail: f64) -> Result<Self, ConfigError> {
        Threshold::checked(warn, fail, false)
    }

    fn checked(warn: f64, fail: f64, above: bool) -> Result<Self, ConfigError> {
        if !warn.is_finite() {
            return Err(ConfigError::new("threshold.warn", warn, "a finite number"));
        }
        if !fail.is_finite() {
            return Err(ConfigError::new("threshold.fail", fail, "a finite number"));
        }
        if above && warn > fail {
            return Err(ConfigError::new(
                "threshold.warn",
                warn,
                format!("at most the fail level ({fail}): values rise through warn to fail"),
            ));
        }
        if !above && warn < fail {
            return Err(ConfigError::new(
                "threshold.warn",
                warn,
                format!("at least the fail level ({fail}): values fall through warn to fail"),
            ));
        }
        Ok(Threshold { warn, fail, above })
    }

    /// The status for a measured value.
    pub fn judge(&self, value: f64) -> Status {
        let reached = |level: f64| {
            if self.above {
                value >= level
            } else {
                value <= level
            }
        };
        if value.is_nan() || reached(self.fail) {
            Status::Fail
        } else if reached(self.warn) {
            Status::Warn
        } else {
            Status::Pass
        }
    }

    /// A message for a value that is not a pass.
    fn describe(&self, what: &str, value: f64, unit: &str) -> Option<String> {
        let (status, level) = match self.judge(value) {
            Status::Pass => return None,
            Status::Warn => ("warn", self.warn),
            Status::Fail => ("fail", self.fail),
        };
        let side = if self.above {
            "at or above"
        } else {
            "at or below"
        };
        Some(format!(
            "{what} {value:.1} {unit} is {side} the {status} level {level} {unit}"
        ))
    }
}
