use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::error::human;
use crate::{BoxError, ConfigError, HealthCheck, Observation};

/// A check that fails when a component stops checking in: the component calls
/// [`HeartbeatHandle::beat`] at least once per TTL (a worker loop, a consumer, a cron job);
/// the check fails once the last beat is older than the TTL.
///
/// Time is tokio's, so tests can run it under `tokio::time::pause()`. The check counts as
/// having had a beat when it is created.
///
/// ```
/// use std::time::Duration;
/// use hardening_health::{checks::Heartbeat, HealthCheck, Status};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), hardening_health::BoxError> {
/// let (check, handle) = Heartbeat::new(Duration::from_secs(60))?;
/// tokio::time::sleep(Duration::from_secs(61)).await;
/// assert_eq!(check.check().await?.status, Status::Fail);
/// handle.beat();
/// assert_eq!(check.check().await?.status, Status::Pass);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Heartbeat {
    ttl: Duration,
    last: Arc<Mutex<Instant>>,
}

/// What the watched component holds to check in. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HeartbeatHandle {
    last: Arc<Mutex<Instant>>,
}

impl Heartbeat {
    /// A heartbeat check with this time to live (above zero), and the handle to beat with.
    pub fn new(ttl: Duration) -> Result<(Heartbeat, HeartbeatHandle), ConfigError> {
        if ttl.is_zero() {
            return Err(ConfigError::new("ttl", human(ttl), "a duration above zero"));
        }
        let last = Arc::new(Mutex::new(Instant::now()));
        Ok((
            Heartbeat {
                ttl,
                last: Arc::clone(&last),
            },
            HeartbeatHandle { last },
        ))
    }
}

impl HeartbeatHandle {
    /// Checks in: the component is alive now.
    pub fn beat(&self) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }
}

#[async_trait]
impl HealthCheck for Heartbeat {
    async fn check(&self) -> Result<Observation, BoxError> {
        let last = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let since = last.elapsed();
        let observation = if since > self.ttl {
            Observation::fail(format!(
                "no heartbeat for {}, longer than the ttl of {}",
                human(since),
                human(self.ttl)
            ))
        } else {
            Observation::pass()
        };
        let seconds = (since.as_secs_f64() * 1000.0).round() / 1000.0;
        Ok(observation.with_value(seconds, "s"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_ttl_is_refused() {
        let err = Heartbeat::new(Duration::ZERO).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ttl: 0s is not accepted; expected a duration above zero"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn passes_at_the_ttl_and_fails_just_after() {
        let (check, _handle) = Heartbeat::new(Duration::from_secs(5)).unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(check.check().await.unwrap().status, crate::Status::Pass);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(check.check().await.unwrap().status, crate::Status::Fail);
    }
}
