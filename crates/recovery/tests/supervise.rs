//! Each rule of supervised recovery, one test apiece, on tokio's paused clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardening_recovery::{
    Action, ActionOutcome, AlertReason, Backoff, Ladder, Level, Lifecycle, Recoverable,
    RecoveryError, RecoveryEvent, RecoveryEventKind, RecoveryManager, RecoveryManagerBuilder,
    RecoveryOutcome, RecoveryRecord, RegistryError, Reported, ServiceError, ServiceRegistry,
    ServiceStatus, async_trait,
};
use tokio::time::Instant;

const SEC: fn(u64) -> Duration = Duration::from_secs;

/// What an action does to the mock service.
#[derive(Debug, Clone, Copy)]
enum Does {
    /// Brings it up after `0` of work.
    Fix(Duration),
    /// Returns an error.
    Fail,
    /// Returns `Ok` but leaves it down.
    Nothing,
    /// Never returns.
    Hang,
}

/// A service whose actions do what the test says, and which records when each ran.
struct Mock {
    up: AtomicBool,
    does: Mutex<HashMap<String, Does>>,
    log: Mutex<Vec<(String, Duration)>>,
    epoch: Instant,
    /// Shared between services: how many actions run at once, and the most seen.
    busy: Arc<(AtomicUsize, AtomicUsize)>,
}

impl Mock {
    fn new(does: &[(&str, Does)]) -> Arc<Mock> {
        Mock::sharing(does, Arc::default())
    }

    fn sharing(does: &[(&str, Does)], busy: Arc<(AtomicUsize, AtomicUsize)>) -> Arc<Mock> {
        Arc::new(Mock {
            up: AtomicBool::new(true),
            does: Mutex::new(does.iter().map(|(a, d)| (a.to_string(), *d)).collect()),
            log: Mutex::new(Vec::new()),
            epoch: Instant::now(),
            busy,
        })
    }

    fn set(&self, action: &str, does: Does) {
        self.does.lock().unwrap().insert(action.to_string(), does);
    }

    fn actions(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(a, _)| a.clone())
            .collect()
    }

    fn times(&self) -> Vec<Duration> {
        self.log.lock().unwrap().iter().map(|(_, t)| *t).collect()
    }

    async fn act(&self, action: &str) -> Result<(), ServiceError> {
        self.log
            .lock()
            .unwrap()
            .push((action.to_string(), self.epoch.elapsed()));
        let does = self
            .does
            .lock()
            .unwrap()
            .get(action)
            .copied()
            .unwrap_or(Does::Fail);
        let (busy, max) = &*self.busy;
        let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
        max.fetch_max(now, Ordering::SeqCst);
        let result = match does {
            Does::Fix(work) => {
                tokio::time::sleep(work).await;
                self.up.store(true, Ordering::SeqCst);
                Ok(())
            }
            Does::Fail => Err(ServiceError::new(format!("{action} failed"))),
            Does::Nothing => Ok(()),
            Does::Hang => std::future::pending().await,
        };
        busy.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

#[async_trait]
impl Recoverable for Mock {
    async fn initialize(&self) -> Result<(), ServiceError> {
        self.act("reinitialize").await
    }
    async fn shutdown(&self) -> Result<(), ServiceError> {
        self.up.store(false, Ordering::SeqCst);
        Ok(())
    }
    async fn status(&self) -> ServiceStatus {
        if self.up.load(Ordering::SeqCst) {
            ServiceStatus::Healthy
        } else {
            ServiceStatus::Unhealthy
        }
    }
    async fn recover(&self, action: &str) -> Result<(), ServiceError> {
        self.act(action).await
    }
}

fn ladder() -> Ladder {
    Ladder::new()
        .level(Level::Soft, ["reconnect"])
        .level(Level::Medium, ["clear_cache"])
        .level(Level::Hard, [Action::Reinitialize])
        .level(Level::Emergency, ["failover"])
}

type Events = Arc<Mutex<Vec<(String, String)>>>;

/// A manager over `services`, and its events as (service, debug text).
fn manager(
    services: &[(&str, Arc<Mock>)],
    configure: impl FnOnce(RecoveryManagerBuilder) -> RecoveryManagerBuilder,
) -> (RecoveryManager, Events) {
    let registry = ServiceRegistry::new();
    for (name, service) in services {
        registry
            .register_arc(*name, Arc::clone(service) as Arc<dyn Recoverable>)
            .unwrap();
    }
    let events: Events = Arc::default();
    let sink = Arc::clone(&events);
    let builder = RecoveryManager::builder(registry)
        .ladder(ladder())
        .backoff(Backoff::exponential(SEC(1), 2.0, SEC(8)))
        .on_event(move |e: &RecoveryEvent<'_>| {
            sink.lock()
                .unwrap()
                .push((e.service.to_string(), format!("{:?}", e.kind)));
        });
    (configure(builder).build().unwrap(), events)
}

