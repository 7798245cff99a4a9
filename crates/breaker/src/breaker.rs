//! The breaker itself: the state machine, the hot path and the slow path.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::classify::{Classifier, ErrIsFailure, Outcome};
use crate::clock::{Clock, SystemClock};
use crate::config::BreakerConfig;
use crate::error::{CallError, NotPermitted, Rejection};
use crate::event::{BreakerEvent, EventKind, Listener};
use crate::permit::{Permit, PermitKind, Token};
use crate::state::{State, Word};
use crate::stripes::{Drained, Stripes, Tag};
use crate::sync::{AtomicU64, CachePadded, Mutex, Ordering, lock};
use crate::window::{Tally, Verdict, Window};

/// Records a metric when the `metrics` feature is on; compiles to nothing otherwise.
macro_rules! metric {
    ($shared:expr, $($call:tt)*) => {{
        #[cfg(feature = "metrics")]
        $shared.metrics.$($call)*;
    }};
}

/// A circuit breaker.
///
/// A `Breaker` is a cheap handle: clones share one breaker. Use [`call`](Self::call) for
/// closures, [`call_async`](Self::call_async) for futures, and [`try_acquire`](Self::try_acquire)
/// to build anything else on the permit API.
///
/// ```
/// use std::time::Duration;
/// use hardening_breaker::{Breaker, BreakerConfig, SlidingWindow, State};
///
/// let config = BreakerConfig::builder()
///     .sliding_window(SlidingWindow::count(10))
///     .minimum_calls(4)
///     .failure_rate_threshold(50.0)
///     .open_duration(Duration::from_secs(30))
///     .build()?;
/// let breaker = Breaker::new("inventory", config);
///
/// for _ in 0..4 {
///     let _ = breaker.call(|| Err::<(), _>("connection refused"));
/// }
/// assert_eq!(breaker.state(), State::Open);
///
/// let rejected = breaker.call(|| Ok::<_, &str>(42)).unwrap_err();
/// let rejection = rejected.not_permitted().unwrap();
/// assert_eq!(rejection.breaker(), "inventory");
/// assert!(rejection.retry_after().unwrap() <= Duration::from_secs(30));
/// # Ok::<(), hardening_breaker::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Breaker {
    pub(crate) shared: Arc<Shared>,
}

/// Everything clones of a breaker share.
pub(crate) struct Shared {
    /// A weak handle to this very breaker, for the timer thread.
    pub(crate) me: std::sync::Weak<Shared>,
    /// Behind a thin pointer, so that a rejection carrying it stays small.
    pub(crate) name: Arc<Box<str>>,
    pub(crate) config: BreakerConfig,
    pub(crate) clock: Arc<dyn Clock>,
    /// Times are kept as nanoseconds since this instant, so they fit in atomics.
    epoch: Instant,
    /// Read on every call; written only on transitions and by half-open probes.
    hot: CachePadded<Hot>,
    /// When an open breaker may admit a probe (nanoseconds since `epoch`).
    open_until: AtomicU64,
    /// When a half-open breaker gives up waiting for its probes (nanoseconds since `epoch`;
    /// `u64::MAX` for never).
    half_open_until: AtomicU64,
    stripes: Stripes,
    /// Padded: the lock word is written on every fold, and must not evict the fields every
    /// call reads.
    core: CachePadded<Mutex<Core>>,
    listeners: Box<[Arc<dyn Listener>]>,
    /// Whether outcomes are timed (a slow-call threshold is set).
    timed: bool,
    /// Neither timed, nor placed by the second, nor reported to a listener: a fast success
    /// then needs no clock read at all.
    untimed_and_silent: bool,
    time_based: bool,
    /// Padded for the same reason as `core`.
    totals: CachePadded<Totals>,
    #[cfg(feature = "metrics")]
    metrics: crate::metrics::Handles,
}

struct Hot {
    word: AtomicU64,
    /// The [`Tag`] a fast success must carry to be counted in a per-thread batch, or
    /// [`Tag::NONE`] when every outcome must take the slow path (a success could change a
    /// decision, or the state does not record).
    batch_tag: AtomicU64,
}

