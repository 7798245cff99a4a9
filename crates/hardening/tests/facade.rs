//! The seeds' API through the facade, one part at a time, and the build's checks of what the
//! features allow.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use hardening::config::{Format, SystemHardeningConfig};
use hardening::{Hardening, HardeningEvent};

/// A builder that leaves the process's `metrics` recorder alone: the tests build many systems.
fn builder(config: SystemHardeningConfig) -> hardening::HardeningBuilder {
    let builder = Hardening::builder(config);
    #[cfg(any(feature = "metrics-store", feature = "http"))]
    let builder = builder.install_metrics_recorder(false);
    builder
}

/// Everything off, so each test switches on what it looks at.
fn nothing() -> SystemHardeningConfig {
    SystemHardeningConfig {
        enable_health_monitoring: false,
        enable_performance_monitoring: false,
        enable_error_recovery: false,
        enable_resource_management: false,
        enable_metrics_store: false,
        ..SystemHardeningConfig::default()
    }
}

#[test]
fn a_switch_whose_feature_is_compiled_out_is_an_error_naming_both() {
    let switches = [
        (
            "enableHealthMonitoring",
            "health-monitoring",
            cfg!(feature = "health-monitoring"),
        ),
        (
            "enablePerformanceMonitoring",
            "performance-monitoring",
            cfg!(feature = "performance-monitoring"),
        ),
        (
            "enableErrorRecovery",
            "error-recovery",
            cfg!(feature = "error-recovery"),
        ),
        (
            "enableResourceManagement",
            "resource-management",
            cfg!(feature = "resource-management"),
        ),
        (
            "enableMetricsStore",
            "metrics-store",
            cfg!(feature = "metrics-store"),
        ),
    ];
    for (switch, feature, compiled) in switches {
        let config =
            SystemHardeningConfig::from_text(&format!("{switch}: true"), Format::Yaml).unwrap();
        let config = SystemHardeningConfig {
            enable_health_monitoring: switch == "enableHealthMonitoring",
            enable_performance_monitoring: switch == "enablePerformanceMonitoring",
            enable_error_recovery: switch == "enableErrorRecovery",
            enable_resource_management: switch == "enableResourceManagement",
            enable_metrics_store: switch == "enableMetricsStore",
            ..config
        };
        let built = builder(config).build();
        match built {
            Ok(_) => assert!(compiled, "{switch} accepted without `{feature}`"),
            Err(errors) => {
                assert!(!compiled, "{switch} refused with `{feature}` on: {errors}");
                let error = errors.get(switch).expect("an error for the switch");
                assert!(error.expected().contains(feature), "{error}");
            }
        }
    }
}

#[test]
fn the_defaults_switch_on_what_is_compiled_in_and_build() {
    let config = SystemHardeningConfig::default();
    assert_eq!(
        config.enable_health_monitoring,
        cfg!(feature = "health-monitoring")
    );
    assert_eq!(
        config.enable_error_recovery,
        cfg!(feature = "error-recovery")
    );
    assert!(builder(config).build().is_ok());
}

#[tokio::test(start_paused = true)]
async fn initialize_and_shutdown_say_so_and_shutdown_is_idempotent() {
    let hardening = builder(nothing()).build().unwrap();
    let mut events = hardening.subscribe();
    hardening.initialize().await.unwrap();
    hardening.initialize().await.unwrap();
    assert_eq!(events.recv().await.unwrap(), HardeningEvent::Initialized);
    let report = hardening.shutdown().await;
    assert!(report.within_bound);
    assert_eq!(
        events.recv().await.unwrap(),
        HardeningEvent::ShutdownStarted
    );
    assert_eq!(hardening.shutdown().await, report);
    assert!(
        hardening.initialize().await.is_err(),
        "a stopped system does not restart"
    );
}

#[cfg(feature = "resource-management")]
mod resources {
    use super::*;
    use hardening::resources::{NewResource, Requirements};
    use hardening::{HardeningError, Resource};
    use std::sync::Arc;

    fn core(n: u32) -> NewResource<Resource> {
        let value: Resource = Arc::new(n);
        NewResource::new(value).with("core", n.to_string())
    }