/// Fails `service` and waits for the recovery to end.
async fn fail(manager: &RecoveryManager, service: &str, kind: &str) -> RecoveryRecord {
    match manager.report_failure(service, kind).unwrap() {
        Reported::Started(ticket) => ticket.wait().await.unwrap(),
        other => panic!("expected a recovery to start, got {other:?}"),
    }
}

fn alerts(events: &Events) -> Vec<String> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, e)| e.starts_with("OperatorAlert"))
        .map(|(_, e)| e.clone())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_ladder_escalates_level_by_level_until_an_action_works() {
    let db = Mock::new(&[
        ("reconnect", Does::Fail),
        ("clear_cache", Does::Nothing),
        ("reinitialize", Does::Fix(SEC(2))),
    ]);
    let (manager, events) = manager(&[("db", Arc::clone(&db))], |b| b);
    db.up.store(false, Ordering::SeqCst);
    let record = fail(&manager, "db", "timeout").await;
    assert_eq!(db.actions(), ["reconnect", "clear_cache", "reinitialize"]);
    assert_eq!(
        record.outcome,
        RecoveryOutcome::Recovered {
            level: Level::Hard,
            action: "reinitialize".into()
        }
    );
    let outcomes: Vec<_> = record
        .actions
        .iter()
        .map(|a| (a.level, a.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            (Level::Soft, ActionOutcome::Failed),
            (Level::Medium, ActionOutcome::NotUp),
            (Level::Hard, ActionOutcome::Succeeded),
        ]
    );
    assert_eq!(
        record.actions[0].message.as_deref(),
        Some("reconnect failed")
    );
    assert_eq!(record.duration, SEC(2));
    assert_eq!(manager.registry().lifecycle("db"), Some(Lifecycle::Running));
    assert!(alerts(&events).is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_ladder_alerts_an_operator() {
    let db = Mock::new(&[]);
    let (manager, events) = manager(&[("db", Arc::clone(&db))], |b| b);
    let record = fail(&manager, "db", "disk_full").await;
    assert_eq!(record.outcome, RecoveryOutcome::Exhausted);
    assert_eq!(
        db.actions(),
        ["reconnect", "clear_cache", "reinitialize", "failover"]
    );
    assert_eq!(manager.registry().lifecycle("db"), Some(Lifecycle::Failed));
    let alerts = alerts(&events);
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].contains("LadderExhausted"), "{alerts:?}");
}