/// Everything the slow path changes, behind one lock.
struct Core {
    window: Window,
    /// The half-open probes' outcomes.
    probes: Tally,
    consecutive_opens: u32,
    /// The verdict last seen, so that "rate exceeded" is announced once per crossing.
    last_verdict: Verdict,
}

/// Lifetime counts, folded in from the stripes on the slow path.
#[derive(Default)]
struct Totals {
    successful: AtomicU64,
    failed: AtomicU64,
    slow: AtomicU64,
    ignored: AtomicU64,
    not_permitted: AtomicU64,
}

/// A breaker's counts and rates at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// The state.
    pub state: State,
    /// The window's failure rate in percent; `None` until the window holds the minimum number
    /// of calls.
    pub failure_rate: Option<f64>,
    /// The window's slow-call rate in percent; `None` until the window holds the minimum
    /// number of calls, or when calls are not timed.
    pub slow_call_rate: Option<f64>,
    /// Calls in the window.
    pub buffered_calls: u64,
    /// Failed calls in the window.
    pub failed_calls: u64,
    /// Slow calls in the window.
    pub slow_calls: u64,
    /// Successful calls since the breaker was built.
    pub successful_total: u64,
    /// Failed calls since the breaker was built.
    pub failed_total: u64,
    /// Slow calls since the breaker was built.
    pub slow_total: u64,
    /// Ignored outcomes since the breaker was built.
    pub ignored_total: u64,
    /// Rejected calls since the breaker was built.
    pub not_permitted_total: u64,
}

/// Up to this many events come out of one slow-path step (an outcome, its rate crossing and a
/// transition).
const MAX_STEP_EVENTS: usize = 4;

/// Events gathered under the lock and delivered after it is released, so that a listener can
/// call back into the breaker.
#[derive(Default)]
struct Events {
    kinds: [Option<EventKind>; MAX_STEP_EVENTS],
    len: usize,
}

impl Events {
    fn push(&mut self, kind: EventKind) {
        if let Some(slot) = self.kinds.get_mut(self.len) {
            *slot = Some(kind);
            self.len += 1;
        }
    }
}

/// Builds a [`Breaker`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct BreakerBuilder {
    name: Box<str>,
    config: BreakerConfig,
    clock: Arc<dyn Clock>,
    listeners: Vec<Arc<dyn Listener>>,
}

impl fmt::Debug for BreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerBuilder")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

impl BreakerBuilder {
    /// The breaker's settings (default: [`BreakerConfig::default`]).
    pub fn config(mut self, config: BreakerConfig) -> Self {
        self.config = config;
        self
    }

    /// The clock the breaker reads (default: [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Adds a listener for the breaker's events. Several may be added.
    pub fn on_event(mut self, listener: impl Listener) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Adds a shared listener (for example one listener for every breaker of a registry).
    pub fn on_event_shared(mut self, listener: Arc<dyn Listener>) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Builds the breaker, closed. The config was checked when it was built, so this cannot
    /// fail.
    pub fn build(self) -> Breaker {
        let clock = self.clock;
        let epoch = clock.now();
        let config = self.config;
        let window = Window::new(config.sliding_window);
        let time_based = window.is_time_based();
        let shared = Arc::new_cyclic(|me| Shared {
            me: me.clone(),
            #[cfg(feature = "metrics")]
            metrics: crate::metrics::Handles::new(&self.name),
            name: Arc::new(self.name),
            timed: config.slow_call_duration_threshold.is_some(),
            untimed_and_silent: config.slow_call_duration_threshold.is_none()
                && !time_based
                && self.listeners.is_empty(),
            time_based,
            clock,
            epoch,
            hot: CachePadded(Hot {
                word: AtomicU64::new(Word::new(State::Closed, 1).0),
                batch_tag: AtomicU64::new(Tag::NONE.0),
            }),
            open_until: AtomicU64::new(0),
            half_open_until: AtomicU64::new(u64::MAX),
            stripes: Stripes::new(),
            core: CachePadded(Mutex::new(Core {
                window,
                probes: Tally::default(),
                consecutive_opens: 0,
                last_verdict: Verdict::default(),
            })),
            listeners: self.listeners.into_boxed_slice(),
            totals: CachePadded::default(),
            config,
        });
        {
            let mut core = lock(&shared.core);
            shared.update_batch_tag(&mut core, Word::new(State::Closed, 1), 0);
            metric!(shared, state(State::Closed));
            metric!(shared, window(&core.window.tally(), false));
        }
        Breaker { shared }
    }
}

