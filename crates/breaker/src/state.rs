//! The breaker's states, and the packed word that holds the current one.

use std::fmt;

/// The state of a circuit breaker.
///
/// The first three are the classic automaton; the last three are entered only by an operator
/// (or code acting as one) through the breaker's manual transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum State {
    /// Calls flow; outcomes are recorded and judged against the thresholds.
    Closed,
    /// Calls are rejected until the open duration has passed.
    Open,
    /// A fixed number of probe calls are admitted to decide between Closed and Open.
    HalfOpen,
    /// Calls are rejected until an operator moves the breaker out of this state.
    ForcedOpen,
    /// Calls flow and nothing is recorded; the breaker never changes state by itself.
    Disabled,
    /// Calls flow and outcomes are recorded and reported, but the breaker never opens.
    MetricsOnly,
}

impl State {
    /// Every state, in declaration order.
    pub const ALL: [State; 6] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
        State::Disabled,
        State::MetricsOnly,
    ];

    /// The state's name in `snake_case`, as used in metric labels and events.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
            State::MetricsOnly => "metrics_only",
        }
    }

    /// Whether a call may pass in this state without reserving a probe slot.
    pub const fn admits_freely(self) -> bool {
        matches!(self, State::Closed | State::Disabled | State::MetricsOnly)
    }

    /// The number Resilience4j's `state` gauge uses for this state (0 closed, 1 open,
    /// 2 half-open, 3 disabled, 4 forced open, 5 metrics only).
    pub const fn resilience4j_order(self) -> u8 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
            State::Disabled => 3,
            State::ForcedOpen => 4,
            State::MetricsOnly => 5,
        }
    }

    pub(crate) const fn to_bits(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
            State::ForcedOpen => 3,
            State::Disabled => 4,
            State::MetricsOnly => 5,
        }
    }

    pub(crate) const fn from_bits(bits: u64) -> State {
        match bits {
            0 => State::Closed,
            1 => State::Open,
            2 => State::HalfOpen,
            3 => State::ForcedOpen,
            4 => State::Disabled,
            _ => State::MetricsOnly,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The breaker's whole externally visible state in one atomic word, so that a caller on the
/// hot path learns everything it needs from a single load:
///
/// ```text
/// bits 63..32  generation: bumped by every transition, so late outcomes of an earlier state
///              are recognised and kept out of the current state's window
/// bits 31..16  probe slots taken in HalfOpen (in flight plus completed)
/// bits  7..0   state
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    const PROBES_SHIFT: u32 = 16;
    const PROBES_MASK: u64 = 0xFFFF;

    pub(crate) const fn new(state: State, generation: u32) -> Word {
        Word(((generation as u64) << 32) | state.to_bits())
    }

    pub(crate) const fn state(self) -> State {
        State::from_bits(self.0 & 0xFF)
    }

    pub(crate) const fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }

    pub(crate) const fn probes_taken(self) -> u16 {
        ((self.0 >> Self::PROBES_SHIFT) & Self::PROBES_MASK) as u16
    }

    pub(crate) const fn with_probes_taken(self, taken: u16) -> Word {
        Word(
            (self.0 & !(Self::PROBES_MASK << Self::PROBES_SHIFT))
                | ((taken as u64) << Self::PROBES_SHIFT),
        )
    }

    /// The word for the next state: a new generation with no probes taken.
    pub(crate) const fn next(self, state: State) -> Word {
        Word::new(state, self.generation().wrapping_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_round_trips_every_field() {
        for state in State::ALL {
            let word = Word::new(state, u32::MAX - 1).with_probes_taken(65_535);
            assert_eq!(word.state(), state);
            assert_eq!(word.generation(), u32::MAX - 1);
            assert_eq!(word.probes_taken(), 65_535);
            let next = word.next(State::HalfOpen);
            assert_eq!(next.generation(), u32::MAX);
            assert_eq!(next.probes_taken(), 0);
            assert_eq!(next.state(), State::HalfOpen);
        }
    }

    #[test]
    fn state_bits_round_trip() {
        for state in State::ALL {
            assert_eq!(State::from_bits(state.to_bits()), state);
        }
    }
}
