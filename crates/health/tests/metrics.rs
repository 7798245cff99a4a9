//! What the monitor records through the `metrics` facade.
#![cfg(feature = "metrics")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

mod support;

use std::time::Duration;

use hardening_health::metrics::names;
use hardening_health::{Group, HealthMonitor};
use hardening_testkit::MetricsSnapshot;
use support::{Script, Step, every};

#[test]
fn runs_statuses_and_group_health_are_recorded() {
    // One snapshot: reading drains histograms.
    let m = MetricsSnapshot::record_paused(async {
        let monitor = HealthMonitor::builder()
            .check_arc(
                "db:ping",
                Script::new([Step::Pass, Step::Fail]),
                every(1, [Group::Readiness]),
            )
            .build()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        drop(monitor);
    });
    let counter = |status| m.counter(names::RUNS, &[("check", "db:ping"), ("status", status)]);
    assert_eq!(counter("pass"), Some(1));
    assert_eq!(counter("fail"), Some(1));
    assert_eq!(m.gauge(names::UP, &[("check", "db:ping")]), Some(0.0));
    let ready = |status| m.gauge(names::STATUS, &[("group", "ready"), ("status", status)]);
    assert_eq!(ready("unhealthy"), Some(1.0));
    assert_eq!(ready("healthy"), Some(0.0));
    assert_eq!(
        m.histogram(names::DURATION, &[("check", "db:ping")])
            .map(|s| s.len()),
        Some(2)
    );
}

#[test]
fn alerts_and_sink_outcomes_are_recorded() {
    use hardening_health::alert::{Alert, AlertManager, Labels, Route, Severity, SinkOptions};
    use support::Recorder;

    struct Failing;
    #[hardening_health::async_trait]
    impl hardening_health::alert::AlertSink for Failing {
        async fn send(
            &self,
            _: &hardening_health::alert::Notification,
        ) -> Result<(), hardening_health::BoxError> {
            Err("refused".into())
        }
    }

    let m = MetricsSnapshot::record_paused(async {
        let alerts = AlertManager::builder()
            .sink_arc("ok", Recorder::new(), SinkOptions::default())
            .sink("failing", Failing, SinkOptions::default())
            .sink_arc(
                "limited",
                Recorder::new(),
                SinkOptions::builder()
                    .rate_limit(1, Duration::from_secs(3600))
                    .build()
                    .unwrap(),
            )
            .default_route(
                Route::builder("ops")
                    .group_by(["alertname"])
                    .group_wait(Duration::ZERO)
                    .build()
                    .unwrap(),
            )
            .max_alerts(2)
            .build()
            .unwrap();
        alerts.raise(Alert::new("A", Severity::Critical)).unwrap();
        alerts.raise(Alert::new("B", Severity::Warning)).unwrap();
        assert!(alerts.raise(Alert::new("C", Severity::Info)).is_err());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(alerts.resolve("B", &Labels::new()));
        // The gauges are set at the next flush (B's group, 5 min after its first).
        tokio::time::sleep(Duration::from_secs(300)).await;
    });
    let raised = |severity| m.counter(names::ALERTS_RAISED, &[("severity", severity)]);
    assert_eq!(raised("critical"), Some(1));
    assert_eq!(raised("warning"), Some(1));
    assert_eq!(raised("info"), Some(0));
    assert_eq!(
        m.counter(names::ALERTS_RESOLVED, &[("severity", "warning")]),
        Some(1)
    );
    assert_eq!(m.counter(names::ALERTS_REFUSED, &[]), Some(1));
    assert_eq!(
        m.gauge(names::ALERTS_ACTIVE, &[("state", "firing")]),
        Some(1.0)
    );
    assert_eq!(
        m.gauge(names::ALERTS_ACTIVE, &[("state", "pending")]),
        Some(0.0)
    );
    // A and B firing, then B's resolve notice: three notices per sink.
    assert_eq!(m.counter(names::NOTIFICATIONS, &[("sink", "ok")]), Some(3));
    assert_eq!(
        m.counter(
            names::NOTIFICATIONS_FAILED,
            &[("sink", "failing"), ("reason", "error")]
        ),
        Some(3)
    );
    assert_eq!(
        m.counter(
            names::NOTIFICATIONS_DROPPED,
            &[("sink", "limited"), ("reason", "rate_limited")]
        ),
        Some(2)
    );
    assert_eq!(
        m.counter(
            names::NOTIFICATIONS_DROPPED,
            &[("sink", "limited"), ("reason", "queue_full")]
        ),
        Some(0)
    );
}