impl Breaker {
    /// A builder for a breaker called `name`.
    pub fn builder(name: impl Into<Box<str>>) -> BreakerBuilder {
        BreakerBuilder {
            name: name.into(),
            config: BreakerConfig::default(),
            clock: Arc::new(SystemClock),
            listeners: Vec::new(),
        }
    }

    /// A breaker called `name` with `config`, the system clock and no listener.
    pub fn new(name: impl Into<Box<str>>, config: BreakerConfig) -> Breaker {
        Breaker::builder(name).config(config).build()
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The breaker's settings.
    pub fn config(&self) -> &BreakerConfig {
        &self.shared.config
    }

    /// The current state. A transition that is due by the clock (an automatic move to
    /// half-open, the end of the maximum half-open wait) happens first.
    pub fn state(&self) -> State {
        self.shared.poll_due();
        self.shared.word().state()
    }

    /// Asks to make one call. In the closed state this is one atomic load and no allocation.
    ///
    /// The [`Permit`] must be completed with [`success`](Permit::success),
    /// [`failure`](Permit::failure) or [`ignore`](Permit::ignore); a permit dropped without
    /// that (a cancelled future) counts as ignored and gives its probe slot back, and one
    /// dropped by a panic counts as a failure.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, NotPermitted> {
        match self.shared.acquire() {
            Ok(token) => Ok(Permit::new(&self.shared, token)),
            Err(rejection) => Err(self.shared.not_permitted(rejection)),
        }
    }

    /// Runs `f` if the breaker permits it, counting `Err` as a failure.
    #[inline]
    pub fn call<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, CallError<E>> {
        self.call_with(&ErrIsFailure, f)
    }

    /// Runs `f` if the breaker permits it, letting `classifier` decide what its result means.
    #[inline]
    pub fn call_with<T, E>(
        &self,
        classifier: &impl Classifier<T, E>,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, CallError<E>> {
        let permit = self.try_acquire()?;
        let result = f();
        permit.record(classifier.classify(&result));
        result.map_err(CallError::Inner)
    }

    /// Awaits `future` if the breaker permits it, counting `Err` as a failure. Works on any
    /// executor. If the returned future is dropped before it finishes, the call counts as
    /// ignored.
    pub async fn call_async<T, E>(
        &self,
        future: impl Future<Output = Result<T, E>>,
    ) -> Result<T, CallError<E>> {
        self.call_async_with(&ErrIsFailure, future).await
    }

    /// Awaits `future` if the breaker permits it, letting `classifier` decide what its result
    /// means.
    pub async fn call_async_with<T, E>(
        &self,
        classifier: &impl Classifier<T, E>,
        future: impl Future<Output = Result<T, E>>,
    ) -> Result<T, CallError<E>> {
        let permit = self.try_acquire()?;
        let result = future.await;
        permit.record(classifier.classify(&result));
        result.map_err(CallError::Inner)
    }

    /// Moves the breaker to `state` now, whatever it is in. Moving to closed or metrics-only
    /// empties the window; moving to open starts an open period from the backoff; moving to
    /// half-open frees every probe slot.
    pub fn transition_to(&self, state: State) {
        self.shared.manual_transition(state, false);
    }

    /// Closes the breaker, empties its window and restarts the open-duration backoff.
    pub fn reset(&self) {
        self.shared.manual_transition(State::Closed, true);
    }

    /// The breaker's counts and rates, with every per-thread batch folded in.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.poll_due();
        let shared = &self.shared;
        let (window, judged) = {
            let mut core = lock(&shared.core);
            shared.fold_stripes(&mut core);
            let now = shared.second_now();
            core.window.advance(now);
            let tally = core.window.tally();
            let judged = tally.calls >= u64::from(shared.config.minimum_calls)
                && !matches!(core.window, Window::Consecutive { .. });
            (tally, judged)
        };
        let totals = &shared.totals;
        MetricsSnapshot {
            state: shared.word().state(),
            failure_rate: judged.then(|| window.failure_rate()).flatten(),
            slow_call_rate: (judged && shared.timed)
                .then(|| window.slow_call_rate())
                .flatten(),
            buffered_calls: window.calls,
            failed_calls: window.failures,
            slow_calls: window.slow,
            successful_total: totals.successful.load(Ordering::Relaxed),
            failed_total: totals.failed.load(Ordering::Relaxed),
            slow_total: totals.slow.load(Ordering::Relaxed),
            ignored_total: totals.ignored.load(Ordering::Relaxed),
            not_permitted_total: totals.not_permitted.load(Ordering::Relaxed),
        }
    }

