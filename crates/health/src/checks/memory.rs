use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::Threshold;
use crate::{BoxError, HealthCheck, Observation};

/// This process's resident memory (RSS) against a threshold in bytes. Refreshes only this
/// process's memory figures, never the process list.
///
/// ```
/// use hardening_health::checks::{ProcessMemory, Threshold};
///
/// let gib = 1024.0 * 1024.0 * 1024.0;
/// let check = ProcessMemory::new(Threshold::above(1.5 * gib, 2.0 * gib)?);
/// # let _ = check;
/// # Ok::<(), hardening_health::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct ProcessMemory {
    threshold: Threshold,
    pid: Option<Pid>,
    system: Mutex<System>,
}

impl ProcessMemory {
    /// Judges the resident set size, in bytes.
    pub fn new(threshold: Threshold) -> Self {
        ProcessMemory {
            threshold,
            pid: sysinfo::get_current_pid().ok(),
            system: Mutex::new(System::new()),
        }
    }
}

#[async_trait]
impl HealthCheck for ProcessMemory {
    async fn check(&self) -> Result<Observation, BoxError> {
        let pid = self
            .pid
            .ok_or("this platform does not tell the process id")?;
        let bytes = {
            let mut system = self.system.lock().unwrap_or_else(PoisonError::into_inner);
            system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                true,
                ProcessRefreshKind::nothing().with_memory(),
            );
            system
                .process(pid)
                .map(sysinfo::Process::memory)
                .ok_or("this process's memory could not be read")?
        };
        let value = bytes as f64;
        let mut observation =
            Observation::new(self.threshold.judge(value)).with_value(bytes, "bytes");
        observation.message = self.threshold.describe("resident memory", value, "bytes");
        Ok(observation)
    }
}

/// The machine's memory in use, in percent of the total, against a threshold.
///
/// ```
/// use hardening_health::checks::{SystemMemory, Threshold};
///
/// let check = SystemMemory::new(Threshold::above(85.0, 95.0)?);
/// # let _ = check;
/// # Ok::<(), hardening_health::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct SystemMemory {
    threshold: Threshold,
    system: Mutex<System>,
}

impl SystemMemory {
    /// Judges the percentage of memory in use.
    pub fn new(threshold: Threshold) -> Self {
        SystemMemory {
            threshold,
            system: Mutex::new(System::new()),
        }
    }
}

#[async_trait]
impl HealthCheck for SystemMemory {
    async fn check(&self) -> Result<Observation, BoxError> {
        let (used, total) = {
            let mut system = self.system.lock().unwrap_or_else(PoisonError::into_inner);
            system.refresh_memory();
            (system.used_memory(), system.total_memory())
        };
        if total == 0 {
            return Err("this platform does not tell the memory size".into());
        }
        let percent = used as f64 * 100.0 / total as f64;
        let mut observation = Observation::new(self.threshold.judge(percent))
            .with_value((percent * 10.0).round() / 10.0, "percent");
        observation.message = self.threshold.describe("memory in use", percent, "percent");
        Ok(observation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[tokio::test]
    async fn process_memory_reads_a_real_figure() {
        let check = ProcessMemory::new(Threshold::above(1.0, 2.0).unwrap());
        let seen = check.check().await.unwrap();
        // Any running process uses more than 2 bytes.
        assert_eq!(seen.status, Status::Fail);
        assert!(seen.value.and_then(|v| v.as_u64()).unwrap() > 1024);
        let roomy = ProcessMemory::new(Threshold::above(1e15, 2e15).unwrap());
        assert_eq!(roomy.check().await.unwrap().status, Status::Pass);
    }

    #[tokio::test]
    async fn system_memory_is_a_percentage() {
        let check = SystemMemory::new(Threshold::above(100.0, 100.0).unwrap());
        let seen = check.check().await.unwrap();
        let percent = seen.value.and_then(|v| v.as_f64()).unwrap();
        assert!((0.0..=100.0).contains(&percent), "{percent}");
        assert_eq!(seen.unit.as_deref(), Some("percent"));
    }
}
