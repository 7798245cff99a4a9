//! The webhook sink posting to a loopback HTTP server the test runs: the JSON it sends, its
//! retries, and a webhook that never answers. Real I/O; nothing here measures time.
#![cfg(feature = "webhook")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

mod support;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardening_health::alert::{
    Alert, AlertManager, Labels, Route, Severity, SinkOptions, SinkStats, WebhookSink,
};
use serde_json::Value;
use support::Recorder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Bounds every wait on real I/O, so a broken test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(10);

/// One request as the server read it.
#[derive(Debug)]
struct Request {
    head: String,
    body: Vec<u8>,
}

impl Request {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A loopback HTTP server that answers each request with the next status of `statuses`
/// (200 once they run out) and hands every request to the test.
async fn serve(statuses: &[u16]) -> (SocketAddr, mpsc::UnboundedReceiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let statuses = Arc::new(Mutex::new(
        statuses.iter().copied().collect::<VecDeque<_>>(),
    ));
    let (requests, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let status = statuses.lock().unwrap().pop_front().unwrap_or(200);
            let requests = requests.clone();
            tokio::spawn(async move {
                if let Some(request) = answer(socket, status).await {
                    let _ = requests.send(request);
                }
            });
        }
    });
    (address, received)
}

async fn answer(mut socket: TcpStream, status: u16) -> Option<Request> {
    let mut raw = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        raw.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while raw.len() < head_end + length {
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        raw.extend_from_slice(&chunk[..read]);
    }
    let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    socket.write_all(reply.as_bytes()).await.ok()?;
    Some(Request {
        head,
        body: raw[head_end..head_end + length].to_vec(),
    })
}

async fn next(requests: &mut mpsc::UnboundedReceiver<Request>) -> Request {
    tokio::time::timeout(PATIENCE, requests.recv())
        .await
        .expect("a request within the test's patience")
        .expect("the server is running")
}

