use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::tcp::latency_observation;
use crate::http1::Endpoint;
use crate::{BoxError, ConfigError, HealthCheck, Observation};

/// An HTTP/1.1 GET over plain TCP, judged like a Kubernetes `httpGet` probe: a status from 200
/// to 399 passes, anything else fails; a slow answer warns when you set a latency.
///
/// It speaks just enough HTTP to read the status line (no TLS, no redirects, no body), which
/// is what a health endpoint on a sidecar or a local dependency needs, without pulling an HTTP
/// client into the build.
///
/// ```
/// use std::time::Duration;
/// use hardening_health::checks::HttpGet;
///
/// let check = HttpGet::new("http://127.0.0.1:8080/health/ready")?
///     .warn_above(Duration::from_millis(250));
/// assert!(HttpGet::new("https://example.com/").is_err());
/// # let _ = check;
/// # Ok::<(), hardening_health::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpGet {
    endpoint: Endpoint,
    warn_above: Option<Duration>,
}

impl HttpGet {
    /// A GET of `url`, which must be `http://host[:port][/path]` (port 80 by default).
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        Ok(HttpGet {
            endpoint: Endpoint::parse(url)?,
            warn_above: None,
        })
    }

    /// Warn when the status line takes longer than this to arrive.
    #[must_use]
    pub fn warn_above(mut self, latency: Duration) -> Self {
        self.warn_above = Some(latency);
        self
    }
}

#[async_trait]
impl HealthCheck for HttpGet {
    async fn check(&self) -> Result<Observation, BoxError> {
        let started = Instant::now();
        let code = self.endpoint.request("GET", None).await?;
        let latency = started.elapsed();
        let path = self.endpoint.path();
        if !(200..400).contains(&code) {
            return Ok(
                Observation::fail(format!("GET {path} answered {code}")).with_value(code, "status")
            );
        }
        let mut observation = latency_observation(latency, self.warn_above);
        if observation.message.is_none() {
            observation.message = Some(format!("GET {path} answered {code}"));
        }
        Ok(observation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn serve_once(listener: TcpListener, answer: &'static str) {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0_u8; 1024];
        let _ = socket.read(&mut request).await.unwrap();
        assert!(request.starts_with(b"GET /ready HTTP/1.1\r\n"));
        socket.write_all(answer.as_bytes()).await.unwrap();
    }

    #[tokio::test]
    async fn passes_on_200_and_fails_on_503() {
        for (answer, status) in [
            ("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", Status::Pass),
            ("HTTP/1.1 503 Service Unavailable\r\n\r\n", Status::Fail),
        ] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/ready", listener.local_addr().unwrap());
            let server = tokio::spawn(serve_once(listener, answer));
            let seen = HttpGet::new(&url).unwrap().check().await.unwrap();
            assert_eq!(seen.status, status, "{answer}");
            server.await.unwrap();
        }
    }

    #[test]
    fn urls_are_checked_by_the_shared_client() {
        assert!(HttpGet::new("http://localhost/x").is_ok());
        assert_eq!(HttpGet::new("https://a/").unwrap_err().field(), "url");
    }
}
