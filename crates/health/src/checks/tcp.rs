use std::time::Duration;

use async_trait::async_trait;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::{BoxError, HealthCheck, Observation};

/// Whether a TCP connection to an address opens; warns when opening takes longer than a
/// latency you set. The runner's timeout bounds the attempt.
///
/// ```
/// use std::time::Duration;
/// use hardening_health::checks::TcpConnect;
///
/// let check = TcpConnect::new("127.0.0.1:5432").warn_above(Duration::from_millis(200));
/// # let _ = check;
/// ```
#[derive(Debug, Clone)]
pub struct TcpConnect {
    address: String,
    warn_above: Option<Duration>,
}

impl TcpConnect {
    /// Connects to `address` (`host:port`; a name is resolved on each run).
    pub fn new(address: impl Into<String>) -> Self {
        TcpConnect {
            address: address.into(),
            warn_above: None,
        }
    }

    /// Warn when the connection takes longer than this.
    #[must_use]
    pub fn warn_above(mut self, latency: Duration) -> Self {
        self.warn_above = Some(latency);
        self
    }
}

#[async_trait]
impl HealthCheck for TcpConnect {
    async fn check(&self) -> Result<Observation, BoxError> {
        let started = Instant::now();
        let stream = TcpStream::connect(self.address.as_str())
            .await
            .map_err(|e| format!("connecting to {}: {e}", self.address))?;
        drop(stream);
        Ok(latency_observation(started.elapsed(), self.warn_above))
    }
}

/// Pass, or warn when `latency` is above `warn_above`, with the latency in milliseconds.
pub(crate) fn latency_observation(latency: Duration, warn_above: Option<Duration>) -> Observation {
    let ms = latency.as_secs_f64() * 1000.0;
    let observation = match warn_above {
        Some(limit) if latency > limit => {
            Observation::warn(format!("took {ms:.1} ms, above {} ms", limit.as_millis()))
        }
        _ => Observation::pass(),
    };
    observation.with_value((ms * 100.0).round() / 100.0, "ms")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[tokio::test]
    async fn opens_to_a_listener_and_fails_on_a_closed_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let seen = TcpConnect::new(&address).check().await.unwrap();
        assert_eq!(seen.status, Status::Pass);
        assert_eq!(seen.unit.as_deref(), Some("ms"));
        drop(listener);
        let err = TcpConnect::new(&address).check().await.unwrap_err();
        assert!(err.to_string().contains(&address), "{err}");
    }

    #[test]
    fn slow_connections_warn() {
        let slow =
            latency_observation(Duration::from_millis(300), Some(Duration::from_millis(200)));
        assert_eq!(slow.status, Status::Warn);
        let fine =
            latency_observation(Duration::from_millis(100), Some(Duration::from_millis(200)));
        assert_eq!(fine.status, Status::Pass);
    }
}
