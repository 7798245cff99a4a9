//! The seeds' error-recovery flow, end to end, in virtual time: a service starts failing, its
//! breaker opens, the recovery manager is told and runs its ladder, the service shows as
//! recovering, then its breaker half-opens, probes succeed, and it closes.
#![cfg(feature = "error-recovery")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use hardening::breaker::State;
use hardening::config::{Format, SystemHardeningConfig};
use hardening::recovery::{Recoverable, ServiceError, ServiceStatus, async_trait};
use hardening::{Condition, Hardening, HardeningEvent, next_event};
use tokio::sync::broadcast;

/// A dependency that can be broken, and that a `reconnect` mends after two seconds.
#[derive(Default)]
struct Inference {
    up: AtomicBool,
    broken: AtomicBool,
    /// Whether `reconnect` works.
    mendable: AtomicBool,
    reconnects: AtomicU32,
}

impl Inference {
    fn mendable() -> Arc<Self> {
        let service = Inference::default();
        service.mendable.store(true, Ordering::SeqCst);
        Arc::new(service)
    }

    async fn infer(&self, x: u32) -> Result<u32, ServiceError> {
        if self.broken.load(Ordering::SeqCst) {
            Err(ServiceError::new("CUDA error: device lost"))
        } else {
            Ok(x * 2)
        }
    }
}

#[async_trait]
impl Recoverable for Inference {
    async fn initialize(&self) -> Result<(), ServiceError> {
        self.up.store(true, Ordering::SeqCst);
        Ok(())
    }
    async fn shutdown(&self) -> Result<(), ServiceError> {
        self.up.store(false, Ordering::SeqCst);
        Ok(())
    }
    async fn status(&self) -> ServiceStatus {
        match (
            self.up.load(Ordering::SeqCst),
            self.broken.load(Ordering::SeqCst),
        ) {
            (false, _) => ServiceStatus::Stopped,
            (true, true) => ServiceStatus::Unhealthy,
            (true, false) => ServiceStatus::Healthy,
        }
    }
    async fn recover(&self, action: &str) -> Result<(), ServiceError> {
        match action {
            "reconnect" => {
                self.reconnects.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(2)).await;
                if self.mendable.load(Ordering::SeqCst) {
                    self.broken.store(false, Ordering::SeqCst);
                    Ok(())
                } else {
                    Err(ServiceError::new("the device is still lost"))
                }
            }
            other => Err(ServiceError::new(format!("no action {other}"))),
        }
    }
}

/// The seeds' config, with a small breaker window so four calls decide, retry off (each call
/// is one attempt), health checks rare (so that only the breaker reports the failure) and a
/// ladder that reconnects first.
fn config() -> SystemHardeningConfig {
    SystemHardeningConfig::from_text(
        r#"
enableHealthMonitoring: false
enablePerformanceMonitoring: false
enableResourceManagement: false
enableMetricsStore: false
healthCheckIntervalMs: 3600000
recoverableServices: [model-inference]
breaker:
  slidingWindowSize: 4
  minimumNumberOfCalls: 4
  failureRateThreshold: 50
  permittedNumberOfCallsInHalfOpenState: 2
  waitDurationInOpenStateMs: 3600000
retry:
  maxAttempts: 1
recovery:
  ladder:
    soft: [reconnect]
    hard: [reinitialize]
    emergency: []
  backoffInitialMs: 100
  backoffMaxMs: 1000
"#,
        Format::Yaml,
    )
    .unwrap()
}

/// A builder that leaves the process's `metrics` recorder alone: the tests build many systems.
fn builder(config: SystemHardeningConfig) -> hardening::HardeningBuilder {
    let builder = Hardening::builder(config);
    #[cfg(any(feature = "metrics-store", feature = "http"))]
    let builder = builder.install_metrics_recorder(false);
    builder
}

async fn drain(events: &mut broadcast::Receiver<HardeningEvent>) -> Vec<HardeningEvent> {
    // Let every spawned task run to a standstill first.
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    seen
}

