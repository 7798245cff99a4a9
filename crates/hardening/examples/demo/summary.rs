//! The end of the run: the summary printed for a human, and `run.json` for the soak.

use std::time::Duration;

use hardening::ShutdownReport;
use hardening::perf::OperationReport;
use serde_json::{Value, json};

use crate::events::{EventBook, seconds};
use crate::load::{Calls, Load, PRIORITIES};
use crate::sim::{FaultRecord, SERVICES};

/// Everything the run ends with.
#[derive(Debug)]
pub(crate) struct Outcome<'a> {
    pub(crate) seed: u64,
    pub(crate) planned: Duration,
    pub(crate) ran: Duration,
    pub(crate) stopped_by: &'static str,
    pub(crate) rate: u32,
    pub(crate) fault_rate: f64,
    pub(crate) grace: Duration,
    pub(crate) calls: [Calls; 2],
    pub(crate) faults: Vec<FaultRecord>,
    pub(crate) book: &'a EventBook,
    pub(crate) operations: Vec<OperationReport>,
    pub(crate) load: &'a Load,
    /// After the load stopped: the resource manager's busy, active allocations and waiters.
    pub(crate) busy: usize,
    pub(crate) active_allocations: usize,
    pub(crate) waiters: usize,
    pub(crate) leases_held: i64,
    pub(crate) shutdown: ShutdownReport,
}

fn ratio(ok: u64, of: u64) -> Option<f64> {
    (of > 0).then(|| ok as f64 / of as f64)
}

fn pct(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{:.3}%", v * 100.0))
}

fn secs_ms(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1_000.0)
}

