//! Scripted checks for the integration tests.
#![allow(dead_code, reason = "each test file uses a different part")]
#![allow(unreachable_pub, reason = "a test support module")]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardening_health::{BoxError, CheckOptions, Group, HealthCheck, Observation, async_trait};
use tokio::time::Instant;

/// What one run of a [`Script`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Pass,
    Warn,
    Fail,
    Err,
    Panic,
    Hang,
    /// Passes after this long.
    Slow(Duration),
}

/// A check that plays its steps in order, then repeats the last one.
#[derive(Debug)]
pub struct Script {
    steps: Mutex<VecDeque<Step>>,
    last: Mutex<Step>,
    runs: AtomicU32,
    starts: Mutex<Vec<Instant>>,
    running: AtomicU32,
    max_running: AtomicU32,
}

impl Script {
    pub fn new(steps: impl IntoIterator<Item = Step>) -> Arc<Script> {
        let steps: VecDeque<Step> = steps.into_iter().collect();
        let last = steps.back().copied().unwrap_or(Step::Pass);
        Arc::new(Script {
            steps: Mutex::new(steps),
            last: Mutex::new(last),
            runs: AtomicU32::new(0),
            starts: Mutex::new(Vec::new()),
            running: AtomicU32::new(0),
            max_running: AtomicU32::new(0),
        })
    }

    pub fn always(step: Step) -> Arc<Script> {
        Script::new([step])
    }

    /// Runs started so far.
    pub fn runs(&self) -> u32 {
        self.runs.load(Ordering::SeqCst)
    }

    pub fn starts(&self) -> Vec<Instant> {
        self.starts.lock().unwrap().clone()
    }

    pub fn max_running(&self) -> u32 {
        self.max_running.load(Ordering::SeqCst)
    }

    /// From now on, every run does `step`.
    pub fn set(&self, step: Step) {
        self.steps.lock().unwrap().clear();
        *self.last.lock().unwrap() = step;
    }
}

struct Running<'a>(&'a AtomicU32);
impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl HealthCheck for Script {
    async fn check(&self) -> Result<Observation, BoxError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.starts.lock().unwrap().push(Instant::now());
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let _running = Running(&self.running);
        let step = {
            let next = self.steps.lock().unwrap().pop_front();
            next.unwrap_or(*self.last.lock().unwrap())
        };
        match step {
            Step::Pass => Ok(Observation::pass().with_value(1, "things")),
            Step::Warn => Ok(Observation::warn("getting close")),
            Step::Fail => Ok(Observation::fail("it is down")),
            Step::Err => Err("connection refused".into()),
            Step::Panic => panic!("boom"),
            Step::Hang => std::future::pending().await,
            Step::Slow(d) => {
                tokio::time::sleep(d).await;
                Ok(Observation::pass())
            }
        }
    }
}

/// Options running every `secs` seconds without jitter, in `groups`.
pub fn every(secs: u64, groups: impl IntoIterator<Item = Group>) -> CheckOptions {
    CheckOptions::builder()
        .interval(Duration::from_secs(secs))
        .jitter(0.0)
        .groups(groups)
        .build()
        .unwrap()
}

/// Lets every task that can run, run, without moving the paused clock much.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// An alert sink that keeps every notification with the (tokio) time it arrived, counted from
/// the sink's creation.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    seen: Mutex<Vec<(Duration, hardening_health::alert::Notification)>>,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            start: Instant::now(),
            seen: Mutex::new(Vec::new()),
        })
    }

    /// Every notification so far, with when it arrived.
    pub fn seen(&self) -> Vec<(Duration, hardening_health::alert::Notification)> {
        self.seen.lock().unwrap().clone()
    }

    /// When each notification arrived, in whole seconds, with its alerts as
    /// `name{label values} state`.
    pub fn timeline(&self) -> Vec<(u64, Vec<String>)> {
        self.seen()
            .into_iter()
            .map(|(at, n)| {
                let alerts = n
                    .alerts()
                    .iter()
                    .map(|a| {
                        let values: Vec<&str> = a.labels().values().map(String::as_str).collect();
                        format!("{}{{{}}} {}", a.name(), values.join(","), a.state())
                    })
                    .collect();
                (at.as_secs(), alerts)
            })
            .collect()
    }
}

#[async_trait]
impl hardening_health::alert::AlertSink for Recorder {
    async fn send(
        &self,
        notification: &hardening_health::alert::Notification,
    ) -> Result<(), BoxError> {
        self.seen
            .lock()
            .unwrap()
            .push((self.start.elapsed(), notification.clone()));
        Ok(())
    }
}

/// An alert sink that never answers.
#[derive(Debug, Default)]
pub struct Hang {
    pub calls: AtomicU32,
}

#[async_trait]
impl hardening_health::alert::AlertSink for Hang {
    async fn send(&self, _: &hardening_health::alert::Notification) -> Result<(), BoxError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
}
