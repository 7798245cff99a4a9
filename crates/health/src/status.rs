//! What a check and an aggregate can say about health.

use std::fmt;
use std::sync::Arc;

/// The verdict of one check run: the `status` of an `application/health+json` check object.
///
/// The order is from best to worst: `Pass < Warn < Fail`.
///
/// ```
/// use hardening_health::Status;
/// assert!(Status::Pass < Status::Warn && Status::Warn < Status::Fail);
/// assert_eq!(Status::Warn.as_str(), "warn");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Healthy.
    Pass,
    /// Healthy, with a concern worth a look (a threshold is near, a latency is high).
    Warn,
    /// Unhealthy.
    Fail,
}

impl Status {
    /// The name used in `application/health+json`: `pass`, `warn` or `fail`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// Whether a Kubernetes-style probe would count this as a success (`Pass` or `Warn`).
    pub const fn is_success(self) -> bool {
        !matches!(self, Status::Fail)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The health of a group of checks, or of the whole service.
///
/// `Healthy`, `Degraded` and `Unhealthy` come from aggregating the checks (see
/// [`SeverityOrder`](crate::SeverityOrder)); `Starting` is what liveness, readiness and the
/// whole report until the startup group has passed, as Kubernetes does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Health {
    /// Every check that counts passes.
    Healthy,
    /// Something warns, or a non-critical check fails: serve, but look.
    Degraded,
    /// A critical check fails.
    Unhealthy,
    /// The startup group has not passed yet.
    Starting,
}

impl Health {
    /// The three values aggregation chooses between.
    pub const AGGREGATES: [Health; 3] = [Health::Healthy, Health::Degraded, Health::Unhealthy];

    /// A lower-case name: `healthy`, `degraded`, `unhealthy` or `starting`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Unhealthy => "unhealthy",
            Health::Starting => "starting",
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            Health::Healthy => 0,
            Health::Degraded => 1,
            Health::Unhealthy => 2,
            Health::Starting => 3,
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of checks that is judged on its own and can be served as its own probe.
///
/// The three Kubernetes probes have their own variants; any other name is a custom group
/// (`/health/{group}`). Build custom groups with [`Group::custom`], which checks the name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Group {
    /// Is the process alive, or should it be restarted? (`/health/live`)
    Liveness,
    /// Should it receive traffic? (`/health/ready`)
    Readiness,
    /// Has it finished starting? Until it has, liveness and readiness report
    /// [`Health::Starting`]. (`/health/startup`)
    Startup,
    /// A group of your own, served at `/health/{name}`.
    Custom(Arc<str>),
}

/// Names that a custom group may not take, because a probe's path already uses them.
const RESERVED: [&str; 6] = [
    "live",
    "ready",
    "startup",
    "liveness",
    "readiness",
    "health",
];

impl Group {
    /// A custom group: 1 to 64 characters from `a-z`, `0-9`, `-` and `_`, and not one of the
    /// probes' names (`live`, `ready`, `startup`, `liveness`, `readiness`, `health`).
    ///
    /// ```
    /// use hardening_health::Group;
    /// assert_eq!(Group::custom("database")?.name(), "database");
    /// assert_eq!(Group::custom("ready").unwrap_err().field(), "group");
    /// # Ok::<(), hardening_health::ConfigError>(())
    /// ```
    pub fn custom(name: &str) -> Result<Group, crate::ConfigError> {
        let valid_chars = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if name.is_empty() || name.len() > 64 || !valid_chars {
            return Err(crate::ConfigError::new(
                "group",
                format!("{name:?}"),
                "1 to 64 characters from a-z, 0-9, '-' and '_'",
            ));
        }
        if RESERVED.contains(&name) {
            return Err(crate::ConfigError::new(
                "group",
                format!("{name:?}"),
                "a name other than live, ready, startup, liveness, readiness and health (those are the probes' own)",
            ));
        }
        Ok(Group::Custom(name.into()))
    }

    /// The group for a path segment: `live`, `ready` and `startup` are the probes, anything
    /// else a custom group (or `None` if it is not a valid name).
    pub fn from_path(segment: &str) -> Option<Group> {
        match segment {
            "live" | "liveness" => Some(Group::Liveness),
            "ready" | "readiness" => Some(Group::Readiness),
            "startup" => Some(Group::Startup),
            other => Group::custom(other).ok(),
        }
    }

    /// The group's name: `live`, `ready`, `startup`, or the custom name.
    pub fn name(&self) -> &str {
        match self {
            Group::Liveness => "live",
            Group::Readiness => "ready",
            Group::Startup => "startup",
            Group::Custom(name) => name,
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_groups() {
        assert_eq!(Group::from_path("live"), Some(Group::Liveness));
        assert_eq!(Group::from_path("readiness"), Some(Group::Readiness));
        assert_eq!(Group::from_path("startup"), Some(Group::Startup));
        assert_eq!(
            Group::from_path("db").map(|g| g.to_string()),
            Some("db".into())
        );
        assert_eq!(Group::from_path("Bad Name"), None);
        assert_eq!(Group::from_path(""), None);
        assert!(Group::custom(&"x".repeat(65)).is_err());
        assert!(Group::custom("health").is_err());
    }
}
