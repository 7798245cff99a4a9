//! `application/health+json` bodies and their HTTP status codes.
//!
//! The format is the IETF draft "Health Check Response Format for HTTP APIs"
//! (draft-inadarei-api-health-check): a `status` of `pass`, `warn` or `fail`, and `checks`
//! keyed `component:measurement`, each an array of objects with `observedValue`,
//! `observedUnit`, `status`, `time` and `output`.

use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::{CheckReport, Group, Health, Snapshot, Status};

/// The media type of the bodies.
pub const CONTENT_TYPE: &str = "application/health+json";

/// Who sees the checks behind a status.
///
/// The status alone tells a load balancer everything it needs; the checks tell an attacker
/// which dependencies you have and which are down. So the default shows them only to callers
/// the application has authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DetailsPolicy {
    /// Only the status, to everyone.
    Never,
    /// The checks to authorized callers, the status alone to the others. The default.
    #[default]
    WhenAuthorized,
    /// The checks to everyone (fine on a loopback or cluster-internal port).
    Always,
}

impl DetailsPolicy {
    /// Whether a caller gets the checks.
    ///
    /// ```
    /// use hardening_health::DetailsPolicy;
    /// assert!(!DetailsPolicy::WhenAuthorized.shows_details(false));
    /// assert!(DetailsPolicy::WhenAuthorized.shows_details(true));
    /// assert!(!DetailsPolicy::Never.shows_details(true));
    /// ```
    pub fn shows_details(self, authorized: bool) -> bool {
        match self {
            DetailsPolicy::Never => false,
            DetailsPolicy::WhenAuthorized => authorized,
            DetailsPolicy::Always => true,
        }
    }
}

/// What a probe's endpoint answers: an HTTP status code and an `application/health+json` body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthResponse {
    /// 200 for `pass` and `warn`, 503 for `fail`.
    pub status_code: u16,
    /// The body's `status`.
    pub status: Status,
    /// The JSON body.
    pub body: String,
}

/// Which health a response is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// The whole service (`/health`).
    Overall,
    /// One group (`/health/live`, `/health/ready`, `/health/startup`, `/health/{group}`).
    Group(Group),
}

/// Renders snapshots as `application/health+json`, with the service's identity in each body.
///
/// ```
/// use hardening_health::{HealthJson, Scope};
/// # use hardening_health::{check_fn, CheckOptions, HealthMonitor, Observation};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), hardening_health::ConfigError> {
/// # let monitor = HealthMonitor::builder()
/// #     .check("db:ping", check_fn(|| async { Ok(Observation::pass().with_value(3, "ms")) }), CheckOptions::default())
/// #     .build()?;
/// # tokio::time::sleep(std::time::Duration::from_millis(1)).await;
/// let json = HealthJson::new().version("1").service_id("orders");
/// let response = json.render(&monitor.snapshot(), &Scope::Overall, true).expect("known scope");
/// assert_eq!(response.status_code, 200);
/// assert!(response.body.contains(r#""db:ping":[{"#));
///
/// // Without details, the status alone.
/// let public = json.render(&monitor.snapshot(), &Scope::Overall, false).expect("known scope");
/// assert_eq!(public.body, r#"{"status":"pass"}"#);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthJson {
    version: Option<String>,
    release_id: Option<String>,
    service_id: Option<String>,
    description: Option<String>,
}

impl HealthJson {
    /// A renderer that adds nothing but the status and checks.
    pub fn new() -> Self {
        HealthJson::default()
    }

    /// The service's public version (`version`).
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The release, e.g. a build or commit (`releaseId`).
    #[must_use]
    pub fn release_id(mut self, release: impl Into<String>) -> Self {
        self.release_id = Some(release.into());
        self
    }

    /// The service's unique id (`serviceId`).
    #[must_use]
    pub fn service_id(mut self, id: impl Into<String>) -> Self {
        self.service_id = Some(id.into());
        self
    }

