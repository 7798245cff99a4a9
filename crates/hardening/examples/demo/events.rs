//! The event stream, watched: every event counted (and printed, in the live view), recoveries
//! paired start to end, and any `Lagged` noted: a missed event is a lost event.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hardening::{HardeningEvent, next_event};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use crate::output::Printer;

/// Completed recoveries kept one by one for the summary.
pub(crate) const KEPT_RECOVERIES: usize = 100;

/// What the watcher has seen.
#[derive(Debug, Default)]
pub(crate) struct EventBook {
    pub(crate) total: u64,
    pub(crate) by_kind: BTreeMap<&'static str, u64>,
    /// Events the subscriber missed, by `Lagged`.
    pub(crate) lagged_missed: u64,
    /// Per service, recoveries started and not yet ended.
    pub(crate) open: BTreeMap<String, u32>,
    /// Ends (`recovery_completed`, `recovery_failed`) with no start before them, other than a
    /// given-up report (which has none by design).
    pub(crate) unmatched_ends: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    /// Each completed recovery's time to recover, in milliseconds, in order.
    pub(crate) time_to_recover_ms: Vec<u32>,
    /// The first completed recoveries: service, action, time to recover in milliseconds
    /// (at most [`KEPT_RECOVERIES`], so that a long soak holds no growing list).
    pub(crate) recoveries: Vec<(String, String, u32)>,
    /// Completed recoveries by the action that brought the service back.
    pub(crate) recovered_by: BTreeMap<String, u64>,
    /// Recovery actions run, by `action outcome`.
    pub(crate) actions: BTreeMap<String, u64>,
}

impl EventBook {
    pub(crate) fn open_total(&self) -> u32 {
        self.open.values().sum()
    }

    fn note(&mut self, event: &HardeningEvent) {
        if let HardeningEvent::Lagged { missed } = event {
            self.lagged_missed += missed;
            return;
        }
        self.total += 1;
        *self.by_kind.entry(event.kind()).or_default() += 1;
        match event {
            HardeningEvent::RecoveryStarted { service, .. } => {
                *self.open.entry(service.clone()).or_default() += 1;
            }
            HardeningEvent::RecoveryCompleted {
                service,
                action,
                time_to_recover,
            } => {
                self.end(service, false);
                self.completed += 1;
                let millis = u32::try_from(time_to_recover.as_millis()).unwrap_or(u32::MAX);
                self.time_to_recover_ms.push(millis);
                if self.recoveries.len() < KEPT_RECOVERIES {
                    self.recoveries
                        .push((service.clone(), action.clone(), millis));
                }
                *self.recovered_by.entry(action.clone()).or_default() += 1;
            }
            HardeningEvent::RecoveryFailed {
                service, given_up, ..
            } => {
                self.end(service, *given_up);
                self.failed += 1;
            }
            HardeningEvent::RecoveryAction {
                action, outcome, ..
            } => {
                *self
                    .actions
                    .entry(format!("{action} {}", outcome.as_str()))
                    .or_default() += 1;
            }
            _ => {}
        }
    }

    fn end(&mut self, service: &str, given_up: bool) {
        match self.open.get_mut(service) {
            Some(open) if *open > 0 => {
                *open -= 1;
                if *open == 0 {
                    self.open.remove(service);
                }
            }
            // A service given up is refused recovery at once: that report has no start.
            _ if given_up => {}
            _ => self.unmatched_ends += 1,
        }
    }
}

pub(crate) fn lock(book: &Mutex<EventBook>) -> MutexGuard<'_, EventBook> {
    book.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The watcher: stop it by sending on the returned channel; it then reads what is left in
/// the stream and ends.
pub(crate) fn spawn_watcher(
    mut events: broadcast::Receiver<HardeningEvent>,
    book: Arc<Mutex<EventBook>>,
    printer: Arc<Printer>,
) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                event = next_event(&mut events) => match event {
                    Some(event) => {
                        printer.event(&describe(&event));
                        lock(&book).note(&event);
                    }
                    None => break,
                },
                _ = &mut stopped => {
                    loop {
                        match events.try_recv() {
                            Ok(event) => lock(&book).note(&event),
                            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                                lock(&book).note(&HardeningEvent::Lagged { missed });
                            }
                            Err(_) => break,
                        }
                    }
                    break;
                }
            }
        }
    });
    (stop, task)
}

pub(crate) fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// One line for a human.
fn describe(event: &HardeningEvent) -> String {
    match event {
        HardeningEvent::Initialized => {
            "system   initialized: services up, monitoring running".into()
        }
        HardeningEvent::BreakerStateChanged { service, from, to } => {
            format!("breaker  {service}: {from} -> {to}")
        }
        HardeningEvent::RecoveryStarted { service, failure } => {
            format!("recovery {service}: started ({failure})")
        }
        HardeningEvent::RecoveryAction {
            service,
            level,
            action,
            outcome,
            elapsed,
        } => format!(
            "recovery {service}: {level} `{action}` {} in {}",
            outcome.as_str(),
            seconds(*elapsed)
        ),
        HardeningEvent::RecoveryCompleted {
            service,
            action,
            time_to_recover,
        } => format!(
            "recovery {service}: RECOVERED by `{action}` in {}; breaker half-open, probes decide",
            seconds(*time_to_recover)
        ),
        HardeningEvent::RecoveryFailed {
            service,
            reason,
            given_up,
        } => format!(
            "recovery {service}: FAILED ({reason}){}",
            if *given_up { ", given up" } else { "" }
        ),
        HardeningEvent::HealthChanged { from, to } => format!("health   system: {from} -> {to}"),
        HardeningEvent::AlertCreated {
            name,
            severity,
            summary,
        } => format!("alert    {severity} {name}: {summary}"),
        HardeningEvent::AlertResolved { name } => format!("alert    resolved: {name}"),
        HardeningEvent::PerformanceThreshold {
            watched,
            value,
            limit,
            exceeded,
        } => format!(
            "perf     {watched:?} {value:.3} {} its limit {limit:.3}",
            if *exceeded { "over" } else { "back under" }
        ),
        HardeningEvent::EmergencyActivated { reason } => {
            format!("system   EMERGENCY: {reason}; low priorities shed")
        }
        HardeningEvent::EmergencyDeactivated { reason } => {
            format!("system   emergency over ({reason})")
        }
        HardeningEvent::ShutdownStarted => "system   shutting down".into(),
        HardeningEvent::Lagged { missed } => format!("events   LAGGED: {missed} missed"),
        other => format!("event    {}", other.kind()),
    }
}