#[tokio::test(start_paused = true)]
async fn past_the_restart_intensity_the_service_is_given_up() {
    let db = Mock::new(&[("reconnect", Does::Fix(Duration::ZERO))]);
    let (manager, events) = manager(&[("db", Arc::clone(&db))], |b| {
        b.intensity(2, SEC(60)).backoff(Backoff::none())
    });
    fail(&manager, "db", "crash").await;
    fail(&manager, "db", "crash").await;
    assert!(matches!(
        manager.report_failure("db", "crash").unwrap(),
        Reported::GivenUp
    ));
    assert_eq!(manager.registry().lifecycle("db"), Some(Lifecycle::GivenUp));
    assert_eq!(db.actions().len(), 2, "no third recovery ran");
    let alerts = alerts(&events);
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].contains("IntensityExceeded"), "{alerts:?}");
    assert_eq!(
        manager.history().last().map(|r| r.outcome.clone()),
        Some(RecoveryOutcome::GivenUp)
    );

    // Given up stays given up, even after the period, until an operator resets it.
    tokio::time::advance(SEC(120)).await;
    assert!(matches!(
        manager.report_failure("db", "crash").unwrap(),
        Reported::GivenUp
    ));
    manager.reset("db").unwrap();
    fail(&manager, "db", "crash").await;
    assert_eq!(db.actions().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn recoveries_outside_the_intensity_period_do_not_count() {
    let db = Mock::new(&[("reconnect", Does::Fix(Duration::ZERO))]);
    let (manager, _) = manager(&[("db", Arc::clone(&db))], |b| {
        b.intensity(2, SEC(60)).backoff(Backoff::none())
    });
    for _ in 0..5 {
        fail(&manager, "db", "crash").await;
        tokio::time::advance(SEC(31)).await;
    }
    assert_eq!(db.actions().len(), 5);
}

#[tokio::test(start_paused = true)]
async fn the_backoff_grows_between_recoveries_and_resets_after_a_stable_period() {
    let db = Mock::new(&[("reconnect", Does::Fix(Duration::ZERO))]);
    let (manager, events) = manager(&[("db", Arc::clone(&db))], |b| {
        b.intensity(100, SEC(3600)).stable_period(SEC(30))
    });
    for _ in 0..5 {
        fail(&manager, "db", "crash").await;
    }
    // Immediately, then 1 s, 2 s, 4 s and 8 s (the cap) after each previous one.
    assert_eq!(db.times(), [SEC(0), SEC(1), SEC(3), SEC(7), SEC(15)]);
    let delays: Vec<_> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, e)| e.starts_with("Started"))
        .map(|(_, e)| e.clone())
        .collect();
    assert!(delays[4].contains("8s"), "{delays:?}");

    // Up for less than the stable period: the backoff keeps growing (capped).
    tokio::time::advance(SEC(29)).await;
    fail(&manager, "db", "crash").await;
    assert_eq!(db.times()[5], SEC(15 + 29 + 8));

    // Up for the stable period: it starts over, at once.
    tokio::time::advance(SEC(30)).await;
    fail(&manager, "db", "crash").await;
    assert_eq!(db.times()[6], SEC(15 + 29 + 8 + 30));
    fail(&manager, "db", "crash").await;
    assert_eq!(db.times()[7], SEC(15 + 29 + 8 + 30 + 1));
}

