//! What the recovery manager tells its listeners, and what it keeps in its history.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::supervise::ladder::Level;

/// How one recovery action went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ActionOutcome {
    /// It returned `Ok` and the service then reported itself up.
    Succeeded,
    /// It returned an error.
    Failed,
    /// It returned `Ok`, but the service still did not report itself up.
    NotUp,
    /// It (with the status check after it) did not finish within the action timeout.
    TimedOut,
}

impl ActionOutcome {
    /// A short lowercase name, as used in metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionOutcome::Succeeded => "succeeded",
            ActionOutcome::Failed => "failed",
            ActionOutcome::NotUp => "not_up",
            ActionOutcome::TimedOut => "timed_out",
        }
    }
}

/// How a whole recovery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryOutcome {
    /// An action brought the service back.
    Recovered {
        /// The level of the action that worked.
        level: Level,
        /// The action that worked.
        action: String,
    },
    /// Every action of every level was tried and none worked; an operator was alerted.
    Exhausted,
    /// The service failed more often than the restart intensity allows; it is no longer
    /// recovered, and an operator was alerted.
    GivenUp,
    /// The manager shut down before the recovery finished.
    Cancelled,
}

impl RecoveryOutcome {
    /// A short lowercase name, as used in metric labels.
    pub fn as_str(&self) -> &'static str {
        match self {
            RecoveryOutcome::Recovered { .. } => "recovered",
            RecoveryOutcome::Exhausted => "exhausted",
            RecoveryOutcome::GivenUp => "given_up",
            RecoveryOutcome::Cancelled => "cancelled",
        }
    }
}

/// One action tried during a recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActionRecord {
    /// The level it belongs to.
    pub level: Level,
    /// Its name.
    pub action: String,
    /// How it went.
    pub outcome: ActionOutcome,
    /// What the service said, when it failed.
    pub message: Option<String>,
    /// When it started.
    pub started_at: Instant,
    /// How long it took.
    pub duration: Duration,
}

/// One recovery, from the failure report to its end: the manager's history keeps these.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryRecord {
    /// The service.
    pub service: String,
    /// The kind of failure reported.
    pub failure: String,
    /// When the failure was reported.
    pub reported_at: Instant,
    /// When the first action started (after the backoff wait and a free slot), if one did.
    pub started_at: Option<Instant>,
    /// From the report to the end: the time to recover, when it recovered.
    pub duration: Duration,
    /// How it ended.
    pub outcome: RecoveryOutcome,
    /// The actions tried, in order.
    pub actions: Vec<ActionRecord>,
}

/// Why an operator should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertReason {
    /// Every action of the ladder failed.
    LadderExhausted,
    /// The service failed more than `max_recoveries` times within `within`: it is given up.
    IntensityExceeded {
        /// The restart intensity's count.
        max_recoveries: u32,
        /// The restart intensity's period.
        within: Duration,
    },
}

impl fmt::Display for AlertReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertReason::LadderExhausted => f.write_str("every recovery action failed"),
            AlertReason::IntensityExceeded {
                max_recoveries,
                within,
            } => write!(
                f,
                "more than {max_recoveries} recoveries within {within:?}; the service is given up"
            ),
        }
    }
}

/// Something that happened in a recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryEventKind<'a> {
    /// A recovery was scheduled; its first action runs after `delay` (the backoff) and a free
    /// slot.
    Started {
        /// The backoff wait before it starts.
        delay: Duration,
    },
    /// One action finished.
    ActionFinished {
        /// Its level.
        level: Level,
        /// Its name.
        action: &'a str,
        /// How it went.
        outcome: ActionOutcome,
        /// How long it took.
        elapsed: Duration,
    },
    /// The service is back (the umbrella's `recovery_completed`).
    Recovered {
        /// The level of the action that worked.
        level: Level,
        /// The action that worked.
        action: &'a str,
        /// From the failure report to now.
        time_to_recover: Duration,
    },
    /// An operator should look (the umbrella's `alert_created`).
    OperatorAlert {
        /// Why.
        reason: AlertReason,
    },
}

/// An event, with the service and failure kind it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryEvent<'a> {
    /// The service.
    pub service: &'a str,
    /// The kind of failure being recovered from.
    pub failure: &'a str,
    /// What happened.
    pub kind: RecoveryEventKind<'a>,
}

/// Receives the recovery manager's events.
///
/// Called synchronously from the recovery's task; keep it short (send to a channel to do
/// real work). Any `Fn(&RecoveryEvent<'_>)` is a listener.
pub trait RecoveryListener: Send + Sync + 'static {
    /// Called once for each event.
    fn on_event(&self, event: &RecoveryEvent<'_>);
}

impl<F> RecoveryListener for F
where
    F: Fn(&RecoveryEvent<'_>) + Send + Sync + 'static,
{
    fn on_event(&self, event: &RecoveryEvent<'_>) {
        self(event)
    }
}

impl<L: RecoveryListener + ?Sized> RecoveryListener for Arc<L> {
    fn on_event(&self, event: &RecoveryEvent<'_>) {
        (**self).on_event(event)
    }
}
