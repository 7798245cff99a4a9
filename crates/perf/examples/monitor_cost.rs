//! What the whole monitor costs: runs it at a 1 s interval (with the default latency probe) on an
//! otherwise idle runtime and reports the CPU time the process used, as a percent of one core.
//!
//! ```text
//! cargo run --release -p hardening-perf --example monitor_cost -- [seconds, default 60]
//! ```
//!
//! Prints one JSON line, so `cargo xtask bench` or a script can pick it up.

use std::time::{Duration, Instant};

use hardening_perf::{MonitorConfig, Operations, PerformanceMonitor};

/// CPU time used by this process so far (user + system), from `/proc/self/stat`.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks; 100 a second on every Linux this runs on (sysconf(_SC_CLK_TCK)).
    Some(Duration::from_millis((utime + stime) * 10))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args().nth(1).map_or(Ok(60), |s| s.parse())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let config = MonitorConfig::builder()
            .interval(Duration::from_secs(1))
            .build()?;
        let probe_ms = config.latency_probe_period().as_millis();
        let monitor = PerformanceMonitor::start(config, Operations::new()).await;
        let cpu_before = cpu_time().ok_or("no /proc/self/stat on this platform")?;
        let wall_before = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let cpu = cpu_time().ok_or("no /proc/self/stat")?.saturating_sub(cpu_before);
        let wall = wall_before.elapsed();
        let percent = cpu.as_secs_f64() / wall.as_secs_f64() * 100.0;
        let samples = monitor.latest();
        println!(
            "{{\"scenario\":\"perf_monitor_cpu\",\"interval_ms\":1000,\"probe_period_ms\":{probe_ms},\"wall_s\":{:.1},\"cpu_s\":{:.3},\"percent_of_one_core\":{percent:.3},\"latency_p99_ms\":{:.3}}}",
            wall.as_secs_f64(),
            cpu.as_secs_f64(),
            samples.latency.p99.as_secs_f64() * 1000.0
        );
        monitor.stop().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