    #[tokio::test(start_paused = true)]
    async fn resources_are_requested_by_priority_and_released_by_their_owner() {
        let config = SystemHardeningConfig {
            enable_resource_management: true,
            ..nothing()
        };
        let hardening = builder(config)
            .resource("cpu", core(0))
            .resource("cpu", core(1))
            .build()
            .unwrap();
        hardening.initialize().await.unwrap();
        let lease = hardening
            .request_resource("cpu", "task-123", 2, Requirements::new().with("core", "0"))
            .await
            .unwrap();
        assert_eq!(lease.downcast_ref::<u32>(), Some(&0));
        let stats = hardening.resource_stats().unwrap();
        assert_eq!(
            (stats.ready, stats.busy, stats.active_allocations),
            (1, 1, 1)
        );
        assert!(matches!(
            hardening.release_resource(lease.id(), "task-999"),
            Err(HardeningError::Release(_))
        ));
        hardening.release_resource(lease.id(), "task-123").unwrap();
        let stats = hardening.resource_stats().unwrap();
        assert_eq!((stats.ready, stats.busy), (2, 0));
        assert!(matches!(
            hardening
                .request_resource("gpu", "task-1", 0, Requirements::new())
                .await,
            Err(HardeningError::Request(_))
        ));
    }

    #[tokio::test]
    async fn a_part_switched_off_says_which_switch_turns_it_on() {
        let hardening = builder(nothing()).build().unwrap();
        let err = hardening.resource_stats().unwrap_err();
        assert!(
            err.to_string().contains("enableResourceManagement"),
            "{err}"
        );
    }

    #[test]
    fn a_resource_too_large_for_max_resource_memory_is_refused_at_build() {
        let config = SystemHardeningConfig::from_text(
            "enableResourceManagement: true\nmaxResourceMemory: 1GB",
            Format::Yaml,
        )
        .unwrap();
        let config = SystemHardeningConfig {
            enable_health_monitoring: false,
            enable_performance_monitoring: false,
            enable_error_recovery: false,
            enable_metrics_store: false,
            ..config
        };
        let big = core(0).memory(hardening::resources::ByteSize::new(2_000_000_000));
        let errors = builder(config).resource("cpu", big).build().unwrap_err();
        assert_eq!(
            errors.iter().map(|e| e.field()).collect::<Vec<_>>(),
            ["resources.pools.cpu"],
            "{errors}"
        );
    }
}

#[cfg(feature = "health-monitoring")]
mod health {
    use super::*;
    use hardening::health::{Health, Status};

    #[tokio::test(start_paused = true)]
    async fn health_status_reports_memory_uptime_and_every_check() {
        let config = SystemHardeningConfig {
            enable_health_monitoring: true,
            ..nothing()
        };
        let hardening = builder(config)
            .health_check(
                "queue:depth",
                hardening::health::check_fn(|| async {
                    Ok(hardening::health::Observation::warn("backlog of 900"))
                }),
            )
            .build()
            .unwrap();
        hardening.initialize().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        let status = hardening.health_status().unwrap();
        assert!(status.uptime >= std::time::Duration::from_secs(5));
        let names: Vec<&str> = status.checks.iter().map(|c| c.name.as_str()).collect();
        assert!(names.contains(&"memory:utilization"), "{names:?}");
        let queue = status
            .checks
            .iter()
            .find(|c| c.name == "queue:depth")
            .unwrap();
        assert_eq!(queue.status, Status::Warn);
        assert_eq!(queue.message.as_deref(), Some("backlog of 900"));
        assert_ne!(
            status.status,
            Health::Healthy,
            "a warning check degrades the whole"
        );
        let json = serde_json::to_value(&status).unwrap();
        assert!(
            json["checks"].is_array() && json["uptime"].is_number(),
            "{json}"
        );
        hardening.shutdown().await;
    }
}

#[cfg(all(feature = "error-recovery", feature = "health-monitoring"))]
mod recovery_alerts {
    use super::*;
    use hardening::recovery::{Recoverable, ServiceError, ServiceStatus, async_trait};
    use std::time::Duration;

    struct Lost;

    #[async_trait]
    impl Recoverable for Lost {
        async fn initialize(&self) -> Result<(), ServiceError> {
            Ok(())
        }
        async fn shutdown(&self) -> Result<(), ServiceError> {
            Ok(())
        }
        async fn status(&self) -> ServiceStatus {
            ServiceStatus::Unhealthy
        }
        async fn recover(&self, _: &str) -> Result<(), ServiceError> {
            Err(ServiceError::new("still lost"))
        }
    }

