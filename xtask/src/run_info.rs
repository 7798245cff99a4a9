//! Where and when a run took its numbers.

use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::util;

/// Where and when a run took its numbers: what `cargo xtask bench` and `cargo xtask soak`
/// put beside them.
#[derive(Debug)]
pub(crate) struct RunInfo {
    pub(crate) git_revision: Option<String>,
    pub(crate) git_dirty: bool,
    pub(crate) hostname: String,
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) os: String,
    pub(crate) rustc: String,
    pub(crate) date: String,
}

impl RunInfo {
    pub(crate) fn gather(root: &Path) -> Self {
        let git_revision = util::output("git", &["rev-parse", "HEAD"], root);
        let git_dirty = util::output("git", &["status", "--porcelain"], root)
            .is_some_and(|status| !status.is_empty());
        let read = |path: &str| fs::read_to_string(path).ok();
        let hostname = read("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".to_owned());
        let cpu = read("/proc/cpuinfo")
            .and_then(|info| cpu_model(&info))
            .unwrap_or_else(|| "unknown".to_owned());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut os = format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
        if let Some(name) = read("/etc/os-release").and_then(|r| os_pretty_name(&r)) {
            os = format!("{os}, {name}");
        }
        if let Some(kernel) = read("/proc/sys/kernel/osrelease") {
            os = format!("{os}, kernel {}", kernel.trim());
        }
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
        let rustc = util::output(&rustc, &["--version"], root).unwrap_or_else(|| "unknown".into());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            git_revision,
            git_dirty,
            hostname,
            cpu,
            cores,
            os,
            rustc,
            date: rfc3339_utc(now),
        }
    }

    /// The run's identity as the JSON reports carry it: `git_revision`, `git_dirty`, `host`
    /// (hostname, cpu, cores, os), `rustc` and `date`; each report adds its own fields.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "git_revision": self.git_revision,
            "git_dirty": self.git_dirty,
            "host": {
                "hostname": self.hostname,
                "cpu": self.cpu,
                "cores": self.cores,
                "os": self.os,
            },
            "rustc": self.rustc,
            "date": self.date,
        })
    }

    pub(crate) fn revision_label(&self) -> String {
        let mut label = match &self.git_revision {
            Some(rev) => format!("`{}`", &rev[..rev.len().min(12)]),
            None => "none (no commit yet)".to_owned(),
        };
        if self.git_dirty {
            label.push_str(", with uncommitted changes");
        }
        label
    }
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    // x86 says "model name"; some ARM kernels only give "Hardware" or "Processor".
    ["model name", "Hardware", "Processor"]
        .iter()
        .find_map(|key| {
            cpuinfo.lines().find_map(|line| {
                let (k, v) = line.split_once(':')?;
                (k.trim() == *key && !v.trim().is_empty()).then(|| v.trim().to_owned())
            })
        })
}

fn os_pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|line| {
        let value = line.strip_prefix("PRETTY_NAME=")?;
        Some(value.trim_matches('"').to_owned())
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch.
pub(crate) fn rfc3339_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339_utc(1_709_251_199), "2024-02-29T23:59:59Z");
    }
}
