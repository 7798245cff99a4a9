//! The webhook sink: notifications POSTed as Alertmanager's webhook JSON.

use std::time::Duration;

use async_trait::async_trait;

use super::{AlertSink, Notification};
use crate::error::human;
use crate::http1::Endpoint;
use crate::{BoxError, ConfigError};

/// POSTs each notification as Alertmanager's webhook JSON (see [`Notification`]) to an
/// `http://` URL, so anything that takes Alertmanager's webhooks takes these.
///
/// Each attempt has a timeout; an attempt that times out, cannot connect, or gets a 5xx or a
/// 429 is retried after a backoff that doubles; any other answer outside 2xx fails at once
/// (the receiver will not take this payload). It uses the crate's one minimal HTTP/1.1 client
/// (the one [`HttpGet`](crate::checks) uses): plain TCP, no TLS; put a local relay or sidecar in
/// front of a TLS endpoint.
///
/// | setting | default |
/// |---|---|
/// | timeout (per attempt) | 5 s |
/// | retries | 2 (three attempts) |
/// | backoff | 500 ms, doubling |
///
/// The defaults finish well within the sink's own timeout ([`SinkOptions`](crate::alert::SinkOptions), 30 s).
///
/// ```
/// use std::time::Duration;
/// use hardening_health::alert::WebhookSink;
///
/// let hook = WebhookSink::builder("http://127.0.0.1:9093/hooks/alerts")
///     .timeout(Duration::from_secs(2))
///     .retries(1)
///     .build()?;
/// # let _ = hook;
/// assert_eq!(WebhookSink::builder("https://x/").build().unwrap_err().field(), "url");
/// # Ok::<(), hardening_health::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct WebhookSink {
    endpoint: Endpoint,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
}

impl WebhookSink {
    /// A builder for a sink posting to `url` (`http://host[:port][/path]`, checked by
    /// [`build`](WebhookSinkBuilder::build)).
    pub fn builder(url: impl Into<String>) -> WebhookSinkBuilder {
        WebhookSinkBuilder {
            url: url.into(),
            timeout: Duration::from_secs(5),
            retries: 2,
            backoff: Duration::from_millis(500),
        }
    }
}

/// Builds a [`WebhookSink`]; [`build`](Self::build) checks every setting.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct WebhookSinkBuilder {
    url: String,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
}

/// More retries than any receiver needs; a bound keeps the doubling backoff finite.
const MAX_RETRIES: u32 = 10;

impl WebhookSinkBuilder {
    /// How long one attempt may take, from connecting to the status line (above zero).
    /// Default 5 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Attempts after the first (0 to 10). Default 2.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The wait before the first retry; each next one waits twice as long. Default 500 ms.
    pub fn backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// Checks every setting and returns the sink, or the first setting that is wrong.
    pub fn build(self) -> Result<WebhookSink, ConfigError> {
        let endpoint = Endpoint::parse(&self.url)?;
        if self.timeout.is_zero() {
            return Err(ConfigError::new(
                "timeout",
                human(self.timeout),
                "a duration above zero",
            ));
        }
        if self.retries > MAX_RETRIES {
            return Err(ConfigError::new(
                "retries",
                self.retries,
                format!("at most {MAX_RETRIES} retries"),
            ));
        }
        Ok(WebhookSink {
            endpoint,
            timeout: self.timeout,
            retries: self.retries,
            backoff: self.backoff,
        })
    }
}

#[async_trait]
impl AlertSink for WebhookSink {
    async fn send(&self, notification: &Notification) -> Result<(), BoxError> {
        let body = serde_json::to_vec(notification)?;
        let mut backoff = self.backoff;
        let mut attempt = 0;
        loop {
            let outcome = tokio::time::timeout(
                self.timeout,
                self.endpoint
                    .request("POST", Some(("application/json", &body))),
            )
            .await;
            let error: BoxError = match outcome {
                Ok(Ok(code)) if (200..300).contains(&code) => return Ok(()),
                Ok(Ok(code)) if code == 429 || code >= 500 => {
                    format!("the webhook answered {code}").into()
                }
                Ok(Ok(code)) => {
                    return Err(format!("the webhook answered {code}; not retried").into());
                }
                Ok(Err(error)) => error,
                Err(_) => format!("no answer within {}", human(self.timeout)).into(),
            };
            if attempt >= self.retries {
                return Err(format!("{error} (after {} attempts)", attempt + 1).into());
            }
            attempt += 1;
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_setting_names_its_field() {
        let cases = [
            (WebhookSink::builder("ftp://x"), "url"),
            (
                WebhookSink::builder("http://x/").timeout(Duration::ZERO),
                "timeout",
            ),
            (WebhookSink::builder("http://x/").retries(11), "retries"),
        ];
        for (builder, field) in cases {
            assert_eq!(builder.build().unwrap_err().field(), field);
        }
    }
}
