//! Publishing samples through the `metrics` facade.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `hardening_process_cpu_percent` | gauge, percent of one core | |
//! | `hardening_process_resident_memory_bytes` | gauge | |
//! | `hardening_process_virtual_memory_bytes` | gauge | |
//! | `hardening_process_threads` | gauge | |
//! | `hardening_process_open_fds` | gauge | |
//! | `hardening_system_memory_used_bytes` | gauge | |
//! | `hardening_system_memory_total_bytes` | gauge | |
//! | `hardening_runtime_latency_seconds` | gauge | `quantile` = `0.5` / `0.9` / `0.99` / `1` |
//! | `hardening_runtime_busy_ratio` | gauge | |
//! | `hardening_runtime_alive_tasks` | gauge | |
//! | `hardening_runtime_global_queue_depth` | gauge | |
//! | `hardening_operation_duration_seconds` | gauge | `operation`, `quantile` = `0.5` / `0.95` / `0.99` |
//! | `hardening_operation_calls` | gauge, calls so far | `operation` |
//! | `hardening_operation_errors` | gauge, errors so far | `operation` |
//! | `hardening_heap_used_bytes` | gauge, with the counting allocator | |

use metrics::gauge;

use crate::monitor::PerformanceMetrics;

pub(crate) fn publish(m: &PerformanceMetrics) {
    let p = &m.process;
    gauge!("hardening_process_cpu_percent").set(p.cpu_percent_of_core);
    gauge!("hardening_process_resident_memory_bytes").set(p.rss_bytes as f64);
    gauge!("hardening_process_virtual_memory_bytes").set(p.virtual_bytes as f64);
    if let Some(threads) = p.threads {
        gauge!("hardening_process_threads").set(threads as f64);
    }
    if let Some(fds) = p.open_files {
        gauge!("hardening_process_open_fds").set(fds as f64);
    }
    gauge!("hardening_system_memory_used_bytes").set(p.system_memory_used_bytes as f64);
    gauge!("hardening_system_memory_total_bytes").set(p.system_memory_total_bytes as f64);
    for (q, v) in [
        ("0.5", m.latency.p50),
        ("0.9", m.latency.p90),
        ("0.99", m.latency.p99),
        ("1", m.latency.max),
    ] {
        gauge!("hardening_runtime_latency_seconds", "quantile" => q).set(v.as_secs_f64());
    }
    gauge!("hardening_runtime_busy_ratio").set(m.runtime.busy_ratio);
    gauge!("hardening_runtime_alive_tasks").set(m.runtime.alive_tasks as f64);
    gauge!("hardening_runtime_global_queue_depth").set(m.runtime.global_queue_depth as f64);
    for op in &m.operations {
        for (q, v) in [
            ("0.5", op.latency.p50),
            ("0.95", op.latency.p95),
            ("0.99", op.latency.p99),
        ] {
            gauge!("hardening_operation_duration_seconds", "operation" => op.name.clone(), "quantile" => q)
                .set(v.as_secs_f64());
        }
        gauge!("hardening_operation_calls", "operation" => op.name.clone()).set(op.count as f64);
        gauge!("hardening_operation_errors", "operation" => op.name.clone()).set(op.errors as f64);
    }
    if let Some(heap) = m.heap {
        gauge!("hardening_heap_used_bytes").set(heap.bytes_in_use as f64);
    }
}
