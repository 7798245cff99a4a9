//! Silences: matchers with a start and an end that mute matching alerts while they last.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::time::Instant;

use super::matcher::all_match;
use super::{Alert, Matcher, check_duration};
use crate::ConfigError;

/// Names a silence, to expire it early with
/// [`AlertManager::expire_silence`](crate::alert::AlertManager::expire_silence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SilenceId(pub(crate) u64);

impl fmt::Display for SilenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "silence-{}", self.0)
    }
}

/// Mutes the alerts that pass every matcher, from its start until its end; then it expires
/// on its own. Alertmanager's silence.
///
/// A muted alert is still active and shown (with the silence's id); it is left out of
/// notifications. When the silence ends, the alert goes out at its group's next flush.
///
/// ```
/// use std::time::Duration;
/// use hardening_health::alert::{Matcher, Silence};
///
/// let maintenance = Silence::builder()
///     .matcher(Matcher::equal("service", "db")?)
///     .duration(Duration::from_secs(2 * 60 * 60))
///     .comment("database upgrade")
///     .created_by("ops")
///     .build()?;
/// # let _ = maintenance;
/// let err = Silence::builder().duration(Duration::from_secs(60)).build().unwrap_err();
/// assert_eq!(err.field(), "matchers");
/// # Ok::<(), hardening_health::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub(crate) matchers: Vec<Matcher>,
    pub(crate) starts_at: Option<Instant>,
    pub(crate) duration: Duration,
    pub(crate) comment: String,
    pub(crate) created_by: String,
}

impl Silence {
    /// A builder with no matchers (add at least one) and a duration of one hour.
    pub fn builder() -> SilenceBuilder {
        SilenceBuilder {
            silence: Silence {
                matchers: Vec::new(),
                starts_at: None,
                duration: Duration::from_secs(60 * 60),
                comment: String::new(),
                created_by: String::new(),
            },
        }
    }

    /// The matchers an alert must all pass to be muted.
    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// How long it lasts from its start.
    pub fn duration(&self) -> Duration {
        self.duration
    }
}

/// Builds a [`Silence`]; [`build`](Self::build) checks every setting.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct SilenceBuilder {
    silence: Silence,
}

impl SilenceBuilder {
    /// Mutes only alerts that pass this matcher too.
    pub fn matcher(mut self, matcher: Matcher) -> Self {
        self.silence.matchers.push(matcher);
        self
    }

    /// Mutes only alerts that pass every one of these matchers.
    pub fn matchers(mut self, matchers: impl IntoIterator<Item = Matcher>) -> Self {
        self.silence.matchers.extend(matchers);
        self
    }

    /// When it starts (tokio time). Default: when it is added to the manager.
    pub fn starts_at(mut self, start: Instant) -> Self {
        self.silence.starts_at = Some(start);
        self
    }

    /// How long it lasts from its start (above zero, at most
    /// [`MAX_DURATION`](crate::alert::MAX_DURATION), a year). Default one hour.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.silence.duration = duration;
        self
    }

    /// Why it was made.
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.silence.comment = comment.into();
        self
    }

    /// Who made it.
    pub fn created_by(mut self, who: impl Into<String>) -> Self {
        self.silence.created_by = who.into();
        self
    }

    /// Checks every setting and returns the silence, or the first setting that is wrong.
    pub fn build(self) -> Result<Silence, ConfigError> {
        if self.silence.matchers.is_empty() {
            return Err(ConfigError::new(
                "matchers",
                "[]",
                "at least one matcher (a silence without one would mute every alert)",
            ));
        }
        check_duration("duration", self.silence.duration, Duration::ZERO, true)?;
        Ok(self.silence)
    }
}

/// A silence the manager holds, with its times fixed.
#[derive(Debug, Clone)]
pub(crate) struct ActiveSilence {
    pub(crate) id: SilenceId,
    pub(crate) starts: Instant,
    pub(crate) ends: Instant,
    pub(crate) silence: Silence,
}

impl ActiveSilence {
    pub(crate) fn mutes(&self, alert: &Alert, now: Instant) -> bool {
        self.starts <= now && now < self.ends && all_match(&self.silence.matchers, alert)
    }

    pub(crate) fn view(&self, now: Instant, wall_now: SystemTime) -> SilenceView {
        SilenceView {
            id: self.id,
            matchers: self.silence.matchers.clone(),
            starts_at: wall_time(self.starts, now, wall_now),
            ends_at: wall_time(self.ends, now, wall_now),
            comment: self.silence.comment.clone(),
            created_by: self.silence.created_by.clone(),
            active: self.starts <= now,
        }
    }
}

/// The wall-clock time of a tokio instant, estimated from the present.
pub(crate) fn wall_time(at: Instant, now: Instant, wall_now: SystemTime) -> SystemTime {
    if at >= now {
        wall_now + (at - now)
    } else {
        wall_now
            .checked_sub(now - at)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// A silence as [`AlertManager::silences`](crate::alert::AlertManager::silences) shows it;
/// times are wall-clock estimates for display.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SilenceView {
    /// Its id.
    pub id: SilenceId,
    /// What it mutes.
    pub matchers: Vec<Matcher>,
    /// When it starts or started.
    #[serde(serialize_with = "super::serialize_time")]
    pub starts_at: SystemTime,
    /// When it ends.
    #[serde(serialize_with = "super::serialize_time")]
    pub ends_at: SystemTime,
    /// Why it was made.
    pub comment: String,
    /// Who made it.
    pub created_by: String,
    /// Whether it has started.
    pub active: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;

    #[tokio::test(start_paused = true)]
    async fn mutes_only_matching_alerts_and_only_while_it_lasts() {
        let now = Instant::now();
        let silence = Silence::builder()
            .matcher(Matcher::equal("service", "db").unwrap())
            .duration(Duration::from_secs(10))
            .build()
            .unwrap();
        let held = ActiveSilence {
            id: SilenceId(1),
            starts: now + Duration::from_secs(5),
            ends: now + Duration::from_secs(15),
            silence,
        };
        let db = Alert::new("Down", Severity::Critical).with_label("service", "db");
        let api = Alert::new("Down", Severity::Critical).with_label("service", "api");
        assert!(!held.mutes(&db, now));
        assert!(held.mutes(&db, now + Duration::from_secs(5)));
        assert!(!held.mutes(&api, now + Duration::from_secs(5)));
        assert!(!held.mutes(&db, now + Duration::from_secs(15)));
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let view = held.view(now + Duration::from_secs(10), wall);
        assert_eq!(
            view.starts_at,
            SystemTime::UNIX_EPOCH + Duration::from_secs(95)
        );
        assert_eq!(
            view.ends_at,
            SystemTime::UNIX_EPOCH + Duration::from_secs(105)
        );
        assert!(view.active);
        assert_eq!(
            serde_json::to_value(&view).unwrap()["matchers"],
            serde_json::json!(["service=\"db\""])
        );
    }

    #[test]
    fn a_duration_of_zero_or_beyond_a_year_names_its_field() {
        for duration in [
            Duration::ZERO,
            crate::alert::MAX_DURATION + Duration::from_nanos(1),
            Duration::MAX,
        ] {
            let err = Silence::builder()
                .matcher(Matcher::equal("a", "b").unwrap())
                .duration(duration)
                .build()
                .unwrap_err();
            assert_eq!(err.field(), "duration");
        }
        let a_year = Silence::builder()
            .matcher(Matcher::equal("a", "b").unwrap())
            .duration(crate::alert::MAX_DURATION)
            .build();
        assert!(a_year.is_ok());
    }
}
