//! What the crate records through the `metrics` facade, by name and label.
#![cfg(feature = "metrics")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::time::Duration;

use hardening_recovery::metrics::names;
use hardening_recovery::{Backoff, ManualClock, Retry, RetryBudget};
use hardening_testkit::MetricsSnapshot;
use metrics_util::debugging::DebuggingRecorder;

/// A counter that must exist.
fn counter(m: &MetricsSnapshot, name: &str, labels: &[(&str, &str)]) -> u64 {
    m.counter(name, labels)
        .unwrap_or_else(|| panic!("no counter {name} {labels:?}"))
}

#[test]
fn retry_calls_map_to_resilience4j_kinds_and_stops_name_their_reason() {
    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        let clock = ManualClock::new();
        let budget = RetryBudget::builder()
            .ratio(0.5)
            .min_per_sec(1)
            .ttl(Duration::from_secs(1))
            .clock(clock.clone())
            .build()
            .unwrap();
        let retry = Retry::builder("users")
            .max_attempts(3)
            .backoff(Backoff::none())
            .budget(budget)
            .clock(clock)
            .build()
            .unwrap();
        // successful_without_retry
        retry.run_blocking(|_| Ok::<_, &str>(())).unwrap();
        // successful_with_retry (spends the floor's one retry)
        retry
            .run_blocking(|a| if a.is_retry() { Ok(()) } else { Err("x") })
            .unwrap();
        // failed_without_retry: the budget is spent (the two successes earned one retry...)
        // failed_with_retry: ...which this call spends before the budget stops it.
        let _ = retry.run_blocking(|_| Err::<(), _>("x"));
        let _ = retry.run_blocking(|_| Err::<(), _>("x"));
    });
    let m = MetricsSnapshot::of(&recorder);
    let kind = |k| counter(&m, names::RETRY_CALLS, &[("retry", "users"), ("kind", k)]);
    assert_eq!(kind("successful_without_retry"), 1);
    assert_eq!(kind("successful_with_retry"), 1);
    assert_eq!(kind("failed_with_retry"), 1);
    assert_eq!(kind("failed_without_retry"), 1);
    assert_eq!(
        counter(&m, names::RETRY_ATTEMPTS, &[("retry", "users")]),
        1 + 2 + 2 + 1
    );
    assert_eq!(counter(&m, names::RETRY_RETRIES, &[("retry", "users")]), 2);
    let stopped = |r| {
        counter(
            &m,
            names::RETRY_STOPPED,
            &[("retry", "users"), ("reason", r)],
        )
    };
    assert_eq!(stopped("budget"), 2);
    assert_eq!(stopped("attempts"), 0);
}

mod recovery {
    use std::sync::Arc;

    use hardening_recovery::{
        Action, Ladder, Level, Recoverable, RecoveryManager, Reported, ServiceError,
        ServiceRegistry, ServiceStatus, async_trait,
    };

    use super::*;

    /// Fixed by a restart that takes three seconds; nothing else works.
    struct Stubborn;

    #[async_trait]
    impl Recoverable for Stubborn {
        async fn initialize(&self) -> Result<(), ServiceError> {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok(())
        }
        async fn shutdown(&self) -> Result<(), ServiceError> {
            Ok(())
        }
        async fn status(&self) -> ServiceStatus {
            ServiceStatus::Healthy
        }
        async fn recover(&self, _: &str) -> Result<(), ServiceError> {
            Err(ServiceError::new("no"))
        }
    }

    #[test]
    fn recoveries_actions_and_time_to_recover_are_recorded() {
        let m = MetricsSnapshot::record_paused(async {
            let registry = ServiceRegistry::new();
            registry.register("db", Stubborn).unwrap();
            let manager = RecoveryManager::builder(Arc::clone(&registry))
                .ladder(
                    Ladder::new()
                        .level(Level::Soft, ["reconnect"])
                        .level(Level::Emergency, [Action::Restart]),
                )
                .build()
                .unwrap();
            let Reported::Started(ticket) = manager.report_failure("db", "x").unwrap() else {
                panic!("not started");
            };
            ticket.wait().await.unwrap();
        });
        assert_eq!(
            counter(
                &m,
                names::RECOVERIES,
                &[("service", "db"), ("outcome", "recovered")]
            ),
            1
        );
        let action = |a, o| {
            counter(
                &m,
                names::RECOVERY_ACTIONS,
                &[("service", "db"), ("action", a), ("outcome", o)],
            )
        };
        assert_eq!(action("reconnect", "failed"), 1);
        assert_eq!(action("restart", "succeeded"), 1);
        assert_eq!(
            m.histogram(names::TIME_TO_RECOVER, &[("service", "db")]),
            Some(vec![3.0])
        );
    }
}
