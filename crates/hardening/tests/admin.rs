//! The admin endpoint served on a loopback port, read with a real HTTP client: every route,
//! every status code, auth on every action, bad requests.
#![cfg(all(
    feature = "http",
    feature = "error-recovery",
    feature = "metrics-store"
))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hardening::Hardening;
use hardening::admin::AdminServer;
use hardening::breaker::State;
use hardening::config::{Format, SystemHardeningConfig};
use hardening::recovery::{Recoverable, ServiceError, ServiceStatus, async_trait};
use hardening_testkit::http::{Answer, get, request};

const TOKEN: &str = "a-long-admin-token-0123456789";

struct Steady;

#[async_trait]
impl Recoverable for Steady {
    async fn initialize(&self) -> Result<(), ServiceError> {
        Ok(())
    }
    async fn shutdown(&self) -> Result<(), ServiceError> {
        Ok(())
    }
    async fn status(&self) -> ServiceStatus {
        ServiceStatus::Healthy
    }
    async fn recover(&self, _: &str) -> Result<(), ServiceError> {
        Ok(())
    }
}

fn config(token: Option<&str>) -> SystemHardeningConfig {
    let token = token.map_or(String::new(), |t| format!("  token: {t}\n"));
    SystemHardeningConfig::from_text(
        &format!(
            r#"
enableHealthMonitoring: true
enableErrorRecovery: true
enableMetricsStore: true
enablePerformanceMonitoring: false
enableResourceManagement: false
healthCheckIntervalMs: 1000
recoverableServices: [inventory]
metricsStore: {{sampleIntervalMs: 1000}}
admin:
  address: "127.0.0.1:0"
  maxBodyBytes: 512
{token}"#
        ),
        Format::Yaml,
    )
    .unwrap()
}

async fn start(
    config: SystemHardeningConfig,
    install: bool,
) -> (Hardening, AdminServer, SocketAddr) {
    let hardening = Hardening::builder(config)
        .service("inventory", Steady)
        .install_metrics_recorder(install)
        .build()
        .unwrap();
    hardening.initialize().await.unwrap();
    let server = hardening.serve_admin().await.unwrap();
    let address = server.local_addr();
    assert!(address.ip().is_loopback());
    (hardening, server, address)
}

async fn post(address: SocketAddr, path: &str, token: Option<&str>, body: Option<&str>) -> Answer {
    request(address, "POST", path, token, body.map(str::as_bytes)).await
}

fn is_json_error(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert!(
        answer
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{answer:?}"
    );
    assert!(answer.json()["error"].is_string(), "{answer:?}");
}

#[test]
fn the_endpoint_listens_on_loopback_unless_told_otherwise() {
    let address: SocketAddr = SystemHardeningConfig::default()
        .admin
        .address
        .parse()
        .unwrap();
    assert!(address.ip().is_loopback());
    let errors = SystemHardeningConfig::from_text(
        "admin: {address: 'everywhere', token: short}",
        Format::Yaml,
    )
    .unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field()).collect();
    assert_eq!(fields, ["admin.address", "admin.token"], "{errors}");
}

