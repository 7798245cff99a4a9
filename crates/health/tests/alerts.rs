//! Alerts under paused time: rules' `for` and `keep_firing_for`, grouping windows, repeat
//! interval, inhibition, silences, rate limits, a hanging sink, resolve notices, queries, the
//! log sink, and every setting that cannot work.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardening_health::alert::{
    Alert, AlertError, AlertManager, AlertManagerBuilder, AlertSink, AlertState, ChannelSink,
    Condition, InhibitRule, Labels, LogSink, Matcher, Route, RouteBuilder, Rule, Severity, Silence,
    SinkOptions,
};
use hardening_health::{
    BoxError, CheckOptions, Group, Health, HealthMonitor, Observation, async_trait, check_fn,
};
use support::{Hang, Recorder, settle};
use tokio::time::{Instant, sleep, sleep_until};

/// A route with these windows, in seconds.
fn route(group_wait: u64, group_interval: u64, repeat_interval: u64) -> RouteBuilder {
    Route::builder("ops")
        .group_wait(Duration::from_secs(group_wait))
        .group_interval(Duration::from_secs(group_interval))
        .repeat_interval(Duration::from_secs(repeat_interval))
}

/// A manager whose default route is `route`, with one recording sink.
fn recorded(route: RouteBuilder) -> (AlertManagerBuilder, Arc<Recorder>) {
    let recorder = Recorder::new();
    let builder = AlertManager::builder()
        .sink_arc("recorder", recorder.clone(), SinkOptions::default())
        .default_route(route.build().unwrap());
    (builder, recorder)
}

fn alert(name: &str, labels: &[(&str, &str)]) -> Alert {
    Alert::new(name, Severity::Warning).with_labels(labels.iter().copied())
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Sleeps until `secs` after `start`, then lets everything due then run.
async fn until(start: Instant, secs: u64) {
    sleep_until(start + Duration::from_secs(secs)).await;
    settle().await;
}

fn timeline(entries: &[(u64, &[&str])]) -> Vec<(u64, Vec<String>)> {
    entries
        .iter()
        .map(|(at, alerts)| (*at, alerts.iter().map(|s| s.to_string()).collect()))
        .collect()
}

/// The recorder's timeline with notices at the same second in a fixed order.
fn sorted(recorder: &Recorder) -> Vec<(u64, Vec<String>)> {
    let mut seen = recorder.timeline();
    for (_, alerts) in &mut seen {
        alerts.sort();
    }
    seen.sort();
    seen
}

#[tokio::test(start_paused = true)]
async fn for_and_keep_firing_for_turn_a_flapping_condition_into_one_alert() {
    let holds = Arc::new(AtomicBool::new(true));
    let condition = {
        let holds = Arc::clone(&holds);
        Condition::when(move || holds.load(Ordering::SeqCst))
    };
    let rule = Rule::builder("Backlog", condition)
        .label("queue", "ingest")
        .severity(Severity::Critical)
        .interval(Duration::from_secs(10))
        .for_duration(Duration::from_secs(30))
        .keep_firing_for(Duration::from_secs(20))
        .build()
        .unwrap();
    let (builder, recorder) = recorded(route(0, 10, 3600));
    let start = Instant::now();
    let alerts = builder.rule(rule).build().unwrap();

    // Evaluated at 0, 10, 20: pending until it has held for 30 s.
    until(start, 25).await;
    let active = alerts.active();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].alert.state(), AlertState::Pending);
    assert!(recorder.seen().is_empty(), "pending alerts are never sent");

    // Fires at the evaluation at 30 s.
    until(start, 31).await;
    assert_eq!(alerts.active()[0].alert.state(), AlertState::Firing);

    // The condition flaps: false at 35 s, true again at 55 s, false from 65 s. Each gap is
    // shorter than keep_firing_for until the last, so the alert fires throughout and
    // resolves once, 20 s after the evaluation (70 s) that first saw the last gap.
    until(start, 35).await;
    holds.store(false, Ordering::SeqCst);
    until(start, 55).await;
    assert_eq!(alerts.active()[0].alert.state(), AlertState::Firing);
    holds.store(true, Ordering::SeqCst);
    until(start, 65).await;
    holds.store(false, Ordering::SeqCst);
    until(start, 85).await;
    assert_eq!(alerts.active()[0].alert.state(), AlertState::Firing);
    until(start, 91).await;
    assert!(alerts.active().is_empty());

    assert_eq!(
        recorder.timeline(),
        timeline(&[
            (30, &["Backlog{ingest} firing"]),
            (90, &["Backlog{ingest} resolved"]),
        ])
    );
    let history = alerts.history();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].severity(), Severity::Critical);
}

