//! The breaker against a plain reference model of the Resilience4j state machine.
//!
//! Random configs and random sequences of calls (fast, slow, failing, ignored), held and
//! abandoned permits, clock advances and operator transitions drive both; after every step
//! their states, their permit decisions and the retry-after they report must agree, and now and
//! then their window counts too. The model keeps every outcome in a plain list and recomputes
//! everything from scratch; it shares no code with the crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::collections::VecDeque;
use std::time::Duration;

use hardening_breaker::{
    Breaker, BreakerConfig, ManualClock, OpenDuration, Outcome, Permit, SlidingWindow, State,
};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum WindowKind {
    Count(u32),
    Seconds(u64),
    Consecutive(u32),
}

#[derive(Debug, Clone)]
struct Settings {
    window: WindowKind,
    minimum_calls: u32,
    failure_threshold: f64,
    slow_threshold: f64,
    slow_after_ms: Option<u64>,
    probes: u16,
    open_ms: u64,
    open_growth: Option<(f64, u64)>,
    max_half_open_wait_ms: Option<u64>,
    automatic: bool,
}

impl Settings {
    fn config(&self) -> BreakerConfig {
        let window = match self.window {
            WindowKind::Count(n) => SlidingWindow::count(n),
            WindowKind::Seconds(s) => SlidingWindow::seconds(s),
            WindowKind::Consecutive(n) => SlidingWindow::consecutive_failures(n),
        };
        let mut b = BreakerConfig::builder()
            .sliding_window(window)
            .minimum_calls(self.minimum_calls)
            .failure_rate_threshold(self.failure_threshold)
            .slow_call_rate_threshold(self.slow_threshold)
            .permitted_calls_in_half_open(self.probes)
            .automatic_half_open(self.automatic);
        b = match self.open_growth {
            None => b.open_duration(Duration::from_millis(self.open_ms)),
            Some((multiplier, max_ms)) => b.open_duration(OpenDuration::exponential(
                Duration::from_millis(self.open_ms),
                multiplier,
                Duration::from_millis(max_ms),
            )),
        };
        if let Some(ms) = self.slow_after_ms {
            b = b.slow_call_duration_threshold(Duration::from_millis(ms));
        }
        if let Some(ms) = self.max_half_open_wait_ms {
            b = b.max_wait_in_half_open(Duration::from_millis(ms));
        }
        b.build().expect("generated settings are valid")
    }

    /// `initial × multiplier^(n−1)`, capped, in nanoseconds.
    fn open_duration_ns(&self, consecutive_opens: u32) -> u64 {
        let initial = Duration::from_millis(self.open_ms);
        let duration = match self.open_growth {
            None => initial,
            Some((multiplier, max_ms)) => {
                let max = Duration::from_millis(max_ms);
                let secs = initial.as_secs_f64() * multiplier.powi(consecutive_opens as i32 - 1);
                if secs >= max.as_secs_f64() {
                    max
                } else {
                    Duration::from_secs_f64(secs)
                }
            }
        };
        duration.as_nanos() as u64
    }
}

/// One recorded outcome, as the model keeps it.
#[derive(Debug, Clone, Copy)]
struct Record {
    failed: bool,
    slow: bool,
    second: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Tracked,
    Probe,
    Untracked,
}

#[derive(Debug, Clone, Copy)]
struct ModelPermit {
    generation: u64,
    kind: Kind,
    acquired_ns: u64,
}

/// The reference model. Time is in nanoseconds since the breaker was built.
#[derive(Debug)]
struct Model {
    s: Settings,
    state: State,
    generation: u64,
    records: VecDeque<Record>,
    consecutive_failures: u32,
    open_until_ns: u64,
    half_open_until_ns: Option<u64>,
    probes_taken: u16,
    probe_records: Vec<Record>,
    consecutive_opens: u32,
}

const MS: u64 = 1_000_000;

impl Model {
    fn new(s: Settings) -> Self {
        Model {
            s,
            state: State::Closed,
            generation: 0,
            records: VecDeque::new(),
            consecutive_failures: 0,
            open_until_ns: 0,
            half_open_until_ns: None,
            probes_taken: 0,
            probe_records: Vec::new(),
            consecutive_opens: 0,
        }
    }