    /// A failing health check reports the service to the recovery manager; when the ladder is
    /// exhausted an alert is raised, and the service's check fails in the health status.
    #[tokio::test(start_paused = true)]
    async fn a_failing_check_starts_recovery_and_an_exhausted_ladder_raises_an_alert() {
        let config = SystemHardeningConfig::from_text(
            r#"
enableHealthMonitoring: true
enableErrorRecovery: true
enablePerformanceMonitoring: false
enableResourceManagement: false
enableMetricsStore: false
healthCheckIntervalMs: 1000
recoverableServices: [audio-processing]
recovery: {ladder: {hard: [reinitialize], emergency: []}}
"#,
            Format::Yaml,
        )
        .unwrap();
        let hardening = builder(config)
            .service("audio-processing", Lost)
            .build()
            .unwrap();
        let mut events = hardening.subscribe();
        hardening.initialize().await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut seen = Vec::new();
        while let Ok(event) = events.try_recv() {
            seen.push(event);
        }
        let kinds: Vec<&str> = seen.iter().map(HardeningEvent::kind).collect();
        let started = kinds.iter().position(|k| *k == "recovery_started");
        let failed = kinds.iter().position(|k| *k == "recovery_failed");
        let alert = kinds.iter().position(|k| *k == "alert_created");
        assert!(
            started < failed && failed < alert && started.is_some(),
            "{kinds:?}"
        );
        assert!(
            seen.iter().any(|e| matches!(e, HardeningEvent::RecoveryStarted { failure, .. } if failure == "health_check_failed")),
            "{seen:#?}"
        );
        let alerts = hardening.alerts().unwrap().active();
        assert_eq!(alerts.len(), 1);
        // The check keeps failing, so recovery is tried again (with backoff) until the
        // service has failed too often and is given up; its check then fails for good.
        tokio::time::sleep(Duration::from_secs(120)).await;
        let given_up = hardening.service_health("audio-processing").await.unwrap();
        assert_eq!(given_up.condition, hardening::Condition::GivenUp);
        let check = hardening
            .health_status()
            .unwrap()
            .checks
            .into_iter()
            .find(|c| c.name == "service:audio-processing")
            .unwrap();
        assert_eq!(check.status, hardening::health::Status::Fail);
        hardening.shutdown().await;
    }
}

#[cfg(all(feature = "performance-monitoring", feature = "resource-management"))]
mod pressure {
    use super::*;
    use hardening::HardeningError;
    use hardening::resources::Requirements;
    use std::time::Duration;

    /// Resident memory past `performance.rssLimit` for the hold time: a threshold event,
    /// emergency mode, and requests below `resources.emergencyMinPriority` shed.
    #[tokio::test(start_paused = true)]
    async fn memory_pressure_sheds_low_priority_requests() {
        let config = SystemHardeningConfig::from_text(
            r#"
enablePerformanceMonitoring: true
enableResourceManagement: true
enableHealthMonitoring: false
enableErrorRecovery: false
enableMetricsStore: false
performanceCheckIntervalMs: 1000
performance: {rssLimit: 1KiB, holdMs: 2000}
resources: {emergencyMinPriority: 5}
"#,
            Format::Yaml,
        )
        .unwrap();
        let hardening = builder(config).build().unwrap();
        let mut events = hardening.subscribe();
        hardening.initialize().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut seen = Vec::new();
        while let Ok(event) = events.try_recv() {
            seen.push(event);
        }
        assert!(
            seen.iter().any(|e| matches!(
                e,
                HardeningEvent::PerformanceThreshold { exceeded: true, .. }
            )),
            "{seen:#?}"
        );
        assert!(
            seen.iter()
                .any(|e| matches!(e, HardeningEvent::EmergencyActivated { .. })),
            "{seen:#?}"
        );
        assert!(hardening.is_emergency());
        assert!(matches!(
            hardening
                .request_resource("cpu", "batch", 1, Requirements::new())
                .await,
            Err(HardeningError::Shed { min_priority: 5 })
        ));
        assert!(hardening.resource_stats().unwrap().shedding);
        hardening.shutdown().await;
    }
}

#[cfg(feature = "metrics-store")]
mod store {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_metrics_store_samples_on_its_interval() {
        let mut config = SystemHardeningConfig {
            enable_metrics_store: true,
            ..nothing()
        };
        config.metrics_store.sample_interval_ms = 1000;
        let hardening = builder(config)
            .install_metrics_recorder(false)
            .build()
            .unwrap();
        let store = hardening.metrics_store().unwrap().clone();
        metrics::with_local_recorder(&*store, || {
            metrics::counter!("requests_total").increment(3);
        });
        hardening.initialize().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(25)).await;
        let snapshot = store.snapshot();
        assert!(
            snapshot
                .iter()
                .any(|(key, value)| key.name() == "requests_total" && *value == 3.0),
            "{snapshot:?}"
        );
        hardening.shutdown().await;
    }
}