/// Waits until the sink's counts satisfy `done`, within the test's patience.
async fn stats_until(alerts: &AlertManager, done: impl Fn(&SinkStats) -> bool) -> SinkStats {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let stats = alerts.sink_stats().remove(0);
            if done(&stats) {
                return stats;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the sink's counts within the test's patience")
}

fn manager(webhook: WebhookSink) -> AlertManager {
    AlertManager::builder()
        .sink("webhook", webhook, SinkOptions::default())
        .default_route(
            Route::builder("ops")
                .group_by(["alertname"])
                .group_wait(Duration::ZERO)
                .group_interval(Duration::from_millis(100))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_webhook_posts_alertmanager_json_and_retries_a_5xx() {
    let (address, mut requests) = serve(&[503]).await;
    let webhook = WebhookSink::builder(format!("http://{address}/hooks/alerts"))
        .timeout(Duration::from_secs(5))
        .retries(2)
        .backoff(Duration::from_millis(10))
        .build()
        .unwrap();
    let alerts = manager(webhook);
    let labels = Labels::from([
        ("disk".to_string(), "/data".to_string()),
        ("host".to_string(), "a".to_string()),
    ]);
    let alert = Alert::new("DiskFull", Severity::Critical)
        .with_labels(labels.clone())
        .with_summary("/data is 97% full");
    let fingerprint = alert.fingerprint().to_string();
    alerts.raise(alert).unwrap();

    // Answered 503, so the same payload comes again.
    let refused = next(&mut requests).await;
    let accepted = next(&mut requests).await;
    assert_eq!(refused.body, accepted.body);
    assert!(
        accepted.head.starts_with("POST /hooks/alerts HTTP/1.1\r\n"),
        "{}",
        accepted.head
    );
    assert!(accepted.head.contains("Content-Type: application/json\r\n"));
    let json = accepted.json();
    assert_eq!(json["version"], "4");
    assert_eq!(json["status"], "firing");
    assert_eq!(json["receiver"], "ops");
    assert_eq!(json["groupKey"], "ops:{alertname=\"DiskFull\"}");
    assert_eq!(
        json["groupLabels"],
        serde_json::json!({"alertname": "DiskFull"})
    );
    assert_eq!(
        json["commonLabels"],
        serde_json::json!({
            "alertname": "DiskFull", "severity": "critical", "disk": "/data", "host": "a"
        })
    );
    assert_eq!(
        json["commonAnnotations"],
        serde_json::json!({"summary": "/data is 97% full"})
    );
    assert_eq!(json["truncatedAlerts"], 0);
    let sent = &json["alerts"][0];
    assert_eq!(json["alerts"].as_array().map(Vec::len), Some(1));
    assert_eq!(sent["status"], "firing");
    assert_eq!(sent["labels"]["alertname"], "DiskFull");
    assert_eq!(sent["labels"]["disk"], "/data");
    assert_eq!(sent["annotations"]["summary"], "/data is 97% full");
    assert_eq!(sent["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(sent["fingerprint"], fingerprint.as_str());
    let starts_at = sent["startsAt"].as_str().unwrap();
    assert_eq!(
        starts_at.len(),
        "2026-01-01T00:00:00.000Z".len(),
        "{starts_at}"
    );
    let stats = stats_until(&alerts, |s| s.sent == 1).await;
    assert_eq!(stats.failed, 0);

    // Resolved: the next flush posts a resolve notice.
    assert!(alerts.resolve("DiskFull", &labels));
    let json = next(&mut requests).await.json();
    assert_eq!(json["status"], "resolved");
    assert_eq!(json["alerts"][0]["status"], "resolved");
    assert_eq!(json["alerts"][0]["startsAt"], starts_at);
    assert_ne!(json["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    stats_until(&alerts, |s| s.sent == 2).await;
}

#[tokio::test]
async fn a_4xx_is_not_retried_and_counts_as_a_failure() {
    let (address, mut requests) = serve(&[400]).await;
    let webhook = WebhookSink::builder(format!("http://{address}/"))
        .backoff(Duration::from_millis(10))
        .build()
        .unwrap();
    let alerts = manager(webhook);
    alerts.raise(Alert::new("Bad", Severity::Info)).unwrap();
    next(&mut requests).await;
    let stats = stats_until(&alerts, |s| s.failed == 1).await;
    assert_eq!(stats.sent, 0);
    // A later notice is a new request: only the one 400 was sent for the first.
    alerts.raise(Alert::new("Good", Severity::Info)).unwrap();
    let json = next(&mut requests).await.json();
    assert_eq!(json["groupLabels"]["alertname"], "Good");
    stats_until(&alerts, |s| s.sent == 1).await;
}

#[tokio::test(start_paused = true)]
async fn a_webhook_that_never_answers_fails_on_its_timeout_while_other_sinks_deliver() {
    // A listener that never accepts: connections wait in its backlog and get no answer.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook = WebhookSink::builder(format!("http://{}/", silent.local_addr().unwrap()))
        .timeout(Duration::from_secs(5))
        .retries(1)
        .backoff(Duration::from_secs(1))
        .build()
        .unwrap();
    let recorder = Recorder::new();
    let alerts = AlertManager::builder()
        .sink("webhook", webhook, SinkOptions::default())
        .sink_arc("recorder", recorder.clone(), SinkOptions::default())
        .default_route(
            Route::builder("ops")
                .group_wait(Duration::ZERO)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    alerts
        .raise(Alert::new("Down", Severity::Critical))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(
        recorder.seen().len(),
        1,
        "delivered while the webhook hangs"
    );
    assert_eq!(alerts.sink_stats()[0].failed, 0);
    // Two attempts of 5 s and a 1 s backoff: failed well within 30 s of virtual time.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let webhook = &alerts.sink_stats()[0];
    assert_eq!((webhook.sent, webhook.failed), (0, 1));
    drop(silent);
}
