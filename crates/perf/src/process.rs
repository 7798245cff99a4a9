//! This process's and this machine's figures, refreshing only this process.

use std::time::Duration;

use serde::Serialize;
use sysinfo::{MemoryRefreshKind, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::cgroup::{self, CgroupLimits};

/// The process and system figures of one sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessFigures {
    /// CPU used by this process since the previous sample, in percent of one core (200 means
    /// two cores busy). Zero on the first sample.
    pub cpu_percent_of_core: f64,
    /// The same, in percent of the whole machine (or of the cgroup's CPU quota when lower).
    pub cpu_percent_of_machine: f64,
    /// Resident memory in bytes.
    pub rss_bytes: u64,
    /// Virtual memory in bytes.
    pub virtual_bytes: u64,
    /// Threads of this process, where the platform tells.
    pub threads: Option<u64>,
    /// Open file handles, where the platform tells.
    pub open_files: Option<u64>,
    /// The open file handle limit, where the platform tells.
    pub open_files_limit: Option<u64>,
    /// Memory used on the machine, in bytes.
    pub system_memory_used_bytes: u64,
    /// Memory on the machine, in bytes.
    pub system_memory_total_bytes: u64,
    /// Load averages over 1, 5 and 15 minutes (zero where the platform has none).
    pub load_average: [f64; 3],
    /// The cores this process may use: the machine's, or the cgroup's quota when lower.
    pub cores: f64,
    /// Container limits, when the process runs in a cgroup.
    pub cgroup: Option<CgroupLimits>,
}

/// Samples [`ProcessFigures`]. Keeps one `sysinfo::System` that only ever refreshes this
/// process and the memory totals, never the whole process table.
#[derive(Debug)]
pub struct ProcessSampler {
    system: System,
    pid: Option<Pid>,
    machine_cores: f64,
}

impl Default for ProcessSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessSampler {
    /// A sampler for the current process.
    pub fn new() -> Self {
        let machine_cores = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
        ProcessSampler {
            system: System::new(),
            pid: sysinfo::get_current_pid().ok(),
            machine_cores,
        }
    }

    /// The shortest gap between two samples that gives a meaningful CPU figure (sysinfo's
    /// `MINIMUM_CPU_UPDATE_INTERVAL`); the monitor never samples faster.
    pub const MINIMUM_INTERVAL: Duration = sysinfo::MINIMUM_CPU_UPDATE_INTERVAL;

    /// Takes one sample.
    pub fn sample(&mut self) -> ProcessFigures {
        self.system
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let cgroup = cgroup::current();
        let cores = cgroup
            .and_then(|c| c.cpu_limit_cores)
            .map_or(self.machine_cores, |quota| quota.min(self.machine_cores));
        let load = System::load_average();
        let mut figures = ProcessFigures {
            system_memory_used_bytes: self.system.used_memory(),
            system_memory_total_bytes: self.system.total_memory(),
            load_average: [load.one, load.five, load.fifteen],
            open_files_limit: System::open_files_limit().map(|n| n as u64),
            threads: threads(),
            cores,
            cgroup,
            ..ProcessFigures::default()
        };
        if let Some(pid) = self.pid {
            self.system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                false,
                ProcessRefreshKind::nothing().with_cpu().with_memory(),
            );
            if let Some(process) = self.system.process(pid) {
                let cpu = f64::from(process.cpu_usage());
                figures.cpu_percent_of_core = cpu;
                figures.cpu_percent_of_machine = cpu / cores.max(f64::MIN_POSITIVE);
                figures.rss_bytes = process.memory();
                figures.virtual_bytes = process.virtual_memory();
                figures.open_files = process.open_files().map(|n| n as u64);
            }
        }
        figures
    }
}

/// Threads of this process, from `/proc/self/status` on Linux.
fn threads() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process_on_linux() {
        let mut sampler = ProcessSampler::new();
        let figures = sampler.sample();
        assert!(figures.rss_bytes > 0);
        assert!(figures.virtual_bytes >= figures.rss_bytes);
        assert!(figures.threads.unwrap() >= 1);
        assert!(figures.open_files.unwrap() >= 3, "stdin, stdout, stderr");
        assert!(figures.system_memory_total_bytes >= figures.system_memory_used_bytes);
        assert!(figures.cores > 0.0);
    }
}