#[tokio::test(start_paused = true)]
async fn at_most_k_recoveries_run_at_once() {
    let busy: Arc<(AtomicUsize, AtomicUsize)> = Arc::default();
    let services: Vec<_> = (0..5)
        .map(|i| {
            let mock = Mock::sharing(&[("reconnect", Does::Fix(SEC(1)))], Arc::clone(&busy));
            (format!("svc{i}"), mock)
        })
        .collect();
    let named: Vec<_> = services
        .iter()
        .map(|(n, m)| (n.as_str(), Arc::clone(m)))
        .collect();
    let (manager, _) = manager(&named, |b| b.max_concurrent(2));
    let start = Instant::now();
    let tickets: Vec<_> = services
        .iter()
        .map(
            |(name, _)| match manager.report_failure(name, "crash").unwrap() {
                Reported::Started(t) => t,
                other => panic!("{other:?}"),
            },
        )
        .collect();
    tokio::task::yield_now().await;
    assert_eq!(manager.running(), 2);
    for ticket in tickets {
        let record = ticket.wait().await.unwrap();
        assert!(matches!(record.outcome, RecoveryOutcome::Recovered { .. }));
    }
    assert_eq!(
        busy.1.load(Ordering::SeqCst),
        2,
        "never more than two at once"
    );
    assert_eq!(
        start.elapsed(),
        SEC(3),
        "five one-second recoveries, two at a time"
    );
    assert_eq!(manager.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_hung_action_times_out_and_the_ladder_moves_on() {
    let db = Mock::new(&[
        ("reconnect", Does::Hang),
        ("clear_cache", Does::Fix(Duration::ZERO)),
    ]);
    let (manager, _) = manager(&[("db", Arc::clone(&db))], |b| b.action_timeout(SEC(5)));
    let start = Instant::now();
    let record = fail(&manager, "db", "stuck").await;
    assert_eq!(record.actions[0].outcome, ActionOutcome::TimedOut);
    assert_eq!(record.actions[0].duration, SEC(5));
    assert_eq!(
        record.outcome,
        RecoveryOutcome::Recovered {
            level: Level::Medium,
            action: "clear_cache".into()
        }
    );
    assert_eq!(start.elapsed(), SEC(5));
}

#[tokio::test(start_paused = true)]
async fn actions_that_work_for_a_failure_kind_are_tried_first() {
    let db = Mock::new(&[
        ("reconnect", Does::Fail),
        ("flush", Does::Fix(Duration::ZERO)),
    ]);
    let registry = ServiceRegistry::new();
    registry
        .register_arc("db", Arc::clone(&db) as Arc<dyn Recoverable>)
        .unwrap();
    let manager = RecoveryManager::builder(registry)
        .ladder(
            Ladder::new()
                .level(Level::Soft, ["reconnect", "flush", "ping"])
                .level(Level::Emergency, [Action::Restart]),
        )
        .backoff(Backoff::none())
        .intensity(100, SEC(60))
        .build()
        .unwrap();
    let names = |plan: Vec<(Level, Vec<Action>)>| -> Vec<String> {
        plan[0].1.iter().map(|a| a.name().to_string()).collect()
    };
    // Nothing learned yet: the configured order.
    assert_eq!(
        names(manager.plan("timeout")),
        ["reconnect", "flush", "ping"]
    );

    fail(&manager, "db", "timeout").await;
    assert_eq!(db.actions(), ["reconnect", "flush"]);
    // reconnect: 0/1 → 1/3; flush: 1/1 → 2/3; ping untried → 1/2.
    assert_eq!(
        names(manager.plan("timeout")),
        ["flush", "ping", "reconnect"]
    );
    fail(&manager, "db", "timeout").await;
    assert_eq!(db.actions()[2..], ["flush"]);

    // Learning is per failure kind: another kind still gets the configured order.
    assert_eq!(names(manager.plan("oom")), ["reconnect", "flush", "ping"]);
    let stats = manager.action_stats("timeout");
    assert_eq!(
        (
            stats[1].action.as_str(),
            stats[1].successes,
            stats[1].attempts
        ),
        ("flush", 2, 2)
    );
    assert_eq!(stats[1].score, 0.75);
    // Levels are never reordered by learning.
    assert_eq!(manager.plan("timeout")[1].0, Level::Emergency);
}

#[tokio::test(start_paused = true)]
async fn equal_scores_keep_the_configured_order() {
    let db = Mock::new(&[
        ("a", Does::Fix(Duration::ZERO)),
        ("b", Does::Fix(Duration::ZERO)),
    ]);
    let registry = ServiceRegistry::new();
    registry
        .register_arc("db", Arc::clone(&db) as Arc<dyn Recoverable>)
        .unwrap();
    let manager = RecoveryManager::builder(registry)
        .ladder(Ladder::new().level(Level::Soft, ["b", "a"]))
        .backoff(Backoff::none())
        .build()
        .unwrap();
    fail(&manager, "db", "k").await; // b works once: b 2/3, a 1/2
    let plan: Vec<_> = manager.plan("k")[0]
        .1
        .iter()
        .map(|a| a.name().to_string())
        .collect();
    assert_eq!(plan, ["b", "a"]);
}

#[tokio::test(start_paused = true)]
async fn a_service_can_have_a_ladder_of_its_own() {
    let db = Mock::new(&[("reconnect", Does::Fix(Duration::ZERO))]);
    let cache = Mock::new(&[("flush", Does::Fix(Duration::ZERO))]);
    let (manager, _) = manager(
        &[("db", Arc::clone(&db)), ("cache", Arc::clone(&cache))],
        |b| b.ladder_for("cache", Ladder::new().level(Level::Soft, ["flush"])),
    );
    fail(&manager, "cache", "stale").await;
    fail(&manager, "db", "stale").await;
    assert_eq!(cache.actions(), ["flush"]);
    assert_eq!(db.actions(), ["reconnect"]);
    assert_eq!(manager.plan_for("cache", "stale").len(), 1);
    assert_eq!(manager.plan_for("db", "stale").len(), 4);
    let flush = manager
        .action_stats("stale")
        .into_iter()
        .find(|s| s.action == "flush");
    assert_eq!(flush.map(|s| (s.successes, s.attempts)), Some((1, 1)));
}

#[tokio::test(start_paused = true)]
async fn only_registered_services_are_recovered() {
    let (manager, _) = manager(&[("db", Mock::new(&[]))], |b| b);
    let err = manager.report_failure("cache", "timeout").unwrap_err();
    assert_eq!(err, RecoveryError::UnknownService("cache".into()));
    assert!(
        err.to_string().contains("not a recoverable service"),
        "{err}"
    );
    assert_eq!(
        manager.reset("cache"),
        Err(RecoveryError::UnknownService("cache".into()))
    );
    assert!(manager.history().is_empty());
}

#[test]
fn reporting_outside_a_runtime_is_an_error_not_a_panic() {
    let (manager, _) = manager(&[("db", Mock::new(&[]))], |b| b);
    let err = manager.report_failure("db", "timeout").unwrap_err();
    assert_eq!(err, RecoveryError::NoRuntime);
}

#[tokio::test(start_paused = true)]
async fn a_second_report_joins_the_running_recovery() {
    let db = Mock::new(&[("reconnect", Does::Fix(SEC(1)))]);
    let (manager, _) = manager(&[("db", Arc::clone(&db))], |b| b);
    let first = manager.report_failure("db", "crash").unwrap();
    assert!(matches!(
        manager.report_failure("db", "crash").unwrap(),
        Reported::AlreadyRecovering
    ));
    let Reported::Started(ticket) = first else {
        panic!("not started")
    };
    ticket.wait().await.unwrap();
    assert_eq!(db.actions(), ["reconnect"]);
}

#[tokio::test(start_paused = true)]
async fn history_is_bounded_queryable_and_gives_the_mean_time_to_recovery() {
    let db = Mock::new(&[("reconnect", Does::Fix(SEC(2)))]);
    let cache = Mock::new(&[("reconnect", Does::Fix(SEC(4)))]);
    let (manager, _) = manager(
        &[("db", Arc::clone(&db)), ("cache", Arc::clone(&cache))],
        |b| {
            b.history_capacity(3)
                .backoff(Backoff::none())
                .intensity(100, SEC(60))
        },
    );
    assert_eq!(manager.mean_time_to_recovery(None), None);
    fail(&manager, "db", "a").await;
    fail(&manager, "cache", "b").await;
    assert_eq!(manager.mean_time_to_recovery(None), Some(SEC(3)));
    assert_eq!(manager.mean_time_to_recovery(Some("cache")), Some(SEC(4)));
    fail(&manager, "db", "c").await;
    fail(&manager, "db", "d").await;
    let history = manager.history();
    assert_eq!(history.len(), 3, "bounded");
    let failures: Vec<_> = history.iter().map(|r| r.failure.as_str()).collect();
    assert_eq!(failures, ["b", "c", "d"], "oldest dropped first");
    assert_eq!(manager.history_of("db").len(), 2);
    let record = &history[1];
    assert!(record.started_at.is_some());
    assert_eq!(record.actions[0].action, "reconnect");
    assert_eq!(record.duration, SEC(2));
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_running_recoveries_up_to_a_bound() {
    let quick = Mock::new(&[("reconnect", Does::Fix(SEC(2)))]);
    let slow = Mock::new(&[("reconnect", Does::Fix(SEC(60)))]);
    let (manager, _) = manager(
        &[("quick", Arc::clone(&quick)), ("slow", Arc::clone(&slow))],
        |b| b,
    );
    let Reported::Started(quick_ticket) = manager.report_failure("quick", "x").unwrap() else {
        panic!()
    };
    let Reported::Started(slow_ticket) = manager.report_failure("slow", "x").unwrap() else {
        panic!()
    };
    tokio::task::yield_now().await;
    let start = Instant::now();
    let report = manager.shutdown(SEC(10)).await;
    assert_eq!(start.elapsed(), SEC(10));
    assert_eq!((report.finished, report.aborted), (1, 1));
    assert!(matches!(
        quick_ticket.wait().await.unwrap().outcome,
        RecoveryOutcome::Recovered { .. }
    ));
    assert_eq!(
        slow_ticket.wait().await.unwrap().outcome,
        RecoveryOutcome::Cancelled
    );
    assert_eq!(
        manager.report_failure("quick", "x").unwrap_err(),
        RecoveryError::ShuttingDown
    );
    assert_eq!(manager.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_returns_as_soon_as_recoveries_end() {
    let db = Mock::new(&[("reconnect", Does::Fix(SEC(1)))]);
    let (manager, _) = manager(&[("db", Arc::clone(&db))], |b| b);
    let _ = manager.report_failure("db", "x").unwrap();
    tokio::task::yield_now().await;
    let start = Instant::now();
    let report = manager.shutdown(SEC(30)).await;
    assert_eq!((report.finished, report.aborted), (1, 0));
    assert_eq!(start.elapsed(), SEC(1));
}

#[tokio::test(start_paused = true)]
async fn the_registry_tracks_lifecycles_and_refuses_duplicates() {
    let registry = ServiceRegistry::new();
    registry
        .register_arc(
            "b",
            Mock::new(&[("reinitialize", Does::Fix(Duration::ZERO))]) as Arc<dyn Recoverable>,
        )
        .unwrap();
    registry
        .register_arc("a", Mock::new(&[]) as Arc<dyn Recoverable>)
        .unwrap();
    assert!(matches!(
        registry.register_arc("a", Mock::new(&[]) as Arc<dyn Recoverable>),
        Err(RegistryError::Duplicate(_))
    ));
    assert_eq!(registry.lifecycle("a"), Some(Lifecycle::Registered));
    // "a" fails to initialize (its mock fails every action) and stops the sequence.
    let err = registry.initialize_all().await.unwrap_err();
    assert!(
        matches!(&err, RegistryError::Service { service, .. } if service == "a"),
        "{err}"
    );
    registry.initialize("b").await.unwrap();
    assert_eq!(registry.lifecycle("b"), Some(Lifecycle::Running));
    assert_eq!(registry.status("b").await.unwrap(), ServiceStatus::Healthy);
    assert!(matches!(
        registry.status("zz").await,
        Err(RegistryError::UnknownService(_))
    ));
    assert!(registry.shutdown_all().await.is_empty());
    assert_eq!(registry.lifecycle("a"), Some(Lifecycle::Stopped));
}

#[test]
fn the_builder_rejects_bad_settings_naming_the_field() {
    let field = |f: fn(RecoveryManagerBuilder) -> RecoveryManagerBuilder| {
        f(RecoveryManager::builder(ServiceRegistry::new()))
            .build()
            .unwrap_err()
            .field()
            .to_string()
    };
    assert_eq!(field(|b| b.ladder(Ladder::new())), "ladder");
    assert_eq!(
        field(|b| b.ladder(
            Ladder::new()
                .level(Level::Soft, ["x"])
                .level(Level::Hard, ["x"])
        )),
        "ladder"
    );
    assert_eq!(
        field(|b| b.intensity(0, SEC(1))),
        "intensity.max_recoveries"
    );
    assert_eq!(
        field(|b| b.intensity(1, Duration::ZERO)),
        "intensity.within"
    );
    assert_eq!(
        field(|b| b.backoff(Backoff::exponential(SEC(1), 0.5, SEC(2)))),
        "restart_backoff.multiplier"
    );
    assert_eq!(field(|b| b.stable_period(Duration::ZERO)), "stable_period");
    assert_eq!(field(|b| b.max_concurrent(0)), "max_concurrent");
    assert_eq!(
        field(|b| b.action_timeout(Duration::ZERO)),
        "action_timeout"
    );
    assert_eq!(field(|b| b.history_capacity(0)), "history_capacity");
}

#[test]
fn alert_reasons_read_well() {
    let reason = AlertReason::IntensityExceeded {
        max_recoveries: 3,
        within: SEC(60),
    };
    assert_eq!(
        reason.to_string(),
        "more than 3 recoveries within 60s; the service is given up"
    );
    let _ = RecoveryEventKind::OperatorAlert { reason };
}

#[tokio::test(start_paused = true)]
async fn the_worked_example_in_docs_recovery_md() {
    let db = Mock::new(&[
        ("reconnect", Does::Fail),
        ("clear_statement_cache", Does::Nothing),
        ("drop_pool", Does::Hang),
        ("reinitialize", Does::Fix(Duration::ZERO)),
    ]);
    let registry = ServiceRegistry::new();
    registry
        .register_arc("orders-db", Arc::clone(&db) as Arc<dyn Recoverable>)
        .unwrap();
    let events: Events = Arc::default();
    let sink = Arc::clone(&events);
    let manager = RecoveryManager::builder(Arc::clone(&registry))
        .ladder(
            Ladder::new()
                .level(Level::Soft, ["reconnect"])
                .level(Level::Medium, ["clear_statement_cache", "drop_pool"])
                .level(Level::Hard, [Action::Reinitialize])
                .level(Level::Emergency, [Action::Restart]),
        )
        .intensity(3, SEC(600))
        .backoff(Backoff::exponential(SEC(5), 2.0, SEC(60)))
        .stable_period(SEC(300))
        .max_concurrent(2)
        .action_timeout(SEC(30))
        .on_event(move |e: &RecoveryEvent<'_>| {
            sink.lock()
                .unwrap()
                .push((e.service.to_string(), format!("{:?}", e.kind)));
        })
        .build()
        .unwrap();
    let start = Instant::now();
    let at = |h: u64, m: u64, s: u64| SEC((h - 10) * 3600 + m * 60 + s);

    // 10:00:00
    db.up.store(false, Ordering::SeqCst);
    let record = fail(&manager, "orders-db", "breaker_open").await;
    let table: Vec<_> = record
        .actions
        .iter()
        .map(|a| {
            (
                a.level,
                a.action.as_str(),
                a.outcome,
                a.started_at - record.reported_at,
            )
        })
        .collect();
    assert_eq!(
        table,
        [
            (
                Level::Soft,
                "reconnect",
                ActionOutcome::Failed,
                at(10, 0, 0)
            ),
            (
                Level::Medium,
                "clear_statement_cache",
                ActionOutcome::NotUp,
                at(10, 0, 0)
            ),
            (
                Level::Medium,
                "drop_pool",
                ActionOutcome::TimedOut,
                at(10, 0, 0)
            ),
            (
                Level::Hard,
                "reinitialize",
                ActionOutcome::Succeeded,
                at(10, 0, 30)
            ),
        ]
    );
    assert_eq!(record.duration, SEC(30));
    assert_eq!(registry.lifecycle("orders-db"), Some(Lifecycle::Running));

    // 10:02:00: a 5 s wait, and the learned scores.
    db.set("reconnect", Does::Fix(Duration::ZERO));
    tokio::time::advance(at(10, 2, 0) - start.elapsed()).await;
    let stats = manager.action_stats("breaker_open");
    let scores: Vec<_> = stats.iter().map(|s| (s.action.as_str(), s.score)).collect();
    assert_eq!(
        scores,
        [
            ("reconnect", 1.0 / 3.0),
            ("clear_statement_cache", 1.0 / 3.0),
            ("drop_pool", 1.0 / 3.0),
            ("reinitialize", 2.0 / 3.0),
            ("restart", 0.5),
        ]
    );
    let medium: Vec<_> = manager.plan("breaker_open")[1]
        .1
        .iter()
        .map(|a| a.name().to_string())
        .collect();
    assert_eq!(medium, ["clear_statement_cache", "drop_pool"]);
    let record = fail(&manager, "orders-db", "breaker_open").await;
    assert_eq!(start.elapsed(), at(10, 2, 5));
    assert_eq!(record.actions[0].action, "reconnect");

    // 10:04:00: a 10 s wait. 10:05:00: the fourth in ten minutes is given up.
    tokio::time::advance(at(10, 4, 0) - start.elapsed()).await;
    fail(&manager, "orders-db", "breaker_open").await;
    assert_eq!(start.elapsed(), at(10, 4, 10));
    tokio::time::advance(at(10, 5, 0) - start.elapsed()).await;
    assert!(matches!(
        manager.report_failure("orders-db", "breaker_open").unwrap(),
        Reported::GivenUp
    ));
    assert_eq!(registry.lifecycle("orders-db"), Some(Lifecycle::GivenUp));
    let alerts = alerts(&events);
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].contains("IntensityExceeded { max_recoveries: 3, within: 600s }"),
        "{alerts:?}"
    );
}
