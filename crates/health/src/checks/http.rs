use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::tcp::latency_observation;
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
    authority: String,
    path: String,
    warn_above: Option<Duration>,
}

impl HttpGet {
    /// A GET of `url`, which must be `http://host[:port][/path]` (port 80 by default).
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        let bad = |why: &'static str| ConfigError::new("url", format!("{url:?}"), why);
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("an http:// URL (TLS is not supported)"))?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        if authority.is_empty()
            || authority.contains('@')
            || path.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad(
                "http://host[:port][/path] without credentials or spaces",
            ));
        }
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        {
            authority.to_string()
        } else if authority.ends_with(']') || !authority.contains(':') {
            format!("{authority}:80")
        } else {
            return Err(bad("a port of digits after the host"));
        };
        Ok(HttpGet {
            authority,
            path: path.to_string(),
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
        let mut stream = TcpStream::connect(self.authority.as_str())
            .await
            .map_err(|e| format!("connecting to {}: {e}", self.authority))?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: hardening-health\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            self.path, self.authority
        );
        stream.write_all(request.as_bytes()).await?;
        let mut buffer = Vec::with_capacity(256);
        let mut chunk = [0_u8; 256];
        while !buffer.windows(2).any(|w| w == b"\r\n") {
            let read = stream.read(&mut chunk).await?;
            if read == 0 || buffer.len() > 8192 {
                return Err("the server closed or sent no status line".into());
            }
            buffer.extend_from_slice(&chunk[..read]);
        }
        let latency = started.elapsed();
        let line = String::from_utf8_lossy(&buffer);
        let code: u16 = line
            .strip_prefix("HTTP/1.")
            .and_then(|rest| rest.get(2..5))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("not an HTTP/1.x status line: {:?}", line.lines().next()))?;
        if !(200..400).contains(&code) {
            return Ok(
                Observation::fail(format!("GET {} answered {code}", self.path))
                    .with_value(code, "status"),
            );
        }
        let mut observation = latency_observation(latency, self.warn_above);
        if observation.message.is_none() {
            observation.message = Some(format!("GET {} answered {code}", self.path));
        }
        Ok(observation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;
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
    fn urls_are_checked() {
        assert!(HttpGet::new("http://localhost/x").is_ok());
        assert!(HttpGet::new("http://[::1]:8080/").is_ok());
        for bad in [
            "https://a/",
            "ftp://a",
            "http:///x",
            "http://a:b/",
            "http://u@a/",
            "http://a/ b",
        ] {
            assert_eq!(HttpGet::new(bad).unwrap_err().field(), "url", "{bad}");
        }
    }
}
