//! The terminal: events scroll by as lines, and a status block below them is redrawn every
//! second (on a terminal; elsewhere it is printed every few seconds).

use std::io::Write;
use std::sync::{Mutex, PoisonError};

use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A terminal: the status block is redrawn in place.
    Live,
    /// A pipe or a file: events as lines, the status block every 5 s.
    Lines,
    /// The soak: no events, the first two status lines as one every 10 s.
    Quiet,
}

#[derive(Debug)]
struct State {
    block: Vec<String>,
    /// Lines of the block on screen now (live mode).
    drawn: usize,
    ticks: u64,
}

#[derive(Debug)]
pub(crate) struct Printer {
    mode: Mode,
    epoch: Instant,
    state: Mutex<State>,
}

impl Printer {
    pub(crate) fn new(mode: Mode, epoch: Instant) -> Self {
        Printer {
            mode,
            epoch,
            state: Mutex::new(State {
                block: Vec::new(),
                drawn: 0,
                ticks: 0,
            }),
        }
    }

    /// A line that stays (the banner, the summary).
    pub(crate) fn line(&self, text: &str) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = std::io::stdout().lock();
        erase(&mut out, &mut state);
        // A closed stdout is no reason to stop the system.
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// Something that happened, stamped with the time since the start.
    pub(crate) fn event(&self, text: &str) {
        if self.mode == Mode::Quiet {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = std::io::stdout().lock();
        erase(&mut out, &mut state);
        let _ = writeln!(out, "[{:>6.1}s] {text}", self.epoch.elapsed().as_secs_f64());
        if self.mode == Mode::Live {
            draw(&mut out, &mut state);
        }
        let _ = out.flush();
    }

    /// The status block, once a second.
    pub(crate) fn status(&self, block: Vec<String>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.ticks += 1;
        let mut out = std::io::stdout().lock();
        match self.mode {
            Mode::Live => {
                erase(&mut out, &mut state);
                state.block = block;
                draw(&mut out, &mut state);
            }
            Mode::Lines if state.ticks.is_multiple_of(5) => {
                for line in &block {
                    let _ = writeln!(out, "{line}");
                }
            }
            Mode::Quiet if state.ticks.is_multiple_of(10) => {
                let _ = writeln!(
                    out,
                    "{}",
                    block
                        .iter()
                        .take(2)
                        .map(|l| l.trim())
                        .collect::<Vec<_>>()
                        .join("  ")
                );
            }
            _ => {}
        }
        let _ = out.flush();
    }

    /// Leaves the last status block on screen and stops redrawing it.
    pub(crate) fn finish(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.drawn = 0;
        state.block.clear();
    }
}

/// Moves up over the status block and clears it.
fn erase(out: &mut impl Write, state: &mut State) {
    if state.drawn > 0 {
        let _ = write!(out, "\x1b[{}F\x1b[J", state.drawn);
        state.drawn = 0;
    }
}

fn draw(out: &mut impl Write, state: &mut State) {
    for line in &state.block {
        let _ = writeln!(out, "{line}");
    }
    state.drawn = state.block.len();
}