/// The one test that installs the process's recorder: `/metrics` and `/api/query` read what
/// the crates recorded through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_route_answers() {
    let (hardening, server, address) = start(config(Some(TOKEN)), true).await;
    for _ in 0..5 {
        hardening
            .call("inventory", async || Ok::<_, ServiceError>(1))
            .await
            .unwrap();
    }
    // The store samples every second (real time: the server is real); wait until it holds
    // the breaker's counters, up to ten seconds.
    let sampled = "/api/query?selector=hardening_breaker_calls_total&function=last&range=60000&step=1000&aggregate=sum";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answer = get(address, sampled, None).await.json();
        let last = answer["series"][0]["points"]
            .as_array()
            .and_then(|points| points.iter().rev().find_map(|p| p["value"].as_f64()));
        if last == Some(5.0) || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let page = get(address, "/", None).await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.body.contains("/api/query") && !page.body.contains("https://"),
        "self-contained"
    );

    for path in ["/health", "/health/live", "/health/ready"] {
        let answer = get(address, path, None).await;
        assert!(matches!(answer.status, 200 | 503), "{path}: {answer:?}");
        assert_eq!(
            answer.header("content-type"),
            Some("application/health+json")
        );
        assert!(answer.json()["status"].is_string());
    }
    // Details only with the token.
    let without = get(address, "/health", None).await.json();
    let with = get(address, "/health", Some(TOKEN)).await.json();
    assert!(without.get("checks").is_none(), "{without}");
    assert!(with["checks"]["service:inventory"].is_array(), "{with}");

    let metrics = get(address, "/metrics", None).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        metrics
            .body
            .contains("hardening_breaker_calls_total{breaker=\"inventory\",outcome=\"success\"} 5"),
        "{}",
        metrics.body
    );

    let status = get(address, "/status", None).await;
    assert_eq!(status.status, 200);
    let status = status.json();
    assert_eq!(status["services"][0]["name"], "inventory");
    assert_eq!(status["breakers"][0]["successfulTotal"], 5);
    assert_eq!(status["recoveries"]["running"], 0);

    let query = get(address, sampled, None).await;
    assert_eq!(query.status, 200, "{query:?}");
    let series = &query.json()["series"];
    let values: Vec<f64> = series[0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["value"].as_f64())
        .collect();
    assert_eq!(values.last(), Some(&5.0), "{series}");

    is_json_error(&get(address, "/nowhere", None).await, 404);
    server.shutdown().await;
    hardening.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_needs_the_token() {
    let (hardening, server, address) = start(config(Some(TOKEN)), false).await;
    let silence = r#"{"matchers": ["alertname=\"RecoveryFailed\""], "durationMs": 60000, "comment": "deploy"}"#;
    let actions: [(&str, Option<&str>); 5] = [
        ("/api/breakers/inventory/force-open", None),
        ("/api/breakers/inventory/close", None),
        ("/api/breakers/inventory/reset", None),
        ("/api/services/inventory/recover", None),
        ("/api/silences", Some(silence)),
    ];
    for (path, body) in actions {
        let missing = post(address, path, None, body).await;
        is_json_error(&missing, 401);
        assert!(
            missing
                .header("www-authenticate")
                .is_some_and(|h| h.starts_with("Bearer"))
        );
        is_json_error(
            &post(address, path, Some("not-the-token-at-all"), body).await,
            403,
        );
    }
    assert_eq!(
        hardening.breaker("inventory").unwrap().state(),
        State::Closed,
        "nothing changed"
    );

    let opened = post(
        address,
        "/api/breakers/inventory/force-open",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(opened.status, 200, "{opened:?}");
    assert_eq!(opened.json()["state"], "forced_open");
    assert_eq!(
        hardening.breaker("inventory").unwrap().state(),
        State::ForcedOpen
    );
    let closed = post(address, "/api/breakers/inventory/close", Some(TOKEN), None).await;
    assert_eq!(closed.json()["state"], "closed");
    assert_eq!(
        post(address, "/api/breakers/inventory/reset", Some(TOKEN), None)
            .await
            .status,
        200
    );
    let recovering = post(
        address,
        "/api/services/inventory/recover",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(recovering.status, 202, "{recovering:?}");
    let silenced = post(address, "/api/silences", Some(TOKEN), Some(silence)).await;
    assert_eq!(silenced.status, 201, "{silenced:?}");
    assert_eq!(hardening.alerts().unwrap().silences().len(), 1);
    server.shutdown().await;
    hardening.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_token_every_action_is_refused() {
    let (hardening, server, address) = start(config(None), false).await;
    let refused = post(
        address,
        "/api/breakers/inventory/force-open",
        Some(TOKEN),
        None,
    )
    .await;
    is_json_error(&refused, 403);
    assert!(refused.body.contains("admin.token"), "{refused:?}");
    assert_eq!(
        hardening.breaker("inventory").unwrap().state(),
        State::Closed
    );
    server.shutdown().await;
    hardening.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_json_4xx_and_change_nothing() {
    let (hardening, server, address) = start(config(Some(TOKEN)), false).await;
    let breaker = hardening.breaker("inventory").unwrap();
    is_json_error(
        &post(
            address,
            "/api/breakers/payments/force-open",
            Some(TOKEN),
            None,
        )
        .await,
        404,
    );
    is_json_error(
        &post(
            address,
            "/api/breakers/inventory/explode",
            Some(TOKEN),
            None,
        )
        .await,
        404,
    );
    is_json_error(
        &post(address, "/api/services/payments/recover", Some(TOKEN), None).await,
        404,
    );
    assert_eq!(breaker.state(), State::Closed);
    assert!(hardening.recovery_manager().unwrap().history().is_empty());

    is_json_error(&get(address, "/api/query", None).await, 400);
    is_json_error(
        &get(address, "/api/query?selector=%7Bbroken", None).await,
        400,
    );
    is_json_error(
        &get(address, "/api/query?selector=up&function=median", None).await,
        400,
    );
    is_json_error(
        &get(address, "/api/query?selector=up&range=-5", None).await,
        400,
    );
    is_json_error(
        &get(address, "/api/query?selector=up&range=abc", None).await,
        400,
    );

    let huge = format!(
        r#"{{"matchers": ["a=\"b\""], "durationMs": 1000, "comment": "{}"}}"#,
        "x".repeat(2000)
    );
    is_json_error(
        &post(address, "/api/silences", Some(TOKEN), Some(&huge)).await,
        413,
    );
    is_json_error(
        &post(address, "/api/silences", Some(TOKEN), Some("{not json")).await,
        400,
    );
    is_json_error(
        &post(
            address,
            "/api/silences",
            Some(TOKEN),
            Some(r#"{"matchers": ["=nope"], "durationMs": 1000}"#),
        )
        .await,
        400,
    );
    is_json_error(
        &post(
            address,
            "/api/silences",
            Some(TOKEN),
            Some(r#"{"matchers": [], "durationMs": 1000}"#),
        )
        .await,
        400,
    );
    assert!(hardening.alerts().unwrap().silences().is_empty());
    let wrong_method = get(address, "/api/breakers/inventory/reset", None).await;
    assert_eq!(wrong_method.status, 405);
    server.shutdown().await;
    hardening.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_the_server_down_frees_the_port() {
    let (hardening, server, address) = start(config(None), false).await;
    server.shutdown().await;
    assert!(tokio::net::TcpStream::connect(address).await.is_err());
    let _ = Arc::new(hardening).shutdown().await;
}
