//! The router served on a loopback port and read with a plain HTTP/1.1 client.
#![cfg(feature = "axum")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

mod support;

use std::time::Duration;

use hardening_health::axum::HealthRoutes;
use hardening_health::{CheckOptions, DetailsPolicy, Group, Health, HealthJson, HealthMonitor};
use support::{Script, Step, every};
use tokio::net::TcpListener;

use hardening_testkit::http::get;

/// Waits (in real time; the runs take microseconds) until every check has run once.
async fn all_ran(monitor: &HealthMonitor) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while monitor.snapshot().checks().any(|c| c.runs == 0) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("every check ran within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_with_health_json_and_the_right_status_codes() {
    let payments = Script::always(Step::Fail);
    let monitor = HealthMonitor::builder()
        .check_arc(
            "loop",
            Script::always(Step::Pass),
            every(60, [Group::Liveness]),
        )
        .check_arc(
            "db:ping",
            Script::always(Step::Pass),
            every(60, [Group::Readiness]),
        )
        .check_arc(
            "payments:api",
            payments,
            CheckOptions::builder()
                .groups([Group::custom("payments").unwrap()])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    all_ran(&monitor).await;

    let app = HealthRoutes::new(monitor.clone())
        .json(HealthJson::new().service_id("orders").version("1"))
        .details(DetailsPolicy::WhenAuthorized)
        .bearer_token("let-me-in")
        .into_router::<()>();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // Anonymous callers see the status alone.
    let overall = get(address, "/health", None).await;
    assert_eq!(overall.status, 503, "payments:api is critical and failing");
    assert_eq!(
        overall.header("content-type"),
        Some("application/health+json")
    );
    assert_eq!(overall.body, r#"{"status":"fail"}"#);
    let live = get(address, "/health/live", None).await;
    assert_eq!(
        (live.status, live.body.as_str()),
        (200, r#"{"status":"pass"}"#)
    );
    let ready = get(address, "/health/ready", Some("wrong")).await;
    assert_eq!(
        (ready.status, ready.body.as_str()),
        (200, r#"{"status":"pass"}"#)
    );
    let startup = get(address, "/health/startup", None).await;
    assert_eq!(startup.status, 200, "no startup checks: started");

    // Authorized callers see the checks, keyed component:measurement.
    let detailed = get(address, "/health", Some("let-me-in")).await.json();
    assert_eq!(detailed["status"], "fail");
    assert_eq!(detailed["serviceId"], "orders");
    assert_eq!(detailed["version"], "1");
    let db = &detailed["checks"]["db:ping"][0];
    assert_eq!(db["status"], "pass");
    assert_eq!(db["observedValue"], 1);
    assert_eq!(db["observedUnit"], "things");
    assert!(db["time"].as_str().unwrap().ends_with('Z'));
    let payments = &detailed["checks"]["payments:api"][0];
    assert_eq!(payments["status"], "fail");
    assert_eq!(payments["output"], "it is down");

    // A group holds its own checks only.
    let group = get(address, "/health/payments", Some("let-me-in")).await;
    assert_eq!(group.status, 503);
    let group = group.json();
    let keys: Vec<&String> = group["checks"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["payments:api"]);
    let ready = get(address, "/health/ready", Some("let-me-in"))
        .await
        .json();
    let keys: Vec<&String> = ready["checks"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["db:ping"]);

    // Unknown groups are 404, bad names too.
    assert_eq!(get(address, "/health/nothing", None).await.status, 404);
    assert_eq!(get(address, "/health/Bad%20Name", None).await.status, 404);

    // Shutdown: readiness fails at once.
    let stopping = tokio::spawn({
        let monitor = monitor.clone();
        async move { monitor.shutdown(Duration::from_millis(200)).await }
    });
    tokio::time::timeout(Duration::from_secs(10), async {
        while monitor.group(&Group::Readiness) != Some(Health::Unhealthy) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let ready = get(address, "/health/ready", Some("let-me-in")).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["output"], "shutting down");
    stopping.await.unwrap();
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn details_policies_always_and_never() {
    let monitor = HealthMonitor::builder()
        .check_arc(
            "db",
            Script::always(Step::Warn),
            every(60, [Group::Readiness]),
        )
        .build()
        .unwrap();
    all_ran(&monitor).await;
    for (policy, token, detailed) in [
        (DetailsPolicy::Always, None, true),
        (DetailsPolicy::Never, Some("t"), false),
        (DetailsPolicy::WhenAuthorized, None, false),
    ] {
        let app = HealthRoutes::new(monitor.clone())
            .details(policy)
            .bearer_token("t")
            .into_router::<()>();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let answer = get(address, "/health/ready", token).await;
        assert_eq!(answer.status, 200, "warn is 200");
        assert_eq!(answer.json()["status"], "warn");
        assert_eq!(
            answer.json().get("checks").is_some(),
            detailed,
            "{policy:?}"
        );
        server.abort();
    }
}