#[tokio::test(start_paused = true)]
async fn group_wait_batches_alerts_that_arrive_together_and_group_interval_paces_changes() {
    let (builder, recorder) = recorded(route(30, 300, 4 * 3600).group_by(["alertname"]));
    let start = Instant::now();
    let alerts = builder.build().unwrap();
    alerts.raise(alert("A", &[("i", "1")])).unwrap();
    until(start, 5).await;
    alerts.raise(alert("B", &[("i", "1")])).unwrap();
    until(start, 10).await;
    alerts.raise(alert("A", &[("i", "2")])).unwrap();
    until(start, 60).await;
    // A change after the first notice waits for the group's interval.
    alerts.raise(alert("A", &[("i", "3")])).unwrap();
    // Raising an alert that fires already changes nothing.
    alerts.raise(alert("B", &[("i", "1")])).unwrap();
    until(start, 400).await;
    assert_eq!(
        sorted(&recorder),
        timeline(&[
            (30, &["A{1} firing", "A{2} firing"]),
            (35, &["B{1} firing"]),
            (330, &["A{1} firing", "A{2} firing", "A{3} firing"]),
        ])
    );
    let groups = alerts.groups();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].labels, labels(&[("alertname", "A")]));
    assert_eq!((groups[0].alerts, groups[0].notified), (3, true));
}

#[tokio::test(start_paused = true)]
async fn repeat_interval_resends_an_unchanged_group() {
    let (builder, recorder) = recorded(route(10, 60, 300));
    let start = Instant::now();
    let alerts = builder.build().unwrap();
    alerts.raise(alert("Stuck", &[])).unwrap();
    until(start, 650).await;
    // Flushes at 10, 70, 130, …; the first at least 300 s after the last notice resends.
    let times: Vec<u64> = recorder.timeline().into_iter().map(|(at, _)| at).collect();
    assert_eq!(times, [10, 310, 610]);
}