    fn enter(&mut self, to: State, now: u64) {
        self.generation += 1;
        self.state = to;
        match to {
            State::Open => {
                self.consecutive_opens += 1;
                self.open_until_ns = now + self.s.open_duration_ns(self.consecutive_opens);
            }
            State::HalfOpen => {
                self.probes_taken = 0;
                self.probe_records.clear();
                self.half_open_until_ns = self.s.max_half_open_wait_ms.map(|ms| now + ms * MS);
            }
            State::Closed | State::MetricsOnly => {
                if to == State::Closed {
                    self.consecutive_opens = 0;
                }
                self.records.clear();
                self.consecutive_failures = 0;
            }
            _ => {}
        }
    }

    /// The calls the window holds at `now`.
    fn window(&self, now: u64) -> Vec<Record> {
        match self.s.window {
            WindowKind::Count(n) => self
                .records
                .iter()
                .rev()
                .take(n as usize)
                .copied()
                .collect(),
            WindowKind::Seconds(size) => {
                let current = now / 1_000_000_000;
                self.records
                    .iter()
                    .filter(|r| r.second + size > current)
                    .copied()
                    .collect()
            }
            WindowKind::Consecutive(_) => Vec::new(),
        }
    }

    fn exceeded(&self, records: &[Record]) -> bool {
        if records.is_empty() {
            return false;
        }
        let n = records.len() as f64;
        let failure_rate = records.iter().filter(|r| r.failed).count() as f64 * 100.0 / n;
        let slow_rate = records.iter().filter(|r| r.slow).count() as f64 * 100.0 / n;
        failure_rate >= self.s.failure_threshold
            || (self.s.slow_after_ms.is_some() && slow_rate >= self.s.slow_threshold)
    }

    fn poll_due(&mut self, now: u64) {
        if self.state == State::Open && self.s.automatic && now >= self.open_until_ns {
            self.enter(State::HalfOpen, now);
        }
        if self.state == State::HalfOpen && self.half_open_until_ns.is_some_and(|t| now >= t) {
            self.enter(State::Open, now);
        }
    }

    /// `Ok(permit)` or `Err(retry_after_ns)`.
    fn acquire(&mut self, now: u64) -> Result<ModelPermit, Option<u64>> {
        loop {
            let permit = |kind| ModelPermit {
                generation: self.generation,
                kind,
                acquired_ns: now,
            };
            match self.state {
                State::Closed | State::MetricsOnly => return Ok(permit(Kind::Tracked)),
                State::Disabled => return Ok(permit(Kind::Untracked)),
                State::ForcedOpen => return Err(None),
                State::Open => {
                    if now < self.open_until_ns {
                        return Err(Some(self.open_until_ns - now));
                    }
                    self.enter(State::HalfOpen, now);
                }
                State::HalfOpen => {
                    if self.half_open_until_ns.is_some_and(|t| now >= t) {
                        self.enter(State::Open, now);
                        continue;
                    }
                    if self.probes_taken >= self.s.probes {
                        return Err(None);
                    }
                    self.probes_taken += 1;
                    return Ok(permit(Kind::Probe));
                }
                other => unreachable!("no such state in the model: {other:?}"),
            }
        }
    }