fn breaker_change(service: &str, from: State, to: State) -> HardeningEvent {
    HardeningEvent::BreakerStateChanged {
        service: service.to_string(),
        from,
        to,
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_service_is_isolated_recovered_and_let_back_in() {
    let service = Inference::mendable();
    let hardening = builder(config())
        .service_arc("model-inference", service.clone())
        .build()
        .unwrap();
    let mut events = hardening.subscribe();
    hardening.initialize().await.unwrap();
    assert_eq!(drain(&mut events).await, [HardeningEvent::Initialized]);

    let call = |x| {
        let service = Arc::clone(&service);
        let hardening = hardening.clone();
        async move {
            hardening
                .call("model-inference", async || service.infer(x).await)
                .await
        }
    };
    assert_eq!(call(1).await.unwrap(), 2);
    let health = hardening.service_health("model-inference").await.unwrap();
    assert_eq!(health.condition, Condition::Healthy);

    // The device is lost: four failed calls fill the window and open the breaker.
    service.broken.store(true, Ordering::SeqCst);
    for x in 0..4 {
        assert!(call(x).await.is_err());
    }
    let opened = drain(&mut events).await;
    assert_eq!(
        opened,
        [
            breaker_change("model-inference", State::Closed, State::Open),
            HardeningEvent::RecoveryStarted {
                service: "model-inference".into(),
                failure: "circuit_open".into(),
            },
        ]
    );
    // Calls are now refused without reaching the service.
    let refused = call(9).await.unwrap_err();
    assert!(refused.to_string().contains("open"), "{refused}");

    // The reconnect takes two seconds; meanwhile the service shows as recovering.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let health = hardening.service_health("model-inference").await.unwrap();
    assert_eq!(health.condition, Condition::Recovering);
    assert_eq!(health.circuit_state, State::Open);

    tokio::time::sleep(Duration::from_secs(2)).await;
    let recovered = drain(&mut events).await;
    assert_eq!(recovered.len(), 3, "{recovered:#?}");
    assert!(
        matches!(&recovered[0], HardeningEvent::RecoveryAction { action, .. } if action == "reconnect"),
        "{recovered:#?}"
    );
    assert!(
        matches!(&recovered[1], HardeningEvent::RecoveryCompleted { action, time_to_recover, .. }
            if action == "reconnect" && *time_to_recover >= Duration::from_secs(2)),
        "{recovered:#?}"
    );
    assert_eq!(
        recovered[2],
        breaker_change("model-inference", State::Open, State::HalfOpen)
    );
    assert_eq!(service.reconnects.load(Ordering::SeqCst), 1);
    let health = hardening.service_health("model-inference").await.unwrap();
    assert_eq!(health.condition, Condition::Degraded);

    // Two probes succeed and the breaker closes.
    assert_eq!(call(20).await.unwrap(), 40);
    assert_eq!(call(21).await.unwrap(), 42);
    assert_eq!(
        drain(&mut events).await,
        [breaker_change(
            "model-inference",
            State::HalfOpen,
            State::Closed
        )]
    );
    let health = hardening.service_health("model-inference").await.unwrap();
    assert_eq!(health.condition, Condition::Healthy);
    assert_eq!(health.circuit_state, State::Closed);

    let history = hardening
        .recovery_manager()
        .unwrap()
        .history_of("model-inference");
    assert_eq!(history.len(), 1);
    let report = hardening.shutdown().await;
    assert!(report.within_bound, "{report:?}");
    assert_eq!(
        hardening
            .service_health("model-inference")
            .await
            .unwrap()
            .condition,
        Condition::Stopped
    );
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_ladder_is_a_recovery_failure_event() {
    let service = Arc::new(Inference::default());
    let hardening = builder(config())
        .service_arc("model-inference", service.clone())
        .build()
        .unwrap();
    let mut events = hardening.subscribe();
    hardening.initialize().await.unwrap();
    service.broken.store(true, Ordering::SeqCst);
    // Reinitializing does not mend it either (initialize only marks it up).
    hardening.recover("model-inference", "operator").unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let seen: Vec<HardeningEvent> = drain(&mut events)
        .await
        .into_iter()
        .filter(|e| e.kind() != "initialized")
        .collect();
    assert!(
        matches!(seen.first(), Some(HardeningEvent::RecoveryStarted { failure, .. }) if failure == "operator"),
        "{seen:#?}"
    );
    assert!(
        matches!(seen.last(), Some(HardeningEvent::RecoveryFailed { service, given_up: false, .. }) if service == "model-inference"),
        "{seen:#?}"
    );
    let actions: Vec<&str> = seen
        .iter()
        .filter_map(|e| match e {
            HardeningEvent::RecoveryAction { action, .. } => Some(action.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(actions, ["reconnect", "reinitialize"]);
    assert_eq!(
        hardening
            .service_health("model-inference")
            .await
            .unwrap()
            .condition,
        Condition::Unhealthy
    );
}

#[tokio::test(start_paused = true)]
async fn only_services_named_recoverable_are_recovered() {
    let hardening = builder(config())
        .service_arc("model-inference", Inference::mendable())
        .service_arc("audio-processing", Inference::mendable())
        .build()
        .unwrap();
    let mut events = hardening.subscribe();
    hardening.initialize().await.unwrap();
    assert_eq!(
        next_event(&mut events).await,
        Some(HardeningEvent::Initialized)
    );
    let refused = hardening
        .recover("audio-processing", "operator")
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("'audio-processing' is not a recoverable service"),
        "{refused}"
    );
    let health = hardening.service_health("audio-processing").await.unwrap();
    assert!(!health.recoverable);
    assert!(health.recovery.is_none());
    // An opened breaker of a service that is not recoverable is an event, not a recovery.
    hardening
        .breaker("audio-processing")
        .unwrap()
        .transition_to(State::Open);
    hardening.recover("model-inference", "operator").unwrap();
    assert_eq!(
        drain(&mut events).await,
        [
            breaker_change("audio-processing", State::Closed, State::Open),
            HardeningEvent::RecoveryStarted {
                service: "model-inference".into(),
                failure: "operator".into(),
            },
        ]
    );
}

#[tokio::test]
async fn every_setting_that_cannot_work_is_reported_when_the_system_is_built() {
    let mut config = config();
    config.recoverable_services = vec!["model-inference".into(), "speech".into()];
    config
        .services
        .insert("vision".into(), config.service("vision"));
    let errors = builder(config)
        .service_arc("model-inference", Inference::mendable())
        .service_arc("model-inference", Inference::mendable())
        .build()
        .unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field()).collect();
    assert_eq!(
        fields,
        ["recoverableServices", "services.vision", "(services)"],
        "{errors}"
    );
    let text = errors.to_string();
    assert!(text.contains("\"speech\""), "{text}");
    assert!(text.contains("registered twice"), "{text}");
}

#[test]
fn a_recovery_before_initialize_is_refused() {
    let hardening = builder(config())
        .service_arc("model-inference", Inference::mendable())
        .build()
        .unwrap();
    assert!(matches!(
        hardening.recover("model-inference", "operator"),
        Err(hardening::HardeningError::NotRunning)
    ));
}

/// `retry.attemptTimeoutMs` becomes each service's timeout stage, inside the breaker: a
/// hanging call is cut, counted by the breaker as a failure, and retried.
#[tokio::test(start_paused = true)]
async fn the_attempt_timeout_is_the_pipelines_timeout_inside_the_breaker() {
    let mut config = config();
    config.retry.max_attempts = 2;
    config.retry.budget_enabled = false;
    config.retry.attempt_timeout_ms = Some(500);
    let hardening = builder(config)
        .service_arc("model-inference", Inference::mendable())
        .build()
        .unwrap();
    hardening.initialize().await.unwrap();
    let started = tokio::time::Instant::now();
    let err = hardening
        .call("model-inference", async || {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, ServiceError>(1)
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    // Two attempts of 500 ms, and the retry's wait between them (at most 100 ms).
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1000) && took <= Duration::from_millis(1100),
        "{took:?}"
    );
    let metrics = hardening.breaker("model-inference").unwrap().metrics();
    assert_eq!(metrics.failed_calls, 2, "{metrics:?}");
}

/// A call through the facade can run in a spawned task (its future is `Send`), as it must in
/// an axum handler or a worker pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_can_be_spawned() {
    let service = Inference::mendable();
    let hardening = builder(config())
        .service_arc("model-inference", service.clone())
        .build()
        .unwrap();
    hardening.initialize().await.unwrap();
    let spawned = tokio::spawn({
        let hardening = hardening.clone();
        async move {
            hardening
                .call("model-inference", async move || service.infer(21).await)
                .await
        }
    });
    assert_eq!(spawned.await.unwrap().unwrap(), 42);
    hardening.shutdown().await;
}