#[tokio::test(start_paused = true)]
async fn inhibition_mutes_targets_with_equal_labels_while_the_source_fires() {
    let down_mutes_slow = InhibitRule::new(
        [Matcher::equal("alertname", "ServiceDown").unwrap()],
        // The source matches the target too: an alert never mutes itself.
        [Matcher::regex("alertname", "Service(Down|Slow)").unwrap()],
        ["service"],
    )
    .unwrap();
    let (builder, recorder) = recorded(route(10, 60, 3600).group_by(["alertname", "service"]));
    let start = Instant::now();
    let alerts = builder.inhibit(down_mutes_slow).build().unwrap();
    alerts
        .raise(alert("ServiceSlow", &[("service", "db")]))
        .unwrap();
    alerts
        .raise(alert("ServiceSlow", &[("service", "api")]))
        .unwrap();
    alerts
        .raise(alert("ServiceDown", &[("service", "db")]))
        .unwrap();
    until(start, 15).await;
    let inhibited: BTreeMap<String, bool> = alerts
        .active()
        .into_iter()
        .map(|a| {
            let service = a.alert.label("service").unwrap().to_string();
            (format!("{}/{service}", a.alert.name()), a.inhibited)
        })
        .collect();
    assert_eq!(
        inhibited,
        BTreeMap::from([
            ("ServiceDown/db".to_string(), false),
            ("ServiceSlow/api".to_string(), false),
            ("ServiceSlow/db".to_string(), true),
        ])
    );
    // The source resolves: at the next flush its resolve notice goes out, and the target is
    // no longer muted.
    assert!(alerts.resolve("ServiceDown", &labels(&[("service", "db")])));
    until(start, 75).await;
    assert_eq!(
        sorted(&recorder),
        timeline(&[
            (10, &["ServiceDown{db} firing"]),
            (10, &["ServiceSlow{api} firing"]),
            (70, &["ServiceDown{db} resolved"]),
            (70, &["ServiceSlow{db} firing"]),
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn silences_mute_matching_alerts_until_they_expire_or_are_expired() {
    let (builder, recorder) = recorded(route(10, 60, 3600).group_by(["service"]));
    let start = Instant::now();
    let alerts = builder.build().unwrap();
    let maintenance = alerts
        .silence(
            Silence::builder()
                .matcher(Matcher::equal("service", "db").unwrap())
                .duration(Duration::from_secs(100))
                .comment("upgrade")
                .build()
                .unwrap(),
        )
        .unwrap();
    let noisy = alerts
        .silence(
            Silence::builder()
                .matcher(Matcher::equal("alertname", "Noisy").unwrap())
                .duration(Duration::from_secs(3600))
                .build()
                .unwrap(),
        )
        .unwrap();
    alerts.raise(alert("Down", &[("service", "db")])).unwrap();
    alerts.raise(alert("Down", &[("service", "api")])).unwrap();
    alerts.raise(alert("Noisy", &[])).unwrap();
    until(start, 20).await;
    let db = alerts
        .active()
        .into_iter()
        .find(|a| a.alert.label("service") == Some("db"))
        .unwrap();
    assert_eq!(db.silenced_by, [maintenance]);
    assert_eq!(alerts.silences().len(), 2);
    // Ended by hand: Noisy goes out at its group's next flush (70 s).
    assert!(alerts.expire_silence(noisy));
    assert!(!alerts.expire_silence(noisy));
    until(start, 101).await;
    // The maintenance silence ended at 100 s on its own: db goes out at 130 s.
    assert!(alerts.silences().is_empty());
    until(start, 140).await;
    assert_eq!(
        sorted(&recorder),
        timeline(&[
            (10, &["Down{api} firing"]),
            (70, &["Noisy{} firing"]),
            (130, &["Down{db} firing"]),
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_drops_and_counts_per_sink() {
    let limited = Recorder::new();
    let unlimited = Recorder::new();
    let start = Instant::now();
    let alerts = AlertManager::builder()
        .sink_arc(
            "limited",
            limited.clone(),
            SinkOptions::builder()
                .rate_limit(2, Duration::from_secs(60))
                .build()
                .unwrap(),
        )
        .sink_arc("unlimited", unlimited.clone(), SinkOptions::default())
        .default_route(
            route(0, 3600, 4 * 3600)
                .group_by(["alertname"])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    for i in 0..5 {
        alerts.raise(alert(&format!("A{i}"), &[])).unwrap();
    }
    until(start, 1).await;
    assert_eq!(limited.seen().len(), 2);
    assert_eq!(unlimited.seen().len(), 5);
    // Two per minute is one every 30 s: by then one more is allowed.
    until(start, 30).await;
    alerts.raise(alert("A5", &[])).unwrap();
    alerts.raise(alert("A6", &[])).unwrap();
    until(start, 31).await;
    let stats = alerts.sink_stats();
    assert_eq!((stats[0].name.as_str(), stats[0].sent), ("limited", 3));
    assert_eq!(stats[0].rate_limited, 4);
    assert_eq!((stats[1].sent, stats[1].rate_limited), (7, 0));
}

#[tokio::test(start_paused = true)]
async fn a_hanging_sink_blocks_neither_the_other_sinks_nor_the_caller() {
    let hang = Arc::new(Hang::default());
    let recorder = Recorder::new();
    let start = Instant::now();
    let alerts = AlertManager::builder()
        .sink_arc(
            "hang",
            hang.clone(),
            SinkOptions::builder()
                .buffer(2)
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        )
        .sink_arc("recorder", recorder.clone(), SinkOptions::default())
        .default_route(
            route(0, 3600, 4 * 3600)
                .group_by(["alertname"])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    for i in 0..10 {
        alerts.raise(alert(&format!("A{i}"), &[])).unwrap();
    }
    until(start, 1).await;
    assert_eq!(recorder.seen().len(), 10);
    // The hanging sink's queue took two; the rest were dropped and counted.
    assert_eq!(hang.calls.load(Ordering::SeqCst), 1);
    assert_eq!(alerts.sink_stats()[0].queue_full, 8);
    // Later alerts still reach the healthy sink at once.
    alerts.raise(alert("Later", &[])).unwrap();
    until(start, 2).await;
    assert_eq!(recorder.seen().len(), 11);
    assert_eq!(recorder.seen()[10].0.as_secs(), 1);
    // Each hung send is abandoned after the sink's timeout and counted as failed.
    until(start, 31).await;
    let hung = &alerts.sink_stats()[0];
    assert_eq!((hung.sent, hung.failed, hung.queue_full), (0, 3, 8));
    assert_eq!(hang.calls.load(Ordering::SeqCst), 3);
    assert_eq!(alerts.sink_stats()[1].sent, 11);
}

#[tokio::test(start_paused = true)]
async fn resolve_notices_go_to_routes_that_send_them() {
    let recorder = Recorder::new();
    let quiet = route(10, 60, 3600)
        .matcher(Matcher::equal("team", "quiet").unwrap())
        .send_resolved(false)
        .build()
        .unwrap();
    let start = Instant::now();
    let alerts = AlertManager::builder()
        .sink_arc("recorder", recorder.clone(), SinkOptions::default())
        .route(quiet)
        .default_route(route(10, 60, 3600).group_by(["alertname"]).build().unwrap())
        .build()
        .unwrap();
    alerts.raise(alert("Disk", &[("disk", "a")])).unwrap();
    alerts.raise(alert("Disk", &[("disk", "b")])).unwrap();
    alerts.raise(alert("Quiet", &[("team", "quiet")])).unwrap();
    until(start, 20).await;
    assert!(alerts.resolve("Disk", &labels(&[("disk", "a")])));
    assert!(!alerts.resolve("Disk", &labels(&[("disk", "a")])), "once");
    assert!(
        !alerts.resolve("Disk", &labels(&[("disk", "zzz")])),
        "unknown"
    );
    assert!(alerts.resolve("Quiet", &labels(&[("team", "quiet")])));
    until(start, 80).await;
    assert!(alerts.resolve("Disk", &labels(&[("disk", "b")])));
    // Raised and resolved inside its group wait: the sinks never hear of it.
    until(start, 200).await;
    alerts.raise(alert("Blip", &[])).unwrap();
    until(start, 205).await;
    assert!(alerts.resolve("Blip", &labels(&[])));
    until(start, 215).await;
    assert_eq!(
        sorted(&recorder),
        timeline(&[
            (10, &["Disk{a} firing", "Disk{b} firing"]),
            (10, &["Quiet{quiet} firing"]),
            (70, &["Disk{a} resolved", "Disk{b} firing"]),
            (130, &["Disk{b} resolved"]),
        ])
    );
    let last = recorder.seen().pop().unwrap().1;
    assert_eq!(last.status(), AlertState::Resolved);
    assert!(last.alerts()[0].ended_at().is_some());
    // Every group is gone once its alerts resolved; the history keeps them.
    assert!(alerts.groups().is_empty());
    let history: Vec<String> = alerts
        .history()
        .iter()
        .map(|a| a.name().to_string())
        .collect();
    assert_eq!(history.len(), 4);
    assert_eq!(history.last().map(String::as_str), Some("Blip"));
}

#[tokio::test(start_paused = true)]
async fn a_rule_reads_a_monitors_group_health() {
    let failing = Arc::new(AtomicBool::new(false));
    let check = {
        let failing = Arc::clone(&failing);
        check_fn(move || {
            let fail = failing.load(Ordering::SeqCst);
            async move {
                Ok(if fail {
                    Observation::fail("no connection")
                } else {
                    Observation::pass()
                })
            }
        })
    };
    let monitor = HealthMonitor::builder()
        .check(
            "db:ping",
            check,
            CheckOptions::builder()
                .interval(Duration::from_secs(1))
                .jitter(0.0)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    // The check runs at 0, 1, 2, … s; the rule at 0.5, 5.5, 10.5, … s, never at the same
    // instant.
    sleep(Duration::from_millis(500)).await;
    let rule = Rule::builder(
        "DatabaseDown",
        Condition::group_health(&monitor, Group::Readiness, [Health::Unhealthy]),
    )
    .label("service", "db")
    .interval(Duration::from_secs(5))
    .for_duration(Duration::from_secs(10))
    .build()
    .unwrap();
    let (builder, recorder) = recorded(route(0, 10, 3600));
    let start = Instant::now();
    let _alerts = builder.rule(rule).build().unwrap();
    sleep_until(start + Duration::from_millis(1700)).await;
    failing.store(true, Ordering::SeqCst); // judged unhealthy at 3 s
    sleep_until(start + Duration::from_millis(16_700)).await;
    failing.store(false, Ordering::SeqCst); // healthy again at 18 s
    until(start, 30).await;
    // Pending at 5 s, firing at 15 s; resolved at the evaluation at 20 s, sent at the
    // group's flush at 25 s.
    assert_eq!(
        recorder.timeline(),
        timeline(&[
            (15, &["DatabaseDown{db} firing"]),
            (25, &["DatabaseDown{db} resolved"]),
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn active_alerts_history_and_status_serialize() {
    let (builder, _recorder) = recorded(route(0, 60, 3600).group_by(["alertname"]));
    let alerts = builder.history_limit(1).build().unwrap();
    let silence = alerts
        .silence(
            Silence::builder()
                .matcher(Matcher::regex("zone", "eu-.*").unwrap())
                .duration(Duration::from_secs(3600))
                .created_by("ops")
                .build()
                .unwrap(),
        )
        .unwrap();
    alerts
        .raise(
            Alert::new("Hot", Severity::Critical)
                .with_label("zone", "eu-1")
                .with_summary("too hot"),
        )
        .unwrap();
    for name in ["Old", "Older"] {
        alerts.raise(alert(name, &[])).unwrap();
        settle().await;
        assert!(alerts.resolve(name, &Labels::new()));
    }
    sleep(Duration::from_secs(61)).await;
    let json = serde_json::to_value(alerts.status()).unwrap();
    let hot = &json["active"][0];
    assert_eq!(hot["name"], "Hot");
    assert_eq!(hot["severity"], "critical");
    assert_eq!(hot["summary"], "too hot");
    assert_eq!(hot["state"], "firing");
    assert_eq!(hot["labels"]["zone"], "eu-1");
    assert_eq!(hot["silenced_by"], serde_json::json!([silence]));
    assert_eq!(hot["inhibited"], false);
    assert_eq!(hot["fingerprint"].as_str().map(str::len), Some(16));
    assert!(hot["started_at"].as_str().unwrap().ends_with('Z'));
    // The history keeps only the newest, as limited.
    assert_eq!(json["history"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["history"][0]["name"], "Older");
    assert_eq!(json["history"][0]["state"], "resolved");
    assert!(json["history"][0]["ended_at"].is_string());
    assert_eq!(
        json["silences"][0]["matchers"],
        serde_json::json!(["zone=~\"eu-.*\""])
    );
    assert_eq!(json["silences"][0]["created_by"], "ops");
    assert_eq!(json["groups"][0]["receiver"], "ops");
    assert_eq!(json["sinks"][0]["name"], "recorder");
    // The counts agree with the parts: one firing, its group, the silence, the history.
    assert_eq!(
        json["counts"],
        serde_json::json!({
            "firing": 1, "resolved_waiting": 0, "groups": 1, "group_members": 1,
            "silences": 1, "history": 1, "evicted": 0
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_manager_refuses_new_alerts_but_updates_known_ones() {
    let (builder, _recorder) = recorded(route(0, 60, 3600));
    let alerts = builder.max_alerts(2).build().unwrap();
    alerts.raise(alert("A", &[])).unwrap();
    alerts.raise(alert("B", &[])).unwrap();
    assert_eq!(
        alerts.raise(alert("C", &[])),
        Err(AlertError::TooManyAlerts { limit: 2 })
    );
    alerts
        .raise(Alert::new("A", Severity::Critical).with_summary("worse"))
        .unwrap();
    let a = &alerts.active()[0];
    assert_eq!(
        (a.alert.severity(), a.alert.summary()),
        (Severity::Critical, "worse")
    );
}

/// What a captured `tracing` event said.
#[derive(Debug, Clone)]
struct Captured {
    level: tracing::Level,
    target: String,
    fields: BTreeMap<String, String>,
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

/// A `tracing` subscriber that keeps every event.
struct Capture(Arc<Mutex<Vec<Captured>>>);

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.0.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_string(),
            fields: fields.0,
        });
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

struct Failing;

#[async_trait]
impl AlertSink for Failing {
    async fn send(&self, _: &hardening_health::alert::Notification) -> Result<(), BoxError> {
        Err("connection refused".into())
    }
}

#[tokio::test(start_paused = true)]
async fn the_log_sink_writes_each_alert_at_its_severity_and_failures_are_logged() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let _guard = tracing::subscriber::set_default(Capture(Arc::clone(&events)));
    let alerts = AlertManager::builder()
        .sink("log", LogSink::new(), SinkOptions::default())
        .sink("failing", Failing, SinkOptions::default())
        .default_route(route(0, 10, 3600).group_by(["alertname"]).build().unwrap())
        .build()
        .unwrap();
    alerts
        .raise(
            Alert::new("Down", Severity::Critical)
                .with_label("service", "db")
                .with_summary("db is down"),
        )
        .unwrap();
    alerts.raise(Alert::new("Slow", Severity::Warning)).unwrap();
    alerts.raise(Alert::new("Note", Severity::Info)).unwrap();
    alerts
        .raise(Alert::new("Exhausted", Severity::Emergency))
        .unwrap();
    settle().await;
    assert!(alerts.resolve("Note", &Labels::new()));
    sleep(Duration::from_secs(11)).await;
    let events = events.lock().unwrap().clone();
    let alert_events: Vec<(tracing::Level, String, String)> = events
        .iter()
        .filter(|e| e.fields.contains_key("alertname"))
        .map(|e| {
            (
                e.level,
                e.fields["alertname"].clone(),
                e.fields["message"].clone(),
            )
        })
        .collect();
    let mut sorted_events = alert_events.clone();
    sorted_events.sort_by(|a, b| (a.1.as_str(), a.2.as_str()).cmp(&(b.1.as_str(), b.2.as_str())));
    assert_eq!(
        sorted_events,
        [
            (tracing::Level::ERROR, "Down".into(), "alert firing".into()),
            (
                tracing::Level::ERROR,
                "Exhausted".into(),
                "alert firing".into()
            ),
            (tracing::Level::INFO, "Note".into(), "alert firing".into()),
            (tracing::Level::INFO, "Note".into(), "alert resolved".into()),
            (tracing::Level::WARN, "Slow".into(), "alert firing".into()),
        ]
    );
    let exhausted = events
        .iter()
        .find(|e| e.fields.get("alertname").map(String::as_str) == Some("Exhausted"))
        .unwrap();
    assert_eq!(exhausted.fields["severity"], "emergency");
    let down = events
        .iter()
        .find(|e| e.fields.get("alertname").map(String::as_str) == Some("Down"))
        .unwrap();
    assert_eq!(down.target, "hardening_health::alert");
    assert_eq!(down.fields["summary"], "db is down");
    assert_eq!(down.fields["labels"], "{service=\"db\"}");
    assert_eq!(down.fields["receiver"], "ops");
    // The failing sink's failures are counted and logged with the sink's name.
    assert_eq!(alerts.sink_stats()[1].failed, 5);
    let failure = events
        .iter()
        .find(|e| e.fields.get("sink").map(String::as_str) == Some("failing"))
        .unwrap();
    assert_eq!(failure.level, tracing::Level::WARN);
    assert_eq!(failure.fields["error"], "connection refused");
}

#[tokio::test(start_paused = true)]
async fn a_channel_sink_hands_notices_to_a_receiver() {
    let (sink, mut notices) = ChannelSink::new(4).unwrap();
    let alerts = AlertManager::builder()
        .sink("channel", sink, SinkOptions::default())
        .default_route(route(5, 60, 3600).build().unwrap())
        .build()
        .unwrap();
    alerts.raise(alert("A", &[])).unwrap();
    let notice = notices.recv().await.unwrap();
    assert_eq!(notice.receiver(), "ops");
    assert_eq!(notice.alerts()[0].name(), "A");
    // A dropped receiver turns each send into a counted failure.
    drop(notices);
    alerts.raise(alert("B", &[])).unwrap();
    sleep(Duration::from_secs(61)).await;
    assert_eq!(alerts.sink_stats()[0].failed, 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_flushing_and_lets_sinks_drain() {
    let (builder, recorder) = recorded(route(10, 60, 3600));
    let alerts = builder.build().unwrap();
    alerts.raise(alert("A", &[])).unwrap();
    let clone = alerts.clone();
    sleep(Duration::from_secs(11)).await;
    assert_eq!(recorder.seen().len(), 1);
    alerts.shutdown(Duration::from_secs(1)).await;
    clone.shutdown(Duration::from_secs(1)).await;
    // A raise after shutdown would never be notified: it says so.
    assert_eq!(alerts.raise(alert("B", &[])), Err(AlertError::ShutDown));
    assert_eq!(clone.raise(alert("A", &[])), Err(AlertError::ShutDown));
    let silence = Silence::builder()
        .matcher(Matcher::equal("a", "b").unwrap())
        .build()
        .unwrap();
    assert_eq!(alerts.silence(silence), Err(AlertError::ShutDown));
    assert_eq!(alerts.counts().firing, 1, "B was not taken");
    sleep(Duration::from_secs(3600)).await;
    assert_eq!(recorder.seen().len(), 1, "no flush after shutdown");
}

#[test]
fn every_setting_that_cannot_work_is_an_error_naming_its_field() {
    // Outside a runtime.
    let err = AlertManager::builder().build().unwrap_err();
    assert_eq!(err.field(), "runtime");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sink = || Recorder::new() as Arc<dyn AlertSink>;
        let when = || Condition::when(|| true);
        let field = |result: Result<AlertManager, hardening_health::ConfigError>| {
            result.map(|_| ()).unwrap_err().field().to_string()
        };
        let cases = [
            (AlertManager::builder().max_alerts(0).build(), "max_alerts"),
            (
                AlertManager::builder().max_silences(0).build(),
                "max_silences",
            ),
            (
                AlertManager::builder()
                    .sink_arc("", sink(), SinkOptions::default())
                    .build(),
                "sinks[0].name",
            ),
            (
                AlertManager::builder()
                    .sink_arc("a", sink(), SinkOptions::default())
                    .sink_arc("a", sink(), SinkOptions::default())
                    .build(),
                "sinks[\"a\"]",
            ),
            (
                AlertManager::builder()
                    .route(Route::builder("pager").sinks(["nope"]).build().unwrap())
                    .build(),
                "routes[\"pager\"].sinks",
            ),
            (
                AlertManager::builder()
                    .default_route(Route::builder("d").sinks(["nope"]).build().unwrap())
                    .build(),
                "default_route.sinks",
            ),
            (
                AlertManager::builder()
                    .default_route(
                        Route::builder("d")
                            .matcher(Matcher::equal("a", "b").unwrap())
                            .build()
                            .unwrap(),
                    )
                    .build(),
                "default_route.matchers",
            ),
            (
                AlertManager::builder()
                    .rule(Rule::builder("R", when()).build().unwrap())
                    .rule(Rule::builder("R", when()).build().unwrap())
                    .build(),
                "rules[\"R\"]",
            ),
        ];
        for (result, expected) in cases {
            assert_eq!(field(result), expected);
        }

        let alerts = AlertManager::builder().build().unwrap();
        let raise_field = |a: Alert| alerts.raise(a).unwrap_err().field().map(str::to_string);
        assert_eq!(raise_field(alert("", &[])), Some("name".into()));
        assert_eq!(
            raise_field(alert("A", &[("bad name", "x")])),
            Some("labels[\"bad name\"]".into())
        );
        assert_eq!(
            raise_field(alert("A", &[("x", "")])),
            Some("labels[\"x\"]".into())
        );
        let err = alerts.raise(alert("", &[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "name: \"\" is not accepted; expected a non-empty alert name"
        );
    });

    let other = [
        (
            Rule::builder("R", Condition::when(|| true))
                .interval(Duration::ZERO)
                .build()
                .map(|_| ()),
            "interval",
        ),
        (Silence::builder().build().map(|_| ()), "matchers"),
        (
            Silence::builder()
                .matcher(Matcher::equal("a", "b").unwrap())
                .duration(Duration::ZERO)
                .build()
                .map(|_| ()),
            "duration",
        ),
        (
            Route::builder("r")
                .group_interval(Duration::ZERO)
                .build()
                .map(|_| ()),
            "group_interval",
        ),
        (
            Route::builder("r")
                .repeat_interval(Duration::ZERO)
                .build()
                .map(|_| ()),
            "repeat_interval",
        ),
        (
            SinkOptions::builder().buffer(0).build().map(|_| ()),
            "buffer",
        ),
        (
            SinkOptions::builder()
                .rate_limit(0, Duration::from_secs(1))
                .build()
                .map(|_| ()),
            "rate_limit.notifications",
        ),
        (ChannelSink::new(0).map(|_| ()), "capacity"),
        (
            InhibitRule::new([], [Matcher::equal("a", "b").unwrap()], ["x"]).map(|_| ()),
            "source_matchers",
        ),
        ("a<b".parse::<Matcher>().map(|_| ()), "matcher"),
        // Durations past their documented maxima (a year), which would overflow tokio's
        // clock, and a rule interval under its minimum (10 ms).
        (
            Silence::builder()
                .matcher(Matcher::equal("a", "b").unwrap())
                .duration(Duration::MAX)
                .build()
                .map(|_| ()),
            "duration",
        ),
        (
            Route::builder("r")
                .group_wait(Duration::MAX)
                .build()
                .map(|_| ()),
            "group_wait",
        ),
        (
            Route::builder("r")
                .group_interval(Duration::MAX)
                .build()
                .map(|_| ()),
            "group_interval",
        ),
        (
            Route::builder("r")
                .repeat_interval(Duration::MAX)
                .build()
                .map(|_| ()),
            "repeat_interval",
        ),
        (
            Rule::builder("R", Condition::when(|| true))
                .interval(Duration::MAX)
                .build()
                .map(|_| ()),
            "interval",
        ),
        (
            Rule::builder("R", Condition::when(|| true))
                .interval(Duration::from_millis(9))
                .build()
                .map(|_| ()),
            "interval",
        ),
        (
            Rule::builder("R", Condition::when(|| true))
                .for_duration(Duration::MAX)
                .build()
                .map(|_| ()),
            "for_duration",
        ),
        (
            Rule::builder("R", Condition::when(|| true))
                .keep_firing_for(Duration::MAX)
                .build()
                .map(|_| ()),
            "keep_firing_for",
        ),
        (
            SinkOptions::builder()
                .rate_limit(1, Duration::from_secs(600 * 365 * 24 * 3600))
                .build()
                .map(|_| ()),
            "rate_limit.per",
        ),
    ];
    for (result, field) in other {
        let err = result.unwrap_err();
        assert_eq!(err.field(), field, "{err}");
        assert!(err.to_string().starts_with(&format!("{field}: ")), "{err}");
    }
}

/// Every notice as `(second, receiver, alert, state, severity)`, sorted.
fn notices(recorder: &Recorder) -> Vec<(u64, String, String, String, String)> {
    let mut seen: Vec<_> = recorder
        .seen()
        .into_iter()
        .flat_map(|(at, n)| {
            n.alerts()
                .iter()
                .map(|a| {
                    (
                        at.as_secs(),
                        n.receiver().to_string(),
                        a.name().to_string(),
                        a.state().to_string(),
                        a.severity().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    seen.sort();
    seen
}

fn notice(
    at: u64,
    receiver: &str,
    name: &str,
    state: &str,
    severity: &str,
) -> (u64, String, String, String, String) {
    (
        at,
        receiver.into(),
        name.into(),
        state.into(),
        severity.into(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_severity_change_is_routed_again_and_is_news() {
    let recorder = Recorder::new();
    let oncall = Route::builder("oncall")
        .matcher(Matcher::regex("severity", "critical|emergency").unwrap())
        .group_by(["alertname"])
        .group_wait(Duration::from_secs(10))
        .group_interval(Duration::from_secs(60))
        .build()
        .unwrap();
    let start = Instant::now();
    let alerts = AlertManager::builder()
        .sink_arc("recorder", recorder.clone(), SinkOptions::default())
        .route(oncall)
        .default_route(route(10, 60, 3600).group_by(["alertname"]).build().unwrap())
        .build()
        .unwrap();
    alerts.raise(alert("Disk", &[])).unwrap();
    alerts.raise(alert("Cpu", &[])).unwrap();
    until(start, 20).await;
    // Escalation: Disk now matches the oncall route, which takes it (and stops there), so it
    // leaves the ops group; ops is told the warning it knew of is over.
    alerts
        .raise(Alert::new("Disk", Severity::Emergency).with_summary("full"))
        .unwrap();
    until(start, 40).await;
    // A change that keeps the route is news for the group that holds it.
    alerts.raise(Alert::new("Cpu", Severity::Info)).unwrap();
    until(start, 200).await;
    assert_eq!(
        notices(&recorder),
        [
            notice(10, "ops", "Cpu", "firing", "warning"),
            notice(10, "ops", "Disk", "firing", "warning"),
            notice(30, "oncall", "Disk", "firing", "emergency"),
            notice(70, "ops", "Cpu", "firing", "info"),
            notice(70, "ops", "Disk", "resolved", "warning"),
        ]
    );
    let groups: Vec<(String, usize)> = alerts
        .groups()
        .into_iter()
        .map(|g| (g.receiver, g.alerts))
        .collect();
    assert_eq!(groups, [("oncall".into(), 1), ("ops".into(), 1)]);
}

#[tokio::test(start_paused = true)]
async fn a_refired_alert_rejoins_every_route_it_left() {
    let recorder = Recorder::new();
    let first = route(10, 60, 3600)
        .matcher(Matcher::equal("team", "db").unwrap())
        .continue_matching(true)
        .build()
        .unwrap();
    let second = Route::builder("second")
        .matcher(Matcher::equal("team", "db").unwrap())
        .group_wait(Duration::from_secs(40))
        .group_interval(Duration::from_secs(60))
        .build()
        .unwrap();
    let start = Instant::now();
    let alerts = AlertManager::builder()
        .sink_arc("recorder", recorder.clone(), SinkOptions::default())
        .route(first)
        .route(second)
        .build()
        .unwrap();
    let db = labels(&[("team", "db")]);
    alerts.raise(alert("X", &[("team", "db")])).unwrap();
    until(start, 50).await;
    assert!(alerts.resolve("X", &db));
    // ops flushes at 70 (resolved, and lets X go); second would at 100.
    until(start, 80).await;
    alerts.raise(alert("X", &[("team", "db")])).unwrap();
    until(start, 200).await;
    assert_eq!(
        notices(&recorder),
        [
            notice(10, "ops", "X", "firing", "warning"),
            notice(40, "second", "X", "firing", "warning"),
            notice(70, "ops", "X", "resolved", "warning"),
            // The second episode reaches ops again, in a new group (group_wait 10 s).
            notice(90, "ops", "X", "firing", "warning"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn resolved_alerts_never_crowd_out_a_firing_one() {
    let (builder, recorder) = recorded(route(10, 60, 3600).group_by(["alertname"]));
    let start = Instant::now();
    let alerts = builder.max_alerts(2).build().unwrap();
    for name in ["A", "B"] {
        alerts.raise(alert(name, &[])).unwrap();
        assert!(alerts.resolve(name, &Labels::new()));
    }
    // Both resolved alerts still wait for their group's flush; a new one takes the place of
    // the oldest.
    alerts
        .raise(Alert::new("Critical", Severity::Critical))
        .unwrap();
    alerts.raise(alert("C", &[])).unwrap();
    // Two firing: now the limit refuses.
    assert_eq!(
        alerts.raise(alert("D", &[])),
        Err(AlertError::TooManyAlerts { limit: 2 })
    );
    until(start, 11).await;
    let names: Vec<String> = sorted(&recorder)
        .into_iter()
        .flat_map(|(_, alerts)| alerts)
        .collect();
    assert_eq!(names, ["Critical{} firing", "C{} firing"]);
    let history: Vec<String> = alerts
        .history()
        .iter()
        .map(|a| a.name().to_string())
        .collect();
    assert_eq!(history, ["A", "B"]);
    let counts = alerts.counts();
    assert_eq!((counts.firing, counts.resolved_waiting), (2, 0));
    assert_eq!(counts.evicted, 2, "both resolve notices were given up");
}

#[tokio::test(start_paused = true)]
async fn silences_are_capped_and_ended_ones_make_room() {
    let (builder, _recorder) = recorded(route(10, 60, 3600));
    let alerts = builder.max_silences(2).build().unwrap();
    let silence = |secs| {
        Silence::builder()
            .matcher(Matcher::equal("service", "db").unwrap())
            .duration(Duration::from_secs(secs))
            .build()
            .unwrap()
    };
    alerts.silence(silence(10)).unwrap();
    alerts.silence(silence(3600)).unwrap();
    let err = alerts.silence(silence(60)).unwrap_err();
    assert_eq!(err, AlertError::TooManySilences { limit: 2 });
    assert_eq!(
        err.to_string(),
        "the alert manager already holds its limit of 2 silences; expire some, or raise the limit"
    );
    // Nothing is raised, so no flush runs; the ended silence still gives up its place.
    sleep(Duration::from_secs(10)).await;
    assert_eq!(alerts.counts().silences, 1);
    alerts.silence(silence(60)).unwrap();
    assert_eq!(alerts.silences().len(), 2);
}

/// An alert sink that never answers and counts the sends that were cancelled.
#[derive(Default)]
struct HangCounted {
    started: std::sync::atomic::AtomicU32,
    cancelled: Arc<std::sync::atomic::AtomicU32>,
}

struct Cancelled(Arc<std::sync::atomic::AtomicU32>);

impl Drop for Cancelled {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl AlertSink for HangCounted {
    async fn send(&self, _: &hardening_health::alert::Notification) -> Result<(), BoxError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let _cancelled = Cancelled(Arc::clone(&self.cancelled));
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn dropping_the_manager_stops_a_hung_sink() {
    let hang = Arc::new(HangCounted::default());
    let alerts = AlertManager::builder()
        .sink_arc("hang", hang.clone(), SinkOptions::default())
        .default_route(route(0, 60, 3600).build().unwrap())
        .build()
        .unwrap();
    alerts.raise(alert("A", &[])).unwrap();
    settle().await;
    assert_eq!(hang.started.load(Ordering::SeqCst), 1);
    assert_eq!(hang.cancelled.load(Ordering::SeqCst), 0);
    drop(alerts);
    // Well within the sink's 30 s timeout: the send was cancelled with the manager.
    settle().await;
    assert_eq!(hang.cancelled.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_with_an_unbounded_grace_waits_for_the_sinks() {
    let hang = Arc::new(HangCounted::default());
    let (builder, recorder) = recorded(route(0, 60, 3600));
    let alerts = builder
        .sink_arc(
            "hang",
            hang.clone(),
            SinkOptions::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let start = Instant::now();
    alerts.raise(alert("A", &[])).unwrap();
    settle().await;
    assert_eq!(hang.started.load(Ordering::SeqCst), 1);
    alerts.shutdown(Duration::MAX).await;
    // The hung send was given its full timeout, then the sink's task ended on its own.
    assert_eq!(start.elapsed().as_secs(), 5);
    assert_eq!(hang.cancelled.load(Ordering::SeqCst), 1);
    assert_eq!(recorder.seen().len(), 1);
}