    fn complete(&mut self, p: ModelPermit, outcome: Outcome, now: u64) {
        let current = p.generation == self.generation;
        let slow = self
            .s
            .slow_after_ms
            .is_some_and(|ms| now - p.acquired_ns >= ms * MS);
        let failed = outcome == Outcome::Failure;
        match p.kind {
            Kind::Untracked => {}
            Kind::Probe => {
                if !(current && self.state == State::HalfOpen) {
                    return;
                }
                if outcome == Outcome::Ignored {
                    self.probes_taken -= 1;
                    return;
                }
                self.probe_records.push(Record {
                    failed,
                    slow,
                    second: 0,
                });
                if self.probe_records.len() >= usize::from(self.s.probes) {
                    let to = if self.exceeded(&self.probe_records.clone()) {
                        State::Open
                    } else {
                        State::Closed
                    };
                    self.enter(to, now);
                }
            }
            Kind::Tracked => {
                if outcome == Outcome::Ignored
                    || !current
                    || !matches!(self.state, State::Closed | State::MetricsOnly)
                {
                    return;
                }
                self.records.push_back(Record {
                    failed,
                    slow,
                    second: now / 1_000_000_000,
                });
                let open = match self.s.window {
                    WindowKind::Consecutive(limit) => {
                        if failed {
                            self.consecutive_failures += 1;
                        } else {
                            self.consecutive_failures = 0;
                        }
                        self.consecutive_failures >= limit
                    }
                    _ => {
                        let window = self.window(now);
                        window.len() as u64 >= u64::from(self.s.minimum_calls)
                            && self.exceeded(&window)
                    }
                };
                if open && self.state == State::Closed {
                    self.enter(State::Open, now);
                }
            }
        }
    }

    fn abandon(&mut self, p: ModelPermit, now: u64) {
        self.complete(p, Outcome::Ignored, now);
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// A call that takes `ms` and ends with `outcome`.
    Call {
        outcome: Outcome,
        ms: u64,
    },
    /// Many fast successes in a row (exercises the per-thread batches).
    Successes(u32),
    /// Take a permit and keep it.
    Hold,
    /// Finish the i-th held permit (modulo their number).
    Finish {
        index: usize,
        outcome: Outcome,
    },
    /// Drop the i-th held permit unfinished.
    Abandon(usize),
    Advance {
        ms: u64,
    },
    Transition(State),
    Reset,
    /// Compare window counts too.
    Inspect,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        5 => Just(Outcome::Success),
        4 => Just(Outcome::Failure),
        1 => Just(Outcome::Ignored),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (outcome(), prop_oneof![3 => Just(0u64), 1 => 0u64..400])
            .prop_map(|(outcome, ms)| Op::Call { outcome, ms }),
        4 => (1u32..150).prop_map(Op::Successes),
        4 => Just(Op::Hold),
        4 => (any::<usize>(), outcome()).prop_map(|(index, outcome)| Op::Finish { index, outcome }),
        2 => any::<usize>().prop_map(Op::Abandon),
        8 => prop_oneof![0u64..300, 300u64..3_000, 3_000u64..20_000].prop_map(|ms| Op::Advance { ms }),
        1 => prop_oneof![
            Just(State::Closed),
            Just(State::Open),
            Just(State::HalfOpen),
            Just(State::ForcedOpen),
            Just(State::Disabled),
            Just(State::MetricsOnly),
        ]
        .prop_map(Op::Transition),
        1 => Just(Op::Reset),
        3 => Just(Op::Inspect),
    ]
}

fn settings() -> impl Strategy<Value = Settings> {
    let window = prop_oneof![
        (1u32..30).prop_map(WindowKind::Count),
        (1u64..6).prop_map(WindowKind::Seconds),
        (1u32..6).prop_map(WindowKind::Consecutive),
    ];
    (
        window,
        1u32..30,
        prop_oneof![Just(20.0), Just(50.0), Just(75.0), Just(100.0)],
        prop_oneof![Just(50.0), Just(100.0)],
        proptest::option::of(50u64..300),
        1u16..5,
        (
            1u64..10_000,
            proptest::option::of((prop_oneof![Just(1.5), Just(2.0)], 5_000u64..60_000)),
        ),
        proptest::option::of(500u64..10_000),
        any::<bool>(),
    )
        .prop_map(
            |(
                window,
                min,
                failure,
                slow,
                slow_after,
                probes,
                (open_ms, growth),
                max_wait,
                automatic,
            )| {
                let minimum_calls = match window {
                    WindowKind::Count(n) => min.min(n),
                    _ => min,
                };
                Settings {
                    window,
                    minimum_calls,
                    failure_threshold: failure,
                    slow_threshold: slow,
                    slow_after_ms: slow_after,
                    probes,
                    open_ms,
                    open_growth: growth.map(|(m, max)| (m, max.max(open_ms))),
                    max_half_open_wait_ms: max_wait,
                    automatic,
                }
            },
        )
}

