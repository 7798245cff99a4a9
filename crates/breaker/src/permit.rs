//! Permits: the breaker's answer to "may I call?", and the caller's report of how it went.

use std::fmt;
use std::mem::ManuallyDrop;
use std::time::Duration;

use crate::Breaker;
use crate::breaker::Shared;
use crate::classify::Outcome;

/// What kind of call a permit stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PermitKind {
    /// Closed or metrics-only: the outcome goes into the window.
    Tracked,
    /// Half-open: the permit holds one of the probe slots.
    Probe,
    /// Disabled: nothing is recorded.
    Untracked,
}

/// What a permit needs to report its outcome: plain data, so that both permit types share it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    /// When the call started, in nanoseconds since the breaker's epoch, or
    /// [`Token::NOT_TIMED`]. A plain integer rather than an `Option<Instant>`, so that the
    /// token stays two registers wide on the hot path.
    pub(crate) started: u64,
    pub(crate) generation: u32,
    pub(crate) kind: PermitKind,
}

impl Token {
    pub(crate) const NOT_TIMED: u64 = u64::MAX;
}

/// Permission to make one call, borrowed from a [`Breaker`].
///
/// Report the outcome with [`success`](Self::success), [`failure`](Self::failure),
/// [`ignore`](Self::ignore) or [`record`](Self::record). Dropping the permit unreported counts
/// the call as ignored (a cancelled future) and gives a half-open probe slot back; dropping it
/// while the thread panics counts a failure.
///
/// ```
/// use hardening_breaker::Breaker;
///
/// let breaker = Breaker::builder("search").build();
/// match breaker.try_acquire() {
///     Ok(permit) => {
///         let answer = 6 * 7; // the protected work
///         permit.success();
///         assert_eq!(answer, 42);
///     }
///     Err(rejected) => println!("not now: {rejected}"),
/// }
/// ```
#[must_use = "a permit reports nothing until it is completed; dropping it counts as ignored"]
pub struct Permit<'a> {
    shared: &'a Shared,
    token: Token,
}

impl<'a> Permit<'a> {
    #[inline]
    pub(crate) fn new(shared: &'a Shared, token: Token) -> Self {
        Permit { shared, token }
    }

    /// The call succeeded.
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// The call failed.
    #[inline]
    pub fn failure(self) {
        self.record(Outcome::Failure);
    }

    /// The call's outcome should not count (and a probe slot is given back).
    #[inline]
    pub fn ignore(self) {
        self.record(Outcome::Ignored);
    }

    /// Reports `outcome`, timing the call from when the permit was granted if calls are timed.
    #[inline]
    pub fn record(self, outcome: Outcome) {
        let this = ManuallyDrop::new(self);
        this.shared.complete(this.token, outcome, None);
    }

    /// Reports `outcome` with a duration the caller measured itself (used for slow-call
    /// judgement instead of the breaker's own timing).
    pub fn record_with_duration(self, outcome: Outcome, elapsed: Duration) {
        let this = ManuallyDrop::new(self);
        this.shared.complete(this.token, outcome, Some(elapsed));
    }

    /// Whether this permit holds one of the half-open probe slots.
    pub fn is_probe(&self) -> bool {
        self.token.kind == PermitKind::Probe
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.shared.abandon(self.token);
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &&*self.shared.name)
            .field("probe", &self.is_probe())
            .finish_non_exhaustive()
    }
}

/// A [`Permit`] that owns a handle to its breaker, for futures that must be `'static` (the
/// `tower` middleware uses it). Costs one reference-count increment more than a `Permit`.
#[must_use = "a permit reports nothing until it is completed; dropping it counts as ignored"]
pub struct OwnedPermit {
    breaker: Breaker,
    /// Taken when the outcome is reported, so that the drop does not report again.
    token: Option<Token>,
}

impl OwnedPermit {
    /// The call succeeded.
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// The call failed.
    pub fn failure(self) {
        self.record(Outcome::Failure);
    }

    /// The call's outcome should not count (and a probe slot is given back).
    pub fn ignore(self) {
        self.record(Outcome::Ignored);
    }

    /// Reports `outcome`.
    pub fn record(mut self, outcome: Outcome) {
        if let Some(token) = self.token.take() {
            self.breaker.shared.complete(token, outcome, None);
        }
    }

    /// Whether this permit holds one of the half-open probe slots.
    pub fn is_probe(&self) -> bool {
        self.token
            .is_some_and(|token| token.kind == PermitKind::Probe)
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            self.breaker.shared.abandon(token);
        }
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("breaker", &self.breaker.name())
            .field("probe", &self.is_probe())
            .finish_non_exhaustive()
    }
}

impl Breaker {
    /// Like [`try_acquire`](Self::try_acquire), but the permit keeps its own handle to the
    /// breaker, so it can outlive the borrow (for `'static` futures).
    pub fn try_acquire_owned(&self) -> Result<OwnedPermit, crate::NotPermitted> {
        match self.shared.acquire() {
            Ok(token) => Ok(OwnedPermit {
                breaker: self.clone(),
                token: Some(token),
            }),
            Err(rejection) => Err(self.shared.not_permitted(rejection)),
        }
    }
}
