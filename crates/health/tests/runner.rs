//! The background runner under paused time: thresholds, timeouts, panics, the concurrency
//! bound, jitter, startup gating, shutdown order, heartbeats and the change stream.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use hardening_health::checks::Heartbeat;
use hardening_health::{
    CheckOptions, Criticality, Group, Health, HealthEvent, HealthJson, HealthMonitor, Scope,
    SeverityOrder, Status,
};
use support::{Script, Step, every, settle};
use tokio::sync::broadcast::error::TryRecvError;
use tokio::time::{Instant, sleep};

fn status_of(monitor: &HealthMonitor, key: &str) -> Status {
    monitor.snapshot().check(key).expect("registered").status
}

fn drain(events: &mut tokio::sync::broadcast::Receiver<HealthEvent>) -> Vec<HealthEvent> {
    let mut seen = Vec::new();
    loop {
        match events.try_recv() {
            Ok(event) => seen.push(event),
            Err(TryRecvError::Empty) => return seen,
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn thresholds_judge_a_flapping_check_as_the_kubelet_would() {
    use Status::{Fail as F, Pass as P};
    // A liveness check starts passing, as a Kubernetes liveness probe does. With
    // failureThreshold 3 two failures in a row are tolerated; the third flips it; one success
    // (successThreshold 1) brings it back.
    let raws = [F, F, P, F, F, F, P, F];
    let expected = [P, P, P, P, P, F, P, P];
    let script = Script::new(raws.iter().map(|s| match s {
        P => Step::Pass,
        _ => Step::Fail,
    }));
    let options = CheckOptions::builder()
        .interval(Duration::from_secs(1))
        .jitter(0.0)
        .failure_threshold(3)
        .groups([Group::Liveness])
        .build()
        .unwrap();
    let monitor = HealthMonitor::builder()
        .check_arc("app:loop", script.clone(), options)
        .build()
        .unwrap();
    assert_eq!(
        status_of(&monitor, "app:loop"),
        P,
        "liveness starts passing"
    );
    sleep(Duration::from_millis(500)).await;
    let mut judged = Vec::new();
    for _ in 0..raws.len() {
        judged.push(status_of(&monitor, "app:loop"));
        sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(judged, expected);
    assert_eq!(script.runs() as usize, raws.len() + 1);
}

#[tokio::test(start_paused = true)]
async fn readiness_needs_its_success_threshold_before_it_passes() {
    let script = Script::new([Step::Pass, Step::Fail, Step::Pass, Step::Pass, Step::Pass]);
    let options = CheckOptions::builder()
        .interval(Duration::from_secs(1))
        .jitter(0.0)
        .success_threshold(2)
        .build()
        .unwrap();
    let monitor = HealthMonitor::builder()
        .check_arc("db", script, options)
        .build()
        .unwrap();
    // Readiness starts failing, like a Kubernetes readiness probe.
    assert_eq!(monitor.group(&Group::Readiness), Some(Health::Unhealthy));
    let mut seen = Vec::new();
    sleep(Duration::from_millis(500)).await;
    for _ in 0..5 {
        seen.push(monitor.group(&Group::Readiness).unwrap());
        sleep(Duration::from_secs(1)).await;
    }
    use Health::{Healthy as H, Unhealthy as U};
    assert_eq!(seen, [U, U, U, H, H]);
}

#[tokio::test(start_paused = true)]
async fn a_hung_check_times_out_as_a_failure_and_the_others_keep_running() {
    let hung = Script::always(Step::Hang);
    let fine = Script::always(Step::Pass);
    let monitor = HealthMonitor::builder()
        .check_arc(
            "hung",
            hung.clone(),
            CheckOptions::builder()
                .interval(Duration::from_secs(5))
                .jitter(0.0)
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap(),
        )
        .check_arc("fine", fine.clone(), every(1, [Group::Readiness]))
        .build()
        .unwrap();
    sleep(Duration::from_millis(1500)).await;
    let report = monitor.snapshot().check("hung").unwrap().clone();
    assert!(report.last.is_none(), "still running: no result yet");
    sleep(Duration::from_secs(1)).await;
    let report = monitor.snapshot().check("hung").unwrap().clone();
    let last = report.last.unwrap();
    assert_eq!(report.status, Status::Fail);
    assert_eq!(last.message.as_deref(), Some("check timed out after 2s"));
    assert_eq!(last.duration, Duration::from_secs(2));
    assert_eq!(status_of(&monitor, "fine"), Status::Pass);
    assert_eq!(fine.runs(), 3);
    // The hung run was cancelled, and the next one starts on schedule.
    sleep(Duration::from_secs(5)).await;
    assert_eq!(hung.runs(), 2);
    assert_eq!(
        hung.max_running(),
        1,
        "a timed-out run is aborted, not left behind"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panic_or_an_error_is_a_failure_with_its_reason() {
    let panics = Script::always(Step::Panic);
    let errs = Script::always(Step::Err);
    let fine = Script::always(Step::Pass);
    let monitor = HealthMonitor::builder()
        .check_arc("panics", panics.clone(), every(1, [Group::Readiness]))
        .check_arc("errs", errs, every(1, [Group::Readiness]))
        .check_arc("fine", fine.clone(), every(1, [Group::Liveness]))
        .build()
        .unwrap();
    sleep(Duration::from_millis(3500)).await;
    let snapshot = monitor.snapshot();
    let panicked = snapshot.check("panics").unwrap();
    assert_eq!(panicked.status, Status::Fail);
    assert_eq!(
        panicked.last.as_ref().unwrap().message.as_deref(),
        Some("check panicked: boom")
    );
    let erred = snapshot.check("errs").unwrap();
    assert_eq!(
        erred.last.as_ref().unwrap().message.as_deref(),
        Some("check failed: connection refused")
    );
    // The panicking check keeps being run, and nothing else noticed.
    assert_eq!(panics.runs(), 4);
    assert_eq!(fine.runs(), 4);
    assert_eq!(snapshot.group(&Group::Liveness), Some(Health::Healthy));
    assert_eq!(snapshot.group(&Group::Readiness), Some(Health::Unhealthy));
}

#[tokio::test(start_paused = true)]
async fn at_most_the_bound_run_at_once() {
    let slow: Vec<_> = (0..10)
        .map(|_| Script::always(Step::Slow(Duration::from_secs(1))))
        .collect();
    let mut builder = HealthMonitor::builder().max_concurrent(2);
    for (i, script) in slow.iter().enumerate() {
        builder = builder.check_arc(
            format!("slow:{i}"),
            script.clone(),
            every(60, [Group::Readiness]),
        );
    }
    let monitor = builder.build().unwrap();
    let started = Instant::now();
    let mut ready = monitor.watch();
    ready.wait_for(|h| *h == Health::Healthy).await.unwrap();
    // Ten one-second checks two at a time: five seconds.
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    let in_flight: u32 = slow.iter().map(|s| s.max_running()).sum();
    assert_eq!(in_flight, 10, "each ran once");
    let starts: Vec<Instant> = slow.iter().flat_map(|s| s.starts()).collect();
    for t in &starts {
        let overlapping = starts
            .iter()
            .filter(|u| **u <= *t && *t < **u + Duration::from_secs(1))
            .count();
        assert!(overlapping <= 2, "{overlapping} ran at once");
    }
}

#[tokio::test(start_paused = true)]
async fn waits_between_runs_stay_within_the_jitter_and_replay_with_a_seed() {
    async fn waits(seed: u64) -> Vec<Duration> {
        let script = Script::always(Step::Pass);
        let options = CheckOptions::builder()
            .interval(Duration::from_secs(10))
            .jitter(0.2)
            .build()
            .unwrap();
        let monitor = HealthMonitor::builder()
            .check_arc("x", script.clone(), options)
            .jitter_seed(seed)
            .build()
            .unwrap();
        sleep(Duration::from_secs(600)).await;
        drop(monitor);
        let starts = script.starts();
        starts.windows(2).map(|w| w[1] - w[0]).collect()
    }
    let first = waits(42).await;
    assert!(first.len() >= 49, "{}", first.len());
    for wait in &first {
        assert!(
            (Duration::from_secs(8)..=Duration::from_secs(12)).contains(wait),
            "{wait:?}"
        );
    }
    assert!(first.iter().any(|w| *w < Duration::from_secs(9)));
    assert!(first.iter().any(|w| *w > Duration::from_secs(11)));
    assert_eq!(waits(42).await, first);
    assert_ne!(waits(43).await, first);
}

#[tokio::test(start_paused = true)]
async fn initial_delay_holds_the_first_run() {
    let script = Script::always(Step::Pass);
    let options = CheckOptions::builder()
        .initial_delay(Duration::from_secs(15))
        .build()
        .unwrap();
    let started = Instant::now();
    let _monitor = HealthMonitor::builder()
        .check_arc("x", script.clone(), options)
        .build()
        .unwrap();
    sleep(Duration::from_secs(20)).await;
    assert_eq!(script.starts(), [started + Duration::from_secs(15)]);
}

#[tokio::test(start_paused = true)]
async fn liveness_and_readiness_report_starting_until_the_startup_group_passes() {
    let warmup = Script::new([Step::Fail, Step::Fail, Step::Fail, Step::Pass, Step::Fail]);
    let monitor = HealthMonitor::builder()
        .check_arc("cache:warm", warmup, every(1, [Group::Startup]))
        .check_arc(
            "loop",
            Script::always(Step::Pass),
            every(1, [Group::Liveness]),
        )
        .check_arc(
            "db",
            Script::always(Step::Pass),
            every(1, [Group::Readiness]),
        )
        .build()
        .unwrap();
    let json = HealthJson::new();
    for _ in 0..3 {
        settle().await;
        let snapshot = monitor.snapshot();
        assert!(!snapshot.is_started());
        assert_eq!(snapshot.group(&Group::Liveness), Some(Health::Starting));
        assert_eq!(snapshot.group(&Group::Readiness), Some(Health::Starting));
        assert_eq!(snapshot.group(&Group::Startup), Some(Health::Unhealthy));
        assert_eq!(snapshot.overall(), Health::Starting);
        // Not ready while starting; alive (a liveness probe must not restart a slow starter).
        let ready = json
            .render(&snapshot, &Scope::Group(Group::Readiness), true)
            .unwrap();
        assert_eq!(ready.status_code, 503);
        assert!(ready.body.contains("starting"), "{}", ready.body);
        let live = json
            .render(&snapshot, &Scope::Group(Group::Liveness), false)
            .unwrap();
        assert_eq!(
            (live.status_code, live.body.as_str()),
            (200, r#"{"status":"warn"}"#)
        );
        sleep(Duration::from_secs(1)).await;
    }
    settle().await;
    assert!(monitor.snapshot().is_started());
    assert_eq!(monitor.group(&Group::Liveness), Some(Health::Healthy));
    assert_eq!(monitor.group(&Group::Readiness), Some(Health::Healthy));
    // Once started, it stays started (Kubernetes stops probing startup), even if the startup
    // check fails later.
    sleep(Duration::from_secs(1)).await;
    assert_eq!(monitor.group(&Group::Startup), Some(Health::Unhealthy));
    assert_eq!(monitor.group(&Group::Liveness), Some(Health::Healthy));
}

#[tokio::test(start_paused = true)]
async fn shutdown_turns_readiness_first_then_stops_the_checks() {
    let ready = Script::always(Step::Pass);
    let live = Script::always(Step::Pass);
    let monitor = HealthMonitor::builder()
        .check_arc("db", ready.clone(), every(1, [Group::Readiness]))
        .check_arc("loop", live.clone(), every(1, [Group::Liveness]))
        .build()
        .unwrap();
    settle().await;
    assert_eq!(monitor.group(&Group::Readiness), Some(Health::Healthy));
    let mut events = monitor.subscribe();

    let stopping = tokio::spawn({
        let monitor = monitor.clone();
        async move { monitor.shutdown(Duration::from_secs(5)).await }
    });
    settle().await;
    assert_eq!(monitor.group(&Group::Readiness), Some(Health::Unhealthy));
    assert_eq!(monitor.group(&Group::Liveness), Some(Health::Healthy));
    assert!(monitor.snapshot().is_shutting_down());
    assert_eq!(
        drain(&mut events),
        [
            HealthEvent::ShutdownStarted,
            HealthEvent::Group {
                group: Group::Readiness,
                from: Health::Healthy,
                to: Health::Unhealthy
            }
        ]
    );
    // The checks go on during the grace period…
    let during = ready.runs();
    sleep(Duration::from_secs(3)).await;
    assert!(ready.runs() >= during + 3, "{} → {}", during, ready.runs());
    assert!(!stopping.is_finished());
    // …and stop after it.
    stopping.await.unwrap();
    let (r, l) = (ready.runs(), live.runs());
    sleep(Duration::from_secs(30)).await;
    assert_eq!((ready.runs(), live.runs()), (r, l));
    assert_eq!(drain(&mut events), [HealthEvent::Stopped]);
    // Readiness stays failing for anyone who still asks.
    assert_eq!(monitor.group(&Group::Readiness), Some(Health::Unhealthy));
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_fails_when_the_component_stops_checking_in() {
    let (check, handle) = Heartbeat::new(Duration::from_secs(5)).unwrap();
    let monitor = HealthMonitor::builder()
        .check("worker:heartbeat", check, every(1, [Group::Liveness]))
        .build()
        .unwrap();
    let mut events = monitor.subscribe();
    for _ in 0..10 {
        handle.beat();
        sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(status_of(&monitor, "worker:heartbeat"), Status::Pass);
    assert_eq!(drain(&mut events), []);
    // The worker stops. The last beat was at t=9 s; at t=15 s it is 6 s old.
    sleep(Duration::from_millis(5500)).await;
    let report = monitor
        .snapshot()
        .check("worker:heartbeat")
        .unwrap()
        .clone();
    assert_eq!(report.status, Status::Fail);
    let message = report.last.unwrap().message.unwrap();
    assert!(message.starts_with("no heartbeat for 6s"), "{message}");
    let seen = drain(&mut events);
    assert!(
        matches!(
            &seen[0],
            HealthEvent::Check { name, from: Status::Pass, to: Status::Fail, .. } if name.as_str() == "worker:heartbeat"
        ),
        "{seen:?}"
    );
    assert!(seen.contains(&HealthEvent::Overall {
        from: Health::Healthy,
        to: Health::Unhealthy
    }));
    // It checks in again: healthy at the next run.
    handle.beat();
    sleep(Duration::from_secs(1)).await;
    assert_eq!(status_of(&monitor, "worker:heartbeat"), Status::Pass);
}

#[tokio::test(start_paused = true)]
async fn the_watch_and_the_stream_report_each_change_once() {
    let db = Script::new([Step::Pass, Step::Pass, Step::Warn, Step::Warn, Step::Pass]);
    let monitor = HealthMonitor::builder()
        .check_arc("db", db, every(1, [Group::Readiness]))
        .build()
        .unwrap();
    let mut watch = monitor.watch();
    let mut events = monitor.subscribe();
    let mut overall = vec![*watch.borrow_and_update()];
    for _ in 0..5 {
        sleep(Duration::from_secs(1)).await;
        if watch.has_changed().unwrap() {
            overall.push(*watch.borrow_and_update());
        }
    }
    // Readiness starts failing until the first run, as in Kubernetes.
    assert_eq!(
        overall,
        [
            Health::Unhealthy,
            Health::Healthy,
            Health::Degraded,
            Health::Healthy
        ]
    );
    let checks: Vec<(Status, Status)> = drain(&mut events)
        .into_iter()
        .filter_map(|e| match e {
            HealthEvent::Check { from, to, .. } => Some((from, to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        checks,
        [
            (Status::Fail, Status::Pass),
            (Status::Pass, Status::Warn),
            (Status::Warn, Status::Pass)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn severity_order_and_criticality_shape_the_aggregate() {
    let monitor = HealthMonitor::builder()
        .check_arc(
            "db",
            Script::always(Step::Warn),
            every(1, [Group::Readiness]),
        )
        .check_arc(
            "cache",
            Script::always(Step::Fail),
            CheckOptions::builder()
                .groups([Group::Readiness, Group::custom("cache").unwrap()])
                .criticality(Criticality::NonCritical)
                .build()
                .unwrap(),
        )
        .check_arc(
            "search",
            Script::always(Step::Fail),
            CheckOptions::builder()
                .groups([Group::custom("search").unwrap()])
                .build()
                .unwrap(),
        )
        .group_severity_order(
            Group::custom("search").unwrap(),
            SeverityOrder::new([Health::Degraded, Health::Healthy, Health::Unhealthy]).unwrap(),
        )
        .build()
        .unwrap();
    settle().await;
    let snapshot = monitor.snapshot();
    // A warning and a non-critical failure: degraded, not unhealthy.
    assert_eq!(snapshot.group(&Group::Readiness), Some(Health::Degraded));
    assert_eq!(
        snapshot.group(&Group::custom("cache").unwrap()),
        Some(Health::Degraded)
    );
    // This group's order ranks unhealthy last: with only unhealthy checks that is what it is.
    assert_eq!(
        snapshot.group(&Group::custom("search").unwrap()),
        Some(Health::Unhealthy)
    );
    // The whole: "search" is critical and failing.
    assert_eq!(snapshot.overall(), Health::Unhealthy);
    assert_eq!(snapshot.group(&Group::custom("nothing").unwrap()), None);
    // The incremental counts agree with aggregating the reports from scratch.
    for (group, health) in snapshot.groups() {
        let order = if group.name() == "search" {
            SeverityOrder::new([Health::Degraded, Health::Healthy, Health::Unhealthy]).unwrap()
        } else {
            SeverityOrder::default()
        };
        assert_eq!(
            order.aggregate(snapshot.checks_in(group).map(|c| c.health)),
            health,
            "{group}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn system_status_carries_uptime_last_healthy_and_memory() {
    let db = Script::new([Step::Pass, Step::Fail]);
    let monitor = HealthMonitor::builder()
        .check_arc("db", db, every(10, [Group::Readiness]))
        .build()
        .unwrap();
    settle().await;
    let status = monitor.system_status();
    assert_eq!(status.health, Health::Healthy);
    assert!(status.last_healthy.is_some());
    sleep(Duration::from_secs(15)).await;
    let later = monitor.system_status();
    assert_eq!(later.health, Health::Unhealthy);
    assert_eq!(later.uptime, Duration::from_millis(15_001));
    assert!(later.last_healthy.is_some(), "it was healthy once");
    if let Some(memory) = later.memory {
        assert!(memory.used <= memory.total && memory.total > 0);
        assert!((0.0..=100.0).contains(&memory.percent));
    }
}

#[tokio::test(start_paused = true)]
async fn bad_registrations_name_the_check() {
    let dup = HealthMonitor::builder()
        .check_arc(
            "db:ping",
            Script::always(Step::Pass),
            CheckOptions::default(),
        )
        .check_arc(
            "db:ping",
            Script::always(Step::Pass),
            CheckOptions::default(),
        )
        .build()
        .unwrap_err();
    assert_eq!(dup.field(), r#"checks["db:ping"]"#);
    let empty = HealthMonitor::builder()
        .check_arc("db:", Script::always(Step::Pass), CheckOptions::default())
        .build()
        .unwrap_err();
    assert_eq!(empty.field(), r#"checks["db:"].check name measurement"#);
    let zero = HealthMonitor::builder()
        .max_concurrent(0)
        .build()
        .unwrap_err();
    assert_eq!(zero.field(), "max_concurrent");
    let huge = HealthMonitor::builder()
        .max_concurrent(usize::MAX)
        .build()
        .unwrap_err();
    assert_eq!(huge.field(), "max_concurrent");
    let unused = HealthMonitor::builder()
        .group_severity_order(Group::custom("nobody").unwrap(), SeverityOrder::default())
        .build()
        .unwrap_err();
    assert_eq!(unused.field(), "group_severity_order");
    assert!(
        unused
            .to_string()
            .starts_with("group_severity_order: nobody is not accepted")
    );
}

#[test]
fn building_outside_a_runtime_is_an_error_not_a_panic() {
    let err = HealthMonitor::builder().build().unwrap_err();
    assert_eq!(err.field(), "runtime");
}

/// One check takes 10 s; a probe read during it answers at once. Time is paused: had the read
/// waited on the check, the clock would have moved to the check's end.
#[tokio::test(start_paused = true)]
async fn a_ten_second_check_does_not_slow_a_probe_read() {
    let slow = Script::new([Step::Pass, Step::Slow(Duration::from_secs(10))]);
    let monitor = HealthMonitor::builder()
        .check_arc("slow", slow.clone(), every(1, [Group::Readiness]))
        .check_arc(
            "fast",
            Script::always(Step::Pass),
            every(1, [Group::Readiness]),
        )
        .build()
        .unwrap();
    sleep(Duration::from_millis(1500)).await; // the slow run started at t=1 s
    assert_eq!(slow.runs(), 2);
    let json = Arc::new(HealthJson::new());
    let before = Instant::now();
    let read = tokio::spawn({
        let (monitor, json) = (monitor.clone(), json.clone());
        async move { json.render(&monitor.snapshot(), &Scope::Group(Group::Readiness), true) }
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(before.elapsed(), Duration::ZERO);
    assert_eq!(read.status_code, 200);
    let report = monitor.snapshot().check("slow").unwrap().clone();
    assert_eq!(report.runs, 1, "the slow run is still going");
}

#[tokio::test(start_paused = true)]
async fn before_its_first_run_a_check_counts_as_passing_for_liveness_only() {
    let both = CheckOptions::builder()
        .groups([Group::Liveness, Group::Readiness])
        .initial_delay(Duration::from_secs(10))
        .build()
        .unwrap();
    let monitor = HealthMonitor::builder()
        .check_arc("db", Script::always(Step::Fail), both)
        .build()
        .unwrap();
    settle().await;
    let snapshot = monitor.snapshot();
    assert_eq!(snapshot.check("db").unwrap().runs, 0);
    assert_eq!(snapshot.group(&Group::Liveness), Some(Health::Healthy));
    assert_eq!(snapshot.group(&Group::Readiness), Some(Health::Unhealthy));
    sleep(Duration::from_secs(10)).await;
    assert_eq!(monitor.group(&Group::Liveness), Some(Health::Unhealthy));
}