fn check(settings: Settings, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let breaker = Breaker::builder("model")
        .config(settings.config())
        .clock(clock.clone())
        .build();
    let mut model = Model::new(settings);
    let mut held: Vec<(Permit<'_>, ModelPermit)> = Vec::new();
    let now = |clock: &ManualClock| clock.elapsed().as_nanos() as u64;

    for (step, op) in ops.into_iter().enumerate() {
        let t = now(&clock);
        match op {
            Op::Call { outcome, ms } => {
                let real = breaker.try_acquire();
                let expected = model.acquire(t);
                match (real, expected) {
                    (Ok(permit), Ok(p)) => {
                        clock.advance(Duration::from_millis(ms));
                        permit.record(outcome);
                        model.complete(p, outcome, now(&clock));
                    }
                    (Err(rejection), Err(retry_after)) => {
                        prop_assert_eq!(
                            rejection.retry_after().map(|d| d.as_nanos() as u64),
                            retry_after,
                            "retry-after at step {}",
                            step
                        );
                    }
                    (real, expected) => prop_assert!(
                        false,
                        "step {}: breaker said {:?}, model said {:?}",
                        step,
                        real.map(|_| ()),
                        expected.map(|_| ())
                    ),
                }
            }
            Op::Successes(n) => {
                for _ in 0..n {
                    let real = breaker.try_acquire();
                    let expected = model.acquire(t);
                    prop_assert_eq!(real.is_ok(), expected.is_ok(), "step {}", step);
                    if let (Ok(permit), Ok(p)) = (real, expected) {
                        permit.success();
                        model.complete(p, Outcome::Success, t);
                    }
                }
            }
            Op::Hold => {
                let real = breaker.try_acquire();
                let expected = model.acquire(t);
                prop_assert_eq!(real.is_ok(), expected.is_ok(), "step {}", step);
                if let (Ok(permit), Ok(p)) = (real, expected) {
                    held.push((permit, p));
                }
            }
            Op::Finish { index, outcome } => {
                if !held.is_empty() {
                    let (permit, p) = held.remove(index % held.len());
                    permit.record(outcome);
                    model.complete(p, outcome, t);
                }
            }
            Op::Abandon(index) => {
                if !held.is_empty() {
                    let (permit, p) = held.remove(index % held.len());
                    drop(permit);
                    model.abandon(p, t);
                }
            }
            Op::Advance { ms } => clock.advance(Duration::from_millis(ms)),
            Op::Transition(state) => {
                breaker.transition_to(state);
                model.enter(state, t);
            }
            Op::Reset => {
                breaker.reset();
                model.consecutive_opens = 0;
                model.enter(State::Closed, t);
            }
            Op::Inspect => {
                let t = now(&clock);
                model.poll_due(t);
                let metrics = breaker.metrics();
                if matches!(model.state, State::Closed | State::MetricsOnly) {
                    let window = model.window(t);
                    if !matches!(model.s.window, WindowKind::Consecutive(_)) {
                        prop_assert_eq!(
                            metrics.buffered_calls,
                            window.len() as u64,
                            "step {}",
                            step
                        );
                        prop_assert_eq!(
                            metrics.failed_calls,
                            window.iter().filter(|r| r.failed).count() as u64,
                            "step {}",
                            step
                        );
                        prop_assert_eq!(
                            metrics.slow_calls,
                            window.iter().filter(|r| r.slow).count() as u64,
                            "step {}",
                            step
                        );
                    } else {
                        prop_assert_eq!(
                            metrics.failed_calls,
                            u64::from(model.consecutive_failures),
                            "step {}",
                            step
                        );
                    }
                }
            }
        }
        let t = now(&clock);
        model.poll_due(t);
        prop_assert_eq!(breaker.state(), model.state, "state after step {}", step);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn breaker_agrees_with_the_reference_model(
        settings in settings(),
        ops in proptest::collection::vec(op(), 1..300),
    ) {
        check(settings, ops)?;
    }
}