impl Outcome<'_> {
    fn total(&self) -> Calls {
        self.calls[0].plus(self.calls[1])
    }

    /// The summary, as lines.
    pub(crate) fn lines(&self) -> Vec<String> {
        let total = self.total();
        let mut out = vec![
            String::new(),
            format!(
                "== summary: ran {} (stopped by {}) ==",
                seconds(self.ran),
                self.stopped_by
            ),
            format!(
                "requests      {} ({:.0}/s); ok {}, refused by a breaker {}, timed out {}, failed {}",
                total.calls,
                total.calls as f64 / self.ran.as_secs_f64().max(0.001),
                total.ok,
                total.refused,
                total.timed_out,
                total.failed
            ),
            format!(
                "availability  {} of all requests; {} outside injected faults ({} calls that \
                 started with no fault on their service, nor within {} after one)",
                pct(ratio(total.ok, total.calls)),
                pct(ratio(total.counted_ok, total.counted)),
                total.counted,
                seconds(self.grace)
            ),
        ];
        for (name, calls) in SERVICES.iter().zip(self.calls) {
            out.push(format!(
                "  {name:<17} {} requests, {} ok, outside faults {}",
                calls.calls,
                pct(ratio(calls.ok, calls.calls)),
                pct(ratio(calls.counted_ok, calls.counted))
            ));
        }
        for op in &self.operations {
            out.push(format!(
                "latency       {}: p50 {:.2} ms, p99 {:.2} ms, max {:.0} ms",
                op.name,
                op.latency.p50.as_secs_f64() * 1e3,
                op.latency.p99.as_secs_f64() * 1e3,
                op.latency.max.as_secs_f64() * 1e3
            ));
        }
        out.push(format!("faults        {} injected", self.faults.len()));
        for f in &self.faults {
            let cleared = match (f.cleared_ms, &f.cleared_by) {
                (Some(at), Some(by)) => format!(
                    "over after {} ({by})",
                    secs_ms(at.saturating_sub(f.injected_ms))
                ),
                _ => "NOT OVER at the end".to_string(),
            };
            let recovered = match f.recovered_ms {
                Some(at) => format!(
                    "serving again {} after injection",
                    secs_ms(at.saturating_sub(f.injected_ms))
                ),
                None => "NOT serving again".to_string(),
            };
            out.push(format!(
                "  {:>7}  {:<17} {:<13} {cleared}; {recovered}",
                secs_ms(f.injected_ms),
                f.service,
                f.kind.as_str()
            ));
        }
        let book = self.book;
        let mut times = book.time_to_recover_ms.clone();
        times.sort_unstable();
        let median = times.get(times.len() / 2).copied();
        let by: Vec<String> = book
            .recovered_by
            .iter()
            .map(|(action, n)| format!("{action} {n}"))
            .collect();
        out.push(format!(
            "recoveries    {} completed, {} failed; time to recover: median {}, max {}; brought back by: {}",
            book.completed,
            book.failed,
            median.map_or("-".into(), |m| seconds(Duration::from_millis(m.into()))),
            times
                .last()
                .map_or("-".into(), |m| seconds(Duration::from_millis((*m).into()))),
            if by.is_empty() {
                "-".to_string()
            } else {
                by.join(", ")
            }
        ));
        const LISTED: usize = 16;
        let listed: Vec<String> = book
            .recoveries
            .iter()
            .take(LISTED)
            .map(|(service, action, millis)| {
                format!(
                    "{service} by {action} in {}",
                    seconds(Duration::from_millis((*millis).into()))
                )
            })
            .collect();
        for (i, chunk) in listed.chunks(3).enumerate() {
            let last = (i + 1) * 3 >= listed.len();
            out.push(format!(
                "  {}{}",
                chunk.join("; "),
                if last && book.completed as usize > LISTED {
                    format!("; and {} more", book.completed as usize - LISTED)
                } else {
                    String::new()
                }
            ));
        }
        let actions: Vec<String> = book
            .actions
            .iter()
            .map(|(action, n)| format!("{action} {n}"))
            .collect();
        if !actions.is_empty() {
            out.push(format!("  actions run: {}", actions.join(", ")));
        }
        out.push(
            "resources     granted by priority (mean wait; requests timed out after 1 s):".into(),
        );
        let mut row = String::from(" ");
        for p in (0..PRIORITIES).rev() {
            let c = &self.load.priorities[p];
            let granted = c.granted.load(std::sync::atomic::Ordering::Relaxed);
            let waited = c.waited_us.load(std::sync::atomic::Ordering::Relaxed);
            let timed_out = c.timed_out.load(std::sync::atomic::Ordering::Relaxed);
            row.push_str(&format!(
                " p{p} {granted} ({:.0} ms{})",
                waited as f64 / granted.max(1) as f64 / 1_000.0,
                if timed_out > 0 {
                    format!(", {timed_out} t/o")
                } else {
                    String::new()
                }
            ));
            if p == 5 {
                out.push(row);
                row = String::from(" ");
            }
        }
        out.push(row);
        out.push(format!(
            "leases        after the load stopped: held by the load {}, busy {}, active {}, waiting {}; release errors {}",
            self.leases_held,
            self.busy,
            self.active_allocations,
            self.waiters,
            self.load
                .release_errors
                .load(std::sync::atomic::Ordering::Relaxed)
        ));
        let kinds: Vec<String> = book
            .by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        out.push(format!(
            "events        {} seen: {}",
            book.total,
            kinds.join(", ")
        ));
        out.push(format!(
            "              missed (lagged): {}; recoveries started and not ended: {}; ends without a start: {}",
            book.lagged_missed,
            book.open_total(),
            book.unmatched_ends
        ));
        out.push(format!(
            "shutdown      {} (recoveries aborted: {})",
            if self.shutdown.within_bound {
                "within its bound"
            } else {
                "NOT within its bound"
            },
            self.shutdown.recoveries_aborted
        ));
        out
    }

    /// `run.json`: what the soak judges.
    pub(crate) fn to_json(&self) -> Value {
        let total = self.total();
        let book = self.book;
        let priorities: Vec<Value> = (0..PRIORITIES)
            .map(|p| {
                let c = &self.load.priorities[p];
                let get =
                    |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
                json!({
                    "priority": p,
                    "granted": get(&c.granted),
                    "mean_wait_ms": get(&c.waited_us) as f64 / get(&c.granted).max(1) as f64 / 1e3,
                    "timed_out": get(&c.timed_out),
                    "shed": get(&c.shed),
                })
            })
            .collect();
        let services: serde_json::Map<String, Value> = SERVICES
            .iter()
            .zip(self.calls)
            .map(|(name, calls)| (name.to_string(), json!(calls)))
            .collect();
        json!({
            "seed": self.seed,
            "planned_s": self.planned.as_secs_f64(),
            "ran_s": self.ran.as_secs_f64(),
            "stopped_by": self.stopped_by,
            "rate_per_s": self.rate,
            "fault_rate_per_min": self.fault_rate,
            "grace_s": self.grace.as_secs_f64(),
            "calls": { "total": total, "services": services },
            "availability": ratio(total.ok, total.calls),
            "availability_outside_faults": ratio(total.counted_ok, total.counted),
            "operations": self.operations.iter().map(|op| json!({
                "name": op.name,
                "count": op.count,
                "errors": op.errors,
                "p50_ms": op.latency.p50.as_secs_f64() * 1e3,
                "p99_ms": op.latency.p99.as_secs_f64() * 1e3,
                "max_ms": op.latency.max.as_secs_f64() * 1e3,
            })).collect::<Vec<_>>(),
            "faults": self.faults,
            "recoveries": {
                "completed": book.completed,
                "failed": book.failed,
                "time_to_recover_ms": book.time_to_recover_ms,
                "recovered_by": book.recovered_by,
                "actions": book.actions,
            },
            "events": {
                "total": book.total,
                "by_kind": book.by_kind,
                "lagged_missed": book.lagged_missed,
                "open_recoveries": book.open,
                "unmatched_ends": book.unmatched_ends,
            },
            "leases": {
                "held_by_load": self.leases_held,
                "busy": self.busy,
                "active_allocations": self.active_allocations,
                "waiters": self.waiters,
                "release_errors": self.load.release_errors.load(std::sync::atomic::Ordering::Relaxed),
                "request_errors": self.load.request_errors.load(std::sync::atomic::Ordering::Relaxed),
            },
            "resources_by_priority": priorities,
            "shutdown": {
                "within_bound": self.shutdown.within_bound,
                "recoveries_aborted": self.shutdown.recoveries_aborted,
                "cut_short": self.shutdown.cut_short,
            },
        })
    }
}