    /// What the service is (`description`).
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The response for `scope`, with the checks when `details` is true (see
    /// [`DetailsPolicy::shows_details`]). `None` for a custom group no check belongs to.
    pub fn render(
        &self,
        snapshot: &Snapshot,
        scope: &Scope,
        details: bool,
    ) -> Option<HealthResponse> {
        let (health, group) = match scope {
            Scope::Overall => (snapshot.overall(), None),
            Scope::Group(group) => (snapshot.group(group)?, Some(group)),
        };
        let status = wire_status(health, group);
        let mut body = Map::new();
        body.insert("status".into(), status.as_str().into());
        if details {
            for (key, value) in [
                ("version", &self.version),
                ("releaseId", &self.release_id),
                ("serviceId", &self.service_id),
                ("description", &self.description),
            ] {
                if let Some(value) = value {
                    body.insert(key.into(), value.as_str().into());
                }
            }
            if let Some(output) = output(snapshot, health, group) {
                body.insert("output".into(), output.into());
            }
            let mut checks = Map::new();
            let reports: Box<dyn Iterator<Item = &CheckReport>> = match group {
                Some(group) => Box::new(snapshot.checks_in(group)),
                None => Box::new(snapshot.checks()),
            };
            for report in reports {
                checks.insert(
                    report.name.to_string(),
                    Value::Array(vec![check_object(report)]),
                );
            }
            body.insert("checks".into(), Value::Object(checks));
        }
        Some(HealthResponse {
            status_code: status_code(status),
            status,
            body: Value::Object(body).to_string(),
        })
    }
}

/// The HTTP status code for a body's status: 200 for `pass` and `warn`, 503 for `fail`.
pub const fn status_code(status: Status) -> u16 {
    match status {
        Status::Pass | Status::Warn => 200,
        Status::Fail => 503,
    }
}

/// The body's status for a health. While starting, liveness answers `warn` (the process is
/// alive; a liveness probe that failed during a slow start would restart it for nothing) and
/// everything else `fail`.
pub fn wire_status(health: Health, group: Option<&Group>) -> Status {
    match health {
        Health::Healthy => Status::Pass,
        Health::Degraded => Status::Warn,
        Health::Starting if group == Some(&Group::Liveness) => Status::Warn,
        Health::Unhealthy | Health::Starting => Status::Fail,
    }
}

fn output(snapshot: &Snapshot, health: Health, group: Option<&Group>) -> Option<&'static str> {
    if health == Health::Starting {
        Some("starting: the startup checks have not passed yet")
    } else if snapshot.is_shutting_down() && group == Some(&Group::Readiness) {
        Some("shutting down")
    } else {
        None
    }
}

fn check_object(report: &CheckReport) -> Value {
    let mut object = Map::new();
    object.insert("status".into(), report.status.as_str().into());
    match &report.last {
        Some(last) => {
            if let Some(value) = &last.value {
                object.insert("observedValue".into(), value.clone());
            }
            if let Some(unit) = &last.unit {
                object.insert("observedUnit".into(), unit.as_str().into());
            }
            object.insert("time".into(), rfc3339(last.time).into());
            if let Some(message) = &last.message {
                object.insert("output".into(), message.as_str().into());
            }
        }
        None => {
            object.insert("output".into(), "not run yet".into());
        }
    }
    Value::Object(object)
}

/// A wall-clock time as RFC 3339 in UTC with milliseconds: `2026-11-25T09:02:49.123Z`.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    hardening_core::Rfc3339::millis(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(951_782_400_123); // leap day 2000
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.123Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_597_369);
        assert_eq!(rfc3339(t), "2026-11-25T09:02:49.000Z");
    }

    #[test]
    fn fail_alone_maps_to_503() {
        assert_eq!(status_code(Status::Pass), 200);
        assert_eq!(status_code(Status::Warn), 200);
        assert_eq!(status_code(Status::Fail), 503);
        assert_eq!(
            wire_status(Health::Starting, Some(&Group::Liveness)),
            Status::Warn
        );
        assert_eq!(
            wire_status(Health::Starting, Some(&Group::Readiness)),
            Status::Fail
        );
        assert_eq!(wire_status(Health::Starting, None), Status::Fail);
    }
}
