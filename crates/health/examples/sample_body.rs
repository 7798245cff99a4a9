//! Prints the `application/health+json` bodies of a small service: the whole, with details,
//! and a readiness probe as an anonymous caller sees it. `docs/health.md` shows its output.
//!
//! ```text
//! cargo run -p hardening-health --example sample_body
//! ```

use std::time::Duration;

use hardening_health::checks::{Heartbeat, SystemMemory, Threshold};
use hardening_health::{
    BoxError, CheckOptions, Criticality, Group, HealthJson, HealthMonitor, Observation, Scope,
    check_fn,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let (worker, beat) = Heartbeat::new(Duration::from_secs(60))?;
    let monitor = HealthMonitor::builder()
        .check(
            "postgres:responseTime",
            check_fn(|| async { Ok(Observation::pass().with_value(3.2, "ms")) }),
            CheckOptions::default(),
        )
        .check(
            "redis:connections",
            check_fn(|| async {
                Ok(Observation::warn("pool nearly exhausted").with_value(95, "percent"))
            }),
            CheckOptions::builder()
                .criticality(Criticality::NonCritical)
                .build()?,
        )
        .check(
            "memory:utilization",
            SystemMemory::new(Threshold::above(90.0, 98.0)?),
            CheckOptions::default(),
        )
        .check(
            "worker:heartbeat",
            worker,
            CheckOptions::builder().groups([Group::Liveness]).build()?,
        )
        .build()?;
    beat.beat();
    // The first runs take microseconds.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let json = HealthJson::new()
        .service_id("orders")
        .version("1")
        .release_id("1.4.2");
    let snapshot = monitor.snapshot();
    for (title, scope, details) in [
        ("GET /health (authorized)", Scope::Overall, true),
        (
            "GET /health/ready (anonymous)",
            Scope::Group(Group::Readiness),
            false,
        ),
    ] {
        let response = json
            .render(&snapshot, &scope, details)
            .ok_or("unknown group")?;
        let pretty: serde_json::Value = serde_json::from_str(&response.body)?;
        println!("{title} -> {}", response.status_code);
        println!("{}", serde_json::to_string_pretty(&pretty)?);
    }
    monitor.shutdown(Duration::ZERO).await;
    Ok(())
}
