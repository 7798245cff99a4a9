//! The one minimal HTTP/1.1 client of this crate, shared by the `HttpGet` check and the
//! webhook alert sink: plain TCP (no TLS, no redirects, no keep-alive), one request per
//! connection, and only the status line of the answer is read.
//!
//! That is all a health endpoint on a sidecar or a webhook receiver on the same network needs,
//! without pulling an HTTP client and its TLS stack into the build.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{BoxError, ConfigError};

/// The most bytes read while looking for the status line.
const MAX_STATUS_LINE: usize = 8192;

/// Where a request goes: `host:port` and the path, parsed once from an `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    authority: String,
    path: String,
}

impl Endpoint {
    /// Parses `http://host[:port][/path]` (port 80 by default). A bad URL is an error for the
    /// field `url`.
    pub(crate) fn parse(url: &str) -> Result<Self, ConfigError> {
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
        Ok(Endpoint {
            authority,
            path: path.to_string(),
        })
    }

    /// The path and query, as sent on the request line.
    #[cfg_attr(
        not(feature = "http"),
        allow(dead_code, reason = "the HttpGet check names it in messages")
    )]
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Sends one request and returns the status code of the answer.
    ///
    /// `body` goes with a `Content-Type` of `content_type` and its `Content-Length`; a request
    /// without a body sends neither. The caller bounds the whole exchange with a timeout.
    pub(crate) async fn request(
        &self,
        method: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<u16, BoxError> {
        let mut stream = TcpStream::connect(self.authority.as_str())
            .await
            .map_err(|e| format!("connecting to {}: {e}", self.authority))?;
        let mut head = format!(
            "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: hardening-health\r\nAccept: */*\r\nConnection: close\r\n",
            self.path, self.authority
        );
        if let Some((content_type, bytes)) = body {
            head.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                bytes.len()
            ));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;
        if let Some((_, bytes)) = body {
            stream.write_all(bytes).await?;
        }
        let mut buffer = Vec::with_capacity(256);
        let mut chunk = [0_u8; 256];
        while !buffer.windows(2).any(|w| w == b"\r\n") {
            let read = stream.read(&mut chunk).await?;
            if read == 0 || buffer.len() > MAX_STATUS_LINE {
                return Err("the server closed or sent no status line".into());
            }
            buffer.extend_from_slice(&chunk[..read]);
        }
        let line = String::from_utf8_lossy(&buffer);
        let code = line
            .strip_prefix("HTTP/1.")
            .and_then(|rest| rest.get(2..5))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("not an HTTP/1.x status line: {:?}", line.lines().next()))?;
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn urls_are_checked() {
        assert_eq!(
            Endpoint::parse("http://localhost/x").map(|e| e.authority),
            Ok("localhost:80".to_string())
        );
        assert!(Endpoint::parse("http://[::1]:8080/").is_ok());
        assert_eq!(
            Endpoint::parse("http://a:9").map(|e| e.path),
            Ok("/".to_string())
        );
        for bad in [
            "https://a/",
            "ftp://a",
            "http:///x",
            "http://a:b/",
            "http://u@a/",
            "http://a/ b",
        ] {
            assert_eq!(
                Endpoint::parse(bad).map_err(|e| e.field().to_string()),
                Err("url".to_string()),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn a_post_sends_its_body_with_length_and_type() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut chunk = [0_u8; 512];
            while !seen.ends_with(b"{\"a\":1}") {
                let read = socket.read(&mut chunk).await.unwrap();
                assert_ne!(read, 0, "closed before the body");
                seen.extend_from_slice(&chunk[..read]);
            }
            socket
                .write_all(b"HTTP/1.1 202 Accepted\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8_lossy(&seen).into_owned()
        });
        let endpoint = Endpoint::parse(&format!("http://{address}/hook")).unwrap();
        let code = endpoint
            .request("POST", Some(("application/json", b"{\"a\":1}")))
            .await
            .unwrap();
        assert_eq!(code, 202);
        let request = server.await.unwrap();
        assert!(request.starts_with("POST /hook HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("Content-Type: application/json\r\n"));
        assert!(request.contains("Content-Length: 7\r\n"));
    }
}