    /// Publishes the counts that per-thread batches still hold to the `metrics` facade. Reading
    /// [`metrics`](Self::metrics) does the same; call this before a scrape when exact counters
    /// matter.
    pub fn flush_metrics(&self) {
        let mut core = lock(&self.shared.core);
        self.shared.fold_stripes(&mut core);
    }

    /// When the breaker next needs to act by itself (an open period ending with automatic
    /// half-open, or the half-open wait running out), if it does.
    pub fn next_due(&self) -> Option<Instant> {
        self.shared.next_due()
    }
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.shared.name)
            .field("state", &self.shared.word().state())
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Shared {
    #[inline]
    fn word(&self) -> Word {
        Word(self.hot.word.load(Ordering::Acquire))
    }

    /// `at` as nanoseconds since the epoch, saturating (after 584 years). Plain u64
    /// arithmetic: the u128 of `Duration::as_nanos` shows on the rejection path.
    #[inline]
    fn nanos(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.epoch);
        since
            .as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(since.subsec_nanos()))
    }

    /// When a call starts, for a permit: the time if calls are timed.
    #[inline]
    fn start_time(&self) -> u64 {
        if self.timed {
            self.nanos(self.clock.now())
        } else {
            Token::NOT_TIMED
        }
    }

    /// How long a call that started at `started` (see [`start_time`](Self::start_time)) took
    /// until `now`, if it was timed.
    fn elapsed_since(&self, started: u64, now: Instant) -> Option<Duration> {
        (started != Token::NOT_TIMED)
            .then(|| Duration::from_nanos(self.nanos(now).saturating_sub(started)))
    }

    fn instant(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    fn second_of(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_secs()
    }

    fn second_now(&self) -> u64 {
        if self.time_based {
            self.second_of(self.clock.now())
        } else {
            0
        }
    }

    fn emit(&self, at: Instant, kind: EventKind) {
        for listener in &self.listeners {
            listener.on_event(&BreakerEvent {
                breaker: &self.name,
                at,
                kind,
            });
        }
    }

    fn emit_all(&self, at: Instant, events: &Events) {
        if self.listeners.is_empty() {
            return;
        }
        for kind in events.kinds[..events.len].iter().flatten() {
            self.emit(at, *kind);
        }
    }

    /// The permit check: the closed state's fast path inline, everything else out of line.
    #[inline]
    pub(crate) fn acquire(&self) -> Result<Token, Rejection> {
        let word = self.word();
        match word.state() {
            State::Closed | State::MetricsOnly => Ok(Token {
                generation: word.generation(),
                kind: PermitKind::Tracked,
                started: self.start_time(),
            }),
            State::Disabled => Ok(Token {
                generation: word.generation(),
                kind: PermitKind::Untracked,
                started: Token::NOT_TIMED,
            }),
            _ => self.acquire_slow(word),
        }
    }

    #[cold]
    fn acquire_slow(&self, mut word: Word) -> Result<Token, Rejection> {
        loop {
            match word.state() {
                State::Open => {
                    let now = self.clock.now();
                    let until = self.open_until.load(Ordering::Relaxed);
                    let now_nanos = self.nanos(now);
                    if now_nanos < until {
                        return Err(self.reject(
                            now,
                            State::Open,
                            Some(Duration::from_nanos(until - now_nanos)),
                        ));
                    }
                    self.transition_if_current(word, State::HalfOpen, now);
                }
                State::HalfOpen => {
                    let now = self.clock.now();
                    if self.nanos(now) >= self.half_open_until.load(Ordering::Relaxed) {
                        self.transition_if_current(word, State::Open, now);
                    } else {
                        let taken = word.probes_taken();
                        if taken >= self.config.permitted_calls_in_half_open {
                            return Err(self.reject(now, State::HalfOpen, None));
                        }
                        let next = word.with_probes_taken(taken + 1);
                        match self.hot.word.compare_exchange(
                            word.0,
                            next.0,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        ) {
                            Ok(_) => {
                                return Ok(Token {
                                    generation: word.generation(),
                                    kind: PermitKind::Probe,
                                    started: if self.timed {
                                        self.nanos(now)
                                    } else {
                                        Token::NOT_TIMED
                                    },
                                });
                            }
                            Err(actual) => {
                                word = Word(actual);
                                continue;
                            }
                        }
                    }
                }
                State::ForcedOpen => {
                    return Err(self.reject(self.clock.now(), State::ForcedOpen, None));
                }
                State::Closed | State::MetricsOnly | State::Disabled => return self.acquire(),
            }
            word = self.word();
        }
    }

    fn reject(&self, now: Instant, state: State, retry_after: Option<Duration>) -> Rejection {
        let batch = self.stripes.add_not_permitted();
        if batch > 0 {
            self.totals
                .not_permitted
                .fetch_add(batch, Ordering::Relaxed);
            metric!(self, not_permitted(batch));
        }
        self.emit(now, EventKind::NotPermitted);
        Rejection::new(state, retry_after)
    }

    /// The public error for a rejection: the one place the breaker's name is attached.
    pub(crate) fn not_permitted(&self, rejection: Rejection) -> NotPermitted {
        NotPermitted {
            breaker: Arc::clone(&self.name),
            rejection,
        }
    }

    /// Records a finished call.
    #[inline]
    pub(crate) fn complete(&self, token: Token, outcome: Outcome, elapsed: Option<Duration>) {
        match token.kind {
            PermitKind::Untracked => {}
            PermitKind::Probe => self.complete_probe(token, outcome, elapsed),
            PermitKind::Tracked if self.untimed_and_silent && outcome == Outcome::Success => {
                self.batch_success(Tag::new(token.generation, 0), token.generation);
            }
            PermitKind::Tracked => {
                let elapsed =
                    elapsed.or_else(|| self.elapsed_since(token.started, self.clock.now()));
                let slow = self.is_slow(elapsed);
                match outcome {
                    Outcome::Ignored => self.count_ignored(),
                    Outcome::Success if !slow => {
                        if !self.try_batch_success(token.generation, elapsed) {
                            self.record_tracked(token.generation, false, false, elapsed);
                        }
                    }
                    Outcome::Success | Outcome::Failure => self.record_tracked(
                        token.generation,
                        outcome == Outcome::Failure,
                        slow,
                        elapsed,
                    ),
                }
            }
        }
    }

    fn is_slow(&self, elapsed: Option<Duration>) -> bool {
        match (self.config.slow_call_duration_threshold, elapsed) {
            (Some(threshold), Some(elapsed)) => elapsed >= threshold,
            _ => false,
        }
    }

    /// The fast path for a fast success: when it cannot change any decision, count it in this
    /// thread's stripe and fold it in later.
    #[inline]
    fn try_batch_success(&self, generation: u32, elapsed: Option<Duration>) -> bool {
        let at = (self.time_based || !self.listeners.is_empty()).then(|| self.clock.now());
        let second = match at {
            Some(at) if self.time_based => self.second_of(at),
            _ => 0,
        };
        if !self.batch_success_if_inert(Tag::new(generation, second)) {
            return false;
        }
        if let Some(at) = at {
            self.emit(at, EventKind::Success { elapsed });
        }
        true
    }

    /// Counts a fast success in this thread's stripe when the batch tag allows it.
    #[inline]
    fn batch_success_if_inert(&self, tag: Tag) -> bool {
        if self.hot.batch_tag.load(Ordering::Relaxed) != tag.0 {
            return false;
        }
        if let Some((full_tag, count)) = self.stripes.add_success(tag) {
            self.fold_successes(full_tag, count);
        }
        true
    }

    /// A fast success of an untimed, count-window breaker with no listener.
    #[inline]
    fn batch_success(&self, tag: Tag, generation: u32) {
        if !self.batch_success_if_inert(tag) {
            self.record_tracked(generation, false, false, None);
        }
    }

    #[cold]
    fn fold_successes(&self, tag: Tag, count: u64) {
        let mut core = lock(&self.core);
        self.fold_batch(&mut core, tag, count);
        let word = self.word();
        self.update_batch_tag(&mut core, word, self.second_now());
    }

    fn fold_batch(&self, core: &mut Core, tag: Tag, count: u64) {
        self.totals.successful.fetch_add(count, Ordering::Relaxed);
        metric!(self, calls(false, false, count));
        let word = self.word();
        if word.state().admits_freely()
            && word.state() != State::Disabled
            && tag.is_generation(word.generation())
        {
            let now = self.second_now();
            core.window.record(tag.second(now), false, false, count);
        }
    }

    /// Folds every stripe into the window and the totals.
    fn fold_stripes(&self, core: &mut Core) {
        for Drained {
            successes,
            not_permitted,
            ignored,
        } in self.stripes.drain()
        {
            if let Some((tag, count)) = successes {
                self.fold_batch(core, tag, count);
            }
            if not_permitted > 0 {
                self.totals
                    .not_permitted
                    .fetch_add(not_permitted, Ordering::Relaxed);
                metric!(self, not_permitted(not_permitted));
            }
            if ignored > 0 {
                self.totals.ignored.fetch_add(ignored, Ordering::Relaxed);
                metric!(self, ignored(ignored));
            }
        }
    }

    fn count_ignored(&self) {
        let batch = self.stripes.add_ignored();
        if batch > 0 {
            self.totals.ignored.fetch_add(batch, Ordering::Relaxed);
            metric!(self, ignored(batch));
        }
        if !self.listeners.is_empty() {
            self.emit(self.clock.now(), EventKind::Ignored);
        }
    }

    fn count_call(&self, failure: bool, slow: bool) {
        let total = if failure {
            &self.totals.failed
        } else {
            &self.totals.successful
        };
        total.fetch_add(1, Ordering::Relaxed);
        if slow {
            self.totals.slow.fetch_add(1, Ordering::Relaxed);
        }
        metric!(self, calls(failure, slow, 1));
    }

    fn outcome_event(failure: bool, elapsed: Option<Duration>) -> EventKind {
        if failure {
            EventKind::Failure { elapsed }
        } else {
            EventKind::Success { elapsed }
        }
    }

    /// The slow path for a closed or metrics-only outcome: into the window, then judged.
    #[cold]
    fn record_tracked(
        &self,
        generation: u32,
        failure: bool,
        slow: bool,
        elapsed: Option<Duration>,
    ) {
        let now = self.clock.now();
        let mut events = Events::default();
        events.push(Self::outcome_event(failure, elapsed));
        self.count_call(failure, slow);
        {
            let mut core = lock(&self.core);
            // Fold every thread's batched successes first, so the judgement sees every call
            // that finished before this one.
            self.fold_stripes(&mut core);
            let word = self.word();
            let second = self.second_of(now);
            if word.generation() == generation && word.state().admits_freely() {
                core.window.record(second, failure, slow, 1);
                self.judge_window(&mut core, word, now, &mut events);
            }
            let word = self.word();
            self.update_batch_tag(&mut core, word, if self.time_based { second } else { 0 });
        }
        self.emit_all(now, &events);
    }

    /// Judges the closed (or metrics-only) window: announces a rate crossing, opens when closed.
    fn judge_window(&self, core: &mut Core, word: Word, now: Instant, events: &mut Events) {
        let verdict = core.window.verdict(&self.config);
        let tally = core.window.tally();
        let newly = |now: bool, before: bool| now && !before;
        if newly(
            verdict.failure_rate_exceeded,
            core.last_verdict.failure_rate_exceeded,
        ) {
            events.push(EventKind::FailureRateExceeded {
                rate: tally.failure_rate().unwrap_or(0.0),
            });
        }
        if newly(
            verdict.slow_call_rate_exceeded,
            core.last_verdict.slow_call_rate_exceeded,
        ) {
            events.push(EventKind::SlowCallRateExceeded {
                rate: tally.slow_call_rate().unwrap_or(0.0),
            });
        }
        core.last_verdict = verdict;
        metric!(
            self,
            window(&tally, tally.calls >= u64::from(self.config.minimum_calls))
        );
        if word.state() == State::Closed && verdict.exceeded() {
            self.transition_locked(core, word, State::Open, now, events);
        }
    }

    fn complete_probe(&self, token: Token, outcome: Outcome, elapsed: Option<Duration>) {
        if outcome == Outcome::Ignored {
            self.release_probe(token.generation);
            self.count_ignored();
            return;
        }
        let now = self.clock.now();
        let elapsed = elapsed.or_else(|| self.elapsed_since(token.started, now));
        let failure = outcome == Outcome::Failure;
        let slow = self.is_slow(elapsed);
        let mut events = Events::default();
        events.push(Self::outcome_event(failure, elapsed));
        self.count_call(failure, slow);
        {
            let mut core = lock(&self.core);
            let word = self.word();
            if word.state() == State::HalfOpen && word.generation() == token.generation {
                core.probes.add(failure, slow, 1);
                if core.probes.calls >= u64::from(self.config.permitted_calls_in_half_open) {
                    let next = if Verdict::of(&core.probes, &self.config).exceeded() {
                        State::Open
                    } else {
                        State::Closed
                    };
                    self.transition_locked(&mut core, word, next, now, &mut events);
                }
            }
        }
        self.emit_all(now, &events);
    }

    /// Gives a probe slot back, if the half-open period it was taken in is still current.
    pub(crate) fn release_probe(&self, generation: u32) {
        let mut word = self.word();
        while word.state() == State::HalfOpen
            && word.generation() == generation
            && word.probes_taken() > 0
        {
            let next = word.with_probes_taken(word.probes_taken() - 1);
            match self.hot.word.compare_exchange(
                word.0,
                next.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => word = Word(actual),
            }
        }
    }

    /// A permit dropped without an outcome: ignored, or a failure when dropped by a panic.
    pub(crate) fn abandon(&self, token: Token) {
        let outcome = if std::thread::panicking() {
            Outcome::Failure
        } else {
            Outcome::Ignored
        };
        self.complete(token, outcome, None);
    }

    /// Moves from `from` to `to` if no one else has moved the breaker since `from` was read.
    fn transition_if_current(&self, from: Word, to: State, now: Instant) {
        let mut events = Events::default();
        {
            let mut core = lock(&self.core);
            let word = self.word();
            if word.generation() != from.generation() {
                return;
            }
            self.transition_locked(&mut core, word, to, now, &mut events);
        }
        self.emit_all(now, &events);
    }

    fn manual_transition(&self, to: State, reset: bool) {
        let now = self.clock.now();
        let mut events = Events::default();
        {
            let mut core = lock(&self.core);
            self.fold_stripes(&mut core);
            let word = self.word();
            if reset {
                events.push(EventKind::Reset);
                core.consecutive_opens = 0;
            }
            self.transition_locked(&mut core, word, to, now, &mut events);
        }
        self.emit_all(now, &events);
    }

    /// The one place a transition happens; the caller holds the lock.
    fn transition_locked(
        &self,
        core: &mut Core,
        from: Word,
        to: State,
        now: Instant,
        events: &mut Events,
    ) {
        let next = from.next(to);
        let now_nanos = self.nanos(now);
        // Set up the new state's deadlines before publishing it, so that a caller who sees the
        // new state also sees its deadline.
        match to {
            State::Open => {
                core.consecutive_opens = core.consecutive_opens.saturating_add(1);
                let open_for = self
                    .config
                    .open_duration
                    .for_opening(core.consecutive_opens);
                let until = now_nanos
                    .saturating_add(u64::try_from(open_for.as_nanos()).unwrap_or(u64::MAX));
                self.open_until.store(until, Ordering::Relaxed);
            }
            State::HalfOpen => {
                core.probes = Tally::default();
                let until = self.config.max_wait_in_half_open.map_or(u64::MAX, |wait| {
                    now_nanos.saturating_add(u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX))
                });
                self.half_open_until.store(until, Ordering::Relaxed);
            }
            State::Closed | State::MetricsOnly => {
                if to == State::Closed {
                    core.consecutive_opens = 0;
                }
                core.window.reset();
                core.last_verdict = Verdict::default();
            }
            State::ForcedOpen | State::Disabled => {}
        }
        // Probe permits change the word without the lock; retry until the swap lands.
        let mut current = from;
        loop {
            match self.hot.word.compare_exchange(
                current.0,
                next.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => {
                    current = Word(actual);
                    debug_assert_eq!(current.generation(), from.generation());
                }
            }
        }
        let second = if self.time_based {
            self.second_of(now)
        } else {
            0
        };
        self.update_batch_tag(core, next, second);
        let from_state = from.state();
        metric!(self, state(to));
        metric!(self, transition(from_state, to));
        if matches!(to, State::Closed | State::MetricsOnly) {
            metric!(self, window(&core.window.tally(), false));
        }
        events.push(EventKind::StateTransition {
            from: from_state,
            to,
        });
        if self.config.automatic_half_open || self.config.max_wait_in_half_open.is_some() {
            crate::timer::schedule_if_due(self);
        }
    }

    /// Allows fast successes to be batched exactly when no single success could change a
    /// decision.
    fn update_batch_tag(&self, core: &mut Core, word: Word, second: u64) {
        // A time window must first forget the seconds that have passed, or it would count
        // calls that no longer hold it above the minimum.
        core.window.advance(second);
        let tracked = matches!(word.state(), State::Closed | State::MetricsOnly);
        let tag = if tracked && core.window.success_is_inert(self.config.minimum_calls) {
            Tag::new(word.generation(), second)
        } else {
            Tag::NONE
        };
        // Every call reads this cache line: write it only when the answer changes.
        if self.hot.batch_tag.load(Ordering::Relaxed) != tag.0 {
            self.hot.batch_tag.store(tag.0, Ordering::Relaxed);
        }
    }

    /// Makes the transitions that time alone makes due.
    pub(crate) fn poll_due(&self) {
        let word = self.word();
        match word.state() {
            State::Open if self.config.automatic_half_open => {
                let now = self.clock.now();
                if self.nanos(now) >= self.open_until.load(Ordering::Relaxed) {
                    self.transition_if_current(word, State::HalfOpen, now);
                }
            }
            State::HalfOpen => {
                let now = self.clock.now();
                if self.nanos(now) >= self.half_open_until.load(Ordering::Relaxed) {
                    self.transition_if_current(word, State::Open, now);
                }
            }
            _ => {}
        }
    }

    pub(crate) fn next_due(&self) -> Option<Instant> {
        let word = self.word();
        match word.state() {
            State::Open if self.config.automatic_half_open => {
                Some(self.instant(self.open_until.load(Ordering::Relaxed)))
            }
            State::HalfOpen => {
                let until = self.half_open_until.load(Ordering::Relaxed);
                (until != u64::MAX).then(|| self.instant(until))
            }
            _ => None,
        }
    }

    /// How long from now, by this breaker's clock, until `at`.
    #[cfg_attr(
        loom,
        allow(dead_code, reason = "the timer thread is compiled out under loom")
    )]
    pub(crate) fn until(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.clock.now())
    }
}
