//! The escalation ladder: what to try, in which order.

use std::fmt;
use std::sync::Arc;

/// One rung of the escalation ladder. Recovery starts at the lowest level that has actions
/// and moves up a level when none of a level's actions brings the service back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Cheap, harmless actions: reconnect, retry a handshake.
    Soft,
    /// Actions that lose some state: clear a cache, drop a pool.
    Medium,
    /// Actions that rebuild the service: reinitialize.
    Hard,
    /// The last resort: restart.
    Emergency,
}

impl Level {
    /// The levels, lowest first.
    pub const ALL: [Level; 4] = [Level::Soft, Level::Medium, Level::Hard, Level::Emergency];

    /// A short lowercase name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Soft => "soft",
            Level::Medium => "medium",
            Level::Hard => "hard",
            Level::Emergency => "emergency",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing the manager can do to bring a service back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// [`Recoverable::recover`](crate::Recoverable::recover) with this name.
    Named(Arc<str>),
    /// [`Recoverable::initialize`](crate::Recoverable::initialize).
    Reinitialize,
    /// [`Recoverable::shutdown`](crate::Recoverable::shutdown), then
    /// [`Recoverable::initialize`](crate::Recoverable::initialize).
    Restart,
}

impl Action {
    /// A named action, run by the service's `recover`.
    pub fn named(name: impl Into<Arc<str>>) -> Self {
        Action::Named(name.into())
    }

    /// The action's name: its own, or `reinitialize` / `restart`.
    pub fn name(&self) -> &str {
        match self {
            Action::Named(name) => name,
            Action::Reinitialize => "reinitialize",
            Action::Restart => "restart",
        }
    }
}

impl From<&str> for Action {
    fn from(name: &str) -> Self {
        Action::named(name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The actions of each [`Level`], in the configured order (the order used until the manager
/// has learned better; see [`RecoveryManager`](crate::RecoveryManager)).
///
/// ```
/// use hardening_recovery::{Action, Ladder, Level};
///
/// let ladder = Ladder::new()
///     .level(Level::Soft, ["reconnect"])
///     .level(Level::Medium, ["clear_cache", "drop_pool"])
///     .level(Level::Hard, [Action::Reinitialize])
///     .level(Level::Emergency, [Action::Restart]);
/// assert_eq!(ladder.actions(Level::Medium).len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ladder {
    levels: [Vec<Action>; 4],
}

impl Ladder {
    /// An empty ladder.
    pub fn new() -> Self {
        Ladder::default()
    }

    /// Sets the actions of `level`, in the order to try them.
    pub fn level<A: Into<Action>>(
        mut self,
        level: Level,
        actions: impl IntoIterator<Item = A>,
    ) -> Self {
        self.levels[level as usize] = actions.into_iter().map(Into::into).collect();
        self
    }

    /// The actions of `level`, in configured order.
    pub fn actions(&self, level: Level) -> &[Action] {
        &self.levels[level as usize]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.levels.iter().all(Vec::is_empty)
    }

    /// The first action name used twice, if any: learning keys on names.
    pub(crate) fn duplicate(&self) -> Option<&str> {
        let all: Vec<&str> = self.levels.iter().flatten().map(Action::name).collect();
        all.iter()
            .enumerate()
            .find(|(i, name)| all[..*i].contains(name))
            .map(|(_, name)| *name)
    }
}
